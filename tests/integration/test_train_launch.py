"""launch/train.py as users run it: exact resume after SIGKILL, SIGTERM, NaN, other meshes,
two processes. Each run is a real subprocess on the tiny UDHR corpus."""

import json
import os
import signal
import socket
import subprocess
import sys

import jax
import numpy as np
import pytest

from tests.helpers.traces import traced_steps
from unibert_jax import cli
from unibert_jax.export import from_run
from unibert_jax.train import checkpointing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
STEPS = 12
# The adversary's state (D and its own optimizer, the running language means) shows in
# adv_loss, disc_*, mean_matching_loss and language_mean_spread: an inexact resume changes them.
LOGGED = ('loss', 'mlm_loss', 'adv_loss', 'mlm_accuracy', 'disc_accuracy', 'disc_entropy',
          'mean_matching_loss', 'language_mean_spread', 'grad_norm', 'grl_lambda',
          'learning_rate')


def _command(workdir, data, *overrides, steps=STEPS):
  _, data_dir, tokenizer_dir = data
  return [sys.executable, os.path.join(ROOT, 'launch/train.py'), '--config=configs/demo.py:tiny',
          f'--workdir={workdir}', '--evaluate_and_export=false',
          f'--config.data.data_dir={data_dir}', f'--config.data.tokenizer_dir={tokenizer_dir}',
          '--config.loss.kd_weight=0', f'--config.train.steps={steps}',
          # One small layer: these tests are about resuming, not the model; it compiles fast.
          '--config.model.num_layers=1', '--config.model.hidden_size=64',
          '--config.model.intermediate_size=128',
          '--config.train.warmup_steps=2', '--config.train.log_every=1',
          '--config.train.eval_every=6', f'--config.train.checkpoint_every={steps // 2}',
          '--config.adversary.objective=confusion', '--config.adversary.steps_per_update=2',
          '--config.adversary.mean_matching_weight=0.5',
          *overrides]


def _hanging_after(step, command):
  """The same run, waiting to be killed once checkpoint `step` is committed."""
  return [command[0], '-m', 'tests.helpers.train_until_killed', str(step), *command[2:]]


def _env(devices=1, **extra):
  env = dict(os.environ, JAX_PLATFORMS='cpu', **extra)
  if devices > 1:
    env['XLA_FLAGS'] = f'--xla_force_host_platform_device_count={devices}'
  return env


def _run(command, env=None, timeout=600):
  result = subprocess.run(command, cwd=ROOT, env=env or _env(), capture_output=True, text=True,
                          timeout=timeout)
  assert result.returncode == 0, result.stderr[-4000:]
  return result


def _train_records(workdir):
  with open(os.path.join(workdir, 'metrics.jsonl')) as f:
    records = [json.loads(line) for line in f]
  by_step = {}
  for record in records:
    if record['kind'] == 'train':
      by_step[record['step']] = record  # a resumed run logs its first step again
  return by_step


def _final_parameters(workdir):
  params, _, _, restored = from_run.restore_run(workdir)
  return restored.step, {jax.tree_util.keystr(p): np.asarray(x)
                         for p, x in jax.tree_util.tree_leaves_with_path(params)}


@pytest.fixture(scope='module')
def straight_run(udhr_data, tmp_path_factory):
  """2N steps in one go, on one device."""
  workdir = str(tmp_path_factory.mktemp('straight'))
  _run(_command(workdir, udhr_data, '--config.profile.start_step=3',
                '--config.profile.num_steps=2'))
  return workdir


def test_profile_flags_trace_exactly_the_logged_steps(straight_run):
  files, steps = traced_steps(straight_run)
  assert files, 'no xplane trace under <workdir>/profile'
  assert steps == [3, 4]


def test_eval_steps_log_the_discriminator_and_a_fresh_probe(straight_run):
  with open(os.path.join(straight_run, 'metrics.jsonl')) as f:
    evals = [r for r in map(json.loads, f) if r['kind'] == 'eval']
  assert [r['step'] for r in evals] == [6, 12]
  for record in evals:
    assert 0.0 <= record['eval_probe_accuracy'] <= 1.0
    assert 0.0 < record['eval_probe_chance'] < 0.5 and record['eval_probe_entropy'] > 0
    assert record['eval_disc_chance'] == 1 / 107   # demo.py:tiny trains on all 107 languages


def _assert_same_records(actual, expected, steps, tolerance):
  for step in steps:
    for name in LOGGED:
      np.testing.assert_allclose(actual[step][name], expected[step][name], rtol=tolerance,
                                 atol=tolerance, err_msg=f'step {step} {name}')


def test_resume_after_sigkill_is_exact(straight_run, udhr_data, tmp_path):
  workdir = str(tmp_path / 'killed')
  half = STEPS // 2
  process = subprocess.Popen(
      _hanging_after(half, _command(workdir, udhr_data)), cwd=ROOT, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True, env=_env())
  for line in process.stdout:
    if f'checkpoint {half} committed' in line:
      break
  process.send_signal(signal.SIGKILL)
  process.wait(timeout=60)
  assert checkpointing.committed_steps(os.path.join(workdir, 'checkpoints')) == [half]
  _run(_command(workdir, udhr_data))  # resumes from step N

  expected, actual = _train_records(straight_run), _train_records(workdir)
  assert sorted(actual) == sorted(expected) == list(range(1, STEPS + 1))
  _assert_same_records(actual, expected, range(1, STEPS + 1), 1e-6)
  step_a, params_a = _final_parameters(straight_run)
  step_b, params_b = _final_parameters(workdir)
  assert step_a == step_b == STEPS
  for name, value in params_a.items():
    np.testing.assert_allclose(params_b[name], value, rtol=1e-6, atol=1e-7, err_msg=name)
  # The training moved: the MLM loss fell.
  assert expected[STEPS]['mlm_loss'] < expected[1]['mlm_loss']


def test_checkpoint_restores_onto_a_different_mesh(straight_run, udhr_data, tmp_path):
  workdir = str(tmp_path / 'remeshed')
  half = STEPS // 2
  process = subprocess.Popen(
      _hanging_after(half, _command(workdir, udhr_data)), cwd=ROOT, stdout=subprocess.PIPE,
      stderr=subprocess.STDOUT, text=True, env=_env())
  for line in process.stdout:
    if f'checkpoint {half} committed' in line:
      break
  process.kill()
  process.wait(timeout=60)
  # Saved on 1 device, resumed on 8 devices as data x fsdp x tensor = 2 x 2 x 2.
  _run(_command(workdir, udhr_data, '--config.mesh.shape=(2,2,2)'), env=_env(devices=8))
  expected, actual = _train_records(straight_run), _train_records(workdir)
  _assert_same_records(actual, expected, range(half + 1, STEPS + 1), 1e-4)


def test_sigterm_checkpoints_the_current_step_and_exits_cleanly(udhr_data, tmp_path):
  workdir = str(tmp_path / 'preempted')
  process = subprocess.Popen(_command(workdir, udhr_data, steps=5000), cwd=ROOT,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                             env=_env())
  for line in process.stdout:
    if line.startswith('step 3/'):
      break
  process.send_signal(signal.SIGTERM)
  output, _ = process.communicate(timeout=120)
  assert process.returncode == cli.PREEMPTED, output[-3000:]   # not 0: it did not finish
  summary = json.loads(output.strip().splitlines()[-1])
  last_logged = max(_train_records(workdir))
  assert summary['stopped_early_at_step'] == last_logged
  assert checkpointing.committed_steps(os.path.join(workdir, 'checkpoints'))[-1] == last_logged


def test_nan_loss_stops_with_the_step_and_part_and_keeps_the_good_checkpoint(udhr_data, tmp_path):
  workdir = str(tmp_path / 'diverged')
  # An absurd learning rate overflows the parameters within a few steps.
  result = subprocess.run(
      _command(workdir, udhr_data, '--config.train.learning_rate=1e30',
               '--config.train.checkpoint_every=1', '--config.train.warmup_steps=1'),
      cwd=ROOT, env=_env(), capture_output=True, text=True, timeout=600)
  assert result.returncode == 1
  message = result.stderr.strip().splitlines()[-1]
  assert 'Non-finite' in message and 'at step' in message, message
  bad_step = int(message.split('at step ')[1].split()[0])
  kept = checkpointing.committed_steps(os.path.join(workdir, 'checkpoints'))
  assert kept and kept[-1] < bad_step
  _, params = _final_parameters(workdir)
  assert all(np.isfinite(v).all() for v in params.values())


def test_nan_policy_skip_drops_the_update_and_goes_on(udhr_data, tmp_path):
  workdir = str(tmp_path / 'skipping')
  _run(_command(workdir, udhr_data, '--config.train.learning_rate=1e30',
                '--config.train.nan_policy=skip', '--config.train.warmup_steps=1', steps=6))
  records = _train_records(workdir)
  assert any(r['finite'] == 0.0 for r in records.values())
  _, params = _final_parameters(workdir)
  assert all(np.isfinite(v).all() for v in params.values())


def _free_port():
  with socket.socket() as s:
    s.bind(('localhost', 0))
    return s.getsockname()[1]


def test_two_processes_match_one_process(udhr_data, tmp_path):
  steps = ['--config.train.warmup_steps=1']
  single = str(tmp_path / 'one_process')
  _run(_command(single, udhr_data, *steps, steps=4), env=_env(devices=8))
  multi = str(tmp_path / 'two_processes')
  port = _free_port()
  processes = [subprocess.Popen(
      _command(multi, udhr_data, *steps, f'--coordinator_address=localhost:{port}',
               '--num_processes=2', f'--process_id={i}', steps=4),
      cwd=ROOT, env=_env(devices=4), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
      for i in range(2)]
  for process in processes:
    output, _ = process.communicate(timeout=600)
    assert process.returncode == 0, output[-3000:]
  expected, actual = _train_records(single), _train_records(multi)
  assert sorted(actual) == [1, 2, 3, 4]
  _assert_same_records(actual, expected, range(1, 5), 1e-5)
