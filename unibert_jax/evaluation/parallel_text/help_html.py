"""Paragraph units of one LibreOffice help page (HTML), read with `html.parser`.

A unit is a `p`, `h1`-`h6` or `td` element whose id starts with par_, hd_, tit_ or bm_; its
text is the element's inner text with inline markup (typed spans such as
`<span class="menuitem">`) dissolved and whitespace collapsed. Ids are stable across the
translations, so '<page>#<id>' aligns them.

Speed (29 languages of ~25 MB each): only the page body (`DisplayArea`) is read, and the tags
that are neither units nor script/style (a, span, div, img, br, ...) are cut out before
html.parser sees the page. They carry no text of their own, the parser ignores them anyway, and
its per-tag cost was most of the time; the units come out identical, twice as fast.
"""

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
      text = ' '.join(''.join(parts).split())
      if UNIT_ID.match(element_id) and text:
        self.units.append((element_id, text))
      if open_tag == tag:
        break

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
