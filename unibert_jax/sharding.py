"""Device mesh and the logical-axis -> mesh-axis mapping of parameters and batches."""

import math

import flax.nnx as nnx
import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec as P

MESH_AXES = ('data', 'fsdp', 'tensor')
BATCH_AXES = ('data', 'fsdp')


def resolve_mesh_shape(shape, num_devices: int) -> tuple[int, ...]:
  """Fills one -1 entry of (data, fsdp, tensor) with the remaining devices."""
  shape = tuple(int(s) for s in shape)
  if len(shape) != len(MESH_AXES):
    raise ValueError(f'mesh.shape must have 3 entries (data, fsdp, tensor), got {shape}.')
  if shape.count(-1) > 1 or any(s == 0 or s < -1 for s in shape):
    raise ValueError(f'mesh.shape {shape}: use positive sizes and at most one -1.')
  known = math.prod(s for s in shape if s != -1)
  if -1 in shape:
    if num_devices % known:
      raise ValueError(f'mesh.shape {shape} cannot fill {num_devices} devices: '
                       f'{num_devices} is not divisible by {known}.')
    shape = tuple(num_devices // known if s == -1 else s for s in shape)
  if math.prod(shape) != num_devices:
    raise ValueError(f'mesh.shape {shape} needs {math.prod(shape)} devices but '
                     f'{num_devices} are available; change --config.mesh.shape.')
  return shape


def make_mesh(mesh_shape, devices=None) -> Mesh:
  """A GSPMD (Auto axes) mesh over all devices of all processes."""
  devices = jax.devices() if devices is None else devices
  shape = resolve_mesh_shape(mesh_shape, len(devices))
  try:
    device_grid = jax.experimental.mesh_utils.create_device_mesh(shape, devices)
  except Exception:  # pylint: disable=broad-except  # e.g. shapes the topology helper rejects
    device_grid = np.asarray(devices).reshape(shape)
  return Mesh(device_grid, MESH_AXES, axis_types=(AxisType.Auto,) * len(MESH_AXES))


def state_shardings(abstract_state, mesh: Mesh, rules):
  """NamedShardings for an nnx.State whose variables carry logical axis names."""
  with nnx.logical_axis_rules(tuple(tuple(r) for r in rules)):
    return nnx.get_named_sharding(abstract_state, mesh)


def batch_sharding(mesh: Mesh) -> NamedSharding:
  """Leading (batch) axis over data x fsdp, the rest replicated."""
  return NamedSharding(mesh, P(BATCH_AXES))


def replicated(mesh: Mesh) -> NamedSharding:
  return NamedSharding(mesh, P())
