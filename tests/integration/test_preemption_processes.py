"""Preemption across two real processes: they stop at the same step."""

import textwrap

from tests.helpers.two_processes import run_two_processes

TWO_PROCESS_SCRIPT = textwrap.dedent('''
    import os, signal, sys, time
    process_id, port = int(sys.argv[1]), sys.argv[2]
    import jax
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(f'localhost:{port}', num_processes=2, process_id=process_id)
    from unibert_jax.train.preemption import PreemptionGuard

    with PreemptionGuard(sync_every=5) as guard:
      for step in range(1, 100):
        if process_id == 1 and step == 7:
          os.kill(os.getpid(), signal.SIGTERM)  # only process 1 is preempted
          while not guard.requested:  # its handler runs in the main thread a moment later
            time.sleep(0.001)
        if guard.should_stop(step):
          break
    print('STOPPED', process_id, step, guard.requested)
''')


def test_two_processes_stop_at_the_same_step():
  outputs = run_two_processes(TWO_PROCESS_SCRIPT)
  # Process 1 got SIGTERM at step 7; both stop at the next sync step, 10.
  assert 'STOPPED 0 10 False' in outputs[0], outputs[0][-3000:]
  assert 'STOPPED 1 10 True' in outputs[1], outputs[1][-3000:]
