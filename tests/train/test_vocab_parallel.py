"""Vocabulary-parallel slot statistics (shard_map over 'tensor') equal the dense formulas."""

import os

import jax.numpy as jnp
import numpy as np

from configs import base
from unibert_jax import sharding
from unibert_jax.train import vocab_parallel

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Runs with 8 simulated devices: values and gradients on a (2, 1, 4) mesh vs the dense path.




def test_not_used_without_a_tensor_axis_to_split_over():
  one_device = sharding.make_mesh((1, 1, 1))
  assert not vocab_parallel.uses_vocab_parallel(one_device, base.LOGICAL_AXIS_RULES)
  assert not vocab_parallel.uses_vocab_parallel(None, base.LOGICAL_AXIS_RULES)


def test_dense_statistics_match_log_softmax():
  logits = jnp.asarray(np.random.default_rng(1).normal(size=(2, 3, 10)), jnp.float32)
  targets = jnp.asarray([[1, 2, 3], [4, 5, 6]], jnp.int32)
  stats = vocab_parallel.dense_slot_statistics(logits, targets)
  expected = -jnp.take_along_axis(jax_log_softmax(logits), targets[..., None], -1)[..., 0]
  np.testing.assert_allclose(stats.log_normalizer - stats.target_logit, expected, rtol=1e-6)


def jax_log_softmax(x):
  return x - jnp.log(jnp.exp(x).sum(-1, keepdims=True))
