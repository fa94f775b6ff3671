"""Loss oracles on full logits [B, P, V]: what the train step's gathered losses must equal."""

import jax.numpy as jnp

from unibert_jax.train import losses
from unibert_jax.train import vocab_parallel


def mlm_loss(logits, targets, weights):
  """Cross-entropy and accuracy of logits [B, P, V] against targets [B, P]."""
  statistics = vocab_parallel.dense_slot_statistics(logits, targets)
  return losses.mlm_loss_from_statistics(statistics, weights)


def distillation_loss(student_logits, teacher_values, teacher_indices, weights, *,
                      temperature: float, normalization: str = 'topk'):
  """distillation_loss_from_statistics for full student logits [B, P, V]."""
  dummy_targets = jnp.zeros(student_logits.shape[:-1], jnp.int32)
  statistics = vocab_parallel.dense_slot_statistics(student_logits, dummy_targets,
                                                    teacher_indices, temperature)
  return losses.distillation_loss_from_statistics(
      statistics, teacher_values, weights, temperature=temperature, normalization=normalization)
