"""The batch contract: the names, shapes and dtypes of every batch the steps read.

A training batch holds masked sequences (`masking.mask_batch`), their attention mask, language
and stream position; a distilling student's batch also holds the teacher's cached top-k
log-probabilities at its prediction slots. An evaluation batch marks its padding rows with
is_real = 0 instead of carrying stream positions. Batches are numpy on the host; the leading
axis is the batch, split over the data-parallel mesh axes.
"""

import dataclasses

import numpy as np

from unibert_jax import special_tokens

TRAIN, EVAL = 'train', 'eval'


@dataclasses.dataclass(frozen=True)
class Field:
  shape: tuple[int, ...]
  dtype: np.dtype


def spec(kind: str, *, batch_size: int, max_len: int, max_predictions: int,
         top_k: int = 0) -> dict[str, Field]:
  """name -> Field of a global batch; top_k > 0 adds the teacher's top-k (training only)."""
  if kind not in (TRAIN, EVAL):
    raise ValueError(f'Unknown batch kind {kind!r}; choose {TRAIN!r} or {EVAL!r}.')
  b, length, slots = int(batch_size), int(max_len), int(max_predictions)
  fields = {
      'input_ids': Field((b, length), np.dtype(np.int32)),
      'attention_mask': Field((b, length), np.dtype(np.int32)),
      'mlm_positions': Field((b, slots), np.dtype(np.int32)),
      'mlm_targets': Field((b, slots), np.dtype(np.int32)),
      'mlm_weights': Field((b, slots), np.dtype(np.float32)),
      'language_id': Field((b,), np.dtype(np.int32)),
  }
  if kind == EVAL:
    fields['is_real'] = Field((b,), np.dtype(np.int32))
    return fields
  fields['example_index'] = Field((b,), np.dtype(np.int32))
  if top_k:
    fields['teacher_topk_values'] = Field((b, slots, int(top_k)), np.dtype(np.float32))
    fields['teacher_topk_indices'] = Field((b, slots, int(top_k)), np.dtype(np.int32))
  return fields


def config_spec(data_config, kind: str = TRAIN, *, top_k: int = 0,
                batch_size: int | None = None) -> dict[str, Field]:
  """spec() with the shapes of a run config's `data` section."""
  return spec(kind, batch_size=data_config.batch_size if batch_size is None else batch_size,
              max_len=data_config.max_len, max_predictions=data_config.max_predictions,
              top_k=top_k)


def random_batch(fields: dict[str, Field], *, vocab_size: int, num_languages: int,
                 seed: int = 0, full_length: bool = False) -> dict[str, np.ndarray]:
  """A batch of random tokens that follows `fields` (benchmarks, sharding and step tests).

  Rows are <s> ... </s> with right padding (full_length: no padding, every slot used); the
  prediction slots sit at distinct positions inside each row; teacher top-k values are sorted
  descending with distinct indices per slot.
  """
  rng = np.random.default_rng(seed)
  b, length = fields['input_ids'].shape
  slots = fields['mlm_positions'].shape[1]
  lengths = (np.full(b, length) if full_length
             else rng.integers(max(slots + 2, length // 2), length + 1, b))
  real = np.arange(length)[None, :] < lengths[:, None]
  input_ids = rng.integers(special_tokens.COUNT - 1, vocab_size - 1, (b, length))
  input_ids = np.where(real, input_ids, special_tokens.PAD_ID)
  input_ids[:, 0] = special_tokens.BOS_ID
  input_ids[np.arange(b), lengths - 1] = special_tokens.EOS_ID
  positions = np.sort(np.stack([rng.choice(np.arange(1, n - 1), slots, replace=False)
                                for n in lengths]), axis=1)
  targets = np.take_along_axis(input_ids, positions, axis=1)
  np.put_along_axis(input_ids, positions, special_tokens.mask_id(vocab_size), axis=1)
  values = dict(
      input_ids=input_ids, attention_mask=real, mlm_positions=positions, mlm_targets=targets,
      mlm_weights=(np.ones((b, slots)) if full_length else rng.random((b, slots)) < 0.9),
      language_id=rng.integers(0, num_languages, b),
      example_index=np.arange(b) + seed * b, is_real=np.ones(b))
  if 'teacher_topk_values' in fields:
    k = fields['teacher_topk_values'].shape[2]
    values['teacher_topk_values'] = -np.sort(-rng.standard_normal((b, slots, k)), axis=-1) * 3
    values['teacher_topk_indices'] = np.stack(
        [rng.choice(vocab_size, k, replace=False) for _ in range(b * slots)]).reshape(b, slots, k)
  return {name: np.asarray(values[name], field.dtype).reshape(field.shape)
          for name, field in fields.items()}
