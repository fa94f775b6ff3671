"""How language-universal are the features of one evaluation set? Figures against English.

For each target language xx, an evaluation set gives pairs (xx text, its English source) under
item keys; the same key in two languages is the same English text. From their features:

* Retrieval P@1 by cosine, xx -> en and en -> xx, among the language's own pairs: over the fixed
  protocol keys (`_1k`, e.g. parallel_text's R1-1k) and over all of the language's items
  (`_all`). Chance is 1 / number of candidates.
* The same after per-language mean centering (`_centered`; Libovický et al. 2020). The means
  are cross-fitted: a key's fold (`key_fold`, from its sha1) decides which half of the items
  it belongs to, and rows of fold f are centered with the means of fold 1 - f, so no row is
  centered with a mean it took part in.
* A language-ID probe (logistic regression, fixed C) over the target languages plus English,
  trained on fold-0 keys and tested on fold-1 keys, raw and centered. The centering means come
  from other fold-0 rows, disjoint from the probe's train and test rows: centered with the
  means of its own training rows, every class mean of the training set is zero, and then the
  logistic loss is smallest at zero weights (its gradient there is a sum of class means), so
  a linear probe would sit at chance by construction. Splitting by key keeps every test text's
  content out of training in every language (Barrett et al. 2019: measure leakage on held-out
  text).
* The distance between a language's mean and English's, scaled by the mean row norm.

Features are dense arrays (an encoder's pooled states) or CSR matrices (`tfidf_features`, the
character n-gram floor). Similarities are computed in blocks of BLOCK_ROWS queries against
all of a language's candidates; sparse features are never densified beyond such a block, and
their centered cosine is computed exactly from the uncentered products (see
`_similarity_blocks`). Pure numpy, scipy and scikit-learn; `suite.py` feeds it.
"""

from collections.abc import Collection, Iterator, Mapping, Sequence
import dataclasses
import functools
import hashlib
import warnings

import numpy as np
from scipy import sparse
from scipy.spatial import distance

PIVOT = 'en'
FIGURES = (
    'retrieval_to_en_1k', 'retrieval_from_en_1k', 'retrieval_to_en_all', 'retrieval_from_en_all',
    'retrieval_to_en_1k_centered', 'retrieval_from_en_1k_centered',
    'retrieval_to_en_all_centered', 'retrieval_from_en_all_centered',
    'probe', 'probe_centered', 'mean_distance_to_en',
)
BLOCK_ROWS = 1024        # queries per similarity block: a block is [BLOCK_ROWS, candidates]
PROBE_ITEMS_PER_LANGUAGE = 200
PROBE_CENTERING_ROWS = 1000   # fold-0 rows beyond the probe's train rows, per class
PROBE_INVERSE_REGULARIZATION = 1.0   # universality.language_probe_accuracy's fixed C
PROBE_MAX_ITER = 1000
SVD_COMPONENTS = 256
MIN_FOLD_ROWS = 2        # a centering mean needs at least this many rows of the other fold

Features = np.ndarray | sparse.csr_matrix


@dataclasses.dataclass(frozen=True)
class LanguagePairs:
  """One target language's items of a set: row i of `target` and of `english` are item keys[i]."""
  keys: Sequence[str]
  target: Features    # [n, d] the xx side
  english: Features   # [n, d] the English side, row-aligned with target

  def __post_init__(self):
    n = len(self.keys)
    for side in ('target', 'english'):
      shape = getattr(self, side).shape
      if len(shape) != 2 or shape[0] != n:
        raise ValueError(f'LanguagePairs.{side} has shape {shape}; expected [{n}, d], one row per '
                         'key.')
    if self.target.shape[1] != self.english.shape[1]:
      raise ValueError(f'LanguagePairs sides differ in width: target {self.target.shape}, english '
                       f'{self.english.shape}.')
    if len(set(self.keys)) != n:
      raise ValueError('LanguagePairs.keys repeat; each key names one item of the language.')


@functools.lru_cache(maxsize=1 << 20)
def _key_digest(key: str) -> bytes:
  return hashlib.sha1(key.encode('utf-8')).digest()


def key_fold(key: str) -> int:
  """0 or 1 from the key's sha1. The last byte: the fixed protocol subsets pick the lowest
  digests (parallel_text.r1_1k), so the leading bytes would not split them evenly."""
  return _key_digest(key)[-1] & 1


def _key_rank(key: str) -> int:
  """A deterministic order of keys that is independent of their fold and of r1_1k's order."""
  return int.from_bytes(_key_digest(key)[8:16], 'big')


def tfidf_features(texts: Sequence[str]) -> sparse.csr_matrix:
  """Character 1-4-gram tf-idf rows (within word boundaries, sublinear tf) fitted on `texts`:
  the floor that shares nothing but spelling (names, numbers, cognates) across languages."""
  from sklearn.feature_extraction.text import TfidfVectorizer
  vectorizer = TfidfVectorizer(analyzer='char_wb', ngram_range=(1, 4), sublinear_tf=True)
  return sparse.csr_matrix(vectorizer.fit_transform(list(texts)))


def _as_features(features) -> Features:
  if sparse.issparse(features):
    return sparse.csr_matrix(features, dtype=np.float64)
  features = np.asarray(features)
  return features.astype(np.result_type(features.dtype, np.float32), copy=False)


def _row_mean(features: Features, rows: np.ndarray) -> np.ndarray:
  if sparse.issparse(features):
    return np.asarray(features[rows].mean(axis=0), np.float64).ravel()
  return features[rows].mean(axis=0, dtype=np.float64)


def _row_norms(features: Features) -> np.ndarray:
  if sparse.issparse(features):
    return np.sqrt(np.asarray(features.multiply(features).sum(axis=1), np.float64).ravel())
  return np.linalg.norm(features, axis=1).astype(np.float64)


# --- Retrieval -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Side:
  """One side's rows ready for cosine: dense rows are centered and unit-normalized already;
  sparse rows stay as they are, with the means to subtract ([2, d], by row fold) and the
  inverse norm of each centered row."""
  features: Features
  folds: np.ndarray                   # [n] the fold of each row
  means: np.ndarray | None = None     # sparse only: [2, d], row i is centered with means[folds[i]]
  inverse_norms: np.ndarray | None = None   # sparse only

  def subset(self, rows: np.ndarray) -> '_Side':
    return _Side(self.features[rows], self.folds[rows], self.means,
                 None if self.inverse_norms is None else self.inverse_norms[rows])


def _prepare(features: Features, folds: np.ndarray, means: np.ndarray | None) -> _Side:
  """`means` [2, d]: row i is centered with means[folds[i]] (None: raw)."""
  if not sparse.issparse(features):
    if means is not None:
      features = features - means.astype(features.dtype)[folds]
    norms = np.linalg.norm(features, axis=1, keepdims=True)
    return _Side(features / np.maximum(norms, 1e-12).astype(features.dtype), folds)
  # ||x - a||^2 = ||x||^2 - 2 x.a + ||a||^2, with a the row's own centering mean.
  squared = _row_norms(features) ** 2
  if means is not None:
    own = np.asarray(features @ means.T)[np.arange(len(folds)), folds]
    squared = squared - 2 * own + np.einsum('fd,fd->f', means, means)[folds]
  return _Side(features, folds, means, 1 / np.sqrt(np.maximum(squared, 1e-24)))


def _similarity_blocks(queries: _Side, candidates: _Side) -> Iterator[tuple[int, np.ndarray]]:
  """(first query row, cosine block [rows, n_candidates]) over blocks of BLOCK_ROWS queries.

  Sparse sides are centered inside the products: with x a query row centered by a and y a
  candidate row centered by b (each picked by its row's fold from its side's two means),
  (x - a).(y - b) = x.y - x.b - a.y + a.b. With one-hot folds F (queries) and G (candidates),
  the last three terms are a rank-4 matrix: [F (A B^T) - X B^T, -F] @ [G^T; A Y^T].
  """
  if not sparse.issparse(queries.features):
    for start in range(0, queries.features.shape[0], BLOCK_ROWS):
      yield start, queries.features[start:start + BLOCK_ROWS] @ candidates.features.T
    return
  centered = queries.means is not None
  candidates_transposed = candidates.features.T.tocsr()
  if centered:
    one_hot = np.eye(2)
    right = np.vstack([one_hot[candidates.folds].T,
                       np.asarray(candidates.features @ queries.means.T).T])   # [4, n]
    means_products = queries.means @ candidates.means.T                       # [2, 2]
  for start in range(0, queries.features.shape[0], BLOCK_ROWS):
    block = queries.features[start:start + BLOCK_ROWS]
    similarity = (block @ candidates_transposed).toarray()
    if centered:
      query_folds = one_hot[queries.folds[start:start + BLOCK_ROWS]]           # [rows, 2]
      left = np.hstack([query_folds @ means_products - block @ candidates.means.T, -query_folds])
      similarity += left @ right
    similarity *= queries.inverse_norms[start:start + BLOCK_ROWS, None]
    similarity *= candidates.inverse_norms[None, :]
    yield start, similarity


def _top1_both_directions(target: _Side, english: _Side) -> tuple[float, float]:
  """(xx -> en, en -> xx) P@1: a query is right when its own row is strictly more similar than
  every other candidate (a tie is a miss: duplicate or empty rows cannot be told apart). One
  similarity matrix serves both: rows are xx queries, columns en queries."""
  n = target.features.shape[0]
  own = np.empty(n)
  other_best_by_column = np.full(n, -np.inf)
  to_english_hits = 0
  for start, similarity in _similarity_blocks(target, english):
    rows = np.arange(similarity.shape[0])
    diagonal = (rows, start + rows)
    own[start:start + len(rows)] = similarity[diagonal]
    similarity[diagonal] = -np.inf
    # max, not argmax: numpy's argmax over the strided axis is several times slower.
    to_english_hits += int(np.sum(own[start:start + len(rows)] > similarity.max(axis=1)))
    np.maximum(other_best_by_column, similarity.max(axis=0), out=other_best_by_column)
  return to_english_hits / n, int(np.sum(own > other_best_by_column)) / n


# --- Language-ID probe ----------------------------------------------------------------------


_PROBE_SPLITS = (('train', 0), ('test', 1), ('centering', 0))


def _probe_rows(keys: Sequence[str], folds: np.ndarray, fold: int, limit: int,
                split: str = 'train') -> np.ndarray:
  """The rows of `fold` in _key_rank order: the first `limit` (test); the first `limit` but at
  most half of them (train), and the next PROBE_CENTERING_ROWS after those (centering)."""
  rows = np.flatnonzero(folds == fold)
  ranked = sorted(rows.tolist(), key=lambda row: _key_rank(keys[row]))
  if split == 'test':
    return np.asarray(ranked[:limit], np.int64)
  train = min(limit, (len(ranked) + 1) // 2)
  chosen = ranked[train:train + PROBE_CENTERING_ROWS] if split == 'centering' else ranked[:train]
  return np.asarray(chosen, np.int64)


def _probe_samples(pairs: Mapping[str, LanguagePairs], features: Mapping[str, tuple],
                   folds: Mapping[str, np.ndarray], limit: int) -> dict:
  """Per class (each target language and English), the (features, keys) of its train (fold 0)
  and test (fold 1) rows. English rows come once per key, from the first language that has it."""
  samples = {}
  english_source: dict[str, tuple[str, int]] = {}
  for language in sorted(pairs):
    keys = pairs[language].keys
    target, english = features[language]
    for row, key in enumerate(keys):
      english_source.setdefault(key, (language, row))
    samples[language] = {}
    for split, fold in _PROBE_SPLITS:
      rows = _probe_rows(keys, folds[language], fold, limit, split)
      samples[language][split] = (target[rows], [keys[row] for row in rows])
  english_keys = list(english_source)
  english_folds = np.asarray([key_fold(key) for key in english_keys], np.int8)
  samples[PIVOT] = {}
  for split, fold in _PROBE_SPLITS:
    chosen = [english_keys[row]
              for row in _probe_rows(english_keys, english_folds, fold, limit, split)]
    by_language: dict[str, list[int]] = {}
    for key in chosen:
      language, row = english_source[key]
      by_language.setdefault(language, []).append(row)
    # Gathered per source language: the rows' order within a class does not matter.
    parts, part_keys = [], []
    for language, rows_of_language in by_language.items():
      parts.append(features[language][1][np.asarray(rows_of_language)])
      part_keys.extend(pairs[language].keys[row] for row in rows_of_language)
    samples[PIVOT][split] = (_stack(parts), part_keys)
  return samples


def _stack(parts: Sequence[Features]) -> Features:
  if parts and sparse.issparse(parts[0]):
    return sparse.vstack(parts, format='csr')
  return np.concatenate(parts) if parts else np.zeros((0, 0))


def _fit_and_score_probe(train: np.ndarray, train_labels: np.ndarray, test: np.ndarray
                         ) -> np.ndarray:
  """Predictions on `test` of a standardized multinomial logistic regression fitted on train."""
  from sklearn.exceptions import ConvergenceWarning
  from sklearn.linear_model import LogisticRegression
  from sklearn.pipeline import make_pipeline
  from sklearn.preprocessing import StandardScaler
  probe = make_pipeline(StandardScaler(),
                        LogisticRegression(C=PROBE_INVERSE_REGULARIZATION,
                                           max_iter=PROBE_MAX_ITER))
  with warnings.catch_warnings():
    # Separable features make lbfgs run long; the accuracy matters, not the last digits.
    warnings.simplefilter('ignore', ConvergenceWarning)
    probe.fit(train, train_labels)
  return probe.predict(test)


def _language_probe(samples: Mapping[str, Mapping[str, tuple]]) -> dict:
  """Raw and centered probe figures, or {'skipped': reason}."""
  classes = sorted(language for language in samples if len(samples[language]['train'][1]))
  tested = [language for language in sorted(samples) if len(samples[language]['test'][1])]
  if len(classes) < 2 or not tested:
    return {'skipped': f'the probe needs train rows of two classes and test rows; got train '
                       f'classes {classes} and test classes {tested}'}
  train = _stack([samples[language]['train'][0] for language in classes])
  test = _stack([samples[language]['test'][0] for language in tested])
  train_labels = np.repeat(classes, [len(samples[l]['train'][1]) for l in classes])
  test_labels = np.repeat(tested, [len(samples[l]['test'][1]) for l in tested])
  if sparse.issparse(train):
    from sklearn.decomposition import TruncatedSVD
    # Columns absent from every train row get no weight in the components: dropping them
    # changes nothing and makes the SVD's dense [columns, components] work smaller.
    columns = np.unique(train.indices)
    train, test = train[:, columns], test[:, columns]
    components = min(SVD_COMPONENTS, train.shape[1] - 1, train.shape[0] - 1)
    if components < 1:
      return {'skipped': f'too few train rows or columns for the SVD ({train.shape})'}
    svd = TruncatedSVD(n_components=components, random_state=0).fit(train)
    project = lambda rows: svd.transform(rows[:, columns])
    train, test = svd.transform(train), svd.transform(test)
  else:
    project = lambda rows: rows
  train = np.asarray(train, np.float64)
  test = np.asarray(test, np.float64)

  # Centering given the language (as at inference), with means of other fold-0 rows (see the
  # module docstring). Without two such rows for every class the centered probe is skipped.
  means = {language: np.asarray(project(samples[language]['centering'][0]), np.float64).mean(0)
           for language in classes if samples[language]['centering'][0].shape[0] >= 2}
  lacking = sorted(set(classes) - set(means))
  zero = np.zeros(train.shape[1])
  means |= {language: zero for language in lacking}
  centered_train = train - np.stack([means[l] for l in train_labels])
  centered_test = test - np.stack([means.get(l, zero) for l in test_labels])

  _, counts = np.unique(test_labels, return_counts=True)
  result = {'chance': float(counts.max() / counts.sum()), 'uniform_chance': 1 / len(classes),
            'classes': len(classes), 'train_rows': len(train), 'test_rows': len(test),
            'centering_rows_lacking': lacking}
  probes = {'probe': (train, test), 'probe_centered': (centered_train, centered_test)}
  if lacking:
    del probes['probe_centered']
  for name, (fit_rows, test_rows) in probes.items():
    predictions = _fit_and_score_probe(fit_rows, train_labels, test_rows)
    right = predictions == test_labels
    result[name] = {'accuracy': float(right.mean()),
                    'recall': {l: float(right[test_labels == l].mean()) for l in tested}}
  return result


# --- Per-language retrieval and mean distances ------------------------------------------------


def _language_retrieval(keys: Sequence[str], target: Features, english: Features,
                        folds: np.ndarray, fixed: Collection[str] | None) -> dict:
  """One language's retrieval figures: {'figures': {figure: (P@1, candidates)},
  'centering': (keys fitting the means of fold 0 and 1, keys of fold 0 and 1) or None,
  'fixed_items': count or None, 'skipped': {what: why}}."""
  keys = np.asarray(keys, dtype=object)
  n = len(keys)
  result = {'figures': {}, 'centering': None, 'fixed_items': None, 'skipped': {}}
  regimes = {'all': np.arange(n)}
  if fixed is not None:
    fixed = set(fixed)
    fixed_rows = np.flatnonzero([key in fixed for key in keys])
    result['fixed_items'] = len(fixed_rows)
    if len(fixed_rows) >= 2:
      regimes['1k'] = fixed_rows
    else:
      result['skipped']['retrieval_1k'] = (f'{len(fixed_rows)} of its keys are fixed keys; the '
                                           'regime needs two')
  sides = {'': (_prepare(target, folds, None), _prepare(english, folds, None))}
  fold_rows = [np.flatnonzero(folds == fold) for fold in (0, 1)]
  if min(len(rows) for rows in fold_rows) >= MIN_FOLD_ROWS:
    # Fold f is centered with means fitted on the other fold's rows.
    fitting = [fold_rows[1 - fold] for fold in (0, 1)]
    target_means = np.stack([_row_mean(target, rows) for rows in fitting])
    english_means = np.stack([_row_mean(english, rows) for rows in fitting])
    sides['_centered'] = (_prepare(target, folds, target_means),
                          _prepare(english, folds, english_means))
    result['centering'] = (tuple(keys[rows].tolist() for rows in fitting),
                           tuple(keys[rows].tolist() for rows in fold_rows))
  else:
    result['skipped']['centering'] = (f'folds of {len(fold_rows[0])} and {len(fold_rows[1])} '
                                      f'items; centering needs {MIN_FOLD_ROWS} in each')
  for suffix, (target_side, english_side) in sides.items():
    for regime, rows in regimes.items():
      if len(rows) < n:
        to_english, from_english = _top1_both_directions(target_side.subset(rows),
                                                         english_side.subset(rows))
      else:
        to_english, from_english = _top1_both_directions(target_side, english_side)
      result['figures'][f'retrieval_to_en_{regime}{suffix}'] = (to_english, len(rows))
      result['figures'][f'retrieval_from_en_{regime}{suffix}'] = (from_english, len(rows))
  return result


def _mean_distances(features: Mapping[str, tuple[Features, Features]]
                    ) -> tuple[dict[str, float], float | None]:
  """({language: ||mean(xx) - mean(en)|| / mean row norm of the two sides}, the mean over
  pairs of target languages of ||mean(xx) - mean(yy)|| / their mean row norm, or None)."""
  to_english, mean_vectors, mean_norms = {}, {}, {}
  for language, (target, english) in features.items():
    everything = np.arange(target.shape[0])
    if not len(everything):
      continue
    mean_vectors[language] = _row_mean(target, everything)
    mean_norms[language] = target_norm = _row_norms(target).mean()
    scale = max((target_norm + _row_norms(english).mean()) / 2, 1e-12)
    to_english[language] = float(
        np.linalg.norm(mean_vectors[language] - _row_mean(english, everything)) / scale)
  if len(mean_vectors) < 2:
    return to_english, None
  distances = distance.pdist(np.stack(list(mean_vectors.values())))
  norms = np.asarray(list(mean_norms.values()))
  first, second = np.triu_indices(len(norms), k=1)   # pdist's pair order
  return to_english, _mean(distances / np.maximum((norms[first] + norms[second]) / 2, 1e-12))


def _mean(values) -> float:
  return float(np.mean(list(values)))


# --- Entry point ----------------------------------------------------------------------------


def crosslingual_figures(pairs: Mapping[str, LanguagePairs],
                         fixed_keys: Mapping[str, Collection[str]] | None = None,
                         probe_items_per_language: int = PROBE_ITEMS_PER_LANGUAGE) -> dict:
  """Retrieval, centered retrieval, language-ID probes and mean distances of one set.

  Args:
    pairs: target language -> its LanguagePairs (dense or CSR features, all of one width).
    fixed_keys: language -> the fixed protocol keys (the `_1k` regime); None skips the regime,
      and so does a language with fewer than two of its keys.
    probe_items_per_language: at most this many train and this many test rows per class.

  Returns:
    mean: {figure: mean over languages} (probe: overall test accuracy), plus
      'mean_distance_between_languages' (mean over pairs of target languages). A figure that
      applies to no language is absent.
    per_language: {figure: {language: value}}; the probes' values are each class's test
      recall, English's included.
    chance: {figure: value}: retrieval 1 / candidates averaged over the languages scored;
      probe: the majority class's share of the test rows; 'probe_uniform': 1 / classes.
    sizes: items and fixed keys per language, probe rows and classes, and what was skipped why.
    provenance: keys per language that fitted the probe ('probe_train'), that it was tested on
      ('probe_test'), that fitted its centering means ('probe_centering'); for the retrieval
      centering, 'centering_means'[language][f] fitted the means that center the rows of fold
      f, which are 'centered_rows'[language][f] (the same keys on both sides).
  """
  if PIVOT in pairs:
    raise ValueError(f'{PIVOT!r} is the pivot of every pair; it cannot also be a target language.')
  if not pairs:
    raise ValueError('crosslingual_figures got no language.')
  widths = {p.target.shape[1] for p in pairs.values()}
  if len(widths) != 1:
    raise ValueError(f'All languages need features of one width; got widths {sorted(widths)}.')

  languages = sorted(pairs)
  features = {l: (_as_features(pairs[l].target), _as_features(pairs[l].english))
              for l in languages}
  folds = {l: np.fromiter((key_fold(k) for k in pairs[l].keys), np.int64, len(pairs[l].keys))
           for l in languages}
  per_language = {figure: {} for figure in FIGURES}
  candidates: dict[str, list[int]] = {figure: [] for figure in FIGURES[:8]}
  skipped: dict[str, dict[str, str]] = {}
  fixed_counts: dict[str, int] = {}
  provenance = {'centering_means': {}, 'centered_rows': {}}

  for language in languages:
    n = len(pairs[language].keys)
    if n < 2:
      skipped.setdefault('retrieval', {})[language] = f'{n} item(s); retrieval needs two'
      continue
    retrieval = _language_retrieval(
        pairs[language].keys, *features[language], folds[language],
        None if fixed_keys is None else fixed_keys.get(language, ()))
    for figure, (value, count) in retrieval['figures'].items():
      per_language[figure][language] = value
      candidates[figure].append(count)
    if retrieval['centering'] is not None:
      (provenance['centering_means'][language],
       provenance['centered_rows'][language]) = retrieval['centering']
    if retrieval['fixed_items'] is not None:
      fixed_counts[language] = retrieval['fixed_items']
    for what, why in retrieval['skipped'].items():
      skipped.setdefault(what, {})[language] = why
  if not per_language['retrieval_to_en_all']:
    raise ValueError(f'No language has two items to retrieve among: {skipped["retrieval"]}.')

  per_language['mean_distance_to_en'], between = _mean_distances(features)

  samples = _probe_samples(pairs, features, folds, probe_items_per_language)
  probe = _language_probe(samples)
  provenance['probe_train'] = {l: s['train'][1] for l, s in samples.items()}
  provenance['probe_test'] = {l: s['test'][1] for l, s in samples.items()}
  provenance['probe_centering'] = {l: s['centering'][1] for l, s in samples.items()}

  mean = {figure: _mean(values.values()) for figure, values in per_language.items() if values}
  chance = {figure: _mean(1 / c for c in counts)
            for figure, counts in candidates.items() if counts}
  if 'skipped' in probe:
    skipped['probe'] = {'all': probe['skipped']}
  else:
    if probe['centering_rows_lacking']:
      skipped['probe_centered'] = {
          'all': f'no two fold-0 rows outside the probe\'s train rows to center '
                 f'{", ".join(probe["centering_rows_lacking"])} with'}
    for name in ('probe', 'probe_centered'):
      if name not in probe:
        continue
      mean[name] = probe[name]['accuracy']
      per_language[name] = probe[name]['recall']
      chance[name] = probe['chance']
    chance['probe_uniform'] = probe['uniform_chance']
  if between is not None:
    mean['mean_distance_between_languages'] = between
  return {
      'mean': mean,
      'per_language': {figure: values for figure, values in per_language.items() if values},
      'chance': chance,
      'sizes': {
          'languages': len(languages),
          'items': {l: len(pairs[l].keys) for l in languages},
          'fixed_items': fixed_counts if fixed_keys is not None else None,
          'probe_classes': probe.get('classes', 0),
          'probe_train_rows': probe.get('train_rows', 0),
          'probe_test_rows': probe.get('test_rows', 0),
          'skipped': skipped,
      },
      'provenance': provenance,
  }
