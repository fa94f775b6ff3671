"""Mean matching: running per-language means, and a penalty that pulls them together."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from unibert_jax.train import mean_matching

LANGUAGES, WIDTH = 4, 6


def test_a_language_s_first_batch_sets_its_mean_and_absent_languages_keep_theirs():
  means, seen = jnp.zeros((LANGUAGES, WIDTH)), jnp.zeros(LANGUAGES)
  features = jnp.arange(3 * WIDTH, dtype=jnp.float32).reshape(3, WIDTH)
  sums, counts = mean_matching.language_sums(features, jnp.array([1, 1, 2]), jnp.ones(3),
                                             LANGUAGES)
  means, seen = mean_matching.running_means(means, seen, sums, counts, 0.9)
  np.testing.assert_allclose(means[1], features[:2].mean(0))   # not pulled toward the zero start
  np.testing.assert_allclose(means[2], features[2])
  np.testing.assert_array_equal(means[0], 0.0)
  np.testing.assert_array_equal(seen, [0, 1, 1, 0])
  later = jnp.ones((1, WIDTH))
  sums, counts = mean_matching.language_sums(later, jnp.array([2]), jnp.ones(1), LANGUAGES)
  updated, _ = mean_matching.running_means(means, seen, sums, counts, 0.9)
  np.testing.assert_allclose(updated[2], 0.9 * features[2] + 0.1, rtol=1e-6)
  np.testing.assert_array_equal(updated[1], means[1])


def test_zero_weight_rows_count_nowhere():
  features = jnp.ones((3, WIDTH)) * jnp.array([[1.0], [2.0], [100.0]])
  sums, counts = mean_matching.language_sums(features, jnp.array([0, 0, 0]),
                                             jnp.array([1.0, 1.0, 0.0]), LANGUAGES)
  assert float(counts[0]) == 2.0
  np.testing.assert_allclose(sums[0] / counts[0], 1.5)


def test_the_penalty_moves_this_batch_only_toward_the_centre():
  rng = np.random.default_rng(0)
  means = jnp.asarray(rng.standard_normal((LANGUAGES, WIDTH)), jnp.float32)
  seen = jnp.ones(LANGUAGES)
  features = jnp.asarray(rng.standard_normal((8, WIDTH)), jnp.float32)
  language = jnp.array([0, 0, 1, 1, 2, 2, 3, 3])

  def penalty(means, features):
    sums, counts = mean_matching.language_sums(features, language, jnp.ones(8), LANGUAGES)
    return mean_matching.penalty(means, seen, sums, counts, 0.9)

  to_means, to_features = jax.grad(penalty, argnums=(0, 1))(means, features)
  assert float(jnp.abs(to_means).max()) == 0.0     # the running means are state, not targets
  current, _ = mean_matching.running_means(
      means, seen, *mean_matching.language_sums(features, language, jnp.ones(8), LANGUAGES), 0.9)
  centre = mean_matching.centre(current, seen)
  # d/dx of mean_l ||m_l - c||^2, m_l = 0.9 m_l' + 0.1 mean(x of l): 2 (m_l - c) 0.1 / 2 / L.
  expected = 2 * (current[language] - centre) * 0.1 / 2 / LANGUAGES
  np.testing.assert_allclose(to_features, expected, rtol=1e-5, atol=1e-7)


def test_mean_matching_drives_synthetic_language_means_together():
  """Shared content plus a per-language offset that the penalty alone may move."""
  rng = np.random.default_rng(1)
  offsets = jnp.asarray(rng.standard_normal((LANGUAGES, WIDTH)) * 3.0, jnp.float32)
  means, seen = jnp.zeros((LANGUAGES, WIDTH)), jnp.zeros(LANGUAGES)

  @jax.jit
  def step(offsets, means, seen, content, language):
    def penalty(offsets):
      features = content + offsets[language]
      sums, counts = mean_matching.language_sums(features, language, jnp.ones(len(language)),
                                                 LANGUAGES)
      return mean_matching.penalty(means, seen, sums, counts, 0.9), (sums, counts)
    (value, (sums, counts)), grad = jax.value_and_grad(penalty, has_aux=True)(offsets)
    means, seen = mean_matching.running_means(means, seen, jax.lax.stop_gradient(sums), counts,
                                              0.9)
    return offsets - 5.0 * grad, means, seen, value

  spreads = []
  for index in range(400):
    content = jnp.asarray(rng.standard_normal((12, WIDTH)), jnp.float32)
    language = jnp.asarray(rng.integers(0, LANGUAGES, 12), jnp.int32)   # a few rows of each
    offsets, means, seen, _ = step(offsets, means, seen, content, language)
    if index in (0, 399):
      spreads.append(float(mean_matching.spread(means, seen)))
  assert spreads[0] > 2.0
  assert spreads[1] < 0.1 * spreads[0]
  true_spread = float(jnp.sqrt(((offsets - offsets.mean(0)) ** 2).sum(-1).mean()))
  assert true_spread < 0.1 * spreads[0]   # the features' own means met, not only the estimates
  assert float(mean_matching.spread(means, seen)) == pytest.approx(spreads[1])
