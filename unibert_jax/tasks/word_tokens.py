"""Words of a text for token classification (T1), and character spans <-> IOB2 tags.

A word is a run of letters, digits and combining marks; every other non-space character
(punctuation, symbols) is a word of its own. Han ideographs and kana are one word per
character, as PAN-X tokenises Chinese and Japanese (there are no spaces to split on). Scripts
written without spaces but outside CJK (Thai, Khmer) stay runs of letters. Words never cross a
given boundary (a span start or end), so labelled spans always cover whole words.
"""

from collections.abc import Iterable, Sequence
import bisect
import unicodedata

Span = tuple[int, int, str]   # [start, end) in characters, label
Offsets = tuple[int, int]

# Han (CJK unified ideographs and their extensions, compatibility ideographs), kana.
_CHARACTER_WORD_RANGES = ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0x3400, 0x4DBF),
                          (0x4E00, 0x9FFF), (0xF900, 0xFAFF), (0xFF66, 0xFF9F),
                          (0x20000, 0x3134F))


def is_character_word(character: str) -> bool:
  code = ord(character)
  return any(low <= code <= high for low, high in _CHARACTER_WORD_RANGES)


def _is_word_character(character: str) -> bool:
  return unicodedata.category(character)[0] in 'LNM'


def word_offsets(text: str, boundaries: Iterable[int] = ()) -> list[Offsets]:
  """[start, end) of each word of `text`; no word contains a boundary strictly inside it."""
  cuts = sorted(set(boundaries))
  offsets = []
  start = None
  for index, character in enumerate(text):
    cut_here = bool(cuts) and _is_cut(cuts, index)
    if start is not None and (cut_here or not _is_word_character(character)
                              or is_character_word(character)):
      offsets.append((start, index))
      start = None
    if character.isspace():
      continue
    if is_character_word(character) or not _is_word_character(character):
      offsets.append((index, index + 1))
    elif start is None:
      start = index
  if start is not None:
    offsets.append((start, len(text)))
  return offsets


def _is_cut(cuts: Sequence[int], index: int) -> bool:
  position = bisect.bisect_left(cuts, index)
  return position < len(cuts) and cuts[position] == index


def tags_for_spans(offsets: Sequence[Offsets], spans: Iterable[Span]) -> list[str]:
  """IOB2 tags of the words at `offsets`: a word overlapping a span gets its label, B- on the
  span's first such word; later spans do not overwrite earlier ones."""
  tags = ['O'] * len(offsets)
  starts = [start for start, _ in offsets]
  for span_start, span_end, label in sorted(spans):
    index = max(0, bisect.bisect_right(starts, span_start) - 1)
    inside = []
    while index < len(offsets) and offsets[index][0] < span_end:
      if offsets[index][1] > span_start:
        inside.append(index)
      index += 1
    if not inside or any(tags[index] != 'O' for index in inside):
      continue
    tags[inside[0]] = f'B-{label}'
    for index in inside[1:]:
      tags[index] = f'I-{label}'
  return tags


def tokens_and_tags(text: str, spans: Sequence[Span]) -> tuple[tuple[str, ...], tuple[str, ...]]:
  """The words of `text` (split at every span boundary) and their IOB2 tags."""
  offsets = word_offsets(text, [position for start, end, _ in spans for position in (start, end)])
  return (tuple(text[start:end] for start, end in offsets),
          tuple(tags_for_spans(offsets, spans)))
