"""Runs 3 train steps of a small config on a given mesh and saves losses and parameters.

  python -m tests.helpers.sharded_steps OUT.npz 2,2,2 [2,2,2 ...]

Used by tests/test_sharding.py in subprocesses with 8 simulated devices.
"""

import sys

import jax
import numpy as np

from configs import demo
from unibert_jax import sharding
from unibert_jax.train import step as train_step


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
  config.adversary.num_languages = 5
  config.adversary.dropout = 0.0
  config.kd.teacher_dir = 'synthetic'
  config.kd.top_k = 4
  config.train.warmup_steps = 1
  return config


def synthetic_batch(config, step):
  rng = np.random.default_rng(step)
  d = config.data
  b, length, slots, k = d.batch_size, d.max_len, d.max_predictions, config.kd.top_k
  lengths = rng.integers(length // 2, length + 1, b)
  ids = rng.integers(4, d.vocab_size - 1, (b, length)).astype(np.int32)
  mask = (np.arange(length)[None] < lengths[:, None]).astype(np.int32)
  ids = np.where(mask > 0, ids, 1).astype(np.int32)
  ids[:, 0] = 0
  positions = np.stack([rng.choice(np.arange(1, l - 1), slots, replace=False) for l in lengths])
  return dict(
      input_ids=ids, attention_mask=mask, mlm_positions=positions.astype(np.int32),
      mlm_targets=rng.integers(4, d.vocab_size - 1, (b, slots)).astype(np.int32),
      mlm_weights=(rng.random((b, slots)) < 0.9).astype(np.float32),
      language_id=rng.integers(0, config.adversary.num_languages, b).astype(np.int32),
      example_index=np.arange(b, dtype=np.int32) + step * b,
      teacher_topk_values=-np.sort(-rng.normal(size=(b, slots, k)) * 3, axis=-1).astype(np.float32),
      teacher_topk_indices=rng.integers(0, d.vocab_size, (b, slots, k)).astype(np.int32))


def run(mesh_shape, devices=None, steps=3):
  config = small_config()
  config.mesh.shape = mesh_shape
  program = train_step.build_train_program(config, sharding.make_mesh(mesh_shape, devices))
  state = program.init()
  losses = []
  for step in range(steps):
    state, metrics = program.step(state, program.put_batch(synthetic_batch(config, step)))
    losses.append({k: float(v) for k, v in metrics.items()})
  params = {'/'.join(map(str, path)): np.asarray(leaf) for path, leaf in
            jax.tree_util.tree_leaves_with_path(train_step.to_checkpoint(state)['model'])}
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
