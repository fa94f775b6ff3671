"""Trees compared bit for bit."""

import jax
import jax.numpy as jnp
import numpy as np


def as_bits(tree) -> dict:
  """Leaves as raw bytes (PRNG keys through their key data), so equality is bit-exact."""
  def bits(x):
    if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
      x = jax.random.key_data(x)
    x = np.asarray(x)
    return (str(x.dtype), x.shape, x.tobytes())
  return {jax.tree_util.keystr(path): bits(leaf)
          for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]}
