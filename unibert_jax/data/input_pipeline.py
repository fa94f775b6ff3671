"""Training and evaluation batches, on grain.

The training data is an infinite, deterministic stream: position i holds the packed sequence
that `sampling.StreamSampler` puts there, masked by `masking.mask_batch` keyed by
(data.mask_seed, i). Global batch s is positions [s*B, (s+1)*B) (B = data.batch_size over all
processes); process p of n reads the contiguous rows [p*B/n, (p+1)*B/n) of it. A batch is thus a
pure function of its step, which makes the pipeline a `grain.MapDataset` over steps, and the
iterator state just the next step: it resumes exactly, with any worker count and any number of
processes (the global batches are the same).

Batches follow the contract of `batch.py`. A `join` callable (the teacher cache's) can add
fields to every training batch, keyed by its example_index.
"""

from typing import Any, Callable, Iterator

from absl import flags
import grain
import ml_collections
import numpy as np

from unibert_jax import special_tokens
from unibert_jax.data import masking
from unibert_jax.data import packing
from unibert_jax.data import sampling
from unibert_jax.data import tokenizer as tokenizer_lib

# Steps are indexed up to here; at any realistic batch size example_index overflows int32 first.
_LAST_STEP = 2**62
_MAX_EXAMPLE_INDEX = 2**31 - 1


# Adds fields to a batch of examples in place (e.g. the teacher's cached top-k).
BatchJoin = Callable[[dict[str, np.ndarray]], None]


class ExampleMaker:
  """Stream positions -> a batch of masked examples (plus what `join` adds)."""

  def __init__(self, packed: packing.PackedSequences, sampler: sampling.StreamSampler | None,
               spec: masking.MaskingSpec, join: BatchJoin | None = None):
    self.packed = packed
    self.sampler = sampler
    self.spec = spec
    self.join = join

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
    if self.join is not None:
      self.join(batch)
    return batch

  def __call__(self, positions: np.ndarray) -> dict[str, np.ndarray]:
    """The examples at the given stream positions."""
    positions = np.asarray(positions, np.int64)
    if positions.size and positions.max() > _MAX_EXAMPLE_INDEX:
      raise ValueError(f'Stream position {int(positions.max())} no longer fits the int32 '
                       'example_index of the batch contract.')
    return self.from_sequences(self.sampler.sequence_indices(positions), positions)

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
                         join: BatchJoin | None = None, worker_count: int = 0,
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
  step_to_batch = _StepToBatch(ExampleMaker(packed, sampler, spec, join), batch_size,
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
  special_ids = (*special_tokens.LEADING.values(), mask_id)
  spec = masking.MaskingSpec.from_config(config.data, vocab_size, mask_id, special_ids)
  return packed, spec


def make_train_iterator(config: ml_collections.ConfigDict, data_dir: str, tokenizer_dir: str,
                        process_index: int = 0, process_count: int = 1,
                        join: BatchJoin | None = None) -> TrainIterator:
  """This process's infinite iterator of training batches (see the module docstring)."""
  packed, spec = load_split(config, data_dir, tokenizer_dir, 'train')
  return build_train_iterator(
      packed, spec, batch_size=config.data.batch_size, seed=config.seed,
      sampling_alpha=config.data.sampling_alpha, process_index=process_index,
      process_count=process_count, join=join, worker_count=config.data.worker_count,
      read_threads=config.data.read_threads, prefetch_batches=config.data.prefetch_batches)


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
