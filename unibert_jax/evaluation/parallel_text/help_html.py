"""Paragraph units of one LibreOffice help page (HTML), read with `html.parser`.

A unit is a `p`, `h1`-`h6` or `td` element whose id starts with par_, hd_, tit_ or bm_; its
text is the element's inner text with inline markup (typed spans such as
`<span class="menuitem">`) dissolved and whitespace collapsed. Ids are stable across the
translations, so '<page>#<id>' aligns them.

Speed (29 languages of ~25 MB each): only the page body (`DisplayArea`) is read, and the tags
that are neither units nor script/style (a, span, div, img, br, ...) are cut out before
html.parser sees the page. They carry no text of their own, the parser ignores them anyway, and
its per-tag cost was most of the time; the units come out identical, twice as fast.

`typed_units` is the span-preserving variant (T1, typed_spans.py): the same units and texts,
plus the character spans of the `<span class=...>` elements whose class has a label.
"""

from collections.abc import Mapping, Sequence
import bisect
import html.parser
import re

UNIT_TAGS = frozenset(('p', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'td'))
UNIT_ID = re.compile(r'(?:par|hd|tit|bm)_')
_BODY_START = '<div id="DisplayArea"'
_IGNORED_TAG = re.compile(r'<(?!/?(?:p|h[1-6]|td|script|style)\b)[^<>]*>', re.IGNORECASE)


class _UnitParser(html.parser.HTMLParser):
  """Collects (id, text) of the unit elements; text goes to the innermost open unit."""

  def __init__(self):
    super().__init__(convert_charrefs=True)
    self.units: list[tuple[str, str]] = []
    self._open: list[tuple[str, str, list[str]]] = []   # (tag, id, text parts)

  def handle_starttag(self, tag, attrs):
    if tag in UNIT_TAGS:
      element_id = next((value or '' for name, value in attrs if name == 'id'), '')
      self._open.append((tag, element_id, []))

  def handle_endtag(self, tag):
    if tag not in UNIT_TAGS:
      return
    # Close up to the matching element (html.parser does not close implied end tags).
    while self._open:
      open_tag, element_id, parts = self._open.pop()
      self._close_unit(element_id, parts)
      if open_tag == tag:
        break

  def _close_unit(self, element_id: str, parts: list[str]) -> None:
    text = ' '.join(''.join(parts).split())
    if UNIT_ID.match(element_id) and text:
      self.units.append((element_id, text))

  def handle_data(self, data):
    if self._open:
      self._open[-1][2].append(data)


def units(page: str, cut_ignored_tags: bool = True) -> list[tuple[str, str]]:
  """(element id, text) of the page's units, in document order of their closing tags."""
  start = page.find(_BODY_START)
  body = page[start:] if start >= 0 else page
  parser = _UnitParser()
  parser.feed(_IGNORED_TAG.sub('', body) if cut_ignored_tags else body)
  parser.close()
  return parser.units


# ----------------------------------------------------------------------------- typed spans

# Inline markup that is neither a unit nor script/style, except `span` (it carries the types).
_IGNORED_TAG_EXCEPT_SPAN = re.compile(r'<(?!/?(?:p|h[1-6]|td|script|style|span)\b)[^<>]*>',
                                      re.IGNORECASE)

Span = tuple[int, int, str]   # [start, end) character offsets into the unit text, label


class _TypedUnitParser(_UnitParser):
  """`_UnitParser` that also records the `<span class=...>` elements whose class has a label.

  Offsets are into the raw (uncollapsed) text of the unit the span opened in; a span that
  contains the start or end of another unit, or is never closed, is dropped. Nested labelled
  spans (rare: a menu item inside a product name) keep only the outermost one.
  """

  def __init__(self, labels: Mapping[str, str]):
    super().__init__()
    self._labels = labels
    self.typed_units: list[tuple[str, str, list[Span]]] = []
    # One entry per open unit, parallel to self._open: (raw length so far, spans).
    self._unit_state: list[list] = []
    # One entry per open span: (label or None, the unit's state list or None, raw start).
    self._span_stack: list[tuple[str | None, list | None, int]] = []

  def handle_starttag(self, tag, attrs):
    if tag == 'span':
      classes = next((value or '' for name, value in attrs if name == 'class'), '').split()
      label = next((self._labels[c] for c in classes if c in self._labels), None)
      if any(open_label for open_label, _, _ in self._span_stack):
        label = None   # outermost labelled span wins
      state = self._unit_state[-1] if self._unit_state else None
      self._span_stack.append((label, state, state[0] if state else 0))
      return
    super().handle_starttag(tag, attrs)
    if tag in UNIT_TAGS:
      self._unit_state.append([0, []])

  def handle_endtag(self, tag):
    if tag != 'span':
      super().handle_endtag(tag)
    elif self._span_stack:
      label, state, start = self._span_stack.pop()
      if label and state is not None and self._unit_state and self._unit_state[-1] is state:
        state[1].append((start, state[0], label))

  def _close_unit(self, element_id: str, parts: list[str]) -> None:
    _, raw_spans = self._unit_state.pop()
    text, spans = collapse_with_spans(''.join(parts), raw_spans)
    if UNIT_ID.match(element_id) and text:
      self.units.append((element_id, text))
      self.typed_units.append((element_id, text, spans))

  def handle_data(self, data):
    super().handle_data(data)
    if self._unit_state:
      self._unit_state[-1][0] += len(data)


def collapse_with_spans(raw: str, raw_spans: Sequence[Span]) -> tuple[str, list[Span]]:
  """' '.join(raw.split()) and the spans moved onto it, trimmed of whitespace; empty spans go.

  A span start in whitespace moves to the next word, an end in whitespace to the previous one.
  """
  runs = []   # (raw start, raw end) of each maximal run of non-space characters
  start = None
  for index, character in enumerate(raw):
    if character.isspace():
      if start is not None:
        runs.append((start, index))
        start = None
    elif start is None:
      start = index
  if start is not None:
    runs.append((start, len(raw)))
  text = ' '.join(raw[run_start:run_end] for run_start, run_end in runs)
  run_starts = []   # output offset of each run
  offset = 0
  for run_start, run_end in runs:
    run_starts.append(offset)
    offset += run_end - run_start + 1
  raw_run_starts = [run_start for run_start, _ in runs]

  def moved_start(position: int) -> int:
    run = bisect.bisect_right(raw_run_starts, position) - 1   # last run starting at/before it
    if run >= 0 and position < runs[run][1]:
      return run_starts[run] + position - runs[run][0]
    return run_starts[run + 1] if run + 1 < len(runs) else len(text)

  def moved_end(position: int) -> int:
    run = bisect.bisect_left(raw_run_starts, position) - 1    # last run starting before it
    if run < 0:
      return 0
    return run_starts[run] + min(position, runs[run][1]) - runs[run][0]

  spans = []
  for span_start, span_end, label in raw_spans:
    new_start, new_end = moved_start(span_start), moved_end(span_end)
    if new_start < new_end:
      spans.append((new_start, new_end, label))
  return text, spans


def typed_units(page: str, labels: Mapping[str, str]) -> list[tuple[str, str, list[Span]]]:
  """(element id, text, spans) of the page's units; `text` is exactly what `units` gives.

  `labels` maps a span class ('menuitem') to its label ('UI'); other spans are dissolved.
  """
  start = page.find(_BODY_START)
  body = page[start:] if start >= 0 else page
  parser = _TypedUnitParser(labels)
  parser.feed(_IGNORED_TAG_EXCEPT_SPAN.sub('', body))
  parser.close()
  return parser.typed_units
