"""Which packed sequence sits at each position of the infinite training stream.

The stream is cut into epochs of `epoch_length` positions (the number of packed sequences rounded
down to a multiple of the global batch, so no batch straddles two epochs). Each epoch's order is
drawn from a generator seeded by (seed, epoch) alone: a language per position with exponentially
smoothed probabilities p_l ~ n_l ** alpha (XLM-R), where n_l is the number of packed sequences
of language l (sequences are what is sampled; they differ from token counts only by each
language's last, partial sequence), then that language's sequences in a fresh random order,
without replacement within the epoch, cycling through new permutations for small languages
that are drawn more often than they have sequences. So a stream position maps to the same
sequence in every run, every process and every resume.
"""

import threading

import numpy as np

# Mixed into the generator seed so the sampling stream never collides with another use of the
# same config seed.
_SAMPLING_STREAM = 0x5A4D


# data.sampling_alpha: 0 samples languages uniformly, 1 by size; XLM-R uses 0.3.
ALPHA_RANGE = (0.0, 1.0)


def alpha_problem(alpha: float) -> str | None:
  """Why `alpha` is not a valid data.sampling_alpha, or None."""
  low, high = ALPHA_RANGE
  if not low <= alpha <= high:
    return (f'data.sampling_alpha={alpha} must lie in [{low:g}, {high:g}] (0: every language '
            f'equally often, 1: by size, 0.3: XLM-R).')
  return None


def language_probabilities(counts, alpha: float) -> np.ndarray:
  """p_l ~ counts_l ** alpha, normalised; alpha=1 samples by size, alpha=0 uniformly."""
  counts = np.asarray(counts, np.float64)
  if counts.ndim != 1 or counts.size == 0:
    raise ValueError(f'Expected a non-empty 1-D array of per-language counts, got {counts!r}.')
  if np.any(counts <= 0):
    raise ValueError(f'Every language needs at least one sequence to be sampled; counts were '
                     f'{counts.astype(int).tolist()}.')
  problem = alpha_problem(alpha)
  if problem:
    raise ValueError(problem)
  weights = counts ** alpha
  return weights / weights.sum()


class StreamSampler:
  """Maps stream positions to packed-sequence indices, deterministically from (seed, position)."""

  def __init__(self, language_id: np.ndarray, num_languages: int, alpha: float, seed: int,
               batch_size: int):
    language_id = np.asarray(language_id)
    if batch_size <= 0:
      raise ValueError(f'data.batch_size must be positive, got {batch_size}.')
    self.num_sequences = int(language_id.shape[0])
    self.seed = int(seed)
    # Tiny corpora (fewer sequences than a batch) still get one batch per epoch, by cycling.
    self.epoch_length = max(1, self.num_sequences // batch_size) * batch_size
    counts = np.bincount(language_id, minlength=num_languages)
    self.probabilities = language_probabilities(counts, alpha)
    # Sequence indices of each language, in packed order.
    order = np.argsort(language_id, kind='stable')
    self._members = np.split(order, np.cumsum(counts)[:-1])
    self._cache: dict[int, np.ndarray] = {}
    self._lock = threading.Lock()  # grain reads with several threads

  def __getstate__(self):
    # Pickled into grain workers: the lock cannot travel, the cache need not.
    state = dict(self.__dict__)
    del state['_lock'], state['_cache']
    return state

  def __setstate__(self, state):
    self.__dict__.update(state, _lock=threading.Lock(), _cache={})

  def epoch_order(self, epoch: int) -> np.ndarray:
    """Packed-sequence index of every position of `epoch`, int64 [epoch_length]."""
    with self._lock:
      cached = self._cache.get(epoch)
    if cached is not None:
      return cached
    rng = np.random.default_rng([self.seed, int(epoch), _SAMPLING_STREAM])
    languages = rng.choice(len(self._members), size=self.epoch_length, p=self.probabilities)
    # Positions drawn for each language, in stream order.
    slots_by_language = np.split(
        np.argsort(languages, kind='stable'),
        np.cumsum(np.bincount(languages, minlength=len(self._members)))[:-1])
    order = np.empty(self.epoch_length, np.int64)
    for members, slots in zip(self._members, slots_by_language):
      if not slots.size:
        continue
      cycles = -(-slots.size // members.size)
      picks = np.concatenate([rng.permutation(members) for _ in range(cycles)])
      order[slots] = picks[:slots.size]
    with self._lock:
      # A batch touches one epoch, the reader at most two nearby ones: keep the latest two.
      self._cache[epoch] = order
      for old in sorted(self._cache)[:-2]:
        del self._cache[old]
    return order

  def sequence_indices(self, positions: np.ndarray) -> np.ndarray:
    """Packed-sequence index at each stream position (any shape, int64)."""
    positions = np.asarray(positions, np.int64)
    if np.any(positions < 0):
      raise ValueError('Stream positions must be non-negative.')
    epochs = positions // self.epoch_length
    offsets = positions % self.epoch_length
    result = np.empty(positions.shape, np.int64)
    for epoch in np.unique(epochs):
      selected = epochs == epoch
      result[selected] = self.epoch_order(int(epoch))[offsets[selected]]
    return result
