"""End to end from tiny real packages (.deb built with dpkg-deb, npm .tgz): build, rerun, load."""

import dataclasses
import json
import os
import shutil
import subprocess
import sys
import time

import pytest

from unibert_jax.evaluation.parallel_text import builder as build_lib
from unibert_jax.evaluation.parallel_text import fetch
from unibert_jax.evaluation.parallel_text import items as items_lib

from tests.evaluation.parallel_text import fixture_files
from tests.evaluation.parallel_text.test_fetch import REPO_ROOT

VERSIONS = {'firefox': fetch.FIREFOX_VERSION, 'libreoffice': fetch.LIBREOFFICE_VERSION,
            'gnome': fetch.GNOME_USER_DOCS_VERSION}


@pytest.fixture(scope='module')
def packages_dir(tmp_path_factory):
  directory = str(tmp_path_factory.mktemp('packages'))
  fixture_files.write_fixture_packages(directory, VERSIONS)
  return directory


@pytest.fixture
def cldr_fixture(tmp_path, monkeypatch):
  """The fixture tarball, pinned in place of cldr-annotations-full@48.2.0."""
  path = fixture_files.write_cldr_tarball(str(tmp_path))
  package = fetch.NpmPackage('cldr-annotations-fixture', '1.0.0', '', '')
  sha1, integrity = _npm_checksums(path)
  monkeypatch.setattr(fetch, 'CLDR_ANNOTATIONS',
                      dataclasses.replace(package, sha1=sha1, integrity=integrity))
  return path


def _npm_checksums(path):
  import base64  # pylint: disable=g-import-not-at-top
  import hashlib  # pylint: disable=g-import-not-at-top
  data = open(path, 'rb').read()
  return (hashlib.sha1(data).hexdigest(),
          'sha512-' + base64.b64encode(hashlib.sha512(data).digest()).decode('ascii'))


def _build(cache_dir, packages_dir, lines=None, **kwargs):
  return build_lib.build(cache_dir, packages_dir=packages_dir, min_items=1, workers=1,
                         log=(lines.append if lines is not None else lambda line: None), **kwargs)


def test_build_from_local_packages(tmp_path, packages_dir, cldr_fixture):
  shutil.copy(cldr_fixture, packages_dir)
  cache_dir = str(tmp_path / 'cache')
  manifest = _build(cache_dir, packages_dir)
  assert manifest['missing_sets'] == {}
  r1 = {item.key: item for item in build_lib.load(cache_dir, 'R1')}
  assert r1['ftl:browser/update.ftl#update-ready'].target == (
      'Firefox hat heute ein Update für Sie heruntergeladen')
  assert r1['prop:global/file.properties#longText'].english == (
      'This message continues on the next line of the file')
  assert r1['sw|savedialog|SaveDialog|~Save the document before closing'].target == (
      'Dokument vor dem Schließen speichern')                  # mnemonic stripped
  assert not [key for key in r1 if 'greeting' in key or 'downloadCount' in key or 'COLUMN' in key]
  r2 = {item.key: item for item in build_lib.load(cache_dir, 'R2')}
  assert r2['scalc/main0106.html#par_id3152576'].target == (
      'Drücken Sie F7, um die Prüfung zu starten.')
  assert r2['gnome-help/a11y-bouncekeys#2'].target == (
      'Klicken Sie in der Seitenleiste auf Barrierefreiheit.')
  assert manifest['sets']['R2']['languages'] == {'cs': 2, 'de': 6}  # 3 help + 3 GNOME
  assert 'symlink help/sk -> cs' in manifest['sets']['R2']['missing_languages']['sk']
  assert sorted(item.target for item in build_lib.load(cache_dir, 'R1e')) == [
      'tufaha jekundu', 'uso unaocheka', 'uso wa mbwa']         # '↑↑↑' dropped
  assert manifest['packages']['firefox-esr'] == fetch.FIREFOX_VERSION
  assert manifest['packages']['libreoffice-help-de'] == fetch.LIBREOFFICE_VERSION
  assert 'libreoffice-help-sk' not in manifest['packages']      # excluded, never read
  assert manifest['item_sha256'] == items_lib.items_sha256(
      {name: build_lib.load(cache_dir, name) for name in build_lib.SETS})
  t1 = {item.key: item for item in build_lib.load_typed_spans(cache_dir, 'T1')}
  assert manifest['sets']['T1']['languages'] == {'de': 2}   # cs lost the F7 keycode span
  assert t1['scalc/main0106.html#par_id3150440'].target_spans == ((11, 35, 'UI'),)
  assert t1['scalc/main0106.html#par_id3150440'].target[11:35] == 'Extras - Rechtschreibung'
  assert t1['scalc/main0106.html#par_id3152576'].english_spans == ((6, 8, 'KEY'),)
  on_disk = json.load(open(os.path.join(cache_dir, 'manifest.json'), encoding='utf-8'))
  assert on_disk['item_sha256'] == manifest['item_sha256']


def test_rerun_with_a_complete_cache_is_a_no_op(tmp_path, packages_dir):
  cache_dir = str(tmp_path / 'cache')
  _build(cache_dir, packages_dir, sets=('R1', 'R2'))
  manifest_path = os.path.join(cache_dir, 'manifest.json')
  before = os.stat(manifest_path).st_mtime_ns
  lines = []
  start = time.perf_counter()
  manifest = _build(cache_dir, '/nonexistent', lines, sets=('R2', 'R1'))
  assert time.perf_counter() - start < 1
  assert lines == [f'parallel_text: {cache_dir} already holds R1, R2; nothing to do.']
  assert os.stat(manifest_path).st_mtime_ns == before
  assert set(manifest['sets']) == {'R1', 'R2'}


def test_a_set_that_cannot_be_built_is_reported_missing(tmp_path, packages_dir):
  cache_dir = str(tmp_path / 'cache')
  local = str(tmp_path / 'no_cldr')
  shutil.copytree(packages_dir, local, ignore=shutil.ignore_patterns('*.tgz'))
  manifest = _build(cache_dir, local)
  assert set(manifest['sets']) == {'R1', 'R2', 'T1'}
  assert 'cldr-annotations-full-48.2.0.tgz is not in' in manifest['missing_sets']['R1e']
  with pytest.raises(ValueError, match='R1e could not be built: cldr-annotations-full-48.2.0.tgz'):
    build_lib.load(cache_dir, 'R1e')


def test_changed_data_file_is_rebuilt_and_reported(tmp_path, packages_dir):
  cache_dir = str(tmp_path / 'cache')
  first = _build(cache_dir, packages_dir, sets=('R2',))['item_sha256']
  with open(os.path.join(cache_dir, 'R2.jsonl'), 'a', encoding='utf-8') as f:
    f.write('\n')
  with pytest.raises(FileNotFoundError, match='file changed'):
    build_lib.load(cache_dir, 'R2')
  assert _build(cache_dir, packages_dir, sets=('R2',))['item_sha256'] == first


def test_without_npm_r1e_is_missing_with_the_reason(tmp_path, packages_dir):
  """A real run with an empty PATH (no npm) on a cache that already holds R1."""
  cache_dir = str(tmp_path / 'cache')
  _build(cache_dir, packages_dir, sets=('R1',))
  code = ('import json; from unibert_jax.evaluation import parallel_text as p; '
          f'm = p.build({cache_dir!r}, sets=("R1e",), log=lambda line: None, min_items=1, '
          'workers=1); print(json.dumps([sorted(m["sets"]), m["missing_sets"]]))')
  completed = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, env={'PATH': ''},
                             capture_output=True, text=True, timeout=120, check=True)
  built, missing = json.loads(completed.stdout.strip().splitlines()[-1])
  assert built == ['R1']
  assert missing['R1e'].startswith('npm not found: the set R1e needs `npm pack '
                                   'cldr-annotations-full@48.2.0`')


def test_parallel_workers_build_the_same_items(tmp_path, packages_dir):
  serial = _build(str(tmp_path / 'serial'), packages_dir, sets=('R1', 'R2'))
  parallel = build_lib.build(str(tmp_path / 'parallel'), sets=('R1', 'R2'),
                             packages_dir=packages_dir, min_items=1, workers=2,
                             log=lambda line: None)
  assert parallel['item_sha256'] == serial['item_sha256']
