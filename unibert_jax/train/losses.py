"""The three UniBERT losses, on the gathered masked positions only.

Every loss is a weighted mean over prediction slots (mlm_weights) or sequences, so padding
slots and padding rows (weight 0) never count. The MLM and distillation losses read per-slot
vocabulary statistics (`vocab_parallel.SlotStatistics`), computed from the slots' full logits or
on vocabulary shards (see vocab_parallel.py).
"""

import jax
import jax.numpy as jnp

from unibert_jax.train import vocab_parallel

KD_NORMALIZATIONS = ('topk', 'full')
# What the input holds at a prediction slot: <mask>, a random token, or the target itself. Only
# <mask> slots measure prediction: a kept slot is solved by copying the input.
SLOT_KINDS = ('mask', 'random', 'kept')
MASK_SLOT, RANDOM_SLOT, KEPT_SLOT = range(len(SLOT_KINDS))


def slot_kinds(input_ids, positions, targets, mask_id: int):
  """[B, P] int: the SLOT_KINDS index of every prediction slot, read off the masked input."""
  observed = jnp.take_along_axis(input_ids, positions, axis=1)
  return jnp.where(observed == mask_id, MASK_SLOT,
                   jnp.where(observed == targets, KEPT_SLOT, RANDOM_SLOT))


def _weighted_mean(values, weights):
  return (values * weights).sum() / jnp.maximum(weights.sum(), 1e-8)


def mlm_slot_values(statistics: vocab_parallel.SlotStatistics):
  """Per-slot negative log-likelihood and top-1 hit [B, P] of the targets in `statistics`."""
  nll = statistics.log_normalizer - statistics.target_logit
  # Top-1 when the target reaches the largest logit (argmax without a second pass; a tie
  # at the top, which float logits practically never have, counts as correct).
  correct = (statistics.target_logit >= statistics.max_logit).astype(jnp.float32)
  return nll, correct


def mlm_loss_from_statistics(statistics: vocab_parallel.SlotStatistics, weights):
  """Cross-entropy and accuracy of the slots against the targets picked into `statistics`."""
  nll, correct = mlm_slot_values(statistics)
  return _weighted_mean(nll, weights), _weighted_mean(correct, weights)


def distillation_loss_from_statistics(statistics: vocab_parallel.SlotStatistics,
                                      teacher_values, weights, *, temperature: float,
                                      normalization: str = 'topk'):
  """Sparse KL(teacher || student) over the teacher's top-k support, times T^2.

  The teacher distribution is its softmax over the k cached logits at temperature T.
  'topk' renormalises the student over the same k indices; 'full' keeps the student's
  log-softmax over the whole vocabulary (so mass outside the k indices is penalised).
  The statistics must hold the student's logits at the teacher's indices, at temperature 1.
  """
  t = temperature
  teacher_log_p = jax.nn.log_softmax(teacher_values.astype(jnp.float32) / t, axis=-1)
  student_scaled = statistics.teacher_logits / t
  if normalization == 'topk':
    student_log_q = jax.nn.log_softmax(student_scaled, axis=-1)
  elif normalization == 'full':
    student_log_q = student_scaled - statistics.log_normalizer_at_temperature[..., None]
  else:
    raise ValueError(f'kd.normalization must be one of {KD_NORMALIZATIONS}, got {normalization!r}.')
  kl = (jnp.exp(teacher_log_p) * (teacher_log_p - student_log_q)).sum(-1)
  return _weighted_mean(kl, weights) * t * t
