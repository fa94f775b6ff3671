"""T1: LibreOffice help paragraphs with the typed spans translators kept (offline_eval.md §6).

Help pages mark UI names, keys, code and the product name with `<span class=...>`; translators
keep that markup, so every language carries the spans without annotation projection. A unit
is a help paragraph aligned by '<page>#<id>' whose English side has at least one labelled span
and whose translation has the same multiset of labels. Texts are R2's (same parser, same
cleaning, filters and dedup as R2's help paragraphs); spans are [start, end) character offsets
into them.

T1.jsonl holds one line per (language, key):
  {"key", "language", "english", "target", "english_spans": [[start, end, label], ...],
   "target_spans": [...]}
"""

from collections.abc import Iterable, Sequence
from concurrent import futures
import collections
import dataclasses
import hashlib
import json
import os
import types

from unibert_jax.data import languages as languages_lib
from unibert_jax.evaluation.parallel_text import sets as sets_lib
from unibert_jax.evaluation.parallel_text.help_html import Span
from unibert_jax.evaluation.parallel_text.sources import SourcePairs

NAME = 'T1'
# Span class -> label. `emph`, `link`, `avis` and the platform switches are left out: they
# are presentational or wrap whole paragraphs.
LABELS = types.MappingProxyType({
    'menuitem': 'UI', 'widget': 'UI', 'keycode': 'KEY', 'literal': 'CODE', 'input': 'CODE',
    'productname': 'PRODUCT'})
LABEL_NAMES = ('UI', 'KEY', 'CODE', 'PRODUCT')


def min_units(min_items: int) -> int:
  """Units a language needs to be in T1: half the other sets' minimum (500 by default).

  Paragraphs with typed spans are rarer than aligned texts; at 1,000 T1 would lose ja, ko,
  km, om and vi (500-700 units, 200-280 test units each), the only CJK help besides zh.
  """
  return max(1, min_items // 2)


@dataclasses.dataclass(frozen=True, order=True, slots=True)
class TypedSpanItem:
  """An English help paragraph and its translation, each with its labelled spans."""
  key: str
  language: str
  english: str
  target: str
  english_spans: tuple[Span, ...]
  target_spans: tuple[Span, ...]


def label_counts(spans: Iterable[Span]) -> collections.Counter:
  return collections.Counter(label for _, _, label in spans)


def language_items(language: str, typed_triples) -> tuple[list[TypedSpanItem], dict[str, int]]:
  """One language's (key, (english, spans), (target, spans)) through R2's help filters and
  dedup, then the labelled-span conditions; returns the items and what each step removed."""
  spans_by_key = {key: (english[1], target[1]) for key, english, target in typed_triples}
  kept, stats = sets_lib.filter_language(
      language, [(key, english[0], target[0]) for key, english, target in typed_triples], 'help')
  items = []
  no_spans = mismatched = 0
  for item in kept:
    english_spans, target_spans = spans_by_key[item.key]
    if not english_spans:
      no_spans += 1
    elif label_counts(english_spans) != label_counts(target_spans):
      mismatched += 1
    else:
      items.append(TypedSpanItem(item.key, language, item.english, item.target,
                                 tuple(map(tuple, english_spans)),
                                 tuple(map(tuple, target_spans))))
  return items, {**stats, 'no_english_span': no_spans, 'label_mismatch': mismatched,
                 'final': len(items)}


def t1(libreoffice_help_typed: SourcePairs, min_items: int = sets_lib.MIN_ITEMS,
       executor: futures.Executor | None = None) -> sets_lib.SetResult:
  """The T1 set: per language, the units whose label multiset matches English (languages with
  at least min_units(min_items) of them).

  The help texts went through R2's cleaning (whitespace collapsed) in the parser already, so
  R2's cleaning leaves them and the span offsets unchanged.
  """
  source = libreoffice_help_typed
  if source.unavailable:
    raise sets_lib.SetUnavailable(f'{source.name}: {source.unavailable}')
  jobs = {language: _submit(executor, language_items, language, triples)
          for language, triples in sorted(source.pairs.items())}
  by_language, stats = {}, {}
  for language, job in jobs.items():
    by_language[language], stats[language] = job.result()
  minimum = min_units(min_items)
  kept = {language: items for language, items in by_language.items() if len(items) >= minimum}
  if not kept:
    best = max(((len(items), language) for language, items in by_language.items()),
               default=(0, '-'))
    raise sets_lib.SetUnavailable(f'no language has >= {minimum} units with matching typed '
                                  f'spans (largest: {best[1]} with {best[0]})')
  missing = {}
  for language in languages_lib.DEFAULT_LANGUAGES:
    if language == 'en' or language in kept:
      continue
    if language in by_language:
      missing[language] = (f'only {len(by_language[language])} units with matching typed spans '
                           f'(< {minimum})')
    else:
      missing[language] = source.missing.get(language, 'no LibreOffice help in this language')
  return sets_lib.SetResult(NAME, [item for language in sorted(kept) for item in kept[language]],
                            {language: len(items) for language, items in sorted(kept.items())},
                            {language: {source.name: language_stats}
                             for language, language_stats in stats.items()}, missing, {})


def _submit(executor, fn, *args) -> futures.Future:
  if executor is not None:
    return executor.submit(fn, *args)
  future = futures.Future()
  future.set_result(fn(*args))
  return future


def _row(item: TypedSpanItem) -> dict:
  return {'key': item.key, 'language': item.language, 'english': item.english,
          'target': item.target, 'english_spans': [list(span) for span in item.english_spans],
          'target_spans': [list(span) for span in item.target_spans]}


def write_jsonl(path: str, items: Iterable[TypedSpanItem]) -> int:
  """Writes the items sorted by (language, key), atomically; returns the file size in bytes."""
  partial = path + '.partial'
  with open(partial, 'w', encoding='utf-8') as f:
    for item in sorted(items, key=lambda item: (item.language, item.key)):
      f.write(json.dumps(_row(item), ensure_ascii=False) + '\n')
  os.replace(partial, path)
  return os.path.getsize(path)


def read_jsonl(path: str) -> list[TypedSpanItem]:
  items = []
  with open(path, encoding='utf-8') as f:
    for line in f:
      if line.strip():
        row = json.loads(line)
        items.append(TypedSpanItem(
            row['key'], row['language'], row['english'], row['target'],
            tuple(tuple(span) for span in row['english_spans']),
            tuple(tuple(span) for span in row['target_spans'])))
  return items


def items_sha256(items: Sequence[TypedSpanItem]) -> str:
  """sha256 over the sorted rows (texts and spans), independent of the reading order."""
  digest = hashlib.sha256()
  for row in sorted(json.dumps(_row(item), ensure_ascii=False, sort_keys=True)
                    for item in items):
    digest.update(row.encode('utf-8') + b'\n')
  return digest.hexdigest()
