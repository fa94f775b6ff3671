"""The PyTorch peer: a Hugging Face `XLMRobertaForMaskedLM` train step, timed.

What a user gets by default when training the same architecture with
transformers on this machine: float32, eager PyTorch, the model's default
attention implementation, `torch.optim.AdamW`, and the MLM loss through
`labels` (-100 on unmasked positions), so the vocabulary projection runs over
every position as in `XLMRobertaForMaskedLM.forward`. Same layers, width,
heads, FFN, vocabulary, batch, sequence length and dropout as our config, 15 %
of the tokens masked, all CPU cores as torch threads.

`autocast='bfloat16'` runs the forward pass under `torch.autocast` (bf16
matmuls, float32 master weights and optimizer), PyTorch's own mixed precision:
the peer to hold our bf16 matmul mode against.
"""

import os
import statistics
import time
from typing import Any, Mapping

import numpy as np

from unibert_jax import special_tokens

MASK_RATE = 0.15


def _field(shape: Any, name: str, default=None):
  if isinstance(shape, Mapping) or hasattr(shape, 'get'):
    value = shape.get(name, default)
  else:
    value = getattr(shape, name, default)
  if value is None:
    raise ValueError(f'The peer model shape needs the field {name!r} (a config.model field).')
  return value


def peer_model(shape: Any, seq: int):
  """An `XLMRobertaForMaskedLM` with the shape of our `config.model` (a mapping)."""
  import transformers  # pylint: disable=g-import-not-at-top  # torch is heavy, import on use
  hf_config = transformers.XLMRobertaConfig(
      vocab_size=int(_field(shape, 'vocab_size')),
      hidden_size=int(_field(shape, 'hidden_size')),
      num_hidden_layers=int(_field(shape, 'num_layers')),
      num_attention_heads=int(_field(shape, 'num_heads')),
      intermediate_size=int(_field(shape, 'intermediate_size')),
      hidden_dropout_prob=float(_field(shape, 'hidden_dropout', 0.1)),
      attention_probs_dropout_prob=float(_field(shape, 'attention_dropout', 0.1)),
      layer_norm_eps=float(_field(shape, 'layer_norm_eps', 1e-5)),
      max_position_embeddings=seq + 2,  # XLM-R positions start at pad_id + 1
      type_vocab_size=1,
      hidden_act='gelu',
      bos_token_id=special_tokens.BOS_ID, pad_token_id=special_tokens.PAD_ID,
      eos_token_id=special_tokens.EOS_ID,
      tie_word_embeddings=True)
  return transformers.XLMRobertaForMaskedLM(hf_config)


def masked_batch(vocab_size: int, batch: int, seq: int, seed: int = 0) -> dict[str, np.ndarray]:
  """Full-length random sequences `<s> ... </s>`, 15 % of the inner tokens masked.

  Labels hold the original ids at the masked positions and -100 elsewhere.
  """
  rng = np.random.default_rng(seed)
  mask_id = special_tokens.mask_id(vocab_size)
  ids = rng.integers(special_tokens.UNK_ID, mask_id, (batch, seq), dtype=np.int64)
  ids[:, 0], ids[:, -1] = special_tokens.BOS_ID, special_tokens.EOS_ID
  selected = np.zeros((batch, seq), bool)
  inner = seq - 2
  num_masked = max(1, round(MASK_RATE * inner))
  for row in range(batch):
    selected[row, 1 + rng.choice(inner, num_masked, replace=False)] = True
  labels = np.where(selected, ids, -100)
  return dict(input_ids=np.where(selected, mask_id, ids), attention_mask=np.ones_like(ids),
              labels=labels)


class PeerRunner:
  """The peer model, its AdamW optimizer and one fixed batch, ready to time."""

  def __init__(self, shape: Any, batch: int, seq: int, num_threads: int | None = None,
               learning_rate: float = 1e-4, seed: int = 0, autocast: str | None = None):
    import torch  # pylint: disable=g-import-not-at-top  # torch is heavy, import on use
    self.autocast = autocast
    self._autocast_dtype = getattr(torch, autocast) if autocast else None
    self.num_threads = num_threads or os.cpu_count() or 1
    torch.set_num_threads(self.num_threads)
    torch.manual_seed(seed)
    self.tokens = batch * seq
    self.model = peer_model(shape, seq)
    self.model.train()
    self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=learning_rate,
                                       weight_decay=0.01)
    self.inputs = {k: torch.from_numpy(v) for k, v in
                   masked_batch(int(_field(shape, 'vocab_size')), batch, seq, seed).items()}
    self.losses: list[float] = []
    self.step_seconds: list[float] = []

  def run(self, steps: int, record: bool = True) -> None:
    import torch  # pylint: disable=g-import-not-at-top
    for _ in range(steps):
      start = time.perf_counter()
      self.optimizer.zero_grad(set_to_none=True)
      with torch.autocast('cpu', dtype=self._autocast_dtype,
                          enabled=self._autocast_dtype is not None):
        loss = self.model(**self.inputs).loss
      loss.backward()
      self.optimizer.step()
      self.losses.append(float(loss.detach()))  # eager CPU torch is synchronous
      if record:
        self.step_seconds.append(time.perf_counter() - start)

  def summary(self) -> dict:
    median = statistics.median(self.step_seconds)
    return dict(tokens_per_sec=self.tokens / median, step_seconds=median,
                step_seconds_all=list(self.step_seconds), losses=list(self.losses),
                num_threads=self.num_threads, autocast=self.autocast,
                parameters=sum(p.numel() for p in self.model.parameters()),
                attn_implementation=self.model.config._attn_implementation)  # pylint: disable=protected-access


def peer_tokens_per_sec(shape: Any, batch: int, seq: int, steps: int = 5, warmup: int = 2,
                        num_threads: int | None = None, learning_rate: float = 1e-4,
                        seed: int = 0, autocast: str | None = None) -> dict:
  """Times `steps` AdamW train steps of the peer on one fixed batch, after `warmup`.

  Returns tokens/s (batch * seq over the median step time), the step times and the
  losses of every step (warm-up included) so callers can check it learns.
  """
  runner = PeerRunner(shape, batch, seq, num_threads, learning_rate, seed, autocast)
  runner.run(warmup, record=False)
  runner.run(steps)
  return runner.summary()
