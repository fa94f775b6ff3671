"""The encoder's building blocks: dense and LayerNorm layers with logical axis names, dropout
with an explicit key, and exact GELU.

Every parameter carries logical axis names (`partitioned`); `sharding.py` maps them onto mesh
axes by the config's rules.
"""

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np

from unibert_jax.model import precision


def partitioned(init, *names):
  return nnx.with_partitioning(init, names)


def dropout(x, rate: float, key):
  """Inverted dropout; key=None (evaluation) or rate 0 is the identity."""
  if key is None or rate == 0.0:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), 0).astype(x.dtype)


def gelu(x):
  # Exact GELU in PyTorch's (and HF "gelu"'s) form; jax.nn.gelu(approximate=False) goes
  # through erfc, which costs XLA:CPU a piecewise polynomial with selects (a few % of a step).
  return x * 0.5 * (1.0 + jax.lax.erf(x * np.sqrt(0.5).astype(x.dtype)))


class Dense(nnx.Linear):
  """nnx.Linear with logical axis names on kernel and bias, and the encoder's matmul dtype."""

  def __init__(self, cfg, din: int, dout: int, axes: tuple[str, str], *, rngs: nnx.Rngs):
    init = jax.nn.initializers.normal(cfg.initializer_range)
    super().__init__(
        din, dout, dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype),
        kernel_init=partitioned(init, *axes),
        bias_init=partitioned(jax.nn.initializers.zeros, axes[1]), rngs=rngs)
    self.operand_dtype = precision.matmul_dtype(cfg)

  def __call__(self, x):
    y = precision.matmul(x, self.kernel[...], self.operand_dtype) + self.bias[...]
    return y.astype(self.dtype)


class LayerNorm(nnx.LayerNorm):

  def __init__(self, cfg, dim: int, *, rngs: nnx.Rngs):
    super().__init__(
        dim, epsilon=cfg.layer_norm_eps, dtype=jnp.dtype(cfg.dtype),
        param_dtype=jnp.dtype(cfg.param_dtype),
        scale_init=partitioned(jax.nn.initializers.ones, 'embed'),
        bias_init=partitioned(jax.nn.initializers.zeros, 'embed'), rngs=rngs)
