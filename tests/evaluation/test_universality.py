"""The universality metrics on features whose answer is known by construction."""

import math

import numpy as np
import pytest

from unibert_jax import language_probe
from unibert_jax.evaluation import universality


def _parallel(languages, n, d, seed=0):
  """The same random vector for paragraph j in every language."""
  content = np.random.default_rng(seed).normal(size=(n, d))
  return {language: content.copy() for language in languages}


def test_retrieval_is_perfect_for_identical_parallel_features():
  result = universality.retrieval_top1(_parallel(['en', 'de', 'fr', 'sw'], 30, 16))
  assert result['retrieval_top1'] == 1.0
  assert result['retrieval_top1_vs_en'] == 1.0
  assert result['per_language'] == {'de': 1.0, 'fr': 1.0, 'sw': 1.0}
  assert result['retrieval_pairs'] == 4 * 3
  assert result['retrieval_chance'] == pytest.approx(1 / 30)


def test_retrieval_is_at_chance_for_random_features():
  n, languages = 100, ['en', 'de', 'fr', 'ru']
  rng = np.random.default_rng(1)
  features = {language: rng.normal(size=(n, 32)) for language in languages}
  result = universality.retrieval_top1(features)
  chance = 1 / n
  assert result['retrieval_chance'] == pytest.approx(chance)
  # Each ordered pair is a mean of n hits of probability 1/n (symmetry of independent random
  # vectors). Pairs share languages, so bound the mean's spread by one pair's: 5 sigma.
  tolerance = 5 * math.sqrt(chance * (1 - chance) / n)
  assert abs(result['retrieval_top1'] - chance) < tolerance
  assert abs(result['retrieval_top1_vs_en'] - chance) < tolerance


def test_retrieval_finds_the_one_misaligned_language():
  features = _parallel(['en', 'de', 'fr'], 50, 16)
  features['fr'] = features['fr'][np.random.default_rng(2).permutation(50)]
  result = universality.retrieval_top1(features)
  assert result['per_language']['de'] == 1.0
  # A random permutation keeps on average one fixed point: near 1/50 hits.
  assert result['per_language']['fr'] < 0.2
  assert result['per_language_all_pairs']['en'] == pytest.approx(
      (1.0 + 1.0 + 2 * result['per_language']['fr']) / 4)


def test_retrieval_degrades_with_language_specific_noise():
  rng = np.random.default_rng(3)
  content = rng.normal(size=(60, 32))
  accuracies = []
  for noise in (0.0, 1.0, 10.0):
    features = {l: content + noise * rng.normal(size=content.shape) for l in ('en', 'de', 'fr')}
    accuracies.append(universality.retrieval_top1(features)['retrieval_top1'])
  assert accuracies[0] == 1.0 > accuracies[1] > accuracies[2]


def test_retrieval_rejects_a_missing_pivot():
  with pytest.raises(ValueError, match='pivot'):
    universality.retrieval_top1(_parallel(['de', 'fr'], 5, 4))


def test_align_parallel_drops_articles_whose_paragraph_count_differs():
  # Article 1 has 3 paragraphs in English and German; French merged two of them into one.
  en_keys = [(1, 0), (1, 1), (1, 2), (2, 0), (2, 1)]
  fr_keys = [(1, 0), (1, 1), (2, 0), (2, 1)]
  rng = np.random.default_rng(6)
  content = {key: rng.normal(size=8) for key in en_keys}
  keys = {'en': en_keys, 'de': en_keys, 'fr': fr_keys}
  features = {language: np.stack([content[k] for k in language_keys])
              for language, language_keys in keys.items()}
  aligned, present, aligned_keys = universality.align_parallel(keys, features)
  assert aligned_keys == en_keys
  assert present['en'].all() and present['de'].all()
  assert present['fr'].tolist() == [False, False, False, True, True]
  result = universality.retrieval_top1(aligned, present_by_language=present)
  assert result['retrieval_top1'] == 1.0
  # en<->de retrieve among 5 paragraphs, pairs with fr among the 2 of article 2.
  assert result['retrieval_chance'] == pytest.approx((2 * (1 / 5) + 4 * (1 / 2)) / 6)


def test_align_parallel_keeps_the_first_row_of_a_repeated_key():
  keys = {'en': [(1, 0), (1, 1)], 'de': [(1, 0), (1, 1), (1, 0)]}
  features = {'en': np.eye(2), 'de': np.array([[1.0, 0.0], [0.0, 1.0], [5.0, 5.0]])}
  # German has 2 distinct keys in article 1 like English; its third row repeats (1, 0).
  aligned, present, _ = universality.align_parallel(keys, features)
  np.testing.assert_array_equal(aligned['de'], np.eye(2))
  assert present['de'].all()


def _probe_data(encode_language: bool, languages=8, articles=20, paragraphs=4, d=24, seed=4):
  rng = np.random.default_rng(seed)
  language_directions = rng.normal(size=(languages, d))
  content = rng.normal(size=(articles, paragraphs, d))
  rows, language_ids, article_ids = [], [], []
  for language in range(languages):
    for article in range(articles):
      for paragraph in range(paragraphs):
        x = content[article, paragraph] + 0.5 * rng.normal(size=d)
        if encode_language:
          x = x + 2.0 * language_directions[language]
        rows.append(x)
        language_ids.append(language)
        article_ids.append(article)
  return np.array(rows), np.array(language_ids), np.array(article_ids)


def test_probe_detects_features_that_encode_the_language():
  features, language_ids, articles = _probe_data(encode_language=True)
  result = language_probe.probe_accuracy(
      features, language_ids, universality.article_split(articles))
  assert result['language_probe_chance'] == pytest.approx(1 / 8)
  assert result['language_probe_accuracy'] > 0.95


def test_probe_is_at_chance_on_language_free_features():
  features, language_ids, articles = _probe_data(encode_language=False)
  result = language_probe.probe_accuracy(
      features, language_ids, universality.article_split(articles))
  chance, n_test = result['language_probe_chance'], result['language_probe_test_size']
  assert n_test == 8 * 10 * 4
  # Test predictions carry no signal: binomial(n_test, chance) hits, 5 sigma.
  assert abs(result['language_probe_accuracy'] - chance) < 5 * math.sqrt(
      chance * (1 - chance) / n_test)


def test_article_split_keeps_whole_articles_on_one_side():
  articles = np.array([7, 3, 3, 9, 7, 12, 9, 12])
  train = universality.article_split(articles)
  assert set(articles[train]).isdisjoint(articles[~train])
  assert set(articles[train]) == {3, 9}
  with pytest.raises(ValueError, match='two held-out articles'):
    universality.article_split(np.array([5, 5, 5]))


def test_probe_chance_is_the_majority_class_when_unbalanced():
  features = np.random.default_rng(5).normal(size=(40, 4))
  language_ids = np.array([0] * 30 + [1] * 10)
  train_mask = np.arange(40) % 2 == 0
  result = language_probe.probe_accuracy(features, language_ids, train_mask)
  assert result['language_probe_chance'] == pytest.approx(15 / 20)
  assert result['language_probe_uniform_chance'] == pytest.approx(1 / 2)


def test_mlm_accuracy_by_language():
  # Language 0: 4 real slots all right; language 1: 2 of 4 real slots right. The unused slot
  # (weight 0) is wrong and must not count.
  targets = np.array([[5, 6, 7], [8, 9, 4], [5, 6, 7], [8, 9, 4]])
  predictions = np.array([[5, 6, 0], [8, 9, 4], [5, 0, 7], [0, 9, 4]])
  weights = np.array([[1, 1, 0], [1, 1, 0], [1, 1, 0], [1, 1, 0]], np.float32)
  language_ids = np.array([0, 0, 1, 1])
  result = universality.mlm_accuracy_by_language(
      predictions, targets, weights, language_ids, language_names=['en', 'de'])
  assert result['per_language'] == {'en': 1.0, 'de': 0.5}
  assert result['mlm_accuracy'] == pytest.approx(0.75)
  assert result['mlm_accuracy_micro'] == pytest.approx(6 / 8)
  assert result['mlm_predictions'] == 8
