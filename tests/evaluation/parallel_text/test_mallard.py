"""GNOME help Mallard pages: units in document order, editorial comments skipped."""

from unibert_jax.evaluation.parallel_text import gnome_help
from unibert_jax.evaluation.parallel_text import mallard

from tests.evaluation.parallel_text import fixture_files


def test_units_in_order_without_credits_revisions_or_comments():
  english = mallard.units(fixture_files.mallard_page(fixture_files.ENGLISH_MALLARD,
                                                     comment='Mention the slider?'))
  assert english == ['Turn on bounce keys for your keyboard',
                     'Turn on bounce keys to ignore key presses that are rapidly repeated.',
                     'Click Accessibility in the sidebar to open the panel.']


def test_skipping_the_comment_keeps_the_translation_aligned():
  english = {'gnome-help/a11y-bouncekeys': mallard.units(fixture_files.mallard_page(
      fixture_files.ENGLISH_MALLARD, comment='Mention the slider?'))}
  german = {'gnome-help/a11y-bouncekeys': mallard.units(fixture_files.mallard_page(
      fixture_files.GERMAN_MALLARD))}
  triples, misaligned = gnome_help.align(english, german)
  assert misaligned == 0
  assert triples[2] == ('gnome-help/a11y-bouncekeys#2',
                        'Click Accessibility in the sidebar to open the panel.',
                        'Klicken Sie in der Seitenleiste auf Barrierefreiheit.')


def test_pages_with_other_unit_counts_are_skipped():
  english = {'g/p': ['One', 'Two'], 'g/q': ['Three']}
  translated = {'g/p': ['Eins'], 'g/q': ['Drei']}
  assert gnome_help.align(english, translated) == ([('g/q#0', 'Three', 'Drei')], 1)


def test_package_reader_picks_the_wanted_directories(tmp_path):
  deb = fixture_files.make_deb(str(tmp_path), 'gnome-user-docs', '1.0', {
      fixture_files.GNOME_ROOT + 'C/gnome-help/a.page': fixture_files.mallard_page(['Title A']),
      fixture_files.GNOME_ROOT + 'de/gnome-help/a.page': fixture_files.mallard_page(['Titel A']),
      fixture_files.GNOME_ROOT + 'pt_BR/gnome-help/a.page': fixture_files.mallard_page(['T'])})
  pages, unreadable = gnome_help.read_package(deb, {'C', 'de'})
  assert pages == {'C': {'gnome-help/a': ['Title A']}, 'de': {'gnome-help/a': ['Titel A']}}
  assert not unreadable
