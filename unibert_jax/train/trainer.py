"""The training loop: compile first, resume, step, log, evaluate, checkpoint, stop cleanly.

`train_and_evaluate(config, workdir, facts)` trains one model (teacher or student) in
`workdir`: checkpoints in `<workdir>/checkpoints`, metrics in `<workdir>/metrics.jsonl` and
`<workdir>/tensorboard`, profiler traces in `<workdir>/profile`. Restarting with the same
workdir resumes from the newest checkpoint that restores, bit for bit.

The loop never waits on the device between log steps: metrics stay on device until a log step
fetches them all at once. Non-finite updates are dropped on device by the step itself, and the
loop checks every step's flags before it writes a checkpoint, so with nan_policy 'stop' no
checkpoint is ever written after a non-finite step.
"""

import dataclasses
import json
import logging
import time
from typing import Callable

import jax
import ml_collections
import numpy as np

from unibert_jax import language_probe
from unibert_jax import run_dir
from unibert_jax import sharding
from unibert_jax import special_tokens
from unibert_jax.data import input_pipeline
from unibert_jax.data import token_statistics
from unibert_jax.perf import flops
from unibert_jax.perf import mfu
from unibert_jax.train import checkpointing
from unibert_jax.train import losses
from unibert_jax.train import metrics_writer
from unibert_jax.train import preemption
from unibert_jax.train import profiling
from unibert_jax.train import state as state_lib
from unibert_jax.train import step as step_lib

logger = logging.getLogger(__name__)

LOSS_PARTS = ('mlm_loss', 'adv_loss', 'kd_loss', 'loss', 'grad_norm')


class NonFiniteLossError(RuntimeError):
  """A loss part became NaN or infinite; the last good checkpoint is kept."""


@dataclasses.dataclass
class TrainResult:
  step: int
  stopped_early: bool
  last_metrics: dict
  last_eval: dict
  first_metrics: dict


def compile_report(program: step_lib.TrainProgram):
  """Compiles the train step from shapes alone: (executable, memory analysis and FLOPs)."""
  started = time.perf_counter()
  compiled = program.compile_step()
  memory = compiled.memory_analysis()
  report = {'compile_seconds': round(time.perf_counter() - started, 2),
            'model_flops_per_step': flops.train_step_flops(program.config,
                                                           program.num_languages).total,
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


def itstime(step: int, every: int, total: int, first: int | None = None) -> bool:
  """Whether `step` (1-based) is a multiple of `every`, the last step, or `first`."""
  return step % every == 0 or step == total or step == first


def first_nonfinite(metrics: dict) -> str | None:
  """The first loss part (or the update) of one step's metrics that is not finite."""
  for part in LOSS_PARTS:
    if not np.isfinite(metrics[part]):
      return part
  if not metrics['params_finite']:
    return 'parameter update'
  return None if metrics['finite'] else 'grad_norm'


class PendingMetrics:
  """Metrics of the steps since the last log step: on device until needed, then checked.

  `check()` fetches them (a checkpoint is about to be written, or a log line), and raises
  NonFiniteLossError at the first non-finite step under nan_policy 'stop'; with 'skip' it
  warns once per step (the step already dropped that update).
  """

  def __init__(self, nan_policy: str, last_good_step: Callable[[], int | None], where: str):
    self.nan_policy = nan_policy
    self.last_good_step = last_good_step
    self.where = where
    self._steps: list[tuple[int, dict]] = []
    self._checked = 0

  def append(self, step: int, metrics: dict) -> None:
    self._steps.append((step, metrics))

  def check(self) -> None:
    unchecked = self._steps[self._checked:]
    fetched = [(step, {k: float(v) for k, v in values.items()})
               for step, values in jax.device_get(unchecked)]
    self._steps[self._checked:] = fetched
    self._checked = len(self._steps)
    for step, values in fetched:
      bad_part = first_nonfinite(values)
      if bad_part is None:
        continue
      if self.nan_policy == 'stop':
        last_good = self.last_good_step()
        kept = (f'the last good checkpoint (step {last_good}) is kept' if last_good is not None
                else 'no checkpoint had been written yet')
        raise NonFiniteLossError(
            f'Non-finite {bad_part} ({values.get(bad_part, "inf/nan")}) at step {step} of '
            f'{self.where}; the update was dropped and {kept}. Lower train.learning_rate or '
            f'check the data, or set --config.train.nan_policy=skip to drop such updates.')
      logger.warning('Skipped the update of step %d: non-finite %s.', step, bad_part)

  def take_last(self) -> dict:
    """Checks what is pending and returns the last step's values; empties the window."""
    self.check()
    last = self._steps[-1][1]
    self._steps, self._checked = [], 0
    return last


class ThroughputMeter:
  """Step time over the window since the last log line, as tokens/s, TFLOP/s and MFU."""

  def __init__(self, config: ml_collections.ConfigDict, num_languages: int, start_step: int):
    self.step_flops = flops.train_step_flops(config, num_languages).total
    self.tokens_per_step = flops.tokens_per_step(config)
    self.peak = mfu.peak_flops_per_device(config)
    self.devices = jax.device_count()
    self._started, self._step = time.perf_counter(), start_step

  def window(self, step: int) -> dict[str, float]:
    now = time.perf_counter()
    seconds_per_step = (now - self._started) / max(step - self._step, 1)
    self._started, self._step = now, step
    return dict(
        tokens_per_sec=self.tokens_per_step / seconds_per_step,
        tokens_per_sec_per_device=self.tokens_per_step / seconds_per_step / self.devices,
        step_seconds=seconds_per_step,
        tflops_per_sec_per_device=self.step_flops / seconds_per_step / self.devices / 1e12,
        mfu=mfu.mfu(self.step_flops, seconds_per_step, self.devices, self.peak))


def unigram_baseline(config, facts: state_lib.RunFacts, eval_batches) -> dict[str, float]:
  """What knowing only the training split's token frequencies scores on the held-out <mask>
  slots: the most-frequent-token accuracy and the unigram cross-entropy."""
  packed, _ = input_pipeline.load_split(config, facts.data_dir, facts.tokenizer_dir, 'train')
  baseline = token_statistics.UnigramBaseline.from_token_ids(packed.input_ids,
                                                             config.model.vocab_size)
  mask_id = special_tokens.mask_id(config.model.vocab_size)
  targets, weights = [], []
  for batch in eval_batches:
    kinds = np.asarray(losses.slot_kinds(batch['input_ids'], batch['mlm_positions'],
                                         batch['mlm_targets'], mask_id))
    targets.append(batch['mlm_targets'])
    weights.append(batch['mlm_weights'] * batch['is_real'][:, None] * (kinds == losses.MASK_SLOT))
  scores = baseline.scores(np.concatenate(targets), np.concatenate(weights))
  return {'eval_mask_baseline_accuracy': scores['most_frequent_accuracy'],
          'eval_mask_unigram_loss': scores['unigram_loss']}


def held_out_probe(features: np.ndarray, language: np.ndarray) -> dict[str, float]:
  """A linear language-ID probe fitted afresh on every other held-out row of each language and
  scored on the rest: what the discriminator's accuracy cannot show (a relabelling)."""
  order = np.argsort(language, kind='stable')
  train = np.zeros(len(language), bool)
  starts = np.searchsorted(language[order], language[order])
  train[order] = (np.arange(len(order)) - starts) % 2 == 0
  if len(np.unique(language[train])) < 2 or train.all():
    return {}
  probe = language_probe.probe_accuracy(features, language, train)
  return {'eval_probe_accuracy': probe['language_probe_accuracy'],
          'eval_probe_chance': probe['language_probe_chance'],
          'eval_probe_entropy': probe['language_probe_entropy']}


def evaluate_held_out(program, state, eval_batches, language_names,
                      baseline: dict[str, float]) -> dict:
  """Held-out MLM figures per slot kind (<mask>, random, kept) beside the unigram baseline,
  the discriminator's accuracy and a fresh linear probe's; the <mask> accuracy also per
  language."""
  totals, rows = None, []
  for batch in eval_batches:
    out = program.evaluate(state, program.put_batch(batch, kind='eval'))
    rows.append(jax.device_get({k: out.pop(k) for k in list(out) if k.startswith('probe_')}))
    totals = out if totals is None else jax.tree.map(jax.numpy.add, totals, out)
  totals = jax.device_get(totals)
  real = np.concatenate([r['probe_real'] for r in rows]) > 0
  probe = held_out_probe(np.concatenate([r['probe_features'] for r in rows])[real],
                         np.concatenate([r['probe_language'] for r in rows])[real])
  correct, count, nll = totals['slot_correct'], totals['slot_count'], totals['slot_nll']
  figures = {}
  for index, kind in enumerate(losses.SLOT_KINDS):
    slots = max(float(count[:, index].sum()), 1e-12)
    figures[f'eval_{kind}_accuracy'] = float(correct[:, index].sum()) / slots
    figures[f'eval_{kind}_loss'] = float(nll[:, index].sum()) / slots
  mask = losses.MASK_SLOT
  per_language = {name: round(float(correct[i, mask] / count[i, mask]), 4)
                  for i, name in enumerate(language_names) if count[i, mask] > 0}
  return {
      **figures, **baseline,
      'eval_all_slots_accuracy': float(correct.sum() / max(count.sum(), 1e-12)),
      'eval_mask_accuracy_language_mean': float(np.mean(list(per_language.values()) or [0.0])),
      'eval_disc_accuracy': float(totals['disc_correct'].sum() /
                                  max(totals['disc_rows'].sum(), 1)),
      'eval_disc_chance': 1.0 / len(language_names),
      **probe,
      'eval_mask_accuracy_per_language': per_language,
  }


class RelabellingWatch:
  """Warns once when the discriminator sits well below chance on held-out rows: the encoder is
  relabelling the languages (confidently wrong), not hiding them; a fresh probe recovers them."""

  def __init__(self, config: ml_collections.ConfigDict):
    self.active = step_lib.uses_adversary(config)
    self.warned = False

  def check(self, step: int, figures: dict) -> None:
    accuracy, chance = figures.get('eval_disc_accuracy'), figures.get('eval_disc_chance')
    if not self.active or self.warned or accuracy is None or accuracy >= 0.5 * chance:
      return
    self.warned = True
    probe = figures.get('eval_probe_accuracy')
    logger.warning(
        'Step %d: the discriminator is right on %.3f of held-out rows, well below chance %.3f: '
        'the encoder is relabelling the languages, not removing them (a fresh linear probe gets '
        '%s). Try adversary.objective=confusion, more adversary.steps_per_update or a smaller '
        'loss.adv_weight.', step, accuracy, chance,
        'n/a' if probe is None else f'{probe:.3f}')


def _print_compiled(workdir: str, report: dict) -> None:
  logger.info('Compiled the train step: %s', json.dumps(report))
  if jax.process_index() == 0:
    print(f'[{workdir}] train step compiled in {report["compile_seconds"]} s; memory per device:'
          f' arguments {report.get("argument_size_in_bytes", 0) / 2**20:.1f} MiB, temporaries '
          f'{report.get("temp_size_in_bytes", 0) / 2**20:.1f} MiB', flush=True)


def _restore_or_init(program, checkpointer, iterator, workdir: str):
  """(state, start step): the newest checkpoint that restores, else a fresh state at step 0."""
  if checkpointer.latest_step() is None:
    return program.init(), 0
  saved = checkpointing.read_config(checkpointer.directory)
  if 'objective' not in saved.get('adversary', {}):
    raise ValueError(
        f'{checkpointer.directory} holds a run from before the discriminator had its own '
        'optimizer (no adversary.objective in its config): its optimizer state cannot resume '
        'here. Export or evaluate it as it is (launch/export_hf.py, launch/evaluate.py), or '
        'train in a new --workdir.')
  restored = checkpointer.restore(state_lib.abstract_checkpoint(program.abstract_state),
                                 with_data_state=True)
  iterator.set_state(restored.data_state)
  logger.info('Resumed %s from step %d.', workdir, restored.step)
  return state_lib.from_checkpoint(program.abstract_state, restored.state), restored.step


def train_and_evaluate(config: ml_collections.ConfigDict, workdir: str,
                       facts: state_lib.RunFacts,
                       join_teacher: input_pipeline.BatchJoin | None = None) -> TrainResult:
  """Trains `config` in `workdir` to config.train.steps (resuming if checkpoints exist).

  facts: the prepared data (and teacher) this run reads, recorded in every checkpoint.
  join_teacher: adds the teacher's cached top-k to each batch; given, the student distils.
  """
  run = run_dir.RunDir(workdir)
  steps = config.train.steps

  # Mesh, program, and the train step compiled before the data pipeline warms up: an
  # out-of-memory shows in seconds.
  mesh = sharding.make_mesh(config.mesh.shape)
  program = step_lib.build_train_program(config, mesh, num_languages=len(facts.languages),
                                         distill=join_teacher is not None)
  compiled_step, report = compile_report(program)
  _print_compiled(workdir, report)

  # Input pipeline.
  iterator = input_pipeline.make_train_iterator(
      config, facts.data_dir, facts.tokenizer_dir, jax.process_index(), jax.process_count(),
      join=join_teacher)
  eval_batches = input_pipeline.make_eval_batches(
      config, facts.data_dir, facts.tokenizer_dir, 'validation', jax.process_index(),
      jax.process_count())
  baseline = unigram_baseline(config, facts, eval_batches)

  # Checkpoints: resume where the newest good one left off.
  checkpointer = checkpointing.Checkpointer(run.checkpoints, keep=config.train.keep_checkpoints)
  state, start_step = _restore_or_init(program, checkpointer, iterator, workdir)

  writer = metrics_writer.MetricsWriter(workdir, steps, start_step)
  profiler = profiling.StepProfiler.from_config(config, workdir)
  meter = ThroughputMeter(config, len(facts.languages), start_step)
  relabelling = RelabellingWatch(config)

  def last_committed_step():
    checkpointer.wait()  # the saves in flight commit before a non-finite step stops the run
    return checkpointer.latest_step()

  pending = PendingMetrics(config.train.nan_policy, last_committed_step, workdir)
  config_dict = json.loads(config.to_json_best_effort())
  first_metrics, last_metrics, last_eval = {}, {}, {}

  def save(step):
    pending.check()   # never a checkpoint after a non-finite step (nan_policy 'stop')
    checkpointer.save(step, state_lib.to_checkpoint(state), iterator.get_state(), config_dict,
                      meta={'step': step, 'metrics': last_metrics, **facts.to_meta()})

  # Train loop.
  step, stopped_early = start_step, False
  with preemption.PreemptionGuard() as guard:
    while step < steps:
      batch = program.put_batch(next(iterator))
      # Annotated with the number the step has in the logs and checkpoints (1-based).
      with profiler.step(step + 1, block_on=state) as done:
        state, metrics = compiled_step(state, batch)
        done(state)
      step += 1
      pending.append(step, metrics)
      if itstime(step, config.train.log_every, steps, first=start_step + 1):
        last_metrics = dict(pending.take_last(), **meter.window(step))
        first_metrics = first_metrics or last_metrics
        writer.write(step, last_metrics)
        writer.progress(step, last_metrics)
      if itstime(step, config.train.eval_every, steps):
        last_eval = evaluate_held_out(program, state, eval_batches, facts.languages, baseline)
        relabelling.check(step, last_eval)
        writer.write(step, last_eval, kind='eval')
        writer.eval_progress(step, last_eval)
      if itstime(step, config.train.checkpoint_every, steps):
        save(step)
      if guard.should_stop(step) and step < steps:
        save(step)
        stopped_early = True
        break
  profiler.close(block_on=state)  # a run that ended inside the window
  checkpointer.wait()
  checkpointer.close()
  writer.close()
  iterator.close()
  return TrainResult(step=step, stopped_early=stopped_early, last_metrics=last_metrics,
                     last_eval=last_eval, first_metrics=first_metrics)
