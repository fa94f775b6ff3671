"""Matmuls with low-precision operands and float32 accumulation, in both directions.

`matmul(x, kernel, operand_dtype)` is the one product every encoder and MLM-head matmul goes
through. With bfloat16 operands a custom VJP also runs both backward products on bfloat16
operands (JAX's own transpose would run them in float32), accumulating in float32 throughout.
"""

import functools

import jax
import jax.numpy as jnp


def matmul_dtype(cfg) -> jnp.dtype:
  """The operand dtype of the encoder's matmuls: model.matmul_dtype, or the compute dtype."""
  return jnp.dtype(cfg.get('matmul_dtype', '') or cfg.dtype)


# Kernel layouts: 'io' is an NNX kernel [in, out]; 'oi' is [out, in], e.g. the word embeddings
# [vocab, hidden] as the tied decoder. Spelled per layout so that every product, the kernel
# gradient included, comes out in the kernel's own layout with no transpose in between.
_PRODUCTS = {  # layout: (forward, input gradient, kernel gradient)
    'io': ('...i,io->...o', '...o,io->...i', '...i,...o->io'),
    'oi': ('...i,oi->...o', '...o,oi->...i', '...i,...o->oi'),
}


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _low_precision_matmul(x, kernel, layout, operand_dtype, x_dtype, kernel_dtype):
  del x_dtype, kernel_dtype
  return jnp.einsum(_PRODUCTS[layout][0], x.astype(operand_dtype), kernel.astype(operand_dtype),
                    preferred_element_type=jnp.float32)


def _low_precision_matmul_fwd(x, kernel, layout, operand_dtype, x_dtype, kernel_dtype):
  x, kernel = x.astype(operand_dtype), kernel.astype(operand_dtype)
  y = _low_precision_matmul(x, kernel, layout, operand_dtype, x_dtype, kernel_dtype)
  return y, (x, kernel)


def _low_precision_matmul_bwd(layout, operand_dtype, x_dtype, kernel_dtype, residuals, grad):
  # Both backward products with low-precision operands too: JAX's own transpose would meet the
  # float32 cotangent and run them in float32, at half the speed.
  x, kernel = residuals
  grad = grad.astype(operand_dtype)
  _, input_grad, kernel_grad = _PRODUCTS[layout]
  dx = jnp.einsum(input_grad, grad, kernel, preferred_element_type=jnp.float32)
  dkernel = jnp.einsum(kernel_grad, x, grad, preferred_element_type=jnp.float32)
  return dx.astype(x_dtype), dkernel.astype(kernel_dtype)


_low_precision_matmul.defvjp(_low_precision_matmul_fwd, _low_precision_matmul_bwd)


def matmul(x, kernel, operand_dtype, layout: str = 'io') -> jax.Array:
  """x [..., i] @ kernel ([i, o] for layout 'io', [o, i] for 'oi'), accumulated in float32.

  The result is float32. With bfloat16 operands the forward and both backward products take
  bfloat16 inputs: the fast path of accelerators, and of CPUs with AVX512-BF16 (about 1.8x
  float32 there).
  """
  operand_dtype = jnp.dtype(operand_dtype)
  if operand_dtype == jnp.float32:
    return jnp.einsum(_PRODUCTS[layout][0], x.astype(jnp.float32), kernel.astype(jnp.float32))
  return _low_precision_matmul(x, kernel, layout, operand_dtype, jnp.dtype(x.dtype),
                               jnp.dtype(kernel.dtype))
