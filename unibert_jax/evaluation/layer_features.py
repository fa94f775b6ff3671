"""Pooled sentence vectors at every layer of an encoder, for many texts, in fixed-shape batches.

Texts are tokenized with the model's own `tokenizer.json` (XLM-R family: `<s> text </s>`; BERT
family: `[CLS] text [SEP]`), sorted by length and cut into a few length buckets, so padding stays
small and the jitted forward compiles once per bucket. Each bucket's batch holds about the same
number of tokens and is laid out over every device of a data-parallel mesh (parameters
replicated: evaluation models fit one device); a row count that does not fill the last batch is
padded with empty sequences and dropped.

Pooling: 'mean' over the real tokens (the suite's default, as XTREME's retrieval), or 'cls' (the
first token's state).
"""

from collections.abc import Callable, Sequence
import dataclasses
import math
import time

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import tokenizers

from unibert_jax import sharding

POOLINGS = ('mean', 'cls')
BUCKET_LENGTHS = (16, 32, 64, 128, 256, 512)
TOKENS_PER_BATCH = 8192


@dataclasses.dataclass(frozen=True)
class SpecialIds:
  """The ids a sequence is framed and padded with."""
  first: int
  last: int
  pad: int


_FRAMES = (('<s>', '</s>', '<pad>'), ('[CLS]', '[SEP]', '[PAD]'))


def special_ids(tokenizer: tokenizers.Tokenizer) -> SpecialIds:
  """The family's framing tokens, read from the tokenizer's vocabulary."""
  for first, last, pad in _FRAMES:
    ids = [tokenizer.token_to_id(token) for token in (first, last, pad)]
    if None not in ids:
      return SpecialIds(*ids)
  raise ValueError('The tokenizer has neither <s> </s> <pad> (XLM-R family) nor [CLS] [SEP] '
                   '[PAD] (BERT family); evaluation frames sentences with one of those.')


def token_ids(tokenizer: tokenizers.Tokenizer, texts: Sequence[str]) -> list[list[int]]:
  """Each text's ids without special tokens (the caller frames them)."""
  tokenizer.no_padding()
  tokenizer.no_truncation()
  return [e.ids for e in tokenizer.encode_batch(list(texts), add_special_tokens=False)]


def bucket_length(length: int, max_len: int) -> int:
  """The smallest bucket that holds `length` tokens, at most max_len."""
  for bucket in BUCKET_LENGTHS:
    if bucket >= length:
      return min(bucket, max_len)
  return max_len


def rows_per_batch(length: int, devices: int, batch_size: int | None = None) -> int:
  """batch_size rows, or about TOKENS_PER_BATCH tokens of `length`, as a multiple of the
  device count."""
  rows = batch_size or max(1, TOKENS_PER_BATCH // length)
  return devices * math.ceil(rows / devices)


class _Progress:
  """One line every `every_s` seconds: texts done, share and rate."""

  def __init__(self, total: int, log: Callable[[str], None], every_s: float = 10.0):
    self.total, self.log, self.every_s = total, log, every_s
    self.start = self.last = time.time()
    self.done = 0

  def add(self, count: int) -> None:
    self.done += count
    now = time.time()
    if now - self.last >= self.every_s or self.done == self.total:
      self.last = now
      rate = self.done / max(now - self.start, 1e-9)
      self.log(f'  features: {self.done:,}/{self.total:,} texts '
               f'({100 * self.done / self.total:.0f} %), {rate:,.0f} texts/s')


class PooledLayers:
  """An encoder's pooled states at every layer, for any texts: its jitted forward is built once,
  so calls on other texts with batch shapes seen before do not compile again (the held-out
  figures and the suite share one)."""

  def __init__(self, encoder: nnx.Module, pooling: str = 'mean', mesh=None):
    if pooling not in POOLINGS:
      raise ValueError(f'pooling={pooling!r}; choose one of {", ".join(POOLINGS)}.')
    self.pooling = pooling
    self.mesh = mesh or sharding.make_mesh((-1, 1, 1))
    self.layers = encoder.cfg.num_layers + 1
    self.hidden_size = encoder.cfg.hidden_size
    graphdef, state = nnx.split(encoder)
    state = jax.device_put(state, sharding.replicated(self.mesh))

    @jax.jit
    def forward(state, input_ids, attention_mask):
      states = nnx.merge(graphdef, state).all_hidden_states(input_ids, attention_mask)
      hidden = jnp.stack(states).astype(jnp.float32)           # [layers, B, L, d]
      if pooling == 'cls':
        return hidden[:, :, 0]
      weights = attention_mask.astype(jnp.float32)[None, :, :, None]
      return (hidden * weights).sum(2) / jnp.maximum(weights.sum(2), 1.0)

    self._forward = lambda input_ids, attention_mask: forward(state, input_ids, attention_mask)

  def __call__(self, tokenizer: tokenizers.Tokenizer, texts: Sequence[str], max_len: int,
               log: Callable[[str], None] = print) -> np.ndarray:
    """float32 [num_layers + 1, len(texts), d]; see pooled_layer_features."""
    if not texts:
      raise ValueError('pooled_layer_features got no text.')
    frame = special_ids(tokenizer)
    ids = [[frame.first] + row[:max_len - 2] + [frame.last]
           for row in token_ids(tokenizer, texts)]
    batch_sharding = sharding.batch_sharding(self.mesh)
    out = np.zeros((self.layers, len(texts), self.hidden_size), np.float32)
    order = np.argsort([len(row) for row in ids], kind='stable')
    progress = _Progress(len(texts), log)
    start = 0
    while start < len(order):
      length = bucket_length(len(ids[order[start]]), max_len)
      rows = rows_per_batch(length, self.mesh.size)
      chosen = []
      while start < len(order) and len(chosen) < rows and len(ids[order[start]]) <= length:
        chosen.append(order[start])
        start += 1
      input_ids = np.full((rows, length), frame.pad, np.int32)
      # Filler rows are framed empty sentences: real inputs, so their pooled mean stays finite.
      input_ids[:, :2] = frame.first, frame.last
      for row, index in enumerate(chosen):
        input_ids[row, :2] = frame.pad
        input_ids[row, :len(ids[index])] = ids[index]
      attention_mask = (input_ids != frame.pad).astype(np.int32)
      pooled = self._forward(jax.device_put(input_ids, batch_sharding),
                             jax.device_put(attention_mask, batch_sharding))
      out[:, chosen] = np.asarray(pooled)[:, :len(chosen)]
      progress.add(len(chosen))
    return out


def pooled_layer_features(encoder: nnx.Module, tokenizer: tokenizers.Tokenizer,
                          texts: Sequence[str], max_len: int, *, pooling: str = 'mean',
                          mesh=None, log: Callable[[str], None] = print) -> np.ndarray:
  """float32 [num_layers + 1, len(texts), d]: layer 0 is the embedding output.

  Args:
    encoder: a model.Encoder (any family load_hf_encoder imports).
    tokenizer: its tokenizer.
    texts: the sentences; longer ones are truncated to max_len tokens (framing included).
    max_len: the longest sequence (at most the model's position table allows).
    pooling: 'mean' or 'cls'.
    mesh: where batches go (default: every local device, data parallel).
    log: receives a progress line about every 10 s.
  """
  return PooledLayers(encoder, pooling, mesh)(tokenizer, texts, max_len, log)
