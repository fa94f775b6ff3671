"""GNOME help paragraphs from the gnome-user-docs package (all languages in one package).

Pages are /usr/share/help/<dir>/<guide>/<page>.page; English is the `C` directory. A
translated page's n-th unit is aligned with the English page's n-th unit, and only when both
pages have the same number of units (all 348 do in 43.0-2). Key '<guide>/<page>#<n>'.
"""

import collections
import re
from xml.etree.ElementTree import ParseError

from unibert_jax.evaluation.parallel_text import debs
from unibert_jax.evaluation.parallel_text import mallard

PACKAGE = 'gnome-user-docs'
_PAGE = re.compile(r'usr/share/help/([^/]+)/([^/]+)/([^/]+)\.page')


def read_package(deb_path: str, help_dirs: set[str]
                 ) -> tuple[dict[str, dict[str, list[str]]], collections.Counter]:
  """(help dir -> page id -> units, counts of unreadable pages per dir) for the wanted dirs."""
  def wanted(path):
    match = _PAGE.fullmatch(path)
    return bool(match) and match.group(1) in help_dirs

  pages: dict[str, dict[str, list[str]]] = collections.defaultdict(dict)
  unreadable: collections.Counter = collections.Counter()
  for entry in debs.iter_files(deb_path, wanted):
    if entry.data is None:
      continue  # a symlinked page is the English page, not a translation
    help_dir, guide, page = _PAGE.fullmatch(entry.path).groups()
    try:
      pages[help_dir][f'{guide}/{page}'] = mallard.units(entry.data)
    except ParseError:
      unreadable[help_dir] += 1
  return dict(pages), unreadable


def align(english: dict[str, list[str]], translated: dict[str, list[str]]
          ) -> tuple[list[tuple[str, str, str]], int]:
  """(key, english, translation) of the pages both have, and the number of misaligned pages."""
  triples, misaligned = [], 0
  for page, english_units in sorted(english.items()):
    target_units = translated.get(page)
    if target_units is None:
      continue
    if len(target_units) != len(english_units):
      misaligned += 1
      continue
    triples.extend((f'{page}#{index}', en, target)
                   for index, (en, target) in enumerate(zip(english_units, target_units))
                   if en and target)
  return triples, misaligned
