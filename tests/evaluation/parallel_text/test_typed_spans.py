"""Typed spans of LibreOffice help (T1): span-preserving parsing and the T1 unit conditions."""

from unibert_jax.evaluation.parallel_text import help_html
from unibert_jax.evaluation.parallel_text import typed_spans
from unibert_jax.evaluation.parallel_text.sources import SourcePairs

from tests.evaluation.parallel_text import fixture_files

LABELS = typed_spans.LABELS


def _spanned(text, spans):
  return [(text[start:end], label) for start, end, label in spans]


def test_typed_units_keep_the_texts_of_units_and_add_spans():
  page = fixture_files.help_page('en-US', fixture_files.ENGLISH_HELP)
  typed = help_html.typed_units(page, LABELS)
  assert [(element_id, text) for element_id, text, _ in typed] == help_html.units(page)
  spans = {element_id: _spanned(text, spans) for element_id, text, spans in typed}
  assert spans == {'hd_id3150769': [], 'par_id3150440': [('Tools - Spelling', 'UI')],
                   'par_id3152576': [('F7', 'KEY')]}


def test_spans_are_trimmed_moved_through_whitespace_and_nested_ones_keep_the_outermost():
  page = ('<div id="DisplayArea"><p id="par_id1">  Open <span class="menuitem"> Format -\n'
          ' <span class="emph">Cells</span> </span>, type<span class="literal">SUM</span> '
          '<span class="keycode">  </span>or <span class="productname">%PRODUCTNAME '
          '<span class="menuitem">Base</span></span>. <span class="avis">Press '
          '<span class="keycode">Enter</span></span></p>'
          '<table><tr><td id="par_id2">cell <span class="input">=A1</span></td></tr></table>'
          '</div>')
  typed = help_html.typed_units(page, LABELS)
  assert [(element_id, text) for element_id, text, _ in typed] == help_html.units(page)
  first_id, first_text, first_spans = typed[0]
  assert first_text == 'Open Format - Cells , typeSUM or %PRODUCTNAME Base. Press Enter'
  assert _spanned(first_text, first_spans) == [
      ('Format - Cells', 'UI'), ('SUM', 'CODE'), ('%PRODUCTNAME Base', 'PRODUCT'),
      ('Enter', 'KEY')]   # the empty keycode is gone; avis and emph carry no label
  assert first_id == 'par_id1'
  assert _spanned(typed[1][1], typed[1][2]) == [('=A1', 'CODE')]


def test_collapse_with_spans_maps_offsets_onto_the_collapsed_text():
  raw = '  a  bb \n ccc  '
  text, spans = help_html.collapse_with_spans(raw, [(0, 4, 'X'), (5, 7, 'Y'), (7, 15, 'Z'),
                                                    (3, 4, 'W')])
  assert text == 'a bb ccc'
  assert _spanned(text, spans) == [('a', 'X'), ('bb', 'Y'), ('ccc', 'Z')]


def _typed(text, spans):
  return (text, spans)


def test_t1_keeps_units_whose_label_multiset_matches_english():
  english = {
      'p#1': _typed('Choose Tools - Spelling to check the text.', [(7, 23, 'UI')]),
      'p#2': _typed('Press F7 to start the spelling check.', [(6, 8, 'KEY')]),
      'p#3': _typed('A paragraph without any typed span in it.', []),
  }
  german = {
      'p#1': _typed('Wählen Sie Extras - Rechtschreibung, um den Text zu prüfen.',
                    [(11, 35, 'UI')]),
      'p#2': _typed('Drücken Sie F7, um die Prüfung zu starten.', []),   # span lost
      'p#3': _typed('Ein Absatz ganz ohne typisierte Spanne darin.', []),
  }
  source = SourcePairs('libreoffice_help_typed', pairs={
      'de': [(key, english[key], german[key]) for key in english]})
  result = typed_spans.t1(source, min_items=1)
  assert [item.key for item in result.items] == ['p#1']
  item = result.items[0]
  assert item.target[11:35] == 'Extras - Rechtschreibung' and item.target_spans == (
      (11, 35, 'UI'),)
  stats = result.filter_stats['de']['libreoffice_help_typed']
  assert (stats['no_english_span'], stats['label_mismatch'], stats['final']) == (1, 1, 1)


def test_jsonl_round_trip_and_hash(tmp_path):
  items = [typed_spans.TypedSpanItem('p#1', 'de', 'Press F7 now.', 'Drücken Sie F7.',
                                     ((6, 8, 'KEY'),), ((12, 14, 'KEY'),))]
  path = str(tmp_path / 'T1.jsonl')
  typed_spans.write_jsonl(path, items)
  assert typed_spans.read_jsonl(path) == items
  changed = [typed_spans.TypedSpanItem('p#1', 'de', 'Press F7 now.', 'Drücken Sie F7.',
                                       ((6, 8, 'KEY'),), ((11, 14, 'KEY'),))]
  assert typed_spans.items_sha256(items) != typed_spans.items_sha256(changed)
