"""A profiler window over a few train steps (JAX xplane traces).

Every step runs inside `jax.profiler.StepTraceAnnotation('train', step_num=...)`
so trace viewers (xprof, TensorBoard's profile plugin, Perfetto) split the
timeline per step. Steps `start_step .. start_step + num_steps - 1` are traced
on process 0 only, into `<workdir>/profile/plugins/profile/<run>/`; point
`xprof --logdir` (or TensorBoard) at `<workdir>/profile`. Before starting and
before stopping, the given pytree is waited for, so the window holds exactly the
traced steps' device work and not the tail of earlier asynchronous dispatch.
The trainer numbers steps as its logs do (the first step is 1), so
`--config.profile.start_step=5 --config.profile.num_steps=3` traces the steps
logged as 5, 6 and 7; start after the first step, which pays one-time costs.
`start_step < 0` turns profiling off (the annotations stay, they cost nothing
without a trace).

Usage in a training loop:

  profiler = StepProfiler(workdir, config.profile.start_step, config.profile.num_steps)
  for step in range(first, last):
    with profiler.step(step, state) as done:
      state, metrics = train_step(state, batch)
      done(state)          # waited for before the trace stops
  profiler.close()
"""

import contextlib
import os
from typing import Any, Callable, Iterator

from absl import logging
import jax

from unibert_jax import run_dir


class StepProfiler:
  """Traces a window of steps; annotates every step."""

  def __init__(self, workdir: str, start_step: int, num_steps: int = 3,
               process_index: int | None = None):
    if start_step >= 0 and num_steps < 1:
      raise ValueError(f'profile.num_steps must be >= 1 when profiling (got {num_steps}); '
                       'set profile.start_step=-1 to turn profiling off.')
    self.log_dir = run_dir.RunDir(workdir).profile
    self.start_step = int(start_step)
    self.end_step = int(start_step) + int(num_steps)  # exclusive
    if process_index is None:
      process_index = jax.process_index()
    self.enabled = self.start_step >= 0 and process_index == 0
    self.active = False
    self.done = False  # one window per run
    self._annotation = None

  @classmethod
  def from_config(cls, config, workdir: str) -> 'StepProfiler':
    return cls(workdir, int(config.profile.start_step), int(config.profile.num_steps))

  def _in_window(self, step: int) -> bool:
    return self.start_step <= step < self.end_step

  def before_step(self, step: int, block_on: Any = None) -> None:
    """Starts the trace at the window's first step, then opens the annotation."""
    if self.enabled and not self.active and not self.done and self._in_window(step):
      if block_on is not None:
        jax.block_until_ready(block_on)
      os.makedirs(self.log_dir, exist_ok=True)
      jax.profiler.start_trace(self.log_dir)
      self.active = True
      logging.info('Profiler: tracing steps %d..%d into %s', step, self.end_step - 1,
                   self.log_dir)
    self._annotation = jax.profiler.StepTraceAnnotation('train', step_num=step)
    self._annotation.__enter__()

  def after_step(self, step: int, block_on: Any = None) -> None:
    """Closes the annotation; stops the trace after the window's last step.

    `block_on` should be the step's outputs (e.g. the new state), so their
    device work lands inside the trace before it stops.
    """
    if self._annotation is not None:
      self._annotation.__exit__(None, None, None)
      self._annotation = None
    if self.active and step >= self.end_step - 1:
      self._stop(block_on)

  @contextlib.contextmanager
  def step(self, step: int, block_on: Any = None) -> Iterator[Callable[[Any], None]]:
    """Context manager around one step; yields `done(outputs)` to wait on."""
    outputs = []
    self.before_step(step, block_on)
    try:
      yield outputs.append
    finally:
      self.after_step(step, outputs[-1] if outputs else None)

  def close(self, block_on: Any = None) -> None:
    """Stops a trace still open (a run that ended inside the window)."""
    if self._annotation is not None:
      self._annotation.__exit__(None, None, None)
      self._annotation = None
    if self.active:
      self._stop(block_on)

  def _stop(self, block_on: Any) -> None:
    if block_on is not None:
      jax.block_until_ready(block_on)
    jax.profiler.stop_trace()
    self.active = False
    self.done = True
    logging.info('Profiler: trace written under %s', self.log_dir)
