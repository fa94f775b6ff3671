"""The cross-lingual evaluation suite: real translations, every layer, beside the tf-idf floor.

For each evaluation set (parallel_text's R1, R1e, R2, and the held-out UDHR articles for the
languages no built set covers), every text is encoded once (layer_features), and
crosslingual.crosslingual_figures scores each layer: retrieval to and from English over the fixed
1,000 candidates and over all of a language's items, the same after per-language centering, the
language-ID probe raw and centered, and the distance between language means. The character
n-gram tf-idf floor runs through the same code on the same items. The result follows the
structure described in `evaluate_suite` and is what suite_report renders and compare_evals
compares.
"""

from collections.abc import Callable, Mapping, Sequence
import collections
import dataclasses
import os
import time

import numpy as np
import tokenizers

from unibert_jax.evaluation import crosslingual
from unibert_jax.evaluation import layer_features
from unibert_jax.evaluation import parallel_text
from unibert_jax.evaluation.parallel_text import builder
from unibert_jax.evaluation.parallel_text import Item
from unibert_jax.evaluation.parallel_text import manifest as manifest_lib
from unibert_jax.evaluation.parallel_text import sets as sets_lib

PIVOT = 'en'
UDHR = 'UDHR'
FIXED_CANDIDATES = sets_lib.R1_1K_PER_LANGUAGE
# A mean over language pairs, not per language: in the model's per-layer means only.
BETWEEN_LANGUAGES = 'mean_distance_between_languages'


@dataclasses.dataclass(frozen=True)
class SuiteOptions:
  """Which sets, languages and pooling; see evaluate_suite."""
  sets: tuple[str, ...] = parallel_text.SETS
  cache_dir: str | None = None             # parallel_text's cache (default ~/.cache/...)
  languages: tuple[str, ...] | None = None  # None: every language of the sets
  max_items_per_language: int | None = None  # None: all (the fixed 1,000 always included)
  pooling: str = 'mean'


def load_sets(options: SuiteOptions) -> tuple[dict[str, list[Item]], dict[str, str], str]:
  """The built sets' items (languages and size limits applied), the missing sets with the
  reason, and the item-set hash of the cache's manifest."""
  cache_dir = os.path.expanduser(options.cache_dir or builder.DEFAULT_CACHE_DIR)
  manifest = manifest_lib.read(cache_dir) or {}
  loaded, missing = {}, {}
  for name in options.sets:
    try:
      items = parallel_text.load(cache_dir, name)
    except (FileNotFoundError, ValueError) as error:
      missing[name] = str(error)
      continue
    if options.languages is not None:
      wanted = set(options.languages)
      items = [item for item in items if item.language in wanted]
    if options.max_items_per_language:
      items = parallel_text.r1_1k(items, max(options.max_items_per_language, FIXED_CANDIDATES))
    if not items:
      missing[name] = f'none of the languages {sorted(options.languages or ())} is in {name}'
      continue
    loaded[name] = items
  # The hash covers the cache's built sets; '' when none of them is evaluated.
  return loaded, missing, manifest.get('item_sha256', '') if loaded else ''


def unbuilt_sets(options: SuiteOptions) -> list[str]:
  """The requested sets that the parallel-text cache does not hold."""
  cache_dir = os.path.expanduser(options.cache_dir or builder.DEFAULT_CACHE_DIR)
  manifest = manifest_lib.read(cache_dir)
  return [name for name in options.sets
          if manifest is None or not manifest_lib.is_built(manifest, cache_dir, name)]


def udhr_items(texts: Sequence[str], languages: Sequence[str], articles: Sequence[int],
               paragraphs: Sequence[int]) -> list[Item]:
  """Held-out UDHR paragraphs as Items paired with English by (article, paragraph).

  A language's paragraphs of an article take part only where it splits the article into as
  many paragraphs as English (translations sometimes merge or split them; see
  universality.align_parallel). The first document of a language wins.
  """
  by_language: dict[str, dict[tuple[int, int], str]] = collections.defaultdict(dict)
  for text, language, article, paragraph in zip(texts, languages, articles, paragraphs):
    by_language[language].setdefault((int(article), int(paragraph)), text)
  english = by_language.get(PIVOT)
  if not english:
    raise ValueError(f'The UDHR set pairs every language with English; the held-out split has no '
                     f'{PIVOT!r} paragraphs.')
  counts = {language: collections.Counter(article for article, _ in rows)
            for language, rows in by_language.items()}
  items = []
  for language, rows in by_language.items():
    if language == PIVOT:
      continue
    for (article, paragraph), text in rows.items():
      same_split = counts[language][article] == counts[PIVOT][article]
      if same_split and (article, paragraph) in english:
        items.append(Item(f'udhr:{article}.{paragraph}', language,
                          english[(article, paragraph)], text))
  return items


def _fixed_keys(items: Sequence[Item]) -> dict[str, set[str]]:
  fixed = collections.defaultdict(set)
  for item in parallel_text.r1_1k(items, FIXED_CANDIDATES):
    fixed[item.language].add(item.key)
  return dict(fixed)


@dataclasses.dataclass(frozen=True)
class _Rows:
  """Where each language's items sit in a feature matrix."""
  keys: dict[str, list[str]]
  target: dict[str, np.ndarray]
  english: dict[str, np.ndarray]


def _index_texts(items_by_set: Mapping[str, Sequence[Item]]
                 ) -> tuple[list[str], dict[str, _Rows]]:
  """One list of distinct texts for all sets, and each set's rows into it."""
  index: dict[str, int] = {}
  rows = {}
  for name, items in items_by_set.items():
    keys, target, english = (collections.defaultdict(list) for _ in range(3))
    for item in items:
      keys[item.language].append(item.key)
      target[item.language].append(index.setdefault(item.target, len(index)))
      english[item.language].append(index.setdefault(item.english, len(index)))
    rows[name] = _Rows(dict(keys), {l: np.asarray(v) for l, v in target.items()},
                       {l: np.asarray(v) for l, v in english.items()})
  return list(index), rows


def _pairs(rows: _Rows, features) -> dict[str, crosslingual.LanguagePairs]:
  return {language: crosslingual.LanguagePairs(keys=rows.keys[language],
                                               target=features[rows.target[language]],
                                               english=features[rows.english[language]])
          for language in sorted(rows.keys)}


def _floor(items: Sequence[Item], fixed) -> dict:
  """The tf-idf figures of a set: one vectorizer fitted on the set's own texts."""
  texts, rows = _index_texts({'floor': items})
  features = crosslingual.tfidf_features(texts)
  return crosslingual.crosslingual_figures(_pairs(rows['floor'], features), fixed_keys=fixed)


def _score_set(name: str, items: Sequence[Item], rows: _Rows, features: np.ndarray,
               fixed_candidates: int | None, log) -> dict:
  fixed = _fixed_keys(items) if fixed_candidates else None
  layers = features.shape[0]
  mean = collections.defaultdict(lambda: [None] * layers)
  per_language = collections.defaultdict(
      lambda: collections.defaultdict(lambda: [None] * layers))
  chance = {}
  for layer in range(layers):
    figures = crosslingual.crosslingual_figures(_pairs(rows, features[layer]), fixed_keys=fixed)
    mean[BETWEEN_LANGUAGES][layer] = figures['mean'].get(BETWEEN_LANGUAGES)
    for figure in crosslingual.FIGURES:
      mean[figure][layer] = figures['mean'].get(figure)
      for language, value in figures['per_language'].get(figure, {}).items():
        per_language[figure][language][layer] = value
    chance = figures['chance']
  log(f'  {name}: {layers} layers scored; tf-idf floor')
  floor = _floor(items, fixed)
  languages = sorted(rows.keys)
  return {
      'languages': languages,
      'items': {language: len(rows.keys[language]) for language in languages},
      'fixed_candidates': fixed_candidates,
      'model': {'mean': {f: mean[f] for f in crosslingual.FIGURES + (BETWEEN_LANGUAGES,)},
                'per_language': {f: {l: per_language[f][l] for l in languages}
                                 for f in crosslingual.FIGURES}},
      'floor': {'mean': {f: floor['mean'].get(f) for f in crosslingual.FIGURES},
                'per_language': {f: floor['per_language'].get(f, {})
                                 for f in crosslingual.FIGURES}},
      'chance': {f: chance.get(f) for f in crosslingual.FIGURES},
      'missing': None,
  }


def evaluate_suite(pooled_layers: layer_features.PooledLayers,
                   tokenizer: tokenizers.Tokenizer, max_len: int,
                   items_by_set: Mapping[str, Sequence[Item]], *,
                   missing: Mapping[str, str] | None = None, item_sha256: str = '',
                   model_name: str = '', log: Callable[[str], None] = print) -> dict:
  """Scores every layer of an encoder on each set; returns the suite (eval.json's 'suite').

  Args:
    pooled_layers: the encoder's pooled states at every layer (its pooling is the suite's).
    tokenizer: its tokenizer (XLM-R or BERT family framing, layer_features).
    max_len: the longest sequence fed to the encoder.
    items_by_set: set name -> aligned items (UDHR's from udhr_items); the UDHR set has no fixed
      candidate subset (a few paragraphs per language).
    missing: sets that could not be evaluated, with the reason (recorded as such).
    item_sha256: the parallel-text manifest's item hash, carried into the result.
    model_name: what is evaluated (a run or HF directory), for the reports.

  Returns:
    {'pooling', 'num_layers', 'model', 'item_sha256', 'seconds',
     'sets': {name: {'languages', 'items', 'fixed_candidates',
                     'model': {'mean': {figure: [per layer]},
                               'per_language': {figure: {language: [per layer]}}},
                     'floor': {'mean': {figure: v}, 'per_language': {figure: {language: v}}},
                     'chance': {figure: v}, 'missing': None}
              or {'missing': reason}}}
    with the figures of crosslingual.FIGURES (None where one does not apply).
  """
  start = time.time()
  items_by_set = {name: items for name, items in items_by_set.items() if items}
  texts, rows = _index_texts(items_by_set)
  log(f'== evaluation suite: {", ".join(f"{n} ({len(i):,} items)" for n, i in items_by_set.items())}'
      f'; {len(texts):,} distinct texts, {pooled_layers.pooling} pooling, every layer')
  features = pooled_layers(tokenizer, texts, max_len, log) if texts else None
  features_seconds = time.time() - start
  sets = {}
  for name, items in items_by_set.items():
    fixed_candidates = None if name == UDHR else FIXED_CANDIDATES
    sets[name] = _score_set(name, items, rows[name], features, fixed_candidates, log)
  sets |= {name: {'missing': reason} for name, reason in (missing or {}).items()}
  total = time.time() - start
  return {
      'pooling': pooled_layers.pooling,
      'num_layers': pooled_layers.layers - 1,
      'model': model_name,
      'item_sha256': item_sha256,
      'seconds': {'features': round(features_seconds, 1),
                  'metrics': round(total - features_seconds, 1), 'total': round(total, 1)},
      'sets': sets,
  }



def options_from_config(config, languages: Sequence[str] | None = None) -> SuiteOptions:
  """The suite options of a run config (`eval` section; runs saved before it have none)."""
  eval_cfg = config.get('eval') or {}
  return SuiteOptions(
      sets=parallel_text.set_names(eval_cfg.get('sets', ','.join(parallel_text.SETS))),
      cache_dir=eval_cfg.get('parallel_text_dir') or None,
      languages=None if languages is None else tuple(languages),
      max_items_per_language=eval_cfg.get('max_items_per_language') or None,
      pooling=eval_cfg.get('pooling', 'mean'))


BUILD_COMMAND = 'python launch/build_eval_data.py --sets={sets}'
