"""Vocabulary-parallel statistics on 8 simulated devices equal the dense ones."""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



_SCRIPT = r'''
import jax, jax.numpy as jnp, numpy as np
from jax.sharding import NamedSharding, PartitionSpec as P
from unibert_jax import sharding
from unibert_jax.train import vocab_parallel

mesh = sharding.make_mesh((2, 1, 4))
rng = np.random.default_rng(0)
logits = rng.normal(size=(8, 5, 64)).astype(np.float32) * 3
targets = rng.integers(0, 64, (8, 5)).astype(np.int32)
teacher = rng.integers(0, 64, (8, 5, 6)).astype(np.int32)

def objective(stats):
  return (stats.log_normalizer - stats.target_logit).sum() + (stats.teacher_logits ** 2).sum() \
      + 0.5 * stats.log_normalizer_at_temperature.sum()

def both(logits, targets, teacher):
  dense = vocab_parallel.dense_slot_statistics(logits, targets, teacher, 2.0)
  parallel = vocab_parallel.slot_statistics(logits, targets, teacher, mesh, temperature=2.0)
  grads = [jax.grad(lambda x, f=f: objective(f(x)))(logits) for f in (
      lambda x: vocab_parallel.dense_slot_statistics(x, targets, teacher, 2.0),
      lambda x: vocab_parallel.slot_statistics(x, targets, teacher, mesh, temperature=2.0))]
  return dense, parallel, grads

put = lambda x, spec: jax.device_put(x, NamedSharding(mesh, spec))
dense, parallel, (grad_dense, grad_parallel) = jax.jit(both)(
    put(logits, P(('data', 'fsdp'), None, 'tensor')), put(targets, P(('data', 'fsdp'))),
    put(teacher, P(('data', 'fsdp'))))
for name in ('log_normalizer', 'target_logit', 'teacher_logits', 'log_normalizer_at_temperature'):
  np.testing.assert_allclose(getattr(parallel, name), getattr(dense, name), rtol=1e-5, atol=1e-5,
                             err_msg=name)
np.testing.assert_array_equal(parallel.max_logit, dense.max_logit)
np.testing.assert_array_equal(dense.max_logit, logits.max(-1))
np.testing.assert_allclose(grad_parallel, grad_dense, rtol=1e-5, atol=1e-5)
without_teacher = jax.jit(lambda x, t: vocab_parallel.slot_statistics(x, t, None, mesh))(
    put(logits, P(None, None, 'tensor')), targets)
assert without_teacher.teacher_logits is None
np.testing.assert_allclose(without_teacher.log_normalizer, dense.log_normalizer, rtol=1e-5)
from configs import base
rules = base.LOGICAL_AXIS_RULES
assert vocab_parallel.uses_vocab_parallel(mesh, rules)  # the shipped rules: vocab -> tensor
unsharded = [(name, None if name == 'vocab' else axes) for name, axes in rules]
assert not vocab_parallel.uses_vocab_parallel(mesh, unsharded)
assert not vocab_parallel.uses_vocab_parallel(sharding.make_mesh((8, 1, 1)), rules)
print('VOCAB_PARALLEL_OK')
'''


def test_sharded_statistics_and_gradients_equal_the_dense_ones():
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS='--xla_force_host_platform_device_count=8')
  result = subprocess.run([sys.executable, '-c', _SCRIPT], env=env, cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
  assert result.returncode == 0, result.stderr[-3000:]
  assert 'VOCAB_PARALLEL_OK' in result.stdout
