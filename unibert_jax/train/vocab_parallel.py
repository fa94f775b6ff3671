"""Per-slot vocabulary statistics with the vocabulary sharded over the mesh's 'tensor' axis.

The tied decoder's logits [B, P, V] come out sharded over V when the word embeddings are
(rules: vocab -> tensor). The MLM and distillation losses need, per prediction slot, the
log-normaliser, the largest logit, the target's logit and the logits at the teacher's k ids. Left
to GSPMD, picking entries out of the sharded axis (take_along_axis) gathers the whole [B, P, V]
block onto every device. Under `jax.shard_map` each device works on its own slice of
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
  max_logit: jax.Array              # [B, P] (no gradient); the target is top-1 when it is this
  target_logit: jax.Array           # [B, P]
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
  log_normalizer, max_logit = _logsumexp(logits, _UNSHARDED)
  return SlotStatistics(
      log_normalizer=log_normalizer, max_logit=max_logit,
      target_logit=pick(targets[..., None])[..., 0],
      teacher_logits=None if teacher_indices is None else pick(teacher_indices),
      log_normalizer_at_temperature=(None if teacher_indices is None else
                                     _logsumexp(logits / temperature, _UNSHARDED)[0]))


def _logsumexp(logits, reduce_over_shards):
  """(logsumexp, max) over the last axis; reduce_over_shards(max) / (sum) joins the shards."""
  # The max is only a shift for stability (and the accuracy's threshold): no gradient.
  max_logit = reduce_over_shards[0](jax.lax.stop_gradient(logits.max(-1)))
  total = reduce_over_shards[1](jnp.exp(logits - max_logit[..., None]).sum(-1))
  return jnp.log(total) + max_logit, max_logit


_UNSHARDED = (lambda x: x, lambda x: x)
_OVER_SHARDS = (lambda x: jax.lax.pmax(x, TENSOR_AXIS), lambda x: jax.lax.psum(x, TENSOR_AXIS))


def _pick_over_shards(local_logits, ids, offset):
  """logits[..., ids] where each device holds the ids in [offset, offset + local size)."""
  local_size = local_logits.shape[-1]
  local_ids = ids - offset
  here = (local_ids >= 0) & (local_ids < local_size)
  picked = jnp.take_along_axis(local_logits, jnp.clip(local_ids, 0, local_size - 1), axis=-1)
  return jax.lax.psum(jnp.where(here, picked, 0.0), TENSOR_AXIS)


def _local_statistics(local_logits, targets, teacher_indices=None, *, temperature: float):
  local_logits = local_logits.astype(jnp.float32)
  offset = jax.lax.axis_index(TENSOR_AXIS) * local_logits.shape[-1]
  log_normalizer, max_logit = _logsumexp(local_logits, _OVER_SHARDS)
  statistics = dict(
      log_normalizer=log_normalizer, max_logit=max_logit,
      target_logit=_pick_over_shards(local_logits, targets[..., None], offset)[..., 0])
  if teacher_indices is not None:
    statistics['teacher_logits'] = _pick_over_shards(local_logits, teacher_indices, offset)
    statistics['log_normalizer_at_temperature'] = _logsumexp(local_logits / temperature,
                                                             _OVER_SHARDS)[0]
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
  args, in_specs = [logits, targets], [vocab_sharded, rows]
  out_specs = dict(log_normalizer=rows, max_logit=rows, target_logit=rows)
  if teacher_indices is not None:
    args.append(teacher_indices)
    in_specs.append(rows_k)
    out_specs.update(teacher_logits=rows_k, log_normalizer_at_temperature=rows)
  statistics = jax.shard_map(
      functools.partial(_local_statistics, temperature=temperature), mesh=mesh,
      in_specs=tuple(in_specs), out_specs=out_specs)(*args)
  return SlotStatistics(**{'teacher_logits': None, 'log_normalizer_at_temperature': None,
                           **statistics})


def uses_vocab_parallel(mesh: jax.sharding.Mesh | None, rules) -> bool:
  """Whether the logical-axis rules split the vocabulary over a 'tensor' axis of >1 device.

  (Config validation has made sure the vocabulary divides evenly over it.)
  """
  if mesh is None or mesh.shape.get(TENSOR_AXIS, 1) == 1:
    return False
  return any(logical == 'vocab' and mesh_axes in (TENSOR_AXIS, (TENSOR_AXIS,))
             for logical, mesh_axes in rules)
