"""launch/train.py, except that it waits to be killed once checkpoint N has been committed.

  python -m tests.helpers.train_until_killed N <the flags of launch/train.py>

Lets a test SIGKILL a real training run at an exact step; the production loop knows nothing of it.
"""

import os
import runpy
import sys
import time

from unibert_jax.train import checkpointing

TRAIN_SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'launch', 'train.py')


def main():
  hang_step = int(sys.argv.pop(1))
  save = checkpointing.Checkpointer.save

  def save_then_hang(self, step, *args, **kwargs):
    saved = save(self, step, *args, **kwargs)
    if step == hang_step:
      self.wait()
      print(f'checkpoint {step} committed; waiting to be killed', flush=True)
      while True:
        time.sleep(1)
    return saved

  checkpointing.Checkpointer.save = save_then_hang
  sys.argv[0] = TRAIN_SCRIPT
  runpy.run_path(TRAIN_SCRIPT, run_name='__main__')


if __name__ == '__main__':
  main()
