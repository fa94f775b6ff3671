"""The filters of offline_eval.md §2, one small function each, and the pipeline that runs them.

Per-item filters return True for an item to DROP; the set filters (dedup, near copies) take a
language's (or all languages') items. `run_pipeline` applies named per-item filters in order
and counts what each removed, as the note's tables do.
"""

from collections.abc import Callable, Iterable, Mapping, Sequence
import collections
import functools
import itertools
import re

from unibert_jax.evaluation.parallel_text.items import Item

# Placeholders of all sources' formats: Fluent/ICU {x}, printf %s %1$S %d, %1, ${x}, $(ARG1),
# #1 (Firefox plurals), &entity;, $NAME$, %PRODUCTNAME%, [tag], and escaped \n \t.
PLACEHOLDER = re.compile(r'\{[^}]*\}|%(\d+\$)?[sSdDfu@]|%\d|\$\{?\w+\}?|\$\(\w+\)|#\d|&\w+;'
                         r'|\$[A-Z_]+\$|%[A-Z][A-Z_]+%?|\[\w+\]|\\[nt]')
MARKUP = re.compile(r'<[^<>\s][^<>]*>')
# A scheme, 'www.', an e-mail address or a dotted host/file name such as mozilla.org, x.html.
URL_LIKE = re.compile(r'[a-z][a-z0-9+.-]*://|\bwww\.|\w@\w|\b[a-z0-9-]+(?:\.[a-z0-9-]+)*'
                      r'\.[a-z]{2,}\b', re.IGNORECASE)
MIN_ENGLISH_CHARS = 15
MIN_ENGLISH_TOKENS = 3
MOSTLY_ENGLISH_SHARE = 0.6
NEAR_COPY_SHARE = 0.15
CLDR_INHERITANCE_MARKER = '↑↑↑'

_LATIN_WORD = re.compile(r'[A-Za-z]{3,}')
_NOT_WORD = re.compile(r'[\W_]+')
# LibreOffice mnemonics: '~Save', '_Save' and the CJK form '保存(~S)' / '保存(_S)' / '保存(S)'.
# The bare '(S)' counts only after a non-ASCII letter and with a capital: Korean '영(0)' is a
# reading gloss and German 'Objekt(e)' a plural, not mnemonics.
_CJK_MNEMONIC = re.compile(r'\s?\([~_][A-Za-z0-9]\)|(?<=[^\x00-\x7f])\([A-Z]\)')
_UNDERSCORE_MNEMONIC = re.compile(r'_(?=\w)')


def normalise(text: str) -> str:
  """Lower case without punctuation, symbols or spaces: what 'the same string' means here."""
  return _NOT_WORD.sub('', text.lower())


def collapse_whitespace(text: str) -> str:
  return ' '.join(text.split())


def strip_libreoffice_mnemonics(text: str) -> str:
  """'~Save' and '_Save' -> 'Save'; '保存(_S)...', '保存(~S)' and '保存(S)' -> '保存...', '保存'."""
  if '(' in text:
    text = _CJK_MNEMONIC.sub('', text)
  text = text.replace('~', '')   # before '_': '_~x' is a mnemonic too
  return _UNDERSCORE_MNEMONIC.sub('', text) if '_' in text else text


def _has_markup_or_placeholder(text: str) -> bool:
  return bool(MARKUP.search(text) or PLACEHOLDER.search(text))


# The English side repeats across the ~80 languages of a source: its checks are computed once.
_english_has_markup_or_placeholder = functools.lru_cache(maxsize=1 << 18)(
    _has_markup_or_placeholder)


@functools.lru_cache(maxsize=1 << 18)
def _english_words(english: str) -> tuple[str, ...]:
  return tuple(word.lower() for word in _LATIN_WORD.findall(english))


@functools.lru_cache(maxsize=1 << 18)
def normalise_english(english: str) -> str:
  return normalise(english)


def has_markup_or_placeholder(item: Item) -> bool:
  return (_english_has_markup_or_placeholder(item.english)
          or _has_markup_or_placeholder(item.target))


@functools.lru_cache(maxsize=1 << 18)
def _english_looks_like_url(english: str) -> bool:
  return bool(URL_LIKE.search(english))


def english_looks_like_url(item: Item) -> bool:
  return _english_looks_like_url(item.english)


def has_markup_placeholder_or_url(item: Item) -> bool:
  """The note's `markup_ph` step: markup or a placeholder on either side, or an English URL."""
  return has_markup_or_placeholder(item) or english_looks_like_url(item)


def is_short(item: Item) -> bool:
  return (len(item.english) < MIN_ENGLISH_CHARS
          or len(item.english.split()) < MIN_ENGLISH_TOKENS)


def is_untranslated(item: Item) -> bool:
  """The target is the English text again (up to case, spaces and punctuation)."""
  return normalise_english(item.english) == normalise(item.target)


def is_mostly_english(item: Item) -> bool:
  """Most of the English Latin words (3+ letters) reappear, and the target is about as wordy.

  Catches copied or half-translated strings; a real translation keeps only names ('Firefox',
  'HTML') of its English words.
  """
  english_words = _english_words(item.english)
  if not english_words:
    return False
  target_words = [word.lower() for word in _LATIN_WORD.findall(item.target)]
  if len(target_words) < MOSTLY_ENGLISH_SHARE * len(english_words):
    return False
  target_set = set(target_words)
  reappearing = sum(word in target_set for word in english_words)
  return reappearing >= MOSTLY_ENGLISH_SHARE * len(english_words)


def is_cldr_inheritance_marker(item: Item) -> bool:
  return item.target == CLDR_INHERITANCE_MARKER


def dedup_english(items: Iterable[Item]) -> list[Item]:
  """One item per normalised English text: the one with the smallest key (deterministic)."""
  kept: dict[str, Item] = {}
  for item in sorted(items, key=lambda item: item.key):
    kept.setdefault(normalise_english(item.english), item)
  return list(kept.values())


def drop_ambiguous_targets(items: Sequence[Item]) -> list[Item]:
  """Drops EVERY item whose normalised target occurs more than once in the language.

  Two English texts with one translation make retrieval ambiguous in both directions, and
  keeping one of them would pick a winner arbitrarily.
  """
  normalised = [normalise(item.target) for item in items]
  counts = collections.Counter(normalised)
  return [item for item, target in zip(items, normalised) if counts[target] == 1]


def dedup(items: Iterable[Item]) -> list[Item]:
  """Both dedup steps: unique English, then unambiguous targets."""
  return drop_ambiguous_targets(dedup_english(items))


PerItemFilter = Callable[[Item], bool]


def run_pipeline(items: Iterable[Item], steps: Sequence[tuple[str, PerItemFilter]]
                 ) -> tuple[list[Item], dict[str, int]]:
  """Applies the (name, drop-predicate) steps in order; returns kept items and counts removed."""
  kept = list(items)
  removed = {}
  for name, drop in steps:
    before = len(kept)
    kept = [item for item in kept if not drop(item)]
    removed[name] = before - len(kept)
  return kept, removed


def near_copies(items_by_language: Mapping[str, Sequence[Item]],
                max_share: float = NEAR_COPY_SHARE) -> dict[str, tuple[str, float]]:
  """Languages whose targets copy another language's: copy -> (original, share identical).

  Identical means the same target string for the same key; the share is over the keys both
  languages have. Of a pair above `max_share`, the language with fewer items is the copy (ties:
  the later code); pairs are settled from the highest share down, and a language already
  dropped no longer counts.
  """
  targets = {language: {item.key: item.target for item in items}
             for language, items in items_by_language.items()}
  by_key_target = collections.defaultdict(list)
  for language, key_targets in targets.items():
    for key, target in key_targets.items():
      by_key_target[(key, target)].append(language)
  identical = collections.Counter()
  for languages in by_key_target.values():
    for pair in itertools.combinations(sorted(languages), 2):
      identical[pair] += 1
  shares = []
  for (first, second), count in identical.items():
    common = len(targets[first].keys() & targets[second].keys())
    if count > max_share * common:
      shares.append((count / common, first, second))
  copies: dict[str, tuple[str, float]] = {}
  for share, first, second in sorted(shares, reverse=True):
    if first in copies or second in copies:
      continue
    sizes = (len(targets[first]), len(targets[second]))
    copy, original = (first, second) if sizes[0] < sizes[1] else (second, first)
    copies[copy] = (original, round(share, 4))
  return copies
