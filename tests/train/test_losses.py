"""The losses on gathered positions agree with their dense definitions."""

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from tests.helpers import loss_oracles
from unibert_jax.model import encoder


def _random(shape, seed, scale=3.0):
  return jnp.asarray(np.random.default_rng(seed).normal(size=shape) * scale, jnp.float32)


def test_sparse_kd_equals_dense_kl_when_k_is_the_vocabulary():
  batch, slots, vocab, t = 3, 5, 11, 2.0
  student, teacher = _random((batch, slots, vocab), 0), _random((batch, slots, vocab), 1)
  # The cache holds the teacher's top-k sorted: with k = V that is every index, permuted.
  order = jnp.argsort(-teacher, axis=-1)
  values = jnp.take_along_axis(teacher, order, axis=-1)
  weights = jnp.ones((batch, slots))
  dense = optax.losses.kl_divergence_with_log_targets(
      jax.nn.log_softmax(student / t), jax.nn.log_softmax(teacher / t)).mean() * t * t
  for normalization in ('topk', 'full'):
    sparse = loss_oracles.distillation_loss(student, values, order, weights, temperature=t,
                                      normalization=normalization)
    np.testing.assert_allclose(sparse, dense, rtol=1e-5)


def test_topk_and_full_normalisation_differ_when_k_is_small():
  student, teacher = _random((2, 4, 50), 2), _random((2, 4, 50), 3)
  values, indices = jax.lax.top_k(teacher, 5)
  weights = jnp.ones((2, 4))
  topk = loss_oracles.distillation_loss(student, values, indices, weights, temperature=1.0)
  full = loss_oracles.distillation_loss(student, values, indices, weights, temperature=1.0,
                                  normalization='full')
  assert float(full) > float(topk) >= 0.0  # full also pays for mass outside the k indices


def test_kd_is_zero_when_student_matches_teacher_and_ignores_padding_slots():
  teacher = _random((2, 3, 20), 4)
  values, indices = jax.lax.top_k(teacher, 20)
  weights = jnp.array([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
  assert float(loss_oracles.distillation_loss(teacher, values, indices, weights, temperature=2.0)) == (
      pytest.approx(0.0, abs=1e-6))
  student = teacher.at[0, 2].set(100.0)  # a weight-0 slot
  assert float(loss_oracles.distillation_loss(student, values, indices, weights, temperature=2.0)) == (
      pytest.approx(0.0, abs=1e-6))


def test_gathered_mlm_loss_equals_loss_from_full_logits():
  batch, length, hidden, vocab, slots = 2, 9, 4, 13, 3
  states = _random((batch, length, hidden), 5)
  projection = _random((hidden, vocab), 6)
  positions = jnp.array([[1, 4, 0], [2, 3, 7]])
  targets = jnp.array([[5, 2, 0], [7, 7, 1]])
  weights = jnp.array([[1.0, 1.0, 0.0], [1.0, 1.0, 1.0]])
  gathered, accuracy = loss_oracles.mlm_loss(encoder.gather_positions(states, positions) @ projection,
                                       targets, weights)
  # Dense reference: logits at every position, loss on a per-token weight map.
  full_logits = states @ projection
  token_targets = jnp.zeros((batch, length), jnp.int32)
  token_weights = jnp.zeros((batch, length))
  for b in range(batch):
    for s in range(slots):
      if weights[b, s]:
        token_targets = token_targets.at[b, positions[b, s]].set(targets[b, s])
        token_weights = token_weights.at[b, positions[b, s]].set(1.0)
  per_token = optax.softmax_cross_entropy_with_integer_labels(full_logits, token_targets)
  dense = (per_token * token_weights).sum() / token_weights.sum()
  np.testing.assert_allclose(gathered, dense, rtol=1e-5)
  hits = (jnp.argmax(full_logits, -1) == token_targets) * token_weights
  np.testing.assert_allclose(accuracy, hits.sum() / token_weights.sum(), rtol=1e-6)
