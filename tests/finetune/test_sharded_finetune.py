"""Fine-tuning is data parallel: 8 simulated devices give the parameters and predictions of one.

The same batches (row counts divisible by 8, a short last batch of weight-0 filler included) go
through step.Program on a 1-device mesh here and on 8-device meshes in a subprocess
(XLA_FLAGS=--xla_force_host_platform_device_count=8), with dropout on, so the dropout masks must
not depend on the device count either.

  python -m tests.finetune.test_sharded_finetune OUT.npz 8,1,1 [2,4,1 ...]
"""

import os
import subprocess
import sys

import flax.nnx as nnx
import jax
import numpy as np

from tests.helpers import sharded_steps
from unibert_jax import sharding
from unibert_jax import special_tokens
from unibert_jax.finetune import heads
from unibert_jax.finetune import inputs
from unibert_jax.finetune import step as step_lib
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.tasks import examples as examples_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MESHES = ['8,1,1']   # pure data parallel; tests/integration/test_sharding.py covers the rest
KINDS = {examples_lib.CLASSIFICATION: 3, examples_lib.TOKEN_CLASSIFICATION: 5}
MAX_LENGTH, BATCH_SIZE, DEVICES, STEPS = 32, 16, 8, 3


def _rows(kind: str) -> inputs.Encoded:
  """40 rows of 17-32 tokens: one bucket, batches of 16, 16 and 8 real rows + 8 filler."""
  rng = np.random.default_rng(0)
  ids = [np.asarray([0, *rng.integers(10, 500, size=rng.integers(15, 31)), 2], np.int32)
         for _ in range(40)]
  if kind == examples_lib.CLASSIFICATION:
    return inputs.Encoded(kind, ids, [int(rng.integers(3)) for _ in ids])
  targets = [np.where(rng.random(len(row)) < 0.7, rng.integers(5, size=len(row)),
                      inputs.IGNORED).astype(np.int32) for row in ids]
  return inputs.Encoded(kind, ids, targets)


def _model(kind: str) -> nnx.Module:
  config = sharded_steps.small_config()   # hidden 64, 2 layers, vocabulary 512
  config.model.update(dtype='float32', hidden_dropout=0.1, attention_dropout=0.1)
  with nnx.use_eager_sharding(False):
    encoder = encoder_lib.Encoder(config.model.copy_and_resolve_references(), rngs=nnx.Rngs(0))
  return heads.build(kind, encoder, KINDS[kind], seed=0)


def run(mesh_shape, devices=None) -> dict[str, np.ndarray]:
  """Losses, trained parameters and predictions of each kind, by name."""
  mesh = sharding.make_mesh(mesh_shape, devices)
  hyper = step_lib.Hyper(learning_rate=1e-3, batch_size=BATCH_SIZE, max_length=MAX_LENGTH,
                         warmup_fraction=0.0)
  results = {}
  for kind in KINDS:
    rows = _rows(kind)
    program = step_lib.Program(_model(kind), kind, hyper, STEPS, mesh, special_tokens.PAD_ID,
                               seed=0)
    batches = list(inputs.batches(rows, MAX_LENGTH, special_tokens.PAD_ID, DEVICES, BATCH_SIZE,
                                  shuffle_seed=0))
    assert len(batches) == STEPS and any((b['weights'] == 0).any() for b in batches)
    for step, batch in enumerate(batches):
      metrics = program.train_step(batch)
      for name, value in metrics.items():
        results[f'{kind}|{name}|{step}'] = np.asarray(value)
    params = nnx.to_pure_dict(program.state['params'])
    for path, value in jax.tree_util.tree_leaves_with_path(params):
      results[f'{kind}|param{jax.tree_util.keystr(path)}'] = np.asarray(value)
    results[f'{kind}|predictions'] = np.concatenate(
        [np.ravel(row) for row in program.predict(rows)])
  return results


def test_eight_devices_train_and_predict_as_one(tmp_path):
  out = tmp_path / 'sharded.npz'
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu')
  # The subprocess compiles while this one computes the reference.
  with subprocess.Popen([sys.executable, '-m', 'tests.finetune.test_sharded_finetune', str(out),
                         *MESHES], env=env, cwd=ROOT) as process:
    try:
      reference = run((1, 1, 1), jax.devices()[:1])
      assert process.wait(timeout=600) == 0
    finally:
      if process.poll() is None:
        process.kill()
  sharded = dict(np.load(out))
  for shape in MESHES:
    assert {k.split('@')[1] for k in sharded if k.startswith(shape)} == set(reference)
    for name, value in reference.items():
      np.testing.assert_allclose(sharded[f'{shape}@{name}'], value, rtol=1e-5, atol=1e-5,
                                 err_msg=f'mesh {shape}: {name}')
  # The steps did train: parameters moved from the start and losses are finite.
  for kind in KINDS:
    start = nnx.to_pure_dict(nnx.state(_model(kind), heads.is_trainable))
    moved = [np.abs(reference[f'{kind}|param{jax.tree_util.keystr(path)}'] - np.asarray(x)).max()
             for path, x in jax.tree_util.tree_leaves_with_path(start)]
    assert min(moved) > 0
    assert all(np.isfinite(reference[f'{kind}|loss|{step}']) for step in range(STEPS))


def main():
  out, shapes = sys.argv[1], sys.argv[2:]
  assert jax.device_count() == DEVICES, jax.devices()
  results = {}
  for shape in shapes:
    results |= {f'{shape}@{name}': value
                for name, value in run(tuple(int(s) for s in shape.split(','))).items()}
  np.savez(out, **results)


if __name__ == '__main__':
  main()
