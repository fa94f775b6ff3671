"""Training batches, eval batches and the teacher-cache join, on grain.

The training data is an infinite, deterministic stream: position i holds the packed sequence
that `sampling.StreamSampler` puts there, masked by `masking.mask_batch` keyed by
(data.mask_seed, i). Global batch s is positions [s*B, (s+1)*B) (B = data.batch_size over all
processes); process p of n reads the contiguous rows [p*B/n, (p+1)*B/n) of it. A batch is thus a
pure function of its step, which makes the pipeline a `grain.MapDataset` over steps, and the
iterator state just the next step: it resumes exactly, with any worker count and any number of
processes (the global batches are the same).

Batch keys (numpy): input_ids, attention_mask, mlm_positions, mlm_targets, mlm_weights,
language_id, example_index; with a teacher cache also teacher_topk_values/indices; eval batches
also is_real.
"""

import hashlib
import time
from typing import Any, Iterator

from absl import flags
import grain
import ml_collections
import numpy as np

from unibert_jax.data import masking
from unibert_jax.data import packing
from unibert_jax.data import sampling
from unibert_jax.data import tokenizer as tokenizer_lib

# Steps are indexed up to here; at any realistic batch size example_index overflows int32 first.
_LAST_STEP = 2**62
_MAX_EXAMPLE_INDEX = 2**31 - 1


def _data_field(config: ml_collections.ConfigDict, name: str, default: Any) -> Any:
  return config.data.get(name, default)


def example_hash(input_ids: np.ndarray, mlm_positions: np.ndarray) -> np.ndarray:
  """int64 [n]: 8 bytes of blake2b over each row's masked int32 input_ids and mlm_positions.

  The teacher cache stores it per example; it changes with the data, the tokenizer and the
  masking seed, so a cache built for other inputs is caught at the first batch.
  """
  ids = np.ascontiguousarray(input_ids, '<i4')
  positions = np.ascontiguousarray(mlm_positions, '<i4')
  digests = b''.join(
      hashlib.blake2b(row_ids.tobytes() + row_positions.tobytes(), digest_size=8).digest()
      for row_ids, row_positions in zip(ids, positions))
  return np.frombuffer(digests, '<i8').astype(np.int64)


def _cache_name(teacher_cache: Any) -> str:
  for attribute in ('directory', 'cache_dir', 'path'):
    if getattr(teacher_cache, attribute, None):
      return str(getattr(teacher_cache, attribute))
  return repr(teacher_cache)


class TeacherCacheMismatchError(ValueError):
  """The teacher cache was built for other examples than the ones the stream produces."""


def _mismatch(teacher_cache: Any, example_index: int,
              detail: str = '') -> TeacherCacheMismatchError:
  return TeacherCacheMismatchError(
      f'teacher cache {_cache_name(teacher_cache)} does not match the data at example '
      f'{example_index}: it was built for other data, another tokenizer or another masking seed '
      f'(data.mask_seed){detail}; rebuild it with launch/cache_teacher.py')


class ExampleMaker:
  """Stream positions -> a batch of masked examples (plus the teacher's top-k when cached)."""

  def __init__(self, packed: packing.PackedSequences, sampler: sampling.StreamSampler | None,
               spec: masking.MaskingSpec, teacher_cache: Any = None):
    self.packed = packed
    self.sampler = sampler
    self.spec = spec
    self.teacher_cache = teacher_cache

  def from_sequences(self, sequence_indices: np.ndarray,
                     example_index: np.ndarray) -> dict[str, np.ndarray]:
    """Masks the given packed sequences, keyed by example_index."""
    original = np.asarray(self.packed.input_ids[sequence_indices])
    batch = masking.mask_batch(original, example_index, self.spec)
    lengths = np.asarray(self.packed.length[sequence_indices])
    batch['attention_mask'] = (np.arange(original.shape[1])[None, :]
                               < lengths[:, None]).astype(np.int32)
    batch['language_id'] = np.asarray(self.packed.language_id[sequence_indices], np.int32)
    batch['example_index'] = example_index.astype(np.int32)
    if self.teacher_cache is not None:
      self._join_teacher(batch, example_index)
    return batch

  def __call__(self, positions: np.ndarray) -> dict[str, np.ndarray]:
    """The examples at the given stream positions."""
    positions = np.asarray(positions, np.int64)
    if positions.size and positions.max() > _MAX_EXAMPLE_INDEX:
      raise ValueError(f'Stream position {int(positions.max())} no longer fits the int32 '
                       'example_index of the batch contract.')
    return self.from_sequences(self.sampler.sequence_indices(positions), positions)

  def _join_teacher(self, batch: dict[str, np.ndarray], example_index: np.ndarray) -> None:
    values, indices, hashes = self.teacher_cache.lookup(example_index)
    values, indices = np.asarray(values), np.asarray(indices)
    hashes = np.asarray(hashes)
    if hashes.dtype == np.uint64:
      hashes = hashes.view(np.int64)
    expected_shape = (len(example_index), self.spec.max_predictions)
    if values.shape[:2] != expected_shape or indices.shape != values.shape:
      raise _mismatch(self.teacher_cache, int(example_index[0]),
                      f', or for another data.max_predictions (top-k arrays of shape '
                      f'{values.shape}, {indices.shape}; expected {expected_shape} + (k,))')
    wrong = np.flatnonzero(example_hash(batch['input_ids'], batch['mlm_positions'])
                           != hashes.astype(np.int64))
    if wrong.size:
      raise _mismatch(self.teacher_cache, int(example_index[wrong[0]]))
    batch['teacher_topk_values'] = values.astype(np.float32)
    batch['teacher_topk_indices'] = indices.astype(np.int32)


class _StepToBatch:
  """Global step -> this process's rows of that global batch."""

  def __init__(self, make_examples: ExampleMaker, batch_size: int, process_index: int,
               process_count: int):
    self.make_examples = make_examples
    self.local_batch_size = batch_size // process_count
    self.batch_size = batch_size
    self.row_offset = process_index * self.local_batch_size

  def __call__(self, step: int) -> dict[str, np.ndarray]:
    start = int(step) * self.batch_size + self.row_offset
    return self.make_examples(np.arange(start, start + self.local_batch_size, dtype=np.int64))


def _ensure_absl_flags_parsed() -> None:
  # grain workers read absl flags; outside absl.app.run nothing has parsed them.
  if not flags.FLAGS.is_parsed():
    flags.FLAGS.mark_as_parsed()


class TrainIterator(grain.DatasetIterator):
  """Infinite iterator of this process's batches; its state (JSON) is the next global step.

  Works with grain.checkpoint.CheckpointSave/CheckpointRestore inside an Orbax checkpoint.
  The state restores on any number of processes and any worker count, and refuses (one clear
  error) a state saved with other stream settings (batch size, seeds, sampling, data).
  """

  def __init__(self, step_to_batch: _StepToBatch, identity: dict[str, Any], *,
               worker_count: int = 0, read_threads: int = 1, prefetch_batches: int = 8):
    super().__init__()
    self._step_to_batch = step_to_batch
    self._identity = identity
    self._worker_count = worker_count
    self._read_threads = read_threads
    self._prefetch_batches = prefetch_batches
    self._step = 0
    self._inner = None

  @property
  def step(self) -> int:
    """The global step of the next batch."""
    return self._step

  def _build(self) -> None:
    dataset = grain.MapDataset.range(self._step, _LAST_STEP).map(self._step_to_batch)
    iter_dataset = dataset.to_iter_dataset(grain.ReadOptions(
        num_threads=self._read_threads, prefetch_buffer_size=self._prefetch_batches))
    if self._worker_count > 0:
      _ensure_absl_flags_parsed()
      iter_dataset = iter_dataset.mp_prefetch(
          grain.MultiprocessingOptions(num_workers=self._worker_count))
    self._inner = iter(iter_dataset)

  def __next__(self) -> dict[str, np.ndarray]:
    self._assert_not_closed()
    if self._inner is None:
      self._build()
    batch = next(self._inner)
    if self._worker_count > 0:
      # Own copies: a worker's batch lives in shared memory, one file handle per array.
      batch = {key: np.array(value) for key, value in batch.items()}
    self._step += 1
    return batch

  def start_prefetch(self) -> None:
    if self._inner is None:
      self._build()
    self._inner.start_prefetch()

  def get_state(self) -> dict[str, Any]:
    return dict(self._identity, step=self._step)

  def set_state(self, state: dict[str, Any]) -> None:
    for key, value in self._identity.items():
      if state.get(key) != value:
        raise ValueError(
            f'The saved data iterator state has {key}={state.get(key)!r} but this run has '
            f'{value!r}; the stream would not continue where it stopped. Resume with the '
            f'data settings of the original run (data.*, seed) or start a new run.')
    self._step = int(state['step'])
    self._close_inner()

  def _close_inner(self) -> None:
    if self._inner is not None:
      self._inner.close()
      self._inner = None

  def close(self) -> None:
    self._close_inner()
    super().close()


def build_train_iterator(packed: packing.PackedSequences, spec: masking.MaskingSpec, *,
                         batch_size: int, seed: int, sampling_alpha: float,
                         process_index: int = 0, process_count: int = 1,
                         teacher_cache: Any = None, worker_count: int = 0,
                         read_threads: int = 1, prefetch_batches: int = 8) -> TrainIterator:
  """The training iterator over already packed sequences (see make_train_iterator)."""
  if process_count < 1 or not 0 <= process_index < process_count:
    raise ValueError(f'process_index {process_index} must lie in [0, {process_count}).')
  if batch_size % process_count:
    raise ValueError(f'data.batch_size ({batch_size}) is the global batch and must divide by '
                     f'the number of processes ({process_count}); choose a multiple of '
                     f'{process_count}.')
  sampler = sampling.StreamSampler(packed.language_id, len(packed.language_names),
                                   sampling_alpha, seed, batch_size)
  step_to_batch = _StepToBatch(ExampleMaker(packed, sampler, spec, teacher_cache), batch_size,
                               process_index, process_count)
  identity = dict(batch_size=batch_size, seed=seed, sampling_alpha=sampling_alpha,
                  mask_seed=spec.seed, mask_rate=spec.mask_rate,
                  max_predictions=spec.max_predictions, max_len=packed.max_len,
                  num_sequences=len(packed))
  return TrainIterator(step_to_batch, identity, worker_count=worker_count,
                       read_threads=read_threads, prefetch_batches=prefetch_batches)


def load_split(config: ml_collections.ConfigDict, data_dir: str, tokenizer_dir: str,
               split: str) -> tuple[packing.PackedSequences, masking.MaskingSpec]:
  """The packed split (cached) and the masking settings for this config and tokenizer."""
  tokenizer = tokenizer_lib.load_tokenizer(tokenizer_dir)
  vocab_size = tokenizer.get_vocab_size()
  if vocab_size > config.data.vocab_size:
    raise ValueError(
        f'The tokenizer in {tokenizer_dir} has {vocab_size} tokens but data.vocab_size is '
        f'{config.data.vocab_size}, so token ids would fall outside the embedding; set '
        f'--config.data.vocab_size={vocab_size}.')
  packed = packing.load_or_pack(data_dir, split, tokenizer, config.data.max_len)
  mask_id = tokenizer_lib.mask_id(tokenizer)
  special_ids = (tokenizer_lib.BOS_ID, tokenizer_lib.PAD_ID, tokenizer_lib.EOS_ID,
                 tokenizer_lib.UNK_ID, mask_id)
  spec = masking.MaskingSpec.from_config(config.data, vocab_size, mask_id, special_ids)
  return packed, spec


def make_train_iterator(config: ml_collections.ConfigDict, data_dir: str, tokenizer_dir: str,
                        process_index: int = 0, process_count: int = 1,
                        teacher_cache: Any = None) -> TrainIterator:
  """This process's infinite iterator of training batches (see the module docstring)."""
  packed, spec = load_split(config, data_dir, tokenizer_dir, 'train')
  return build_train_iterator(
      packed, spec, batch_size=config.data.batch_size, seed=config.seed,
      sampling_alpha=config.data.sampling_alpha, process_index=process_index,
      process_count=process_count, teacher_cache=teacher_cache,
      worker_count=_data_field(config, 'worker_count', 0),
      read_threads=_data_field(config, 'read_threads', 1),
      prefetch_batches=_data_field(config, 'prefetch_batches', 8))


def iterate_examples(config: ml_collections.ConfigDict, data_dir: str, tokenizer_dir: str,
                     start: int, stop: int,
                     batch_size: int | None = None) -> Iterator[dict[str, np.ndarray]]:
  """Batches of the global stream positions [start, stop), in order (the last may be short).

  Exactly the examples (and masks) the student sees at those positions, for the teacher cache
  writer; batch_size defaults to data.batch_size.
  """
  packed, spec = load_split(config, data_dir, tokenizer_dir, 'train')
  sampler = sampling.StreamSampler(packed.language_id, len(packed.language_names),
                                   config.data.sampling_alpha, config.seed,
                                   config.data.batch_size)
  make_examples = ExampleMaker(packed, sampler, spec)
  batch_size = batch_size or config.data.batch_size
  for first in range(start, stop, batch_size):
    yield make_examples(np.arange(first, min(first + batch_size, stop), dtype=np.int64))


def eval_sequence_indices(packed: packing.PackedSequences, per_language: int) -> np.ndarray:
  """The first `per_language` packed sequences of every language (all, where it has fewer)."""
  chosen = [np.flatnonzero(packed.language_id == language)[:per_language]
            for language in range(len(packed.language_names))]
  return np.concatenate(chosen)


def make_eval_batches(config: ml_collections.ConfigDict, data_dir: str, tokenizer_dir: str,
                      split: str = 'validation', process_index: int = 0,
                      process_count: int = 1) -> list[dict[str, np.ndarray]]:
  """Fixed, deterministically masked batches covering every language of a held-out split.

  data.eval_sequences_per_language sequences per language; example_index numbers the eval rows
  (it keys their masks). The last batch is filled with copies of a real row that carry
  mlm_weights 0, is_real 0 and example_index -1. With several processes each gets its rows of
  every global batch, as in training.
  """
  packed, spec = load_split(config, data_dir, tokenizer_dir, split)
  batch_size = config.data.batch_size
  if batch_size % process_count:
    raise ValueError(f'data.batch_size ({batch_size}) must divide by the number of processes '
                     f'({process_count}).')
  sequences = eval_sequence_indices(packed, config.data.eval_sequences_per_language)
  examples = ExampleMaker(packed, None, spec).from_sequences(
      sequences, np.arange(len(sequences), dtype=np.int64))
  examples['is_real'] = np.ones(len(sequences), np.int32)
  padding = -len(sequences) % batch_size
  if padding:
    filler = {k: np.repeat(v[:1], padding, axis=0) for k, v in examples.items()}
    filler['mlm_weights'][:] = 0
    filler['is_real'][:] = 0
    filler['example_index'][:] = -1
    examples = {k: np.concatenate([v, filler[k]]) for k, v in examples.items()}
  local = batch_size // process_count
  batches = []
  for first in range(0, len(examples['input_ids']), batch_size):
    rows = slice(first + process_index * local, first + (process_index + 1) * local)
    batches.append({k: v[rows] for k, v in examples.items()})
  return batches


def benchmark_pipeline(config: ml_collections.ConfigDict, data_dir: str, tokenizer_dir: str,
                       seconds: float = 5.0, teacher_cache=None) -> dict[str, float]:
  """Training batches per second of this process's pipeline (packing cache already built).

  With `teacher_cache`, every batch is joined to the cached teacher top-k, as a distilling
  student's is. tokens_per_sec counts every position (B x L); real_tokens_per_sec only
  attended ones.
  """
  started = time.perf_counter()
  iterator = make_train_iterator(config, data_dir, tokenizer_dir, teacher_cache=teacher_cache)
  try:
    first = next(iterator)
    first_batch_seconds = time.perf_counter() - started
    batches, real_tokens = 0, 0
    # A cache holds the run's train.steps batches and no more.
    max_batches = (teacher_cache.examples // first['input_ids'].shape[0] - 1
                   if teacher_cache is not None else float('inf'))
    started = time.perf_counter()
    while time.perf_counter() - started < seconds and batches < max_batches:
      batch = next(iterator)
      batches += 1
      real_tokens += int(batch['attention_mask'].sum())
    elapsed = time.perf_counter() - started
  finally:
    iterator.close()
  batch_tokens = first['input_ids'].size
  return dict(batches_per_sec=batches / elapsed,
              tokens_per_sec=batches * batch_tokens / elapsed,
              real_tokens_per_sec=real_tokens / elapsed,
              first_batch_seconds=first_batch_seconds,
              batch_size=int(first['input_ids'].shape[0]),
              max_len=int(first['input_ids'].shape[1]),
              worker_count=int(_data_field(config, 'worker_count', 0)),
              with_teacher_cache=teacher_cache is not None)
