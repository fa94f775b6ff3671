"""Exponentially smoothed language sampling over the training stream."""

import pickle

import numpy as np
import pytest

from unibert_jax.data import sampling

# Sequences per language: a large, two middling and a tiny language (cycled every epoch).
COUNTS = np.array([400, 100, 20, 3])
LANGUAGE_ID = np.repeat(np.arange(len(COUNTS)), COUNTS)
BATCH = 32


def make_sampler(seed=0, alpha=0.3, language_id=LANGUAGE_ID):
  return sampling.StreamSampler(language_id, len(COUNTS), alpha, seed, BATCH)


def test_probabilities_follow_counts_to_the_alpha():
  p = sampling.language_probabilities(COUNTS, 0.3)
  np.testing.assert_allclose(p, COUNTS**0.3 / (COUNTS**0.3).sum())
  np.testing.assert_allclose(sampling.language_probabilities(COUNTS, 1.0), COUNTS / COUNTS.sum())
  np.testing.assert_allclose(sampling.language_probabilities(COUNTS, 0.0), 0.25)


@pytest.mark.parametrize('counts, alpha', [([3, 0, 2], 0.3), ([3, 2], 1.5), ([], 0.3)])
def test_bad_probability_inputs_raise(counts, alpha):
  with pytest.raises(ValueError):
    sampling.language_probabilities(np.array(counts), alpha)


def test_empirical_language_distribution_matches_alpha_smoothing():
  # Languages are drawn independently per position, so each language's share over n positions
  # has standard error sqrt(p (1 - p) / n); allow 4 of them (a false alarm in ~1e-4 runs).
  sampler = make_sampler()
  n = 400 * BATCH  # 400 batches, over many epochs
  drawn = LANGUAGE_ID[sampler.sequence_indices(np.arange(n))]
  empirical = np.bincount(drawn, minlength=len(COUNTS)) / n
  expected = sampling.language_probabilities(COUNTS, 0.3)
  tolerance = 4 * np.sqrt(expected * (1 - expected) / n)
  assert np.all(np.abs(empirical - expected) <= tolerance), (empirical, expected, tolerance)
  # The smoothing is visible: the tiny language gets far more than its share of the data.
  assert empirical[3] > 5 * COUNTS[3] / COUNTS.sum()


def test_same_seed_and_position_give_the_same_sequence():
  positions = np.array([0, 5, 511, 512, 10_000, 123_457])
  first = make_sampler(seed=7).sequence_indices(positions)
  np.testing.assert_array_equal(first, make_sampler(seed=7).sequence_indices(positions))
  # Asked one at a time and out of order: still the same.
  one_by_one = [make_sampler(seed=7).sequence_indices(np.array([p]))[0] for p in positions[::-1]]
  np.testing.assert_array_equal(first, one_by_one[::-1])
  other_seed = make_sampler(seed=8).sequence_indices(np.arange(1000))
  assert (other_seed != make_sampler(seed=7).sequence_indices(np.arange(1000))).mean() > 0.5


def test_epochs_hold_whole_batches_and_differ():
  sampler = make_sampler()
  assert sampler.epoch_length % BATCH == 0
  assert sampler.epoch_length == len(LANGUAGE_ID) // BATCH * BATCH
  assert not np.array_equal(sampler.epoch_order(0), sampler.epoch_order(1))


def test_within_an_epoch_sequences_are_drawn_without_replacement_then_cycled():
  sampler = make_sampler()
  for epoch in range(3):
    uses = np.bincount(sampler.epoch_order(epoch), minlength=len(LANGUAGE_ID))
    for language in range(len(COUNTS)):
      member_uses = uses[LANGUAGE_ID == language]
      # Every sequence of a language is used equally often, up to one (the last cycle).
      assert member_uses.max() - member_uses.min() <= 1, (language, member_uses)
    # The large language is sampled down: no repeats; the tiny one is cycled.
    assert uses[LANGUAGE_ID == 0].max() == 1
    assert uses[LANGUAGE_ID == 3].min() >= 2


def test_a_corpus_smaller_than_a_batch_still_fills_batches():
  language_id = np.array([0, 0, 1, 2, 3])
  sampler = make_sampler(language_id=language_id)
  assert sampler.epoch_length == BATCH
  drawn = sampler.sequence_indices(np.arange(3 * BATCH))
  assert set(drawn.tolist()) == set(range(5))


def test_sampler_survives_pickling_for_grain_workers():
  sampler = make_sampler()
  positions = np.arange(5000)
  expected = sampler.sequence_indices(positions)
  np.testing.assert_array_equal(pickle.loads(pickle.dumps(sampler)).sequence_indices(positions),
                                expected)
