"""The training loop: compile first, resume, step, log, evaluate, checkpoint, stop cleanly.

`train_and_evaluate(config, workdir, data)` trains one model (teacher or student) in
`workdir`: checkpoints in `<workdir>/checkpoints`, metrics in `<workdir>/metrics.jsonl` and
`<workdir>/tensorboard`, profiler traces in `<workdir>/profile`. Restarting with the same
workdir resumes from the newest checkpoint that restores, bit for bit.

The loop never waits on the device between log steps: metrics stay on device until a log
step fetches them all at once, which is also where non-finite losses are detected (the step
itself already dropped such updates, so no checkpoint ever holds NaN parameters).
"""

import dataclasses
import json
import logging
import os
import time

import jax
import ml_collections
import numpy as np

from unibert_jax.train import checkpointing
from unibert_jax import config_validation
from unibert_jax.perf import mfu as device_peaks
from unibert_jax.perf import flops
from unibert_jax.data import input_pipeline
from unibert_jax.train import metrics_writer
from unibert_jax.train import preemption
from unibert_jax.train import profiling
from unibert_jax import sharding
from unibert_jax.train import step as train_step

logger = logging.getLogger(__name__)

LOSS_PARTS = ('mlm_loss', 'adv_loss', 'kd_loss', 'loss', 'grad_norm')
# Fault injection for the crash-recovery tests: after this step's checkpoint is committed, the
# process waits to be killed (so a test can SIGKILL it at an exact step).
HANG_AFTER_CHECKPOINT_ENV = 'UNIBERT_FAULT_HANG_AFTER_CHECKPOINT'


class NonFiniteLossError(RuntimeError):
  """A loss part became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass
class PreparedData:
  data_dir: str
  tokenizer_dir: str
  language_names: list[str]


@dataclasses.dataclass
class TrainResult:
  step: int
  stopped_early: bool
  last_metrics: dict
  last_eval: dict
  first_metrics: dict


def compile_report(program: train_step.TrainProgram):
  """Compiles the train step from shapes alone: (executable, memory analysis and FLOPs)."""
  started = time.perf_counter()
  compiled = program.compile_step()
  memory = compiled.memory_analysis()
  report = {'compile_seconds': round(time.perf_counter() - started, 2),
            'model_flops_per_step': flops.train_step_flops(program.config).total,
            'devices': int(program.mesh.devices.size),
            'mesh': dict(zip(program.mesh.axis_names, map(int, program.mesh.devices.shape)))}
  if memory is not None:
    for field in ('argument_size_in_bytes', 'output_size_in_bytes', 'temp_size_in_bytes',
                  'alias_size_in_bytes', 'generated_code_size_in_bytes'):
      report[field] = int(getattr(memory, field, 0))
  cost = compiled.cost_analysis()
  if isinstance(cost, list):
    cost = cost[0] if cost else {}
  if cost and 'flops' in cost:
    report['xla_flops_per_step_per_device'] = float(cost['flops'])
  return compiled, report


def _first_nonfinite(metrics: dict) -> str | None:
  for part in LOSS_PARTS:
    if not np.isfinite(metrics[part]):
      return part
  if not metrics['params_finite']:
    return 'parameter update'
  return None if metrics['finite'] else 'grad_norm'


def evaluate_held_out(program, state, eval_batches, language_names) -> dict:
  """Held-out MLM and discriminator accuracy, overall and per language."""
  totals = None
  for batch in eval_batches:
    out = program.evaluate(state, program.put_batch(batch, keys=EVAL_KEYS))
    totals = out if totals is None else jax.tree.map(jax.numpy.add, totals, out)
  totals = jax.device_get(totals)
  correct, count, rows = totals['mlm_correct'], totals['mlm_count'], totals['rows']
  per_language = {name: round(float(correct[i] / count[i]), 4)
                  for i, name in enumerate(language_names) if count[i] > 0}
  return {
      'eval_mlm_accuracy': float(correct.sum() / max(count.sum(), 1)),
      'eval_mlm_loss': float(totals['mlm_nll'].sum() / max(count.sum(), 1)),
      'eval_mlm_accuracy_language_mean': float(np.mean(list(per_language.values()) or [0.0])),
      'eval_disc_accuracy': float(totals['disc_correct'].sum() / max(rows.sum(), 1)),
      'eval_mlm_accuracy_per_language': per_language,
  }


EVAL_KEYS = ('input_ids', 'attention_mask', 'mlm_positions', 'mlm_targets', 'mlm_weights',
             'language_id', 'is_real')


def _config_dict(config: ml_collections.ConfigDict) -> dict:
  return json.loads(config.to_json_best_effort())


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str, data: PreparedData,
                       teacher_cache=None) -> TrainResult:
  """Trains `config` in `workdir` to config.train.steps (resuming if checkpoints exist)."""
  if config.adversary.num_languages != len(data.language_names):
    config.adversary.num_languages = len(data.language_names)  # the data decides
  config_validation.validate(config, jax.device_count(), jax.process_count())
  mesh = sharding.make_mesh(config.mesh.shape)
  program = train_step.build_train_program(config, mesh)
  # Compiled before the data pipeline warms up: an out-of-memory shows in seconds.
  compiled_step, report = compile_report(program)
  logger.info('Compiled the train step: %s', json.dumps(report))
  if jax.process_index() == 0:
    print(f'[{workdir}] train step compiled in {report["compile_seconds"]} s; memory per device:'
          f' arguments {report.get("argument_size_in_bytes", 0) / 2**20:.1f} MiB, temporaries '
          f'{report.get("temp_size_in_bytes", 0) / 2**20:.1f} MiB', flush=True)

  iterator = input_pipeline.make_train_iterator(
      config, data.data_dir, data.tokenizer_dir, jax.process_index(), jax.process_count(),
      teacher_cache=teacher_cache)
  eval_batches = input_pipeline.make_eval_batches(
      config, data.data_dir, data.tokenizer_dir, 'validation', jax.process_index(),
      jax.process_count())
  checkpointer = checkpointing.Checkpointer(
      f'{workdir}/checkpoints', keep=config.train.keep_checkpoints)
  start_step = 0
  if checkpointer.latest_step() is not None:
    restored = checkpointer.restore(train_step.abstract_checkpoint(program))
    state = train_step.from_checkpoint(program, restored.state)
    iterator.set_state(restored.data_state)
    start_step = restored.step
    logger.info('Resumed %s from step %d.', workdir, start_step)
  else:
    state = program.init()

  steps = config.train.steps
  writer = metrics_writer.MetricsWriter(workdir, steps, start_step)
  profiler = profiling.StepProfiler.from_config(config, workdir)
  step_flops = flops.train_step_flops(config).total
  peak = device_peaks.peak_flops_per_device(config)
  tokens_per_step = config.data.batch_size * config.data.max_len
  config_dict = _config_dict(config)
  pending = []          # (step, device metrics) since the last log step
  last_metrics, first_metrics, last_eval = {}, {}, {}
  window_start, window_step = time.perf_counter(), start_step
  step = start_step
  stopped_early = False

  def save(step, metrics):
    checkpointer.save(step, train_step.to_checkpoint(state), iterator.get_state(), config_dict,
                      meta={'step': step, 'metrics': metrics})

  with preemption.PreemptionGuard() as guard:
    while step < steps:
      batch = program.put_batch(next(iterator))
      # Annotated with the number the step has in the logs and checkpoints (1-based).
      with profiler.step(step + 1, block_on=state) as done:
        state, metrics = compiled_step(state, batch)
        done(state)
      step += 1
      pending.append((step, metrics))
      is_last = step == steps
      if step % config.train.log_every == 0 or is_last or step == start_step + 1:
        fetched = jax.device_get(pending)
        pending = []
        elapsed = time.perf_counter() - window_start
        seconds_per_step = elapsed / max(step - window_step, 1)
        window_start, window_step = time.perf_counter(), step
        for logged_step, values in fetched:
          values = {k: float(v) for k, v in values.items()}
          bad_part = _first_nonfinite(values)
          if bad_part is not None and config.train.nan_policy == 'stop':
            checkpointer.wait()
            raise NonFiniteLossError(
                f'Non-finite {bad_part} ({values.get(bad_part, "inf/nan")}) at step '
                f'{logged_step} of {workdir}; '
                f'the update was dropped and the last good checkpoint '
                f'(step {checkpointer.latest_step()}) is kept. Lower train.learning_rate or '
                f'check the data, or set --config.train.nan_policy=skip to drop such updates.')
          if bad_part is not None:
            logger.warning('Skipped the update of step %d: non-finite %s.', logged_step, bad_part)
        values = {k: float(v) for k, v in fetched[-1][1].items()}
        values.update(
            tokens_per_sec=tokens_per_step / seconds_per_step,
            tokens_per_sec_per_device=tokens_per_step / seconds_per_step / jax.device_count(),
            step_seconds=seconds_per_step,
            tflops_per_sec_per_device=step_flops / seconds_per_step / jax.device_count() / 1e12,
            mfu=device_peaks.mfu(step_flops, seconds_per_step, jax.device_count(), peak))
        first_metrics = first_metrics or values
        last_metrics = values
        writer.write(step, values)
        writer.progress(step, values)
      if step % config.train.eval_every == 0 or is_last:
        last_eval = evaluate_held_out(program, state, eval_batches, data.language_names)
        writer.write(step, last_eval, kind='eval')
      if step % config.train.checkpoint_every == 0 or is_last:
        save(step, last_metrics)
        if os.environ.get(HANG_AFTER_CHECKPOINT_ENV) == str(step):
          checkpointer.wait()
          print(f'checkpoint {step} committed; waiting to be killed', flush=True)
          while True:
            time.sleep(1)
      if guard.should_stop(step) and not is_last:
        save(step, last_metrics)
        stopped_early = True
        break
  profiler.close(block_on=state)  # a run that ended inside the window
  checkpointer.wait()
  checkpointer.close()
  writer.close()
  iterator.close()
  return TrainResult(step=step, stopped_early=stopped_early, last_metrics=last_metrics,
                     last_eval=last_eval, first_metrics=first_metrics)
