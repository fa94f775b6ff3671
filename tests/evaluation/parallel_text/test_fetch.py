"""Fetching: clear errors without apt-get or npm, reuse of downloads, apt's error messages."""

import json
import os
import subprocess
import sys

import pytest

from unibert_jax.evaluation.parallel_text import fetch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))))
PACKAGE = fetch.DebianPackage('gnome-user-docs', '43.0-2')


def _find_nothing(name):
  del name
  return None


def test_missing_apt_get_names_what_to_install(tmp_path):
  fetcher = fetch.RegistryFetcher(str(tmp_path), log=lambda line: None, which=_find_nothing)
  with pytest.raises(fetch.ToolMissingError, match=r"^apt-get not found: .*Debian's apt"):
    fetcher.debs([PACKAGE])


def test_missing_npm_names_what_to_install(tmp_path):
  fetcher = fetch.RegistryFetcher(str(tmp_path), log=lambda line: None, which=_find_nothing)
  with pytest.raises(fetch.ToolMissingError, match=r'^npm not found: .*apt-get install npm'):
    fetcher.npm(fetch.CLDR_ANNOTATIONS)


def test_downloaded_packages_are_reused_without_apt_get(tmp_path):
  (tmp_path / 'gnome-user-docs_43.0-2_all.deb').write_bytes(b'!<arch>\n')
  (tmp_path / 'libreoffice-help-de_4%3a7.4.7-1+deb12u9_all.deb').write_bytes(b'!<arch>\n')
  fetcher = fetch.RegistryFetcher(str(tmp_path), log=lambda line: None, which=_find_nothing)
  result = fetcher.debs([PACKAGE, fetch.DebianPackage('libreoffice-help-de',
                                                      '4:7.4.7-1+deb12u14')])
  assert result.found['gnome-user-docs'].version == '43.0-2'
  assert result.found['libreoffice-help-de'].version == '4:7.4.7-1+deb12u9'  # not the pin
  assert not result.missing


def test_apt_errors_unpin_gone_versions_and_drop_unknown_packages():
  requests = {'gnome-user-docs': 'gnome-user-docs=43.0-9',
              'firefox-esr-l10n-xx': 'firefox-esr-l10n-xx=1',
              'libreoffice-help-de': 'libreoffice-help-de=4:7.4.7-1+deb12u14'}
  stderr = ("E: Version '43.0-9' for 'gnome-user-docs' was not found\n"
            'E: Unable to locate package firefox-esr-l10n-xx\n')
  missing = {}
  assert fetch.apply_apt_errors(stderr, requests, missing)
  assert requests == {'gnome-user-docs': 'gnome-user-docs',
                      'libreoffice-help-de': 'libreoffice-help-de=4:7.4.7-1+deb12u14'}
  assert 'apt-get update' in missing['firefox-esr-l10n-xx']
  assert not fetch.apply_apt_errors('E: something else', requests, missing)


def test_local_fetcher_reports_missing_packages(tmp_path):
  result = fetch.LocalFetcher(str(tmp_path)).debs([PACKAGE])
  assert result.missing == {'gnome-user-docs': f'no gnome-user-docs_*.deb in {tmp_path}'}
  with pytest.raises(fetch.FetchError, match='cldr-annotations-full-48.2.0.tgz is not in'):
    fetch.LocalFetcher(str(tmp_path)).npm(fetch.CLDR_ANNOTATIONS)


def test_build_without_apt_get_reports_the_sets_missing(tmp_path):
  """A real run with an empty PATH: no apt-get, no npm; every set is missing with the reason."""
  code = ('import json; from unibert_jax.evaluation import parallel_text as p; '
          f'm = p.build({str(tmp_path)!r}, log=lambda line: None); '
          'print(json.dumps(m["missing_sets"]))')
  completed = subprocess.run([sys.executable, '-c', code], cwd=REPO_ROOT, env={'PATH': ''},
                             capture_output=True, text=True, timeout=120, check=True)
  missing = json.loads(completed.stdout.strip().splitlines()[-1])
  assert missing['R1'].startswith('apt-get not found')
  assert missing['R2'].startswith('apt-get not found')
  assert missing['R1e'].startswith('R1e covers the languages R1 lacks, and R1 is missing: apt-get')


FAKE_APT_GET = r'''#!/bin/sh
# Stands in for `apt-get download`: pinned versions are gone, 'unknown-*' packages do not exist.
shift
failed=0
for request in "$@"; do
  case "$request" in
    *=*) echo "E: Version '${request#*=}' for '${request%%=*}' was not found" >&2; failed=1;;
    unknown-*) echo "E: Unable to locate package $request" >&2; failed=1;;
  esac
done
[ "$failed" = 1 ] && exit 100
for request in "$@"; do printf '!<arch>\n' > "${request}_9.9-1_all.deb"; done
'''


def test_gone_pins_fall_back_to_the_candidate_and_unknown_packages_are_missing(tmp_path):
  apt_get = tmp_path / 'apt-get'
  apt_get.write_text(FAKE_APT_GET)
  apt_get.chmod(0o755)
  lines = []
  fetcher = fetch.RegistryFetcher(str(tmp_path / 'downloads'), log=lines.append,
                                  which=lambda name: str(apt_get) if name == 'apt-get' else None)
  result = fetcher.debs([PACKAGE, fetch.DebianPackage('unknown-package', '1.0')])
  assert result.found['gnome-user-docs'].version == '9.9-1'
  assert os.path.exists(tmp_path / 'downloads' / 'gnome-user-docs_9.9-1_all.deb')
  assert list(result.missing) == ['unknown-package']
  assert lines == ['  gnome-user-docs: pinned 43.0-2 is gone; got the candidate 9.9-1']
