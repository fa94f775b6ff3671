"""A checkpoint trained on 8 simulated devices exports on one and matches in transformers."""

import os
import subprocess
import sys

import numpy as np
import pytest
import safetensors.numpy

from tests.helpers.hf_checks import assert_clean_loading, load_hf, tokenize_with, torch_logits
from unibert_jax.export import from_run
from unibert_jax.export import hf_format as hf_io

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



@pytest.mark.slow  # a subprocess compiles the train step for 8 devices: ~30 s on a quiet machine
def test_checkpoint_trained_on_8_devices_exports_on_one(multilingual_tokenizer, tmp_path):
  tokenizer_dir = multilingual_tokenizer
  """Trained weights from a (2, 2, 2) mesh: exported on 1 device, HF logits match the run's."""
  inputs = tokenize_with(tokenizer_dir)
  np.savez(tmp_path / 'inputs.npz', **inputs)
  workdir = tmp_path / 'run'
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu')
  subprocess.run([sys.executable, '-m', 'tests.helpers.save_sharded_checkpoint',
                  str(workdir), tokenizer_dir, str(tmp_path / 'inputs.npz')],
                 check=True, env=env, cwd=ROOT, timeout=300)
  out_dir = str(tmp_path / 'hf')
  summary = from_run.export_checkpoint(str(workdir), out_dir)
  assert summary['step'] == 3 and summary['tokenizer_dir'] == tokenizer_dir
  model, info = load_hf(out_dir)
  assert_clean_loading(info)
  reference = np.load(workdir / 'reference_logits.npy')
  np.testing.assert_allclose(torch_logits(model, inputs), reference, atol=1e-4, rtol=0)
  with open(os.path.join(out_dir, 'README.md')) as f:
    card = f.read()
  assert 'Training steps: 3.' in card and '| mlm_loss |' in card and '- "el"' in card
  # Trained, not initial, weights: the MLM bias starts at zero.
  tensors = safetensors.numpy.load_file(os.path.join(out_dir, hf_io.WEIGHTS_FILE))
  assert np.abs(tensors['lm_head.bias']).min() > 0
