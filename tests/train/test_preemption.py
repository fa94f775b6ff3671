"""PreemptionGuard: real signals sent to this very process."""

import os
import signal
import time

import pytest

from unibert_jax.train.preemption import PreemptionGuard


def deliver(signum, until=lambda: False, timeout: float = 0.05):
  """Sends `signum` to this process and waits until `until()` holds or `timeout` passes.

  The kernel may hand the signal to any thread (XLA, Orbax and torch start many); Python then
  runs the handler in the main thread at a later bytecode boundary, so poll rather than sleep
  a fixed time.
  """
  os.kill(os.getpid(), signum)
  deadline = time.monotonic() + timeout
  while not until() and time.monotonic() < deadline:
    time.sleep(0.002)


def test_sigterm_sets_the_flag_without_killing_and_handlers_come_back():
  sigterm_before = signal.getsignal(signal.SIGTERM)
  sigint_before = signal.getsignal(signal.SIGINT)
  with PreemptionGuard() as guard:
    assert not guard.requested and not guard.should_stop(0)
    deliver(signal.SIGTERM, until=lambda: guard.requested, timeout=5)
    assert guard.requested and guard.signal == signal.SIGTERM
    assert guard.should_stop(1)
    deliver(signal.SIGTERM)  # a second SIGTERM is still only a request
    assert guard.requested
  assert signal.getsignal(signal.SIGTERM) is sigterm_before
  assert signal.getsignal(signal.SIGINT) is sigint_before


@pytest.fixture
def sigint_handler():
  """Installs a known SIGINT handler for the test (whatever earlier tests left) and restores."""
  installed = []

  def install(handler):
    installed.append(signal.signal(signal.SIGINT, handler))
    return handler

  yield install
  if installed:
    signal.signal(signal.SIGINT, installed[0])


def test_second_sigint_goes_to_the_previous_handler(sigint_handler):
  calls = []
  previous = sigint_handler(lambda signum, frame: calls.append(signum))
  with PreemptionGuard() as guard:
    deliver(signal.SIGINT, until=lambda: guard.requested, timeout=5)
    assert guard.requested and guard.signal == signal.SIGINT and not calls
    assert signal.getsignal(signal.SIGINT) is previous
    deliver(signal.SIGINT, until=lambda: calls, timeout=5)
    assert calls == [signal.SIGINT]
  assert signal.getsignal(signal.SIGINT) is previous


def test_second_ctrl_c_raises_keyboard_interrupt(sigint_handler):
  sigint_handler(signal.default_int_handler)  # Python's own, as in an interactive run
  with PreemptionGuard() as guard:
    deliver(signal.SIGINT, until=lambda: guard.requested, timeout=5)
    with pytest.raises(KeyboardInterrupt):
      deliver(signal.SIGINT, timeout=5)
  assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_should_stop_on_one_process_answers_every_step():
  with PreemptionGuard(sync_every=100) as guard:
    deliver(signal.SIGTERM, until=lambda: guard.requested, timeout=5)
    assert guard.should_stop(7)  # one process: no need to wait for a sync step


def test_bad_sync_every_is_refused():
  with pytest.raises(ValueError, match='sync_every'):
    PreemptionGuard(sync_every=0)




