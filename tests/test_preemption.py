"""PreemptionGuard: real signals sent to this very process."""

import os
import signal
import textwrap
import time

import pytest

from tests.helpers.two_processes import run_two_processes
from unibert_jax.preemption import PreemptionGuard


def deliver(signum):
  os.kill(os.getpid(), signum)
  time.sleep(0.01)  # Python runs the handler at the next bytecode boundary of the main thread


def test_sigterm_sets_the_flag_without_killing_and_handlers_come_back():
  sigterm_before = signal.getsignal(signal.SIGTERM)
  sigint_before = signal.getsignal(signal.SIGINT)
  with PreemptionGuard() as guard:
    assert not guard.requested and not guard.should_stop(0)
    deliver(signal.SIGTERM)
    assert guard.requested and guard.signal == signal.SIGTERM
    assert guard.should_stop(1)
    deliver(signal.SIGTERM)  # a second SIGTERM is still only a request
    assert guard.requested
  assert signal.getsignal(signal.SIGTERM) is sigterm_before
  assert signal.getsignal(signal.SIGINT) is sigint_before


def test_second_sigint_falls_through_to_the_previous_handler():
  sigint_before = signal.getsignal(signal.SIGINT)
  with PreemptionGuard() as guard:
    deliver(signal.SIGINT)
    assert guard.requested and guard.signal == signal.SIGINT
    assert signal.getsignal(signal.SIGINT) is sigint_before
    with pytest.raises(KeyboardInterrupt):
      deliver(signal.SIGINT)
  assert signal.getsignal(signal.SIGINT) is sigint_before


def test_should_stop_on_one_process_answers_every_step():
  with PreemptionGuard(sync_every=100) as guard:
    deliver(signal.SIGTERM)
    assert guard.should_stop(7)  # one process: no need to wait for a sync step


def test_bad_sync_every_is_refused():
  with pytest.raises(ValueError, match='sync_every'):
    PreemptionGuard(sync_every=0)


TWO_PROCESS_SCRIPT = textwrap.dedent('''
    import os, signal, sys
    process_id, port = int(sys.argv[1]), sys.argv[2]
    import jax
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(f'localhost:{port}', num_processes=2, process_id=process_id)
    from unibert_jax.preemption import PreemptionGuard

    with PreemptionGuard(sync_every=5) as guard:
      for step in range(1, 100):
        if process_id == 1 and step == 7:
          os.kill(os.getpid(), signal.SIGTERM)  # only process 1 is preempted
        if guard.should_stop(step):
          break
    print('STOPPED', process_id, step, guard.requested)
''')


def test_two_processes_stop_at_the_same_step():
  outputs = run_two_processes(TWO_PROCESS_SCRIPT)
  # Process 1 got SIGTERM at step 7; both stop at the next sync step, 10.
  assert 'STOPPED 0 10 False' in outputs[0], outputs[0][-3000:]
  assert 'STOPPED 1 10 True' in outputs[1], outputs[1][-3000:]
