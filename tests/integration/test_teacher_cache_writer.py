"""A sharded teacher-cache writer killed mid-way: the rebuild writes the same shards."""

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from tests.helpers import kd_setup
from tests.helpers.cache_records import cache_files
from unibert_jax.teacher import cache as teacher_cache
from unibert_jax.teacher import cache_format

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.mark.slow  # a subprocess compiles the teacher for 8 devices and is killed mid-way
def test_resume_after_kill_of_a_sharded_writer(kd_run, built_cache, tmp_path):
  config, data_dir, tokenizer_dir, teacher_dir = kd_run
  _, reference_dir = built_cache
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu')
  writer = subprocess.Popen(
      [sys.executable, '-m', 'tests.helpers.build_teacher_cache',
       str(tmp_path), data_dir, tokenizer_dir, teacher_dir], env=env, cwd=ROOT)
  cache_dir = cache_format.cache_dir(config, str(tmp_path))
  first_shard = os.path.join(cache_dir, 'shard-00000-process-000-of-001.array_record')
  deadline = time.time() + 300
  while not os.path.exists(first_shard) and writer.poll() is None and time.time() < deadline:
    time.sleep(0.05)
  writer.send_signal(signal.SIGKILL)
  writer.wait()
  assert writer.returncode == -signal.SIGKILL, 'the writer ended before it was killed'
  done = sorted(n for n in os.listdir(cache_dir) if n.endswith('.array_record'))
  assert 1 <= len(done) < 5

  result = kd_setup.build(config, data_dir, tokenizer_dir, teacher_dir, str(tmp_path))
  assert result['complete'] and result['computed_examples'] == 3200 - 640 * len(done)
  files, reference = cache_files(cache_dir), cache_files(reference_dir)
  assert files.keys() == reference.keys()
  redone = [n for n in files if n.endswith('.array_record') and n not in done]
  assert all(files[n] == reference[n] for n in redone)
  # The shards the 8-device writer finished hold the same predictions up to float rounding.
  ours = teacher_cache.TeacherCache(cache_dir, config)
  theirs = teacher_cache.TeacherCache(reference_dir, config)
  indices = np.arange(640 * len(done))
  values, top, hashes = ours.lookup(indices)
  expected_values, expected_top, expected_hashes = theirs.lookup(indices)
  np.testing.assert_array_equal(hashes, expected_hashes)
  np.testing.assert_allclose(values, expected_values, rtol=2**-7, atol=1e-2)
  assert np.mean(top[..., 0] == expected_top[..., 0]) > 0.99
