"""Builds the tests' teacher cache slowly (a pause after each shard), to be killed mid-way.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 \
      python -m tests.helpers.build_teacher_cache WORKDIR DATA_DIR TOKENIZER_DIR TEACHER_DIR

Runs on a (2, 2, 2) mesh, so the teacher's batch is sharded over 4 devices and its parameters
over 2. Used by tests/test_teacher_cache.py.
"""

import sys
import time

from tests.helpers import kd_setup
from unibert_jax.data import prepare
from unibert_jax.teacher import build_cache
from unibert_jax.teacher import cache_format


def main():
  workdir, data_dir, tokenizer_dir, teacher_dir = sys.argv[1:]
  config = kd_setup.config()
  config.mesh.shape = (2, 2, 2)

  def log(line):
    print(line, flush=True)
    time.sleep(2.0)  # the parent kills the process during one of these pauses

  build_cache.build_cache(config, teacher_dir, prepare.PreparedData.read(data_dir, tokenizer_dir),
                          cache_format.cache_dir(config, workdir), log=log)


if __name__ == '__main__':
  main()
