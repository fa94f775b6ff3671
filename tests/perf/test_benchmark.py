"""The benchmark harness: objective switches, fake batches, and smoke runs of each path."""

import json
import os

import numpy as np
import pytest

from configs import demo
from unibert_jax.data import batch as batch_lib
from unibert_jax.perf import flops
from unibert_jax.perf.bench import benchmark as benchmarking
from unibert_jax.train import step as train_step_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def tiny_config():
  c = benchmarking.shape_config(demo.get_config(), 'demo')
  c.data.languages = 'de,en,fr,ru,zh'
  c.model.num_layers, c.model.hidden_size, c.model.num_heads = 1, 32, 2
  c.model.intermediate_size = 64
  c.data.vocab_size, c.data.max_len, c.data.batch_size, c.data.max_predictions = 200, 16, 4, 3
  c.adversary.hidden_size = 16
  c.kd.top_k = 4
  return c


@pytest.mark.parametrize('mode,adv,kd', [('mlm', False, False), ('mlm_adv', True, False),
                                         ('mlm_adv_kd', True, True)])
def test_objective_config_switches_exactly_the_objectives(mode, adv, kd):
  base = tiny_config()
  c = benchmarking.objective_config(base, mode)
  assert train_step_lib.uses_adversary(c) == adv
  assert benchmarking.build_program(c).distill == kd
  assert (flops.train_step_flops(c, 5).breakdown['discriminator'] > 0) == adv
  assert base.loss.to_dict() == tiny_config().loss.to_dict()  # the input is not modified


def test_fake_batch_follows_the_batch_contract():
  c = benchmarking.objective_config(tiny_config(), 'mlm_adv_kd')
  program = benchmarking.build_program(c)
  batch = benchmarking.full_batch(program)
  contract = batch_lib.config_spec(c.data, top_k=c.kd.top_k)
  assert batch.keys() == contract.keys()
  for name, field in contract.items():
    assert batch[name].shape == field.shape and batch[name].dtype == field.dtype, name
  rows = np.arange(4)[:, None]
  assert (batch['input_ids'][rows, batch['mlm_positions']] == 199).all()  # <mask> = V - 1
  assert (batch['mlm_targets'] != 199).all()
  assert (np.diff(batch['teacher_topk_values'], axis=-1) <= 0).all()  # sorted descending
  assert ((batch['mlm_positions'] > 0) & (batch['mlm_positions'] < 15)).all()


@pytest.mark.slow  # three train-step compiles and two peers: ~1 min on a quiet 2-core CPU
def test_benchmark_shape_row_is_consistent():
  config = tiny_config()
  config.model.matmul_dtype = 'bfloat16'  # bf16 matmuls: the autocast peer runs too
  row = benchmarking.benchmark_shape('tiny', config=config, rounds=1, steps_per_round=2,
                                     warmup=1, peer_steps=2, peer_warmup=1, peak_repeats=2,
                                     log=lambda _: None)
  assert row['matmul_dtype'] == 'bfloat16'
  assert row['ours_tokens_per_sec'] == pytest.approx(64 / row['step_seconds']['mlm'])
  assert row['peer_tokens_per_sec'] == pytest.approx(64 / row['peer_step_seconds'])
  (only_round,) = row['rounds']  # with one round, the within-round ratios are exact
  seconds = only_round['seconds']
  assert row['ratio'] == pytest.approx(seconds['peer'] / seconds['mlm'])
  assert row['ratio_vs_peer_amp'] == pytest.approx(seconds['peer_amp'] / seconds['mlm'])
  assert row['peer_amp_tokens_per_sec'] > 0
  mlm_flops = flops.train_step_flops(benchmarking.objective_config(config, 'mlm'), 5).total
  assert row['mfu_vs_measured_peak'] == pytest.approx(
      mlm_flops / seconds['mlm'] / only_round['peak'])
  assert row['adv_kd_overhead'] == pytest.approx(seconds['mlm_adv_kd'] / seconds['mlm'] - 1)
  assert row['tokens_per_step'] == 4 * 16
  json.dumps(row)  # one JSON line per shape
  assert 'tiny' in benchmarking.format_table([row])


