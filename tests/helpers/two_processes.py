"""Runs a Python script as two JAX processes on this machine (CPU, gloo collectives).

The script gets `process_id port *args` as sys.argv[1:] and must call
`jax.distributed.initialize(f'localhost:{port}', num_processes=2, process_id=process_id)`
after `jax.config.update('jax_cpu_collectives_implementation', 'gloo')`.
"""

import os
import socket
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run_two_processes(script: str, *args: str, devices_per_process: int = 2,
                      timeout: float = 240) -> list[str]:
  """Returns the combined stdout+stderr of both processes (both are killed on timeout)."""
  with socket.socket() as probe:
    probe.bind(('localhost', 0))
    port = str(probe.getsockname()[1])
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS=f'--xla_force_host_platform_device_count={devices_per_process}')
  processes = [subprocess.Popen([sys.executable, '-c', script, str(index), port, *args], env=env, cwd=ROOT,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
               for index in range(2)]
  outputs = []
  try:
    for process in processes:
      outputs.append(process.communicate(timeout=timeout)[0])
  finally:
    for process in processes:
      if process.poll() is None:
        process.kill()
        process.wait()
  return outputs
