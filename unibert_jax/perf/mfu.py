"""Peak FLOP/s per device, and model FLOPs utilisation (MFU).

Accelerators: a table of the vendor's dense bf16 peak per chip, matched on
`jax.devices()[0].device_kind` (case-insensitive substring). CPUs have no
meaningful datasheet number (cores, clocks and neighbours vary), so there the
peak is *measured*: the best of a few jitted square matmuls. An explicit
`config.train.peak_flops_per_device > 0` overrides both.
"""

import time

import jax
import jax.numpy as jnp
import numpy as np

from unibert_jax.model import precision

# Dense bf16 peak FLOP/s per chip (no sparsity). Order matters: the first
# substring found in the lower-cased device_kind wins, so longer names go first.
PEAK_BF16_FLOPS = (
    ('h200', 989e12),
    ('h100', 989e12),
    ('a100', 312e12),
    ('tpu v6', 918e12),     # v6e / Trillium: device_kind 'TPU v6 lite' or 'TPU v6e'
    ('tpu v5p', 459e12),
    ('tpu v5 lite', 197e12),  # v5e reports itself as 'TPU v5 lite'
    ('tpu v5e', 197e12),
    ('tpu v5', 459e12),     # plain 'TPU v5' is the v5p
    ('tpu v4', 275e12),
)


def table_peak(device_kind: str) -> float | None:
  """The table's peak FLOP/s for a `device_kind` string, or None if unknown."""
  kind = device_kind.lower()
  for name, peak in PEAK_BF16_FLOPS:
    if name in kind:
      return peak
  return None


def measure_matmul_peak(dtype: str = 'float32', n: int = 2048,
                        repeats: int = 8) -> float:
  """Best-of-`repeats` FLOP/s of a jitted n x n x n `jnp.dot` on device 0.

  bfloat16 inputs accumulate in float32 (`preferred_element_type`), which is
  what a bf16 layer should use on XLA:CPU (bf16 output is slower than f32).
  Takes about a second for n=2048 on 2 CPU cores.
  """
  dt = jnp.dtype(dtype)
  acc = jnp.float32 if dt == jnp.bfloat16 else None
  dot = jax.jit(lambda a, b: jnp.dot(a, b, preferred_element_type=acc))
  rng = np.random.default_rng(0)
  a = jnp.asarray(rng.standard_normal((n, n), np.float32), dt)
  b = jnp.asarray(rng.standard_normal((n, n), np.float32), dt)
  jax.block_until_ready(dot(a, b))  # compile + warm caches
  best = float('inf')
  for _ in range(repeats):
    start = time.perf_counter()
    jax.block_until_ready(dot(a, b))
    best = min(best, time.perf_counter() - start)
  return 2.0 * n ** 3 / best


def peak_flops_per_device(config=None, dtype: str | None = None) -> float:
  """Peak FLOP/s of one device: config override, device table, or CPU probe.

  `dtype` selects the probe's dtype on CPU; by default the model's matmul
  operand dtype (`model.matmul_dtype`, else `model.dtype`) or float32.
  """
  if config is not None:
    override = float(config.train.get('peak_flops_per_device', 0.0) or 0.0)
    if override > 0:
      return override
  device = jax.devices()[0]
  peak = table_peak(device.device_kind)
  if peak is not None:
    return peak
  if device.platform != 'cpu':
    raise ValueError(
        f'No peak FLOP/s known for device kind {device.device_kind!r}; set '
        'config.train.peak_flops_per_device to its dense peak FLOP/s.')
  if dtype is None:  # the matmuls' operand dtype sets the peak
    dtype = str(precision.matmul_dtype(config.model)) if config is not None else 'float32'
  return measure_matmul_peak(dtype)


def mfu(flops_per_step: float, step_seconds: float, num_devices: int,
        peak: float) -> float:
  """Model FLOPs utilisation: achieved model FLOP/s over the devices' peak."""
  if step_seconds <= 0 or num_devices <= 0 or peak <= 0:
    raise ValueError('mfu needs step_seconds > 0, num_devices > 0 and peak > 0, got '
                     f'{step_seconds}, {num_devices}, {peak}.')
  return flops_per_step / step_seconds / (num_devices * peak)
