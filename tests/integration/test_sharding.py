"""The train step gives the same numbers on 1 device and on 8 simulated devices."""

import os
import subprocess
import sys

import jax
import numpy as np
import pytest

from tests.helpers import sharded_steps
from unibert_jax import sharding

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

MESHES = ['8,1,1', '2,2,2', '1,4,2', '1,1,8']


def _run_on_8_devices(tmp_path, shapes):
  out = tmp_path / 'sharded.npz'
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu')
  subprocess.run([sys.executable, '-m', 'tests.helpers.sharded_steps', str(out), *shapes],
                 check=True, env=env, cwd=ROOT, timeout=600)
  return dict(np.load(out))


def test_losses_metrics_and_parameters_match_one_device(tmp_path):
  reference_losses, reference_params = sharded_steps.run((1, 1, 1), jax.devices()[:1])
  results = _run_on_8_devices(tmp_path, MESHES)
  for shape in MESHES:
    for step, metrics in enumerate(reference_losses):
      for name, value in metrics.items():
        np.testing.assert_allclose(results[f'{shape}|metric|{step}|{name}'], value,
                                   rtol=1e-5, atol=1e-5, err_msg=f'mesh {shape} {name}')
    for name, value in reference_params.items():
      np.testing.assert_allclose(results[f'{shape}|param|{name}'], value, rtol=1e-5, atol=1e-5,
                                 err_msg=f'mesh {shape} parameter {name}')
  # The run really trained: parameters moved and losses are finite.
  assert all(np.isfinite(m['loss']) for m in reference_losses)
  assert reference_losses[-1]['mlm_loss'] < reference_losses[0]['mlm_loss'] + 1.0


def test_mesh_shape_resolution():
  assert sharding.resolve_mesh_shape((-1, 1, 1), 8) == (8, 1, 1)
  assert sharding.resolve_mesh_shape((2, -1, 2), 8) == (2, 2, 2)
  with pytest.raises(ValueError, match='needs 4 devices but 8'):
    sharding.resolve_mesh_shape((2, 2, 1), 8)
  with pytest.raises(ValueError, match='not divisible'):
    sharding.resolve_mesh_shape((3, -1, 1), 8)
