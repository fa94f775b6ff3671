"""The PyTorch peer trains (real transformers + torch) and reports its throughput."""

import math

import numpy as np

from unibert_jax.perf.bench import torch_baseline as peer_benchmark

TINY = dict(num_layers=2, hidden_size=32, num_heads=2, intermediate_size=64, vocab_size=100,
            hidden_dropout=0.0, attention_dropout=0.0, layer_norm_eps=1e-5)


def test_masked_batch_follows_the_mlm_contract():
  batch = peer_benchmark.masked_batch(vocab_size=100, batch=4, seq=40, seed=1)
  masked = batch['labels'] != -100
  assert masked.sum(1).tolist() == [round(0.15 * 38)] * 4
  assert not masked[:, [0, -1]].any()  # <s> and </s> never masked
  assert (batch['input_ids'][masked] == 99).all()  # <mask> is the last id
  assert (batch['input_ids'][:, 0] == 0).all() and (batch['input_ids'][:, -1] == 2).all()


def test_tiny_peer_learns_and_reports_throughput():
  result = peer_benchmark.peer_tokens_per_sec(TINY, batch=4, seq=16, steps=4, warmup=1,
                                              learning_rate=3e-3)
  losses = result['losses']
  assert len(losses) == 5 and all(math.isfinite(x) for x in losses)
  # A fixed batch with dropout off: AdamW must drive its loss down.
  assert losses[-1] < losses[0]
  assert result['tokens_per_sec'] == 4 * 16 / result['step_seconds'] > 0
  assert len(result['step_seconds_all']) == 4
  assert result['step_seconds'] == np.median(result['step_seconds_all'])
  # Same architecture as ours: word embeddings + layers + head; 2 threads here at most.
  model = peer_benchmark.peer_model(TINY, 16)
  assert model.config.num_hidden_layers == 2 and model.config.vocab_size == 100
  assert model.config.max_position_embeddings == 18
  assert result['parameters'] == sum(p.numel() for p in model.parameters())


def test_autocast_peer_trains_in_bf16_mixed_precision():
  kwargs = dict(batch=4, seq=16, steps=3, warmup=1, learning_rate=3e-3, seed=0)
  amp = peer_benchmark.peer_tokens_per_sec(TINY, autocast='bfloat16', **kwargs)
  full = peer_benchmark.peer_tokens_per_sec(TINY, **kwargs)
  assert amp['autocast'] == 'bfloat16' and full['autocast'] is None
  assert all(math.isfinite(x) for x in amp['losses'])
  assert amp['losses'][-1] < amp['losses'][0]
  # Same weights and batch: bf16 matmuls move the first loss a little, not a lot.
  assert amp['losses'][0] != full['losses'][0]
  assert abs(amp['losses'][0] - full['losses'][0]) < 0.05 * full['losses'][0]
