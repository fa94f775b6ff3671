"""launch/ commands as users run them: config errors, --compile_only, the GPU preset on CPU."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



@pytest.mark.slow  # a bf16 compile of a 32k-vocabulary step in a subprocess: ~40 s
def test_gpu_preset_runs_on_cpu_with_a_tiny_override():
  env = dict(os.environ, JAX_PLATFORMS='cpu')
  out = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'launch', 'benchmark.py'), '--preset=gpu',
       '--gpu_variant=demo', '--gpu_seq=16', '--gpu_batch_size=2', '--steps=1', '--warmup=1'],
      capture_output=True, text=True, env=env, timeout=300, check=False)
  assert out.returncode == 0, out.stderr[-2000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  assert result['seq'] == 16 and result['batch_size'] == 2 and result['dtype'] == 'bfloat16'
  assert 0 < result['mfu'] < 1
  assert result['tokens_per_sec'] == pytest.approx(32 / result['step_seconds'])


def test_train_py_reports_bad_config_before_compiling():
  result = subprocess.run(
      [sys.executable, 'launch/train.py', '--config=configs/demo.py', '--compile_only',
       '--config.model.num_heads=3', '--config.adversary.schedule=linear'],
      cwd=ROOT, capture_output=True, text=True, timeout=120,
      env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert result.returncode == 1
  assert 'model.num_heads=3' in result.stderr and "adversary.schedule='linear'" in result.stderr
  assert 'Traceback' not in result.stderr


@pytest.mark.slow
def test_base_config_compiles_on_8_simulated_devices():
  result = subprocess.run(
      [sys.executable, 'launch/train.py', '--config=configs/base.py', '--compile_only',
       '--config.mesh.shape=(2,2,2)'],
      cwd=ROOT, capture_output=True, text=True, timeout=900,
      env=dict(os.environ, JAX_PLATFORMS='cpu',
               XLA_FLAGS='--xla_force_host_platform_device_count=8'))
  assert result.returncode == 0, result.stderr[-3000:]
  import json
  report = json.loads(result.stdout.strip().splitlines()[-1])
  assert report['devices'] == 8 and report['mesh'] == {'data': 2, 'fsdp': 2, 'tensor': 2}
  assert report['temp_size_in_bytes'] > 0 and report['argument_size_in_bytes'] > 0
