"""Static BERT masking, a pure function of (mask_seed, example_index, tokens).

The mask of a stream position never changes between runs, resumes, processes or worker counts,
which is what lets a teacher's logits be cached once for exactly the masks the student sees.
Every random choice comes from a counter-based hash (splitmix64) of
(mask_seed, example_index, purpose, token position), so a whole batch is masked with a few numpy
array operations and no per-example generator objects.

Per sequence: round(mask_rate * real tokens) positions (at least 1, at most max_predictions) are
chosen uniformly among the real, non-special tokens; of those, mask_token_fraction become
<mask>, random_token_fraction a uniformly drawn non-special token, the rest stay unchanged.
The prediction slots hold the chosen positions in ascending order; unused slots have
position 0, target 0 and weight 0.
"""

import dataclasses
import functools
from typing import Iterable

import numpy as np

_GOLDEN_GAMMA = 0x9E3779B97F4A7C15
# Purposes, hashed in so the three decisions are independent.
_SELECT, _ACTION, _RANDOM_TOKEN = 1, 2, 3


def _splitmix64(z: np.ndarray) -> np.ndarray:
  z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
  z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
  return z ^ (z >> np.uint64(31))


def hash_uint64(*keys) -> np.ndarray:
  """A 64-bit hash of broadcast integer keys (each >= 0), elementwise; at least 1-D."""
  state = np.zeros((1,), np.uint64)
  for key in keys:
    key = np.atleast_1d(np.asarray(key)).astype(np.uint64)
    state = _splitmix64(state + key + np.uint64(_GOLDEN_GAMMA))
  return state


def _uniform(bits: np.ndarray) -> np.ndarray:
  """Uniform float64 in [0, 1) from 64 random bits."""
  return (bits >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53))


@dataclasses.dataclass(frozen=True)
class MaskingSpec:
  """What the masking needs to know; see `from_config`."""
  vocab_size: int
  mask_id: int
  special_ids: tuple[int, ...]
  max_predictions: int
  mask_rate: float = 0.15
  mask_token_fraction: float = 0.8
  random_token_fraction: float = 0.1
  seed: int = 0

  def __post_init__(self):
    if not 0.0 < self.mask_rate < 1.0:
      raise ValueError(f'data.mask_rate must lie in (0, 1), got {self.mask_rate}.')
    if self.max_predictions < 1:
      raise ValueError(f'data.max_predictions must be at least 1, got {self.max_predictions}.')
    fractions = (self.mask_token_fraction, self.random_token_fraction)
    if min(fractions) < 0 or sum(fractions) > 1:
      raise ValueError(
          f'data.mask_token_fraction ({self.mask_token_fraction}) and '
          f'data.random_token_fraction ({self.random_token_fraction}) must be >= 0 and sum '
          f'to at most 1 (the rest of the chosen tokens is kept).')
    if self.mask_id not in self.special_ids:
      raise ValueError(f'The mask id {self.mask_id} must be among the special ids.')

  @classmethod
  def from_config(cls, data_config, vocab_size: int, mask_id: int,
                  special_ids: Iterable[int]) -> 'MaskingSpec':
    """From the `data` section of a config (mask_rate, *_fraction, max_predictions, mask_seed)."""
    return cls(vocab_size=int(vocab_size), mask_id=int(mask_id),
               special_ids=tuple(sorted({int(i) for i in special_ids} | {int(mask_id)})),
               max_predictions=int(data_config.max_predictions),
               mask_rate=float(data_config.mask_rate),
               mask_token_fraction=float(data_config.mask_token_fraction),
               random_token_fraction=float(data_config.random_token_fraction),
               seed=int(data_config.mask_seed))

  @functools.cached_property
  def regular_ids(self) -> np.ndarray:
    """The ids a random replacement may take: every id that is not special."""
    return np.flatnonzero(~self.is_special)

  @functools.cached_property
  def is_special(self) -> np.ndarray:
    """bool [vocab_size]: a lookup table, faster than np.isin on every batch."""
    table = np.zeros(self.vocab_size, bool)
    table[list(self.special_ids)] = True
    return table


def num_to_mask(num_real: np.ndarray, spec: MaskingSpec) -> np.ndarray:
  """How many tokens to mask in sequences with `num_real` maskable tokens."""
  num_real = np.asarray(num_real, np.int64)
  wanted = np.floor(spec.mask_rate * num_real + 0.5).astype(np.int64)  # round half up
  return np.where(num_real > 0, np.clip(wanted, 1, spec.max_predictions), 0)


def mask_batch(input_ids: np.ndarray, example_index: np.ndarray,
               spec: MaskingSpec) -> dict[str, np.ndarray]:
  """Masks a batch of packed sequences.

  Args:
    input_ids: int [n, L] original token ids (specials and padding are never chosen).
    example_index: int [n] stream positions; with spec.seed they key every random choice.
    spec: the masking settings.

  Returns:
    input_ids int32 [n, L] (masked), mlm_positions int32 [n, P], mlm_targets int32 [n, P]
    (original ids), mlm_weights float32 [n, P].
  """
  input_ids = np.asarray(input_ids)
  example_index = np.asarray(example_index, np.int64)
  if np.any(example_index < 0):
    raise ValueError('example_index must be non-negative.')
  num_rows, length = input_ids.shape
  num_slots = spec.max_predictions
  regular_ids = spec.regular_ids
  rows = example_index[:, None]
  positions = np.arange(length)[None, :]

  if input_ids.size and (input_ids.min() < 0 or input_ids.max() >= spec.vocab_size):
    raise ValueError(f'Token ids must lie in [0, {spec.vocab_size}) (the vocabulary); got '
                     f'{int(input_ids.min())}..{int(input_ids.max())}.')
  maskable = ~spec.is_special[input_ids]
  # Uniform choice without replacement: the smallest hashes among the maskable positions.
  keys = hash_uint64(spec.seed, rows, _SELECT, positions)
  keys = np.where(maskable, keys, np.iinfo(np.uint64).max)
  if num_slots < length:
    candidates = np.argpartition(keys, num_slots - 1, axis=1)[:, :num_slots]
    candidate_keys = np.take_along_axis(keys, candidates, axis=1)
    candidates = np.take_along_axis(candidates, np.argsort(candidate_keys, axis=1), axis=1)
  else:
    candidates = np.argsort(keys, axis=1)
  slots = np.arange(candidates.shape[1])[None, :]
  used = slots < num_to_mask(maskable.sum(axis=1), spec)[:, None]
  # Chosen positions in ascending order, unused slots last (position 0).
  chosen = np.sort(np.where(used, candidates, length), axis=1)
  used = chosen < length
  chosen = np.where(used, chosen, 0)
  if chosen.shape[1] < num_slots:  # sequences shorter than max_predictions
    pad = num_slots - chosen.shape[1]
    chosen = np.pad(chosen, ((0, 0), (0, pad)))
    used = np.pad(used, ((0, 0), (0, pad)))

  targets = np.where(used, np.take_along_axis(input_ids, chosen, axis=1), 0)
  action = _uniform(hash_uint64(spec.seed, rows, _ACTION, chosen))
  random_tokens = regular_ids[hash_uint64(spec.seed, rows, _RANDOM_TOKEN, chosen)
                              % np.uint64(regular_ids.size)]
  replacement = np.where(
      action < spec.mask_token_fraction, spec.mask_id,
      np.where(action < spec.mask_token_fraction + spec.random_token_fraction,
               random_tokens, targets))
  masked = np.array(input_ids, np.int32)
  row_index = np.broadcast_to(np.arange(num_rows)[:, None], chosen.shape)
  masked[row_index[used], chosen[used]] = replacement[used]
  return dict(input_ids=masked,
              mlm_positions=chosen.astype(np.int32),
              mlm_targets=targets.astype(np.int32),
              mlm_weights=used.astype(np.float32))
