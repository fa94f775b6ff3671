"""Text units of one GNOME help page (Mallard XML), read with `xml.etree`.

Units are `title`, `subtitle`, `desc`, `p`, `code` and `screen` elements in document order,
each with its inline markup dissolved (a unit inside a unit stays part of the outer one).
`credit`, `license` and `revision` are not help text, and `comment` is an editorial note that
exists only in the English (C) pages: translations strip it, so skipping it is what keeps the
n-th unit of a translation aligned with the n-th English unit.
"""

import xml.etree.ElementTree as ElementTree

UNIT_TAGS = frozenset(('title', 'subtitle', 'desc', 'p', 'code', 'screen'))
SKIPPED_TAGS = frozenset(('credit', 'license', 'revision', 'comment'))


def _local_name(tag) -> str:
  return tag.rsplit('}', 1)[-1] if isinstance(tag, str) else ''


def units(page: bytes) -> list[str]:
  """The page's unit texts in document order (empty units included, to keep positions)."""
  found: list[str] = []

  def walk(element):
    name = _local_name(element.tag)
    if name in SKIPPED_TAGS:
      return
    if name in UNIT_TAGS:
      found.append(' '.join(''.join(element.itertext()).split()))
      return
    for child in element:
      walk(child)

  walk(ElementTree.fromstring(page))
  return found
