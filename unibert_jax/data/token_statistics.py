"""What a model that knows only token frequencies scores: the floor every MLM figure must beat.

From the training split's token counts (special tokens excluded):
* the most-frequent-token baseline: the accuracy of always answering the most frequent token;
* the unigram cross-entropy: the loss of predicting every target with its training frequency
  (add-one smoothed over the vocabulary, so a token unseen in training costs a finite amount).
Both are measured on the same held-out targets as the model.
"""

import dataclasses

import numpy as np

from unibert_jax import special_tokens


@dataclasses.dataclass(frozen=True)
class UnigramBaseline:
  """Token frequencies of a training split."""
  counts: np.ndarray           # [vocab_size] int64, special tokens zeroed

  @classmethod
  def from_token_ids(cls, token_ids: np.ndarray, vocab_size: int) -> 'UnigramBaseline':
    counts = np.bincount(np.asarray(token_ids).reshape(-1), minlength=vocab_size)
    counts = counts[:vocab_size].astype(np.int64)
    counts[list(special_tokens.LEADING.values())] = 0
    counts[special_tokens.mask_id(vocab_size)] = 0
    return cls(counts)

  @property
  def most_frequent(self) -> int:
    return int(np.argmax(self.counts))

  def log_probs(self) -> np.ndarray:
    smoothed = self.counts.astype(np.float64) + 1.0
    return np.log(smoothed / smoothed.sum())

  def scores(self, targets: np.ndarray, weights: np.ndarray) -> dict[str, float]:
    """Accuracy of the most frequent token, and the unigram cross-entropy, on these targets."""
    targets, weights = np.asarray(targets), np.asarray(weights, np.float64)
    total = max(weights.sum(), 1e-12)
    return {
        'most_frequent_accuracy': float(((targets == self.most_frequent) * weights).sum()
                                        / total),
        'unigram_loss': float(-(self.log_probs()[targets] * weights).sum() / total),
    }
