"""The demo:tiny job from nothing, preempted once in the teacher stage and then finished.

Built once per session: the main-job test checks the finished run, the fault-probe tests check
the preemption and damage copies of it.
"""

import dataclasses
import os
import signal
import subprocess
import sys

import pytest

from unibert_jax.train import checkpointing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TINY = '--config=configs/demo.py:tiny'


def launch(script, *args, timeout=900):
  """(exit status, stdout, stderr) of a launch script run as a user runs it."""
  result = subprocess.run([sys.executable, os.path.join(ROOT, 'launch', script), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, JAX_PLATFORMS='cpu'))
  return result.returncode, result.stdout, result.stderr


@dataclasses.dataclass(frozen=True)
class PreemptedJob:
  workdir: str
  stopped_status: int          # the exit status of the run stopped by SIGTERM
  stopped_output: str
  teacher_steps_when_stopped: list[int]
  made_when_stopped: list[str]  # teacher_hf, teacher_cache, ... if any existed after the stop
  finished_stdout: str          # the same command again, to the end
  finished_stderr: str


@pytest.fixture(scope='session')
def preempted_job(tmp_path_factory) -> PreemptedJob:
  """SIGTERM at the teacher's first logged step; then the same command again, to the end."""
  workdir = str(tmp_path_factory.mktemp('job') / 'demo')
  command = [sys.executable, os.path.join(ROOT, 'launch', 'train.py'), TINY,
             f'--workdir={workdir}']
  process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.STDOUT, text=True,
                             env=dict(os.environ, JAX_PLATFORMS='cpu'))
  for line in process.stdout:
    if line.startswith('step 1/20'):      # the teacher's first logged step (demo:tiny)
      break
  process.send_signal(signal.SIGTERM)
  stopped_output, _ = process.communicate(timeout=300)
  made = [name for name in ('teacher_hf', 'teacher_cache', 'checkpoints', 'hf')
          if os.path.exists(os.path.join(workdir, name))]
  teacher_steps = checkpointing.committed_steps(os.path.join(workdir, 'teacher', 'checkpoints'))
  status, stdout, stderr = launch('train.py', TINY, f'--workdir={workdir}')
  assert status == 0, stderr[-3000:]
  return PreemptedJob(workdir, process.returncode, stopped_output, teacher_steps, made, stdout,
                      stderr)
