"""Multi-process start-up: `jax.distributed.initialize()` when launched on several processes.

Explicit flags win; otherwise the usual environment variables (JAX_COORDINATOR_ADDRESS,
JAX_NUM_PROCESSES, JAX_PROCESS_ID) are read; on a TPU pod slice or under SLURM,
`jax.distributed.initialize()` with no argument detects everything itself.
"""

import os

import jax


def _env_int(name: str) -> int | None:
  value = os.environ.get(name)
  return int(value) if value not in (None, '') else None


def initialize(coordinator_address: str = '', num_processes: int | None = None,
               process_id: int | None = None, auto: bool = False) -> None:
  """Joins the processes of one run; a no-op for a single process."""
  address = coordinator_address or os.environ.get('JAX_COORDINATOR_ADDRESS', '')
  count = num_processes if num_processes is not None else _env_int('JAX_NUM_PROCESSES')
  index = process_id if process_id is not None else _env_int('JAX_PROCESS_ID')
  if address and count and count > 1:
    if index is None:
      raise ValueError('Several processes were requested (--num_processes / JAX_NUM_PROCESSES) '
                       'but this process has no --process_id / JAX_PROCESS_ID.')
    if os.environ.get('JAX_PLATFORMS', '').split(',')[0] == 'cpu':
      # CPU processes exchange collectives through gloo.
      jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(coordinator_address=address, num_processes=count, process_id=index)
  elif auto:
    jax.distributed.initialize()  # TPU pods, SLURM, Open MPI: detected from the environment
