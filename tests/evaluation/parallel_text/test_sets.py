"""Set assembly: merge, thresholds, near copies, reasons, and the R1-1k subset."""

import hashlib
import random

import pytest

from unibert_jax.evaluation.parallel_text import sets
from unibert_jax.evaluation.parallel_text.items import Item
from unibert_jax.evaluation.parallel_text.sources import SourcePairs


def _sentences(language, count, offset=0):
  return [(f'key{index}', f'English sentence number {index} of the set',
           f'{language} Satz Nummer {index} der Menge') for index in range(offset, offset + count)]


def test_r1_merges_sources_and_dedups_across_them():
  firefox = SourcePairs('firefox', pairs={'de': _sentences('de', 3)})
  libreoffice = SourcePairs('libreoffice_ui', pairs={'de': [
      ('sw|ctx|x', '~English sentence number 1 of the set', 'anderer ~Satz eins'),  # dup English
      ('sw|ctx|y', 'Insert a _new row above the selection', 'Neue _Zeile oberhalb einfügen')]})
  result = sets.r1(firefox, libreoffice, min_items=1)
  assert result.counts == {'de': 4}
  assert {item.key for item in result.items} == {'key0', 'key1', 'key2', 'sw|ctx|y'}
  assert Item('sw|ctx|y', 'de', 'Insert a new row above the selection',
              'Neue Zeile oberhalb einfügen') in result.items
  assert result.filter_stats['de']['merge_dup'] == 1


def test_small_languages_are_dropped_with_a_reason():
  firefox = SourcePairs('firefox', pairs={'de': _sentences('de', 5), 'fr': _sentences('fr', 2)},
                        missing={'af': 'package firefox-esr-l10n-af: apt cannot locate it'})
  libreoffice = SourcePairs('libreoffice_ui', unavailable='no libreoffice-l10n-* package')
  result = sets.r1(firefox, libreoffice, min_items=3)
  assert result.counts == {'de': 5}
  assert result.missing_languages['fr'] == 'only 2 items after the filters (< 3)'
  assert 'apt cannot locate it' in result.missing_languages['af']
  assert 'no libreoffice-l10n-* package' in result.missing_languages['af']
  assert 'en' not in result.missing_languages


def test_near_copy_language_is_reported_missing():
  czech = _sentences('cs', 5)
  slovak = [(key, english, target) for key, english, target in czech[:4]] + _sentences('sk', 1, 4)
  source = SourcePairs('libreoffice_help', pairs={'cs': czech, 'sk': slovak})
  result = sets.r2(source, SourcePairs('gnome_help', unavailable='none'), min_items=1)
  assert set(result.counts) == {'cs'}
  assert result.missing_languages['sk'].startswith('near copy of cs: 80%')


def test_r1e_leaves_out_the_r1_languages():
  names = [(f'cldr:{index}', f'emoji name {index}', f'jina {index}') for index in range(3)]
  cldr = SourcePairs('cldr', pairs={'sw': names, 'de': names})
  result = sets.r1e(cldr, r1_languages=['de'], min_items=1)
  assert set(result.counts) == {'sw'}
  assert result.missing_languages['de'] == 'in R1'


def test_set_without_sources_is_unavailable():
  with pytest.raises(sets.SetUnavailable, match='apt-get not found'):
    sets.r2(SourcePairs('libreoffice_help', unavailable='apt-get not found'),
            SourcePairs('gnome_help', unavailable='apt-get not found'))


def test_set_with_no_language_above_the_threshold_is_unavailable():
  firefox = SourcePairs('firefox', pairs={'de': _sentences('de', 2)})
  with pytest.raises(sets.SetUnavailable, match='largest: de with 2'):
    sets.r1(firefox, SourcePairs('libreoffice_ui', pairs={}), min_items=10)


def _items(language, count):
  return [Item(f'ftl:file.ftl#message-{index}', language, f'english {index}', f'target {index}')
          for index in range(count)]


def test_r1_1k_takes_the_lowest_sha1_of_the_key_per_language():
  items = _items('de', 30) + _items('ja', 5)
  chosen = sets.r1_1k(items, per_language=10)
  german = [item for item in chosen if item.language == 'de']
  expected = sorted(_items('de', 30), key=lambda item: hashlib.sha1(item.key.encode()).hexdigest())
  assert german == expected[:10]
  assert len([item for item in chosen if item.language == 'ja']) == 5


def test_r1_1k_is_deterministic_whatever_the_input_order():
  items = _items('de', 50)
  shuffled = items[:]
  random.Random(0).shuffle(shuffled)
  assert sets.r1_1k(items, per_language=20) == sets.r1_1k(shuffled, per_language=20)
