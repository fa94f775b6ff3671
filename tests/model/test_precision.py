"""model.matmul_dtype: bfloat16 operands in the forward and in both backward products."""

import jax
import jax.extend
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import sharded_steps
from unibert_jax import sharding
from unibert_jax.model import precision


def _operands(layout='io'):
  rng = np.random.default_rng(0)
  kernel = jnp.asarray(rng.normal(size=(32, 16)), jnp.float32)
  return (jnp.asarray(rng.normal(size=(4, 6, 32)), jnp.float32),
          kernel if layout == 'io' else kernel.T)


def _as_io(kernel, layout):
  return kernel if layout == 'io' else kernel.T


def _rounded(x):
  return x.astype(jnp.bfloat16).astype(jnp.float32)


@pytest.mark.parametrize('layout', ['io', 'oi'])
def test_forward_and_gradients_use_rounded_operands_and_keep_dtypes(layout):
  x, w = _operands(layout)
  target = jnp.asarray(np.random.default_rng(1).normal(size=(4, 6, 16)), jnp.float32)
  product = lambda x, w: precision.matmul(x, w, jnp.bfloat16, layout)
  (dx, dw) = jax.grad(lambda x, w: ((product(x, w) - target) ** 2).sum(), argnums=(0, 1))(x, w)
  assert dx.dtype == x.dtype and dw.dtype == w.dtype and dw.shape == w.shape

  y, w_io = product(x, w), _as_io(w, layout)
  np.testing.assert_allclose(y, _rounded(x) @ _rounded(w_io), rtol=1e-5, atol=1e-5)
  assert not np.allclose(y, x @ w_io, rtol=1e-6, atol=1e-6)  # the operands really were rounded
  grad_y = _rounded(2 * (y - target))
  np.testing.assert_allclose(dx, grad_y @ _rounded(w_io).T, rtol=1e-5, atol=1e-4)
  np.testing.assert_allclose(_as_io(dw, layout), jnp.einsum('bsi,bso->io', _rounded(x), grad_y),
                             rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize('layout', ['io', 'oi'])
def test_every_product_of_the_gradient_takes_bfloat16_operands(layout):
  x, w = _operands(layout)
  jaxpr = jax.make_jaxpr(jax.grad(
      lambda x, w: precision.matmul(x, w, jnp.bfloat16, layout).sum(), argnums=(0, 1)))(x, w)

  def dots(jaxpr):
    for eqn in jaxpr.eqns:
      if eqn.primitive.name == 'dot_general':
        yield eqn
      for sub in jax.extend.core.jaxprs_in_params(eqn.params):
        yield from dots(sub)

  found = list(dots(jaxpr.jaxpr))
  assert len(found) == 3  # forward, d/dx, d/dw
  for eqn in found:
    assert all(v.aval.dtype == jnp.bfloat16 for v in eqn.invars), eqn
    assert eqn.outvars[0].aval.dtype == jnp.float32, eqn


def test_float32_matmul_is_the_plain_product():
  x, w = _operands()
  np.testing.assert_allclose(precision.matmul(x, w, jnp.float32), x @ w, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize('dtype', ['float32', 'bfloat16'])
def test_train_step_with_bfloat16_matmuls_tracks_the_float32_one(dtype):
  config = sharded_steps.small_config()
  config.model.dtype = 'float32'
  config.model.matmul_dtype = dtype
  program = sharded_steps.build_program(config, sharding.make_mesh((1, 1, 1),
                                                                     jax.devices()[:1]))
  state = program.init()
  losses = []
  for step in range(3):
    state, metrics = program.step(
        state, program.put_batch(sharded_steps.synthetic_batch(program, step)))
    losses.append(float(metrics['loss']))
  reference = sharded_steps.run((1, 1, 1), jax.devices()[:1])[0]
  np.testing.assert_allclose(losses, [m['loss'] for m in reference],
                             rtol=2e-2 if dtype == 'bfloat16' else 1e-6)
