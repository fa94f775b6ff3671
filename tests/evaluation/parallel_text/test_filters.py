"""Each filter of offline_eval.md §2 on an item it must drop and one it must keep."""

import pytest

from unibert_jax.evaluation.parallel_text import filters
from unibert_jax.evaluation.parallel_text.items import Item


def item(english, target, key='k', language='de'):
  return Item(key, language, english, target)


@pytest.mark.parametrize('english, target', [
    ('Delete {$count} downloaded files now', 'Lösche {$count} heruntergeladene Dateien'),
    ('%S could not be opened at all', '%S konnte nicht geöffnet werden'),
    ('The column %1 has no visible values', 'Die Spalte %1 hat keine Werte'),
    ('Insert $(ARG1) into the current document', '$(ARG1) in das Dokument einfügen'),
    ('Welcome to %PRODUCTNAME and its many tools', 'Willkommen bei %PRODUCTNAME'),
    ('First line of the message\\nsecond line', 'Erste Zeile\\nzweite Zeile'),
    ('Opens the file in a new window', 'Öffnet die Datei in einem <b>neuen</b> Fenster'),
])
def test_markup_and_placeholders_are_dropped(english, target):
  assert filters.has_markup_or_placeholder(item(english, target))


def test_plain_sentence_is_kept_by_the_markup_filter():
  assert not filters.has_markup_or_placeholder(
      item('Open the link in a new tab', 'Link in neuem Tab öffnen'))


@pytest.mark.parametrize('english', ['Visit https://support.mozilla.org for more help today',
                                     'See www.libreoffice.org for the full details',
                                     'Write to help@example.org with your question',
                                     'Save the settings to prefs.js in the profile'])
def test_url_like_english_is_dropped(english):
  assert filters.english_looks_like_url(item(english, 'irgendwas'))


def test_sentence_with_abbreviations_is_not_url_like():
  assert not filters.english_looks_like_url(
      item('Use a short name, e.g. a word. Then press Enter.', 'x'))


def test_short():
  assert filters.is_short(item('Save file', 'Datei speichern'))          # 9 characters
  assert filters.is_short(item('Troubleshooting', 'Fehlerbehebung'))    # 1 token
  assert not filters.is_short(item('Save the file now', 'Datei jetzt speichern'))


def test_untranslated():
  assert filters.is_untranslated(item('Show all downloads.', 'show ALL downloads'))
  assert not filters.is_untranslated(item('Show all downloads.', 'Alle Downloads anzeigen'))


def test_mostly_english():
  assert filters.is_mostly_english(item('Open the document in a new window',
                                        'Open the document in a neuen window'))
  assert not filters.is_mostly_english(item('Open the document in a new window',
                                            'Dokument in neuem Fenster öffnen'))
  # Names are kept but are not enough: 'Firefox' alone is 1 of 4 English words.
  assert not filters.is_mostly_english(item('Firefox needs a restart',
                                            'Firefox muss neu gestartet werden'))


def test_dedup_keeps_one_item_per_english_text_the_smallest_key():
  items = [item('Open the file.', 'Datei öffnen', key='b'),
           item('open the file', 'Öffne die Datei', key='a'),
           item('Close the file.', 'Datei schließen', key='c')]
  assert [kept.key for kept in filters.dedup_english(items)] == ['a', 'c']


def test_ambiguous_targets_drop_every_item_that_shares_the_target():
  items = [item('Remove the entry', 'Eintrag entfernen', key='a'),
           item('Delete the entry', 'Eintrag entfernen.', key='b'),
           item('Keep the entry', 'Eintrag behalten', key='c')]
  assert [kept.key for kept in filters.drop_ambiguous_targets(items)] == ['c']


def test_duplicates_on_both_sides_through_dedup():
  items = [item('Remove the entry', 'Eintrag entfernen', key='a'),
           item('Remove the entry!', 'Den Eintrag entfernen', key='b'),   # English duplicate
           item('Delete the entry', 'Eintrag entfernen', key='c'),        # target duplicate
           item('Keep the entry', 'Eintrag behalten', key='d')]
  assert [kept.key for kept in filters.dedup(items)] == ['d']


def test_cldr_inheritance_marker():
  assert filters.is_cldr_inheritance_marker(item('up-right arrow', '↑↑↑'))
  assert not filters.is_cldr_inheritance_marker(item('up-right arrow', 'mshale juu kulia'))


def _language(code, targets):
  return [Item(f'k{index}', code, f'english text {index}', target)
          for index, target in enumerate(targets)]


def test_near_copy_language_is_found_and_the_smaller_one_is_the_copy():
  czech = [f'český text číslo {index}' for index in range(10)]
  slovak = czech[:8] + ['slovenský text 8', 'slovenský text 9']   # 80% identical
  german = [f'deutscher Text {index}' for index in range(10)]
  items = {'cs': _language('cs', czech + ['navíc']), 'sk': _language('sk', slovak),
           'de': _language('de', german)}
  assert filters.near_copies(items) == {'sk': ('cs', 0.8)}


def test_languages_sharing_few_targets_are_not_near_copies():
  norwegian = [f'bokmål tekst {index}' for index in range(10)]
  nynorsk = norwegian[:1] + [f'nynorsk tekst {index}' for index in range(1, 10)]  # 10%
  assert filters.near_copies({'no': _language('no', norwegian),
                              'nn': _language('nn', nynorsk)}) == {}


def test_run_pipeline_counts_what_each_step_removed():
  items = [item('Save {$name} now please', 'Speichere {$name} jetzt'),
           item('Save it', 'Speichern'),
           item('Save the file now', 'Save the file now'),
           item('Save the file now', 'Datei jetzt speichern')]
  kept, removed = filters.run_pipeline(items, [('markup_ph', filters.has_markup_or_placeholder),
                                               ('short', filters.is_short),
                                               ('untrans', filters.is_untranslated)])
  assert removed == {'markup_ph': 1, 'short': 1, 'untrans': 1}
  assert kept == [items[3]]
