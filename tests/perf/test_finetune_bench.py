"""The fine-tuning benchmark: shapes, the shared batch, the peer's architecture, a smoke run."""

import json
import math

import flax.nnx as nnx
import jax
import numpy as np
import pytest

from configs import demo
from unibert_jax import special_tokens
from unibert_jax.finetune import heads
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.perf.bench import finetune_bench


def tiny_model_config(norm_placement: str = 'post'):
  cfg = finetune_bench.model_config(demo.get_config(), 'demo')
  # 18 position rows: 16 tokens fit, so the 128 asked for is cut to 16.
  cfg.update(num_layers=1, hidden_size=32, num_heads=2, intermediate_size=64, vocab_size=200,
             max_position_embeddings=18, norm_placement=norm_placement)
  return cfg


def test_shapes_resolve_to_float32_encoders_with_dropout():
  mid = finetune_bench.model_config(demo.get_config(), 'mid', dropout=0.1)
  assert (mid.num_layers, mid.hidden_size, mid.num_heads, mid.intermediate_size) == (
      6, 512, 8, 2048)
  assert mid.vocab_size == 32000 and mid.dtype == 'float32' and mid.matmul_dtype == ''
  assert mid.hidden_dropout == mid.attention_dropout == 0.1  # the demo config's are 0
  assert finetune_bench.sequence_length(mid) == 128  # 130 rows, the first at pad_id + 1
  small = finetune_bench.model_config(demo.get_config(), 'xxsmall')
  assert (small.num_layers, small.hidden_size, small.vocab_size) == (6, 256, 32000)
  assert finetune_bench.sequence_length(tiny_model_config()) == 16
  with pytest.raises(ValueError, match='xxsmall'):
    finetune_bench.model_config(demo.get_config(), 'huge')


@pytest.mark.parametrize('kind', finetune_bench.KINDS)
def test_random_batch_is_full_length_without_padding(kind):
  batch = finetune_bench.random_batch(kind, vocab_size=200, batch_size=4, length=16,
                                      num_labels=7, seed=1)
  ids = batch['input_ids']
  assert (ids[:, 0] == special_tokens.BOS_ID).all() and (ids[:, -1] == special_tokens.EOS_ID).all()
  inner = ids[:, 1:-1]
  assert (inner >= special_tokens.UNK_ID).all() and (inner < 199).all()  # no pad, no <mask>
  assert (batch['attention_mask'] == 1).all() and (batch['weights'] == 1).all()
  assert batch['targets'].shape == ((4,) if kind == 'classification' else (4, 16))
  assert batch['targets'].min() >= 0 and batch['targets'].max() < 7


@pytest.mark.parametrize('norm_placement,kind,peer_class', [
    ('post', 'classification', 'XLMRobertaForSequenceClassification'),
    ('post', 'token_classification', 'XLMRobertaForTokenClassification'),
    ('pre', 'classification', 'XLMRobertaXLForSequenceClassification'),
    ('pre', 'token_classification', 'XLMRobertaXLForTokenClassification')])
def test_peer_has_our_trainable_architecture(norm_placement, kind, peer_class):
  cfg = tiny_model_config(norm_placement)
  peer = finetune_bench.peer_model(cfg, kind, num_labels=7)
  assert type(peer).__name__ == peer_class
  assert peer.config.hidden_dropout_prob == peer.config.attention_probs_dropout_prob == 0.1
  assert peer.config.max_position_embeddings == 18
  with nnx.use_eager_sharding(False):
    encoder = encoder_lib.Encoder(cfg, rngs=nnx.Rngs(0))
  ours = nnx.state(heads.build(kind, encoder, 7, seed=0), heads.is_trainable)
  # Same tensors trained on both sides (our MLM head is not trained, the peer has none).
  assert sorted(int(np.prod(x.shape)) for x in jax.tree.leaves(ours)) == (
      sorted(p.numel() for p in peer.parameters()))


def test_benchmark_row_is_consistent():
  row = finetune_bench.benchmark_shape('tiny', tiny_model_config(), batch_size=4,
                                       rounds=1, steps_per_round=2, warmup=1, peer_steps=2,
                                       peer_warmup=1, log=lambda _: None)
  assert (row['kind'], row['batch_size'], row['length'], row['tokens_per_step']) == (
      'classification', 4, 16, 64)
  assert row['peer_class'] == 'XLMRobertaForSequenceClassification'
  ours, peer = row['ours_tokens_per_sec'], row['peer_tokens_per_sec']
  assert 0 < ours < math.inf and 0 < peer < math.inf
  assert ours == pytest.approx(64 / row['ours_step_seconds'])
  assert peer == pytest.approx(64 / row['peer_step_seconds'])
  assert row['ratio'] == pytest.approx(ours / peer)  # one round: the within-round ratio
  assert row['ours_parameters'] == row['peer_parameters']
  # Compile, then warm-up and the timed steps on both sides, every loss finite; 3 classes.
  assert len(row['ours_losses']) == 1 + 1 + 2 and len(row['peer_losses']) == 1 + 2
  for loss in row['ours_losses'] + row['peer_losses']:
    assert abs(loss - math.log(3)) < 0.5
  assert row['compile_seconds'] > 0
  json.dumps(row)  # one JSON line per shape
  assert 'tiny' in finetune_bench.format_table([row])
