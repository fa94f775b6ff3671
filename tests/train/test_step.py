"""The fused train step: non-finite guard, gradient accumulation, KD on/off, dropout keys."""

import jax
import ml_collections
import numpy as np
import pytest

from tests.helpers import sharded_steps
from unibert_jax import sharding
from unibert_jax.train import state as state_lib
from unibert_jax.train import step as step_lib


def _program(config, distill=True):
  return sharded_steps.build_program(config, sharding.make_mesh((1, 1, 1), jax.devices()[:1]),
                                     distill)


def _leaves(state):
  return [np.asarray(x) for x in jax.tree.leaves(state_lib.to_checkpoint(state))]


def test_non_finite_update_is_dropped_on_device():
  config = sharded_steps.small_config()
  program = _program(config)
  state = program.init()
  before = _leaves(state)
  batch = sharded_steps.synthetic_batch(program, 0)
  batch['teacher_topk_values'][0, 0, 0] = np.nan
  state, metrics = program.step(state, program.put_batch(batch))
  assert float(metrics['finite']) == 0.0 and not np.isfinite(float(metrics['kd_loss']))
  for a, b in zip(before, _leaves(state)):
    np.testing.assert_array_equal(a, b)
  state, metrics = program.step(state, program.put_batch(sharded_steps.synthetic_batch(program, 1)))
  assert float(metrics['finite']) == 1.0
  assert any(not np.array_equal(a, b) for a, b in zip(before, _leaves(state)))


def test_gradient_accumulation_matches_one_big_batch():
  config = sharded_steps.small_config()
  # The mean-matching penalty is not linear in the rows: with accumulation it is taken per
  # micro-batch (the running means still see the whole batch, checked below), so it is off here.
  config.adversary.mean_matching_weight = 0.0
  batch = sharded_steps.synthetic_batch(_program(config), 0)
  batch['mlm_weights'][:] = 1.0  # equal weights: the mean of micro-batch means is the mean
  results = []
  for accum in (1, 2, 4):
    config.train.grad_accum_steps = accum
    program = _program(config)
    state, metrics = program.step(program.init(), program.put_batch(batch))
    results.append((float(metrics['loss']), _leaves(state)))
  for loss, leaves in results[1:]:
    assert loss == pytest.approx(results[0][0], rel=1e-5)
    for a, b in zip(results[0][1], leaves):
      np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


def test_distillation_is_off_cleanly_without_a_teacher():
  config = sharded_steps.small_config()   # confusion objective, mean matching on
  program = _program(config, distill=False)
  assert 'teacher_topk_values' not in program.batch_spec()
  batch = sharded_steps.synthetic_batch(program, 0)
  _, metrics = program.step(program.init(), program.put_batch(batch))
  assert float(metrics['kd_loss']) == 0.0
  adversarial = float(metrics['grl_lambda']) * float(metrics['adv_objective'])
  matching = config.adversary.mean_matching_weight * float(metrics['mean_matching_loss'])
  assert float(metrics['loss']) == pytest.approx(
      float(metrics['mlm_loss']) + config.loss.adv_weight * adversarial + matching, rel=1e-6)
  assert adversarial > 0 and matching > 0


def test_weights_combine_the_loss_parts():
  config = sharded_steps.small_config()
  config.loss.update(mlm_weight=0.5, adv_weight=0.25, kd_weight=2.0)
  config.adversary.update(objective='grl', lambda_max=0.7)
  program = _program(config)
  _, m = program.step(program.init(), program.put_batch(sharded_steps.synthetic_batch(program, 0)))
  # 'grl': the encoder's adversarial objective is minus D's cross-entropy, ramped by lambda.
  assert float(m['adv_objective']) == pytest.approx(-float(m['adv_loss']), rel=1e-6)
  adversarial = float(m['grl_lambda']) * float(m['adv_objective'])
  expected = (0.5 * float(m['mlm_loss']) + 0.25 * adversarial + 2.0 * float(m['kd_loss'])
              + config.adversary.mean_matching_weight * float(m['mean_matching_loss']))
  assert float(m['loss']) == pytest.approx(expected, rel=1e-6)
  assert float(m['kd_loss']) > 0 and float(m['adv_loss']) > 0 and float(m['grl_lambda']) > 0
  assert float(m['disc_chance']) == pytest.approx(1 / program.num_languages)


def test_dropout_makes_steps_stochastic_but_reproducible():
  config = sharded_steps.small_config()
  config.model.hidden_dropout = 0.1
  program = _program(config)
  batch = program.put_batch(sharded_steps.synthetic_batch(program, 0))
  _, first = program.step(program.init(), batch)
  _, again = program.step(program.init(), batch)
  assert float(first['loss']) == float(again['loss'])
  config.model.hidden_dropout = 0.0
  program = _program(config)
  _, plain = program.step(program.init(), program.put_batch(sharded_steps.synthetic_batch(program, 0)))
  assert float(plain['loss']) != float(first['loss'])


@pytest.mark.parametrize('option', ['scan_layers', 'remat'])
def test_scan_and_remat_give_the_same_step(option):
  config = sharded_steps.small_config()
  program = _program(config)
  batch = sharded_steps.synthetic_batch(program, 0)
  reference_state, reference = program.step(program.init(), program.put_batch(batch))
  if option == 'scan_layers':
    config.model.scan_layers = True
  else:
    config.model.remat = 'full'
  program = _program(config)
  state, metrics = program.step(program.init(), program.put_batch(batch))
  assert float(metrics['loss']) == pytest.approx(float(reference['loss']), rel=1e-5)
  for a, b in zip(_leaves(reference_state), _leaves(state)):
    np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize('final_fraction', [0.0, 0.25, 1.0])
def test_learning_rate_warms_up_then_decays_to_its_final_share(final_fraction):
  train_cfg = ml_collections.ConfigDict(dict(steps=100, warmup_steps=10, learning_rate=1e-3,
                                             final_lr_fraction=final_fraction))
  schedule = step_lib.learning_rate_schedule(train_cfg)
  assert float(schedule(5)) == pytest.approx(5e-4)
  assert float(schedule(10)) == pytest.approx(1e-3)
  assert float(schedule(100)) == pytest.approx(1e-3 * final_fraction, rel=1e-5, abs=1e-12)
  assert float(schedule(55)) == pytest.approx(1e-3 * (1 + final_fraction) / 2)
