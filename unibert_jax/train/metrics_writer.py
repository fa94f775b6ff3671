"""Where logged metrics go: `metrics.jsonl`, TensorBoard event files and a progress line.

Only process 0 writes. Each JSON line is one logged (or evaluated) step. A run resumed from
step s first drops the lines of steps after s, which it is about to log again.
"""

import json
import math
import os
import sys
import time

import jax

from unibert_jax import run_dir


def _scalar_items(metrics: dict):
  for name, value in metrics.items():
    if isinstance(value, (int, float)) and math.isfinite(float(value)):
      yield name, float(value)


class MetricsWriter:

  def __init__(self, workdir: str, total_steps: int, start_step: int = 0):
    self.enabled = jax.process_index() == 0
    run = run_dir.RunDir(workdir)
    self.path = run.metrics
    self.total_steps = total_steps
    self._start_time = time.time()
    self._start_step = start_step
    self._tensorboard = None
    self._interactive = sys.stderr.isatty()
    if self.enabled:
      os.makedirs(workdir, exist_ok=True)
      try:
        from tensorboardX import SummaryWriter  # pylint: disable=g-import-not-at-top
        self._tensorboard = SummaryWriter(run.tensorboard)
      except ImportError:  # optional: metrics.jsonl is the record
        self._tensorboard = None
      if start_step > 0:
        self._drop_records_after(start_step)

  def _drop_records_after(self, step: int) -> None:
    if not os.path.exists(self.path):
      return
    with open(self.path) as f:
      lines = f.readlines()
    kept = [line for line in lines if json.loads(line).get('step', 0) <= step]
    if len(kept) < len(lines):
      with open(self.path + '.tmp', 'w') as f:
        f.writelines(kept)
      os.replace(self.path + '.tmp', self.path)

  def write(self, step: int, metrics: dict, kind: str = 'train') -> None:
    if not self.enabled:
      return
    record = {'step': int(step), 'kind': kind, **metrics}
    with open(self.path, 'a') as f:
      f.write(json.dumps(record, default=float) + '\n')
    if self._tensorboard is not None:
      for name, value in _scalar_items(metrics):
        self._tensorboard.add_scalar(f'{kind}/{name}', value, step)
      self._tensorboard.flush()

  def progress(self, step: int, metrics: dict) -> None:
    """One human line: step, loss parts, accuracies, lambda, tokens/s and ETA."""
    if not self.enabled:
      return
    done = step - self._start_step
    # The latest window's step time (the trainer's step_seconds); the first step of a run
    # pays one-time costs, so it gives no ETA.
    seconds_per_step = metrics.get('step_seconds',
                                   (time.time() - self._start_time) / max(done, 1))
    eta = (f'{seconds_per_step * max(self.total_steps - step, 0) / 60:.1f} min' if done > 1
           else '-')
    line = (f'step {step}/{self.total_steps} loss {metrics["loss"]:.4f} '
            f'(mlm {metrics["mlm_loss"]:.4f} adv {metrics["adv_loss"]:.4f} '
            f'kd {metrics["kd_loss"]:.4f}) <mask> acc {metrics["mask_accuracy"]:.3f} '
            f'disc_acc {metrics["disc_accuracy"]:.3f} (chance {metrics["disc_chance"]:.3f}) '
            f'entropy {metrics.get("disc_entropy", 0.0):.2f} '
            f'language spread {metrics.get("language_mean_spread", 0.0):.3f} '
            f'lambda {metrics["grl_lambda"]:.3f} tok/s {metrics["tokens_per_sec"]:,.0f} '
            f'ETA {eta}')
    if self._interactive:
      width = 24
      filled = int(width * step / max(self.total_steps, 1))
      line = f'[{"#" * filled}{"." * (width - filled)}] ' + line
    print(line, flush=True)

  def eval_progress(self, step: int, figures: dict) -> None:
    """One human line of the held-out <mask> figures beside what token frequencies score."""
    if not self.enabled:
      return
    print(f'eval {step}/{self.total_steps}: <mask> accuracy {figures["eval_mask_accuracy"]:.3f} '
          f'(most frequent token {figures["eval_mask_baseline_accuracy"]:.3f}), loss '
          f'{figures["eval_mask_loss"]:.3f} (unigram {figures["eval_mask_unigram_loss"]:.3f}); '
          f'all slots {figures["eval_all_slots_accuracy"]:.3f}; language: discriminator '
          f'{figures.get("eval_disc_accuracy", 0.0):.3f}, fresh probe '
          f'{figures.get("eval_probe_accuracy", float("nan")):.3f} (chance '
          f'{figures.get("eval_probe_chance", float("nan")):.3f})', flush=True)

  def close(self) -> None:
    if self._tensorboard is not None:
      self._tensorboard.close()
