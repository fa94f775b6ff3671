"""Firefox ESR UI strings: the en-US source strings and the langpacks, keyed alike.

English side: the two omni.ja archives (toolkit and browser) of the `firefox-esr` package, which
hold the real en-US source strings. The 0.4 MB `firefox-esr-l10n-en-gb` langpack would save
~76 MB of download and a few seconds, but it is itself a translation (94% identical to en-US,
with British spellings and strings of its own), and every filter compares the target with the
English side; so the source text is the pivot, as LibreOffice's msgid is.

Keys: 'ftl:<path after localization/<locale>/>#<message>[.<attribute>]' and
'prop:<path after chrome/<locale>/locale/[<locale>/]>#<key>', identical in omni.ja and in a
langpack (`browser/localization/de/...` and `localization/en-US/...` meet at the same path).
"""

import io
import re
import zipfile

from unibert_jax.evaluation.parallel_text import debs
from unibert_jax.evaluation.parallel_text import fluent_text
from unibert_jax.evaluation.parallel_text import properties

ENGLISH_PACKAGE = 'firefox-esr'
ENGLISH_LOCALE = 'en-US'
_OMNI_JA = ('usr/lib/firefox-esr/omni.ja', 'usr/lib/firefox-esr/browser/omni.ja')
_LANGPACK = re.compile(r'usr/lib/firefox-esr/browser/extensions/langpack-([^@/]+)@[^/]*\.xpi')


def file_key(path: str, locale: str) -> str | None:
  """'ftl:<relative path>' or 'prop:<relative path>' for a localization file, else None."""
  loc = re.escape(locale)
  match = re.search(rf'(?:^|/)localization/{loc}/(.+\.ftl)$', path)
  if match:
    return 'ftl:' + match.group(1)
  match = re.search(rf'(?:^|/)chrome/{loc}/locale/(?:{loc}/)?(.+\.properties)$', path)
  if match:
    return 'prop:' + match.group(1)
  return None


def read_archives(archives: list[zipfile.ZipFile], locale: str) -> dict[str, str]:
  """Key -> text of every .ftl and .properties string of `locale` in the zip archives."""
  ftl_sources, texts = {}, {}
  for archive in archives:
    for path in archive.namelist():
      key = file_key(path, locale)
      if key is None:
        continue
      source = archive.read(path).decode('utf-8', errors='replace')
      if key.startswith('ftl:'):
        ftl_sources[key] = source
      else:
        texts.update({f'{key}#{name}': value for name, value in properties.parse(source).items()})
  texts.update(fluent_text.parse_locale(ftl_sources))  # terms of all files resolve together
  return texts


def read_english(deb_path: str) -> dict[str, str]:
  """The en-US strings of the firefox-esr package (its two omni.ja)."""
  archives = [zipfile.ZipFile(io.BytesIO(entry.data))
              for entry in debs.iter_files(deb_path, lambda path: path in _OMNI_JA)
              if entry.data is not None]
  if len(archives) != len(_OMNI_JA):
    raise ValueError(f'{deb_path} lacks {" or ".join(_OMNI_JA)}; is it the firefox-esr package?')
  return read_archives(archives, ENGLISH_LOCALE)


def read_langpack(deb_path: str) -> tuple[str, dict[str, str]]:
  """(locale, key -> text) of a firefox-esr-l10n-* package."""
  for entry in debs.iter_files(deb_path, _LANGPACK.fullmatch):
    if entry.data is not None:
      locale = _LANGPACK.fullmatch(entry.path).group(1)
      return locale, read_archives([zipfile.ZipFile(io.BytesIO(entry.data))], locale)
  raise ValueError(f'{deb_path} holds no Firefox langpack (.xpi); is it a firefox-esr-l10n-* '
                   f'package?')
