"""Per-slot vocabulary statistics with the vocabulary sharded over the mesh's 'tensor' axis.

The tied decoder's logits [B, P, V] come out sharded over V when the word embeddings are
(rules: vocab -> tensor). The MLM and distillation losses need, per prediction slot, the
log-normaliser, the target's logit, the top-1 id and the logits at the teacher's k ids. Left
to GSPMD, picking entries out of the sharded axis (take_along_axis, argmax) gathers the whole
[B, P, V] block onto every device. Under `jax.shard_map` each device works on its own slice of
the vocabulary and the devices exchange only per-slot numbers ([B, P] and [B, P, k]).

`slot_statistics` gives the same values as `dense_slot_statistics` (the plain formulas, which
also serve a mesh without a 'tensor' axis); `losses.py` turns either into the losses.
"""

import dataclasses
import functools

import jax
import jax.numpy as jnp
from jax.sharding import PartitionSpec as P

from unibert_jax import sharding

TENSOR_AXIS = 'tensor'


@dataclasses.dataclass(frozen=True)
class SlotStatistics:
  log_normalizer: jax.Array         # [B, P] logsumexp of the logits over the vocabulary
  target_logit: jax.Array           # [B, P]
  top1: jax.Array                   # [B, P] int32, the lowest id among ties (as argmax)
  teacher_logits: jax.Array | None  # [B, P, k] student logits at the teacher's ids
  log_normalizer_at_temperature: jax.Array | None  # [B, P] logsumexp(logits / T)


jax.tree_util.register_dataclass(
    SlotStatistics, data_fields=[f.name for f in dataclasses.fields(SlotStatistics)],
    meta_fields=[])


def dense_slot_statistics(logits, targets, teacher_indices=None,
                          temperature: float = 1.0) -> SlotStatistics:
  """The statistics from full (unsharded or GSPMD-sharded) logits [B, P, V]."""
  logits = logits.astype(jnp.float32)
  pick = lambda ids: jnp.take_along_axis(logits, ids, axis=-1)
  return SlotStatistics(
      log_normalizer=jax.nn.logsumexp(logits, axis=-1),
      target_logit=pick(targets[..., None])[..., 0],
      top1=jnp.argmax(logits, axis=-1).astype(jnp.int32),
      teacher_logits=None if teacher_indices is None else pick(teacher_indices),
      log_normalizer_at_temperature=(None if teacher_indices is None else
                                     jax.nn.logsumexp(logits / temperature, axis=-1)))


def _logsumexp_over_shards(local_logits):
  # The max is only a shift for stability: no gradient flows through it.
  local_max = jax.lax.stop_gradient(local_logits.max(-1))
  global_max = jax.lax.pmax(local_max, TENSOR_AXIS)
  total = jax.lax.psum(jnp.exp(local_logits - global_max[..., None]).sum(-1), TENSOR_AXIS)
  return jnp.log(total) + global_max


def _pick_over_shards(local_logits, ids, offset):
  """logits[..., ids] where each device holds the ids in [offset, offset + local size)."""
  local_size = local_logits.shape[-1]
  local_ids = ids - offset
  here = (local_ids >= 0) & (local_ids < local_size)
  picked = jnp.take_along_axis(local_logits, jnp.clip(local_ids, 0, local_size - 1), axis=-1)
  return jax.lax.psum(jnp.where(here, picked, 0.0), TENSOR_AXIS)


def _local_statistics(local_logits, targets, teacher_indices, *, temperature: float):
  local_logits = local_logits.astype(jnp.float32)
  offset = jax.lax.axis_index(TENSOR_AXIS) * local_logits.shape[-1]
  no_grad = jax.lax.stop_gradient(local_logits)  # the top-1 id is not differentiable
  local_best = no_grad.max(-1)
  best = jax.lax.pmax(local_best, TENSOR_AXIS)
  candidate = jnp.where(local_best == best, jnp.argmax(no_grad, -1) + offset,
                        jnp.iinfo(jnp.int32).max)
  statistics = dict(
      log_normalizer=_logsumexp_over_shards(local_logits),
      target_logit=_pick_over_shards(local_logits, targets[..., None], offset)[..., 0],
      top1=jax.lax.pmin(candidate.astype(jnp.int32), TENSOR_AXIS))
  if teacher_indices is not None:
    statistics['teacher_logits'] = _pick_over_shards(local_logits, teacher_indices, offset)
    statistics['log_normalizer_at_temperature'] = _logsumexp_over_shards(
        local_logits / temperature)
  return statistics


def slot_statistics(logits, targets, teacher_indices, mesh: jax.sharding.Mesh, *,
                    temperature: float = 1.0) -> SlotStatistics:
  """The statistics of `dense_slot_statistics`, computed on the mesh's vocabulary shards.

  logits [B, P, V] (V divisible by the 'tensor' size), targets [B, P], teacher_indices
  [B, P, k] or None. Rows stay sharded over the batch axes, as the batch is.
  """
  rows = P(sharding.BATCH_AXES, None)
  rows_k = P(sharding.BATCH_AXES, None, None)
  vocab_sharded = P(sharding.BATCH_AXES, None, TENSOR_AXIS)
  out_specs = dict(log_normalizer=rows, target_logit=rows, top1=rows)
  if teacher_indices is None:
    local = lambda logits, targets: _local_statistics(logits, targets, None,
                                                      temperature=temperature)
    statistics = jax.shard_map(local, mesh=mesh, in_specs=(vocab_sharded, rows),
                               out_specs=out_specs)(logits, targets)
    return SlotStatistics(teacher_logits=None, log_normalizer_at_temperature=None, **statistics)
  out_specs.update(teacher_logits=rows_k, log_normalizer_at_temperature=rows)
  statistics = jax.shard_map(
      functools.partial(_local_statistics, temperature=temperature), mesh=mesh,
      in_specs=(vocab_sharded, rows, rows_k), out_specs=out_specs)(logits, targets,
                                                                   teacher_indices)
  return SlotStatistics(**statistics)


def uses_vocab_parallel(mesh: jax.sharding.Mesh | None, vocab_size: int) -> bool:
  """Whether the vocabulary is split over a 'tensor' axis of more than one device."""
  if mesh is None or TENSOR_AXIS not in mesh.shape:
    return False
  size = mesh.shape[TENSOR_AXIS]
  return size > 1 and vocab_size % size == 0
