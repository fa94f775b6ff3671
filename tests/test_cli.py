"""The entry points' error lines and exit statuses."""

import errno

from unibert_jax import cli


def test_os_errors_name_the_file_and_the_fix():
  line = cli.describe(OSError(errno.EROFS, 'Read-only file system', '/mnt/run/data'))
  assert line.startswith('/mnt/run/data: Read-only file system;') and 'writable' in line
  line = cli.describe(OSError(errno.ENOSPC, 'No space left on device', '/mnt/run/ckpt'))
  assert '/mnt/run/ckpt' in line and 'free space' in line
  line = cli.describe(FileNotFoundError(errno.ENOENT, 'No such file or directory', '/x/y'))
  assert line == '/x/y: No such file or directory.'


def test_project_errors_keep_their_own_message():
  assert cli.describe(ValueError('data.vocab_size=3 must lie in [6, inf).')) == (
      'data.vocab_size=3 must lie in [6, inf).')
  assert cli.describe(FileNotFoundError('No committed checkpoint in /w/checkpoints.')) == (
      'No committed checkpoint in /w/checkpoints.')


def test_exit_statuses_are_distinct():
  assert len({cli.SUCCESS, cli.FAILURE, cli.PREEMPTED}) == 3 and cli.SUCCESS == 0
