"""StepProfiler writes an xplane trace holding exactly the window's step annotations."""

import os

import jax
import jax.numpy as jnp
import pytest

from tests.helpers.traces import traced_steps
from unibert_jax.train.profiling import StepProfiler


def run_steps(profiler, steps):
  step_fn = jax.jit(lambda x: jnp.tanh(x @ x) + 1.0)
  x = jnp.ones((64, 64))
  for step in steps:
    with profiler.step(step, x) as done:
      x = step_fn(x)
      done(x)
  profiler.close(x)
  return x


def test_traces_exactly_the_window(tmp_path):
  profiler = StepProfiler(str(tmp_path), start_step=2, num_steps=3)
  run_steps(profiler, range(8))
  files, steps = traced_steps(str(tmp_path))
  assert len(files) == 1
  assert steps == [2, 3, 4]
  assert not profiler.active and profiler.done


def test_before_after_methods_and_early_end(tmp_path):
  profiler = StepProfiler(str(tmp_path), start_step=1, num_steps=5)
  step_fn = jax.jit(lambda x: x * 2.0)
  x = jnp.ones(4)
  for step in range(3):  # the run ends inside the window: close() stops the trace
    profiler.before_step(step, x)
    x = step_fn(x)
    profiler.after_step(step, x)
  assert profiler.active
  profiler.close(x)
  assert traced_steps(str(tmp_path))[1] == [1, 2]


@pytest.mark.parametrize('start_step,process_index', [(-1, 0), (1, 1)])
def test_disabled_writes_nothing(tmp_path, start_step, process_index):
  profiler = StepProfiler(str(tmp_path), start_step, 2, process_index=process_index)
  run_steps(profiler, range(4))
  assert not profiler.enabled
  assert not os.path.exists(os.path.join(str(tmp_path), 'profile'))


def test_bad_num_steps_is_a_clear_error(tmp_path):
  with pytest.raises(ValueError, match='profile.num_steps'):
    StepProfiler(str(tmp_path), start_step=1, num_steps=0)
