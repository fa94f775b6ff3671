"""Runs 3 train steps of a small config on a given mesh and saves losses and parameters.

  python -m tests.helpers.sharded_steps OUT.npz 2,2,2 [2,2,2 ...]

Used by tests/test_sharding.py in subprocesses with 8 simulated devices.
"""

import sys

import jax
import numpy as np

from configs import demo
from unibert_jax import sharding
from unibert_jax.data import batch as batch_lib
from unibert_jax.train import state as state_lib
from unibert_jax.train import step as step_lib

NUM_LANGUAGES = 5


def small_config():
  config = demo.get_config('tiny')
  config.model.hidden_size = 64
  config.model.num_heads = 8
  config.model.intermediate_size = 128
  config.model.num_layers = 2
  config.data.vocab_size = 512
  config.data.max_len = 32
  config.data.max_predictions = 6
  config.data.batch_size = 8
  config.adversary.dropout = 0.0
  # The adversary's whole machinery from the first step: a bounded objective, k = 2 updates of
  # D with its own optimizer, and the running language means behind the mean matching.
  config.adversary.update(objective='confusion', steps_per_update=2, lr_multiplier=3.0,
                          mean_matching_weight=0.5, schedule='constant')
  config.kd.top_k = 4
  config.train.warmup_steps = 1
  return config


def build_program(config, mesh, distill: bool = True) -> step_lib.TrainProgram:
  """The small config's program: all three objectives (distillation on random top-k)."""
  return step_lib.build_train_program(config, mesh, num_languages=NUM_LANGUAGES, distill=distill)


def synthetic_batch(program: step_lib.TrainProgram, step: int) -> dict:
  """A random batch in the program's contract, different for every step."""
  return batch_lib.random_batch(program.batch_spec(), vocab_size=program.config.data.vocab_size,
                                num_languages=program.num_languages, seed=step)


def run(mesh_shape, devices=None, steps=3):
  config = small_config()
  config.mesh.shape = mesh_shape
  program = build_program(config, sharding.make_mesh(mesh_shape, devices))
  state = program.init()
  losses = []
  for step in range(steps):
    state, metrics = program.step(state, program.put_batch(synthetic_batch(program, step)))
    losses.append({k: float(v) for k, v in metrics.items()})
  saved = state_lib.to_checkpoint(state)
  params = {'/'.join(map(str, path)): np.asarray(leaf) for path, leaf in
            jax.tree_util.tree_leaves_with_path({'model': saved['model'],
                                                 'adversary': saved['adversary']})}
  return losses, params


def main():
  out, shapes = sys.argv[1], sys.argv[2:]
  results = {}
  for shape in shapes:
    losses, params = run(tuple(int(s) for s in shape.split(',')))
    for i, metrics in enumerate(losses):
      for name, value in metrics.items():
        results[f'{shape}|metric|{i}|{name}'] = value
    for name, value in params.items():
      results[f'{shape}|param|{name}'] = value
  np.savez(out, **results)


if __name__ == '__main__':
  main()
