"""The cross-lingual figures on features whose answer is known by construction."""

import hashlib
import math

import numpy as np
import pytest
from scipy import sparse

from unibert_jax.evaluation import crosslingual

RETRIEVAL = crosslingual.FIGURES[:8]


def _keys(n, prefix='msg'):
  return [f'{prefix}{i}' for i in range(n)]


def _offset_pairs(languages, n, d, offset, noise=0.05, seed=0):
  """Shared content per key + one offset per language (English's too) + small noise."""
  rng = np.random.default_rng(seed)
  content = rng.normal(size=(n, d))

  def side():
    return content + offset * rng.normal(size=d) + noise * rng.normal(size=(n, d))

  english = side()
  return {language: crosslingual.LanguagePairs(_keys(n), side(), english)
          for language in languages}


def _reference_top1(target, english, keys, centered):
  """Independent numpy P@1 (xx -> en, en -> xx), with cross-fitted centering by key fold."""
  target, english = np.array(target, float), np.array(english, float)
  if centered:
    folds = np.array([crosslingual.key_fold(key) for key in keys])
    for side in (target, english):
      means = [side[folds == 1].mean(0), side[folds == 0].mean(0)]   # fold f: mean of 1 - f
      side -= np.stack([means[f] for f in folds])
  target /= np.linalg.norm(target, axis=1, keepdims=True)
  english /= np.linalg.norm(english, axis=1, keepdims=True)
  similarity = target @ english.T

  def hits(s):
    own = np.diag(s).copy()
    np.fill_diagonal(s, -np.inf)
    return float(np.mean(own > s.max(axis=1)))

  return hits(similarity.copy()), hits(similarity.T.copy())


def test_key_fold_is_the_last_bit_of_sha1_and_splits_evenly():
  # Pinned values: the fold must not change across runs, machines or Python hash seeds.
  assert [crosslingual.key_fold(f'msg{i}') for i in range(12)] == [
      hashlib.sha1(f'msg{i}'.encode()).digest()[-1] & 1 for i in range(12)]
  assert [crosslingual.key_fold(key) for key in ('msg0', 'msg1', 'msg6')] == [0, 1, 1]
  share = np.mean([crosslingual.key_fold(key) for key in _keys(4000)])
  # Binomial(4000, 1/2): sigma = 0.0079; 5 sigma.
  assert abs(share - 0.5) < 0.04
  # Independent of r1_1k's choice (the lowest sha1 digests): the fixed subset splits too.
  lowest = sorted(_keys(4000), key=lambda k: hashlib.sha1(k.encode()).hexdigest())[:400]
  assert abs(np.mean([crosslingual.key_fold(key) for key in lowest]) - 0.5) < 0.13


def test_identical_sides_retrieve_perfectly_and_chance_is_one_over_candidates():
  rng = np.random.default_rng(0)
  sizes = {'de': 90, 'fr': 120, 'sw': 60}
  pairs, fixed = {}, {}
  for language, n in sizes.items():
    features = rng.normal(size=(n, 24))
    pairs[language] = crosslingual.LanguagePairs(_keys(n), features, features.copy())
    fixed[language] = set(_keys(n)[: n // 3]) | {'not-an-item-key'}
  result = crosslingual.crosslingual_figures(pairs, fixed_keys=fixed)
  for figure in RETRIEVAL:
    assert result['mean'][figure] == 1.0, figure
    assert result['per_language'][figure] == {'de': 1.0, 'fr': 1.0, 'sw': 1.0}, figure
  for suffix in ('', '_centered'):
    for direction in ('to_en', 'from_en'):
      assert result['chance'][f'retrieval_{direction}_all{suffix}'] == pytest.approx(
          np.mean([1 / 90, 1 / 120, 1 / 60]))
      assert result['chance'][f'retrieval_{direction}_1k{suffix}'] == pytest.approx(
          np.mean([1 / 30, 1 / 40, 1 / 20]))
  assert result['sizes']['fixed_items'] == {'de': 30, 'fr': 40, 'sw': 20}
  assert result['mean']['mean_distance_to_en'] == pytest.approx(0.0, abs=1e-12)


def test_random_features_retrieve_at_chance():
  n, languages = 400, ['de', 'fr', 'ja', 'sw']
  rng = np.random.default_rng(1)
  pairs = {language: crosslingual.LanguagePairs(_keys(n), rng.normal(size=(n, 32)),
                                                rng.normal(size=(n, 32)))
           for language in languages}
  result = crosslingual.crosslingual_figures(pairs, fixed_keys={l: _keys(100) for l in languages})
  for regime, candidates in (('all', n), ('1k', 100)):
    chance = 1 / candidates
    # Each query hits with probability 1/candidates, independently enough across languages:
    # a mean over 4 x candidates queries has sigma = sqrt(p (1 - p) / (4 candidates)); 5 sigma.
    tolerance = 5 * math.sqrt(chance * (1 - chance) / (len(languages) * candidates))
    for figure in RETRIEVAL:
      if f'_{regime}' in figure:
        assert result['chance'][figure] == pytest.approx(chance)
        assert abs(result['mean'][figure] - chance) < tolerance, figure


def test_centering_removes_a_language_offset_that_retrieval_and_the_probe_see():
  languages = ['de', 'fr', 'ja']
  pairs = _offset_pairs(languages, 300, 16, offset=40.0)
  result = crosslingual.crosslingual_figures(pairs, fixed_keys={l: _keys(100) for l in languages})
  for figure in RETRIEVAL:
    if figure.endswith('_centered'):
      assert result['mean'][figure] > 0.95, figure
    else:
      assert result['mean'][figure] < 0.3, figure
  classes = len(languages) + 1
  assert result['sizes']['probe_classes'] == classes
  assert result['chance']['probe_uniform'] == 1 / classes
  assert result['mean']['probe'] > 0.95
  # Centered, the test rows of every class carry the same content (same keys, small noise):
  # the probe can only guess, right for about one copy in `classes`. Noise may tip a few
  # predictions; 0.1 is 5 sigma of a binomial over the ~4 x 150 test rows.
  assert abs(result['mean']['probe_centered'] - 1 / classes) < 0.1
  assert set(result['per_language']['probe']) == {'de', 'fr', 'ja', 'en'}
  assert result['mean']['mean_distance_to_en'] > 1.0


def test_centered_retrieval_matches_an_independent_cross_fitted_reference(monkeypatch):
  # Blocks of 7 queries: the diagonal and the running column maxima cross block borders.
  monkeypatch.setattr(crosslingual, 'BLOCK_ROWS', 7)
  pairs = _offset_pairs(['de', 'fr'], 80, 8, offset=1.0, noise=0.5, seed=2)
  fixed = {'de': _keys(80)[::3], 'fr': _keys(80)[1::2]}
  result = crosslingual.crosslingual_figures(pairs, fixed_keys=fixed)
  for language, pair in pairs.items():
    rows = [i for i, key in enumerate(pair.keys) if key in fixed[language]]
    for suffix, centered in (('', False), ('_centered', True)):
      expected_all = _reference_top1(pair.target, pair.english, pair.keys, centered)
      # The 1k regime uses the language's means (from all its items), then the fixed rows.
      target, english = pair.target, pair.english
      if centered:
        folds = np.array([crosslingual.key_fold(key) for key in pair.keys])
        target, english = (side - np.stack([side[folds != f].mean(0) for f in folds])
                           for side in (target, english))
      expected_fixed = _reference_top1(target[rows], english[rows], None, False)
      for regime, expected in (('all', expected_all), ('1k', expected_fixed)):
        got = (result['per_language'][f'retrieval_to_en_{regime}{suffix}'][language],
               result['per_language'][f'retrieval_from_en_{regime}{suffix}'][language])
        assert got == expected, (language, regime, suffix)
  # Intermediate values, so that the comparison can tell implementations apart.
  assert 0.1 < result['mean']['retrieval_to_en_all'] < 0.9
  assert 0.1 < result['mean']['retrieval_to_en_all_centered'] < 0.9


def test_centering_means_come_from_the_other_fold():
  # Rows of fold 0 carry one offset, rows of fold 1 another. Centering a fold with its own
  # mean would remove the offset; the other fold's mean leaves the difference in place.
  n, d = 200, 16
  rng = np.random.default_rng(3)
  content = rng.normal(size=(n, d))
  folds = np.array([crosslingual.key_fold(key) for key in _keys(n)])
  fold_offsets = 40.0 * rng.normal(size=(2, d))
  target = content + fold_offsets[folds] + 0.05 * rng.normal(size=(n, d))
  english = content + 0.05 * rng.normal(size=(n, d))
  result = crosslingual.crosslingual_figures(
      {'de': crosslingual.LanguagePairs(_keys(n), target, english)})
  assert result['mean']['retrieval_to_en_all_centered'] < 0.3
  # The same rows with in-sample means would be retrieved perfectly (check of the premise).
  in_sample = target - np.stack([target[folds == f].mean(0) for f in folds])
  assert _reference_top1(in_sample, english - english.mean(0), _keys(n), False)[0] > 0.95


def test_provenance_keeps_fitted_and_scored_keys_apart():
  languages = ['de', 'fr', 'ja']
  pairs = _offset_pairs(languages, 240, 8, offset=5.0)
  # ja lacks some keys, so English's key pool is not every language's.
  pairs['ja'] = crosslingual.LanguagePairs(pairs['ja'].keys[40:], pairs['ja'].target[40:],
                                           pairs['ja'].english[40:])
  result = crosslingual.crosslingual_figures(pairs, probe_items_per_language=50)
  provenance = result['provenance']
  for language in languages:
    fitted = provenance['centering_means'][language]
    centered = provenance['centered_rows'][language]
    assert set(centered[0]) | set(centered[1]) == set(pairs[language].keys)
    for fold in (0, 1):
      assert not set(fitted[fold]) & set(centered[fold])
      assert {crosslingual.key_fold(key) for key in centered[fold]} == {fold}
      assert set(fitted[fold]) == set(centered[1 - fold])
  train, test = provenance['probe_train'], provenance['probe_test']
  assert set(train) == set(test) == set(languages) | {'en'}
  all_train = set().union(*map(set, train.values()))
  all_test = set().union(*map(set, test.values()))
  assert all_train and all_test and not all_train & all_test
  for language in train:
    assert 0 < len(train[language]) <= 50 and 0 < len(test[language]) <= 50
    assert len(set(train[language])) == len(train[language])   # English deduplicated
    # The centered probe's means come from other fold-0 rows: neither trained on nor tested.
    centering = set(provenance['probe_centering'][language])
    assert centering and not centering & (set(train[language]) | all_test)
    assert {crosslingual.key_fold(key) for key in centering} == {0}
  assert result['sizes']['probe_train_rows'] == sum(map(len, train.values()))
  assert result['sizes']['probe_test_rows'] == sum(map(len, test.values()))
  # Deterministic choice.
  again = crosslingual.crosslingual_figures(pairs, probe_items_per_language=50)['provenance']
  assert again['probe_train'] == train and again['probe_test'] == test


def _texts(language, key_index, rng_seed=0):
  """A made-up sentence: language-specific syllables around a name and a number that every
  translation of the key shares."""
  rng = np.random.default_rng([rng_seed, key_index, sum(map(ord, language))])
  syllables = {'en': 'th er an in on ed', 'de': 'sch ei ch en ung au', 'fr': 'eau ou oi ai er ez',
               'sw': 'wa ku na mb ji ya'}[language].split()
  words = [''.join(rng.choice(syllables, 2)) for _ in range(4)]
  name_rng = np.random.default_rng([rng_seed, key_index])
  name = ''.join(name_rng.choice(list('bdgklmprstvz'), 3)).capitalize() + 'ovic'
  return ' '.join(words[:2] + [name, str(name_rng.integers(10, 10_000))] + words[2:])


@pytest.mark.parametrize('features', ['dense', 'sparse'])
def test_the_probe_fits_nothing_on_test_rows(features):
  # Replacing one class's test rows must leave every other class's test recall as it was:
  # the scaler, the SVD and the centering means see train rows only.
  languages, n = ['de', 'fr', 'sw'], 120
  texts = [_texts(language, i) for language in ['en'] + languages for i in range(n)]
  matrix = crosslingual.tfidf_features(texts)
  if features == 'dense':
    matrix = matrix.toarray()
  row = {language: slice(k * n, (k + 1) * n) for k, language in enumerate(['en'] + languages)}

  def figures(swap_sw_test_rows):
    pairs = {}
    for language in languages:
      target = matrix[row[language]]
      if language == 'sw' and swap_sw_test_rows:
        test = np.flatnonzero([crosslingual.key_fold(key) for key in _keys(n)])
        target = sparse.lil_matrix(target) if sparse.issparse(target) else target.copy()
        target[test] = matrix[row['de']][test]
        target = sparse.csr_matrix(target) if sparse.issparse(target) else target
      pairs[language] = crosslingual.LanguagePairs(_keys(n), target, matrix[row['en']])
    return crosslingual.crosslingual_figures(pairs, probe_items_per_language=40)

  before, after = figures(False), figures(True)
  for probe in ('probe', 'probe_centered'):
    for language in ('de', 'fr', 'en'):
      assert after['per_language'][probe][language] == before['per_language'][probe][language]
  # The swap is seen where it should be: sw's test rows now look German.
  assert after['per_language']['probe']['sw'] < before['per_language']['probe']['sw']


def test_sparse_features_give_the_figures_of_their_dense_copy(monkeypatch):
  monkeypatch.setattr(crosslingual, 'BLOCK_ROWS', 16)
  languages, n = ['de', 'fr', 'sw'], 60
  texts = [_texts(language, i, rng_seed=4) for language in ['en'] + languages for i in range(n)]
  matrix = crosslingual.tfidf_features(texts)
  english = matrix[:n]
  sparse_pairs = {language: crosslingual.LanguagePairs(_keys(n), matrix[(k + 1) * n:(k + 2) * n],
                                                       english)
                  for k, language in enumerate(languages)}
  dense_pairs = {language: crosslingual.LanguagePairs(pair.keys, pair.target.toarray(),
                                                      pair.english.toarray())
                 for language, pair in sparse_pairs.items()}
  fixed = {language: _keys(n)[:30] for language in languages}
  from_sparse = crosslingual.crosslingual_figures(sparse_pairs, fixed_keys=fixed)
  from_dense = crosslingual.crosslingual_figures(dense_pairs, fixed_keys=fixed)
  for figure in RETRIEVAL:
    assert from_sparse['per_language'][figure] == from_dense['per_language'][figure], figure
  for figure in ('mean_distance_to_en', 'mean_distance_between_languages'):
    assert from_sparse['mean'][figure] == pytest.approx(from_dense['mean'][figure], rel=1e-9)

  # The centered cosines themselves agree, not only their ranks.
  pair = sparse_pairs['de']
  folds = np.array([crosslingual.key_fold(key) for key in pair.keys])
  for side in ('target', 'english'):
    features = getattr(pair, side)
    means = np.stack([np.asarray(features[folds != f].mean(0)).ravel() for f in (0, 1)])
    as_sparse = crosslingual._prepare(features, folds, means)
    as_dense = crosslingual._prepare(features.toarray(), folds, means)
    blocks_sparse = np.vstack([b for _, b in crosslingual._similarity_blocks(as_sparse, as_sparse)])
    blocks_dense = np.vstack([b for _, b in crosslingual._similarity_blocks(as_dense, as_dense)])
    np.testing.assert_allclose(blocks_sparse, blocks_dense, atol=1e-12)
    assert np.ptp(blocks_dense) > 1.0   # centered cosines spread over (-1, 1)


def test_tfidf_floor_retrieves_translations_through_names_and_numbers():
  english = ['Maria sent 3 files to Berlin on 12 May 2021.',
             'The update 4.2.7 fixes 15 bugs reported by Kowalski.',
             'Call Tanaka at 555-0199 before 8 pm.',
             'Firefox 128 is faster on Linux and Windows.',
             'Olusegun paid 2,450 naira for 6 tickets.',
             'The meeting in Reykjavik starts at 09:30.',
             'Save 40% on LibreOffice training with Dupont.',
             'Version 17 of GNOME adds support for Wayland.']
  german = ['Maria hat am 12. Mai 2021 3 Dateien nach Berlin geschickt.',
            'Die Aktualisierung 4.2.7 behebt 15 Fehler, gemeldet von Kowalski.',
            'Rufen Sie Tanaka vor 20 Uhr unter 555-0199 an.',
            'Firefox 128 ist unter Linux und Windows schneller.',
            'Olusegun zahlte 2.450 Naira für 6 Karten.',
            'Die Sitzung in Reykjavik beginnt um 09:30.',
            'Sparen Sie 40% bei LibreOffice-Schulungen mit Dupont.',
            'Version 17 von GNOME unterstützt Wayland.']
  swahili = ['Maria alituma faili 3 kwenda Berlin tarehe 12 Mei 2021.',
             'Sasisho 4.2.7 linarekebisha hitilafu 15 zilizoripotiwa na Kowalski.',
             'Mpigie Tanaka kwa 555-0199 kabla ya saa 2 usiku.',
             'Firefox 128 ni haraka zaidi kwenye Linux na Windows.',
             'Olusegun alilipa naira 2,450 kwa tiketi 6.',
             'Mkutano huko Reykjavik unaanza saa 09:30.',
             'Okoa 40% kwenye mafunzo ya LibreOffice na Dupont.',
             'Toleo la 17 la GNOME linaongeza usaidizi wa Wayland.']
  n = len(english)
  matrix = crosslingual.tfidf_features(english + german + swahili)
  assert isinstance(matrix, sparse.csr_matrix)
  keys = [f'doc{i}' for i in range(n)]
  pairs = {'de': crosslingual.LanguagePairs(keys, matrix[n:2 * n], matrix[:n]),
           'sw': crosslingual.LanguagePairs(keys, matrix[2 * n:], matrix[:n])}
  result = crosslingual.crosslingual_figures(pairs)
  assert result['chance']['retrieval_to_en_all'] == 1 / n
  # Chance is 1/8; shared names and numbers should find most translations.
  assert result['mean']['retrieval_to_en_all'] >= 0.75
  assert result['mean']['retrieval_from_en_all'] >= 0.75
  # Shuffling one side's rows destroys what the floor relies on.
  shuffled = {'de': crosslingual.LanguagePairs(keys, matrix[n:2 * n][::-1], matrix[:n])}
  assert crosslingual.crosslingual_figures(shuffled)['mean']['retrieval_to_en_all'] <= 0.25


def test_mean_distances_are_shifts_over_the_mean_row_norm():
  rng = np.random.default_rng(5)
  english = rng.normal(size=(50, 6))
  shifts = {'de': np.array([3.0, 0, 0, 0, 0, 0]), 'fr': np.array([0, 0, 0, 0, 4.0, 0])}
  pairs = {language: crosslingual.LanguagePairs(_keys(50), english + shift, english)
           for language, shift in shifts.items()}
  result = crosslingual.crosslingual_figures(pairs)
  norms = {language: np.linalg.norm(english + shift, axis=1).mean()
           for language, shift in shifts.items()}
  english_norm = np.linalg.norm(english, axis=1).mean()
  for language, shift in shifts.items():
    assert result['per_language']['mean_distance_to_en'][language] == pytest.approx(
        np.linalg.norm(shift) / ((norms[language] + english_norm) / 2))
  assert result['mean']['mean_distance_between_languages'] == pytest.approx(
      5.0 / ((norms['de'] + norms['fr']) / 2))


def test_one_language_and_a_language_too_small_to_center():
  pairs = _offset_pairs(['de'], 60, 8, offset=5.0)
  result = crosslingual.crosslingual_figures(pairs)
  # Two classes: de and English.
  assert result['sizes']['probe_classes'] == 2 and result['chance']['probe_uniform'] == 0.5
  assert 'mean_distance_between_languages' not in result['mean']
  assert not any(figure.endswith('_1k') for figure in result['mean'])   # no fixed keys given

  tiny_keys = ['msg0', 'msg1', 'msg2']   # folds 0, 1, 0: fold 1 has one row
  assert [crosslingual.key_fold(key) for key in tiny_keys] == [0, 1, 0]
  pairs['sw'] = crosslingual.LanguagePairs(tiny_keys, np.eye(3, 8), np.eye(3, 8))
  result = crosslingual.crosslingual_figures(pairs)
  assert 'sw' in result['per_language']['retrieval_to_en_all']
  assert 'sw' not in result['per_language']['retrieval_to_en_all_centered']
  assert 'de' in result['per_language']['retrieval_to_en_all_centered']
  assert 'sw' in result['sizes']['skipped']['centering']
  assert 'sw' not in result['provenance']['centering_means']


def test_errors_a_caller_can_cause():
  features = np.zeros((2, 4))
  with pytest.raises(ValueError, match='repeat'):
    crosslingual.LanguagePairs(['a', 'a'], features, features)
  with pytest.raises(ValueError, match='shape'):
    crosslingual.LanguagePairs(['a', 'b', 'c'], features, features)
  with pytest.raises(ValueError, match='width'):
    crosslingual.LanguagePairs(['a', 'b'], features, np.zeros((2, 5)))
  pair = crosslingual.LanguagePairs(['a', 'b'], np.eye(2), np.eye(2))
  with pytest.raises(ValueError, match='pivot'):
    crosslingual.crosslingual_figures({'en': pair})
  single = crosslingual.LanguagePairs(['a'], np.ones((1, 2)), np.ones((1, 2)))
  with pytest.raises(ValueError, match='two items'):
    crosslingual.crosslingual_figures({'de': single, 'fr': single})
