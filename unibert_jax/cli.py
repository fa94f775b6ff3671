"""What every entry point does with errors and stops: one line, a fix, and an exit status.

`run(main)` wraps a launch script's absl main. The project's errors and the common OS errors
become one line on stderr, `error: <what> <where> <fix>`, and exit status 1; `--traceback`
shows the full trace instead. A run stopped by SIGTERM or SIGINT after saving its checkpoint
exits with PREEMPTED (75, EX_TEMPFAIL: "try again"), so a wrapper script can tell it from
success (0) and from failure (1), and rerun the same command to resume.
"""

import errno
import json
import os
import sys
from typing import Callable

from absl import app
from absl import flags

SUCCESS, FAILURE, PREEMPTED = 0, 1, 75

_TRACEBACK = flags.DEFINE_bool('traceback', False,
                               'On an error, show the full Python traceback instead of one line.')


def user_errors() -> tuple[type[BaseException], ...]:
  """The errors a user can cause; anything else is a bug and keeps its traceback.

  Imported on use: an entry point may only touch JAX after jax.distributed.initialize.
  """
  # pylint: disable=g-import-not-at-top
  from unibert_jax.train import checkpointing
  from unibert_jax.train import trainer
  return (ValueError, OSError, checkpointing.CheckpointRestoreError,
          trainer.NonFiniteLossError)

_OS_FIXES = {
    errno.EROFS: 'the file system is read-only; choose a writable --workdir or output path',
    errno.EACCES: 'permission denied; choose a directory you can write to',
    errno.EPERM: 'permission denied; choose a directory you can write to',
    errno.ENOSPC: 'the disk is full; free space (earlier checkpoints are intact) and rerun',
    errno.ENOTDIR: 'a file stands where a directory is needed; move it or choose another path',
    errno.EISDIR: 'a directory stands where a file is needed; choose another path',
    errno.EEXIST: 'a file is in the way; remove it or choose another path',
}


def describe(error: BaseException) -> str:
  """One line for a user error: the message, and for OS errors the file and the fix."""
  if isinstance(error, OSError) and error.errno in _OS_FIXES:
    return f'{error.filename or ""}: {os.strerror(error.errno)}; {_OS_FIXES[error.errno]}.'
  if isinstance(error, OSError) and error.filename and error.strerror:  # raised by the OS
    return f'{error.filename}: {error.strerror}.'
  return str(error).strip() or type(error).__name__


def print_json(summary: dict) -> None:
  print(json.dumps(summary), flush=True)


def run(main: Callable[[list[str]], int | None]) -> None:
  """absl's app.run(main), with the project's errors as one line and stops as PREEMPTED."""

  def wrapped(argv):
    try:
      status = main(argv)
    except Exception as error:  # pylint: disable=broad-except
      from unibert_jax import main_job  # pylint: disable=g-import-not-at-top
      if isinstance(error, main_job.StoppedEarly):
        print(f'stopped: {error}', file=sys.stderr, flush=True)
        print_json({'stopped_early_at_step': error.step, 'stage': error.stage,
                    'workdir': error.workdir, 'exit_status': PREEMPTED})
        sys.exit(PREEMPTED)
      if _TRACEBACK.value or not isinstance(error, user_errors()):
        raise
      print(f'error: {describe(error)}', file=sys.stderr, flush=True)
      sys.exit(FAILURE)
    sys.exit(status or SUCCESS)

  app.run(wrapped)
