"""Stop a training run cleanly on SIGTERM / SIGINT: checkpoint the current step, then exit.

    with PreemptionGuard(sync_every=config.train.log_every) as guard:
      for step in range(start, steps):
        state, metrics = train_step(state, next(batches))
        if guard.should_stop(step):
          checkpointer.save(step, ...); checkpointer.wait()
          break

The signal handlers only set a flag, so a step in flight is never interrupted. Schedulers
(Slurm, Kubernetes, GCE preemption) send SIGTERM and kill the job after a grace period, so the
run saves at once (on one process) or within `sync_every` steps (on several). A second Ctrl-C
falls through to the handler that was there before (KeyboardInterrupt), so an impatient user can
still stop the run.

On several processes every process must stop at the same step, or the next collective would hang;
should_stop therefore gathers the flag from all processes every `sync_every` steps (a tiny
all-gather, which also waits for the steps in flight), and returns the same answer everywhere.
"""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType
from typing import Any, Sequence

import jax
from jax.experimental import multihost_utils
import numpy as np

logger = logging.getLogger(__name__)


class PreemptionGuard:
  """Context manager turning SIGTERM/SIGINT into a flag that the training loop polls."""

  def __init__(self, sync_every: int = 10,
               signals: Sequence[signal.Signals] = (signal.SIGTERM, signal.SIGINT)):
    if sync_every < 1:
      raise ValueError(f'sync_every={sync_every} must be >= 1 (steps between the processes\' '
                       'agreement on stopping).')
    self.sync_every = sync_every
    self.signals = tuple(signals)
    self.requested = False                    # a signal arrived on this process
    self.signal: signal.Signals | None = None  # the first signal that arrived
    self._previous: dict[signal.Signals, Any] = {}
    self._announced = False

  def __enter__(self) -> PreemptionGuard:
    if threading.current_thread() is not threading.main_thread():
      raise ValueError('PreemptionGuard must be entered in the main thread (Python delivers '
                       'signals only there).')
    for signum in self.signals:
      self._previous[signum] = signal.signal(signum, self._handle)
    return self

  def __exit__(self, *exc_info) -> None:
    for signum, previous in self._previous.items():
      signal.signal(signum, previous)
    self._previous.clear()

  def _handle(self, signum: int, frame: FrameType | None) -> None:
    del frame
    if not self.requested:
      self.signal = signal.Signals(signum)
    self.requested = True
    if signum == signal.SIGINT and signum in self._previous:
      # The next Ctrl-C goes to the previous handler (KeyboardInterrupt by default).
      signal.signal(signum, self._previous[signum])

  def should_stop(self, step: int) -> bool:
    """Whether to checkpoint `step` and stop; the same answer on every process.

    Every process must call it at every step (on several processes it is a collective every
    `sync_every` steps).
    """
    if jax.process_count() == 1:
      stop = self.requested
    elif step % self.sync_every:
      return False
    else:
      stop = bool(np.any(multihost_utils.process_allgather(np.int32(self.requested))))
    if stop and not self._announced:
      self._announced = True
      cause = self.signal.name if self.signal is not None else 'a signal on another process'
      logger.warning('Stopping at step %d because of %s: saving a checkpoint first.', step, cause)
    return stop
