"""The main job, stage by stage; each stage is skipped when its output already exists.

  data      corpus + tokenizer                     data/
  teacher   pre-train a larger teacher (MLM only)  teacher/, exported to teacher_hf/
            (only when distillation is on, kd.teacher_dir is empty and teacher.steps > 0)
  cache     the teacher's top-k logits             teacher_cache/ (or kd.cache_dir)
  student   MLM + adversarial + distillation       checkpoints/, metrics.jsonl
  evaluate  universality: held-out articles, and   eval/eval.json, eval.png,
            the cross-lingual suite (eval.*)       eval/eval_suite.md, eval_suite.png
  export    Hugging Face directory                 hf/

(paths inside the run directory, see run_dir.py).

A stage that stops early (SIGTERM, SIGINT) stops the job: nothing downstream is made from an
unfinished stage, and a rerun resumes that stage.
"""

import json
import logging
import os

import jax
from jax.experimental import multihost_utils
import ml_collections

from unibert_jax import run_dir
from unibert_jax.data import prepare
from unibert_jax.evaluation import parallel_text
from unibert_jax.evaluation import suite as suite_lib
from unibert_jax.evaluation import suite_report
from unibert_jax.evaluation import universality_eval
from unibert_jax.export import from_run
from unibert_jax.export import hf_format
from unibert_jax.model import shapes
from unibert_jax.teacher import build_cache
from unibert_jax.teacher import cache as cache_lib
from unibert_jax.teacher import cache_format
from unibert_jax.train import checkpointing
from unibert_jax.train import metrics_writer
from unibert_jax.train import state as state_lib
from unibert_jax.train import trainer

logger = logging.getLogger(__name__)


class StoppedEarly(Exception):
  """A stage stopped before its last step (preemption); the job resumes it on a rerun."""

  def __init__(self, stage: str, step: int, workdir: str):
    super().__init__(f'The {stage} stage stopped at step {step} (SIGTERM/SIGINT); rerun the '
                     f'same command to resume it from its checkpoint in {workdir}.')
    self.stage, self.step, self.workdir = stage, step, workdir


def _barrier(name: str) -> None:
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def prepare_data(config: ml_collections.ConfigDict, workdir: str) -> prepare.PreparedData:
  """Corpus and tokenizer (process 0 builds, the others wait and then read)."""
  if jax.process_index() == 0:
    info = prepare.prepare_data(config, workdir)
  _barrier('unibert_prepare_data')
  if jax.process_index() != 0:
    info = prepare.prepare_data(config, workdir)
  return prepare.PreparedData.read(info['data_dir'], info['tokenizer_dir'])


def teacher_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The student's config with the teacher's shape and schedule, MLM only."""
  teacher = config.copy_and_resolve_references()
  teacher.model.update(shapes.get(config.teacher.shape, 'teacher.shape')._asdict())
  teacher.train.update(steps=config.teacher.steps, learning_rate=config.teacher.learning_rate,
                       warmup_steps=config.teacher.warmup_steps,
                       eval_every=config.teacher.steps,
                       checkpoint_every=min(config.train.checkpoint_every, config.teacher.steps))
  teacher.loss.update(adv_weight=0.0, kd_weight=0.0)
  teacher.kd.teacher_dir = ''
  teacher.profile.start_step = -1
  return teacher


def _trained_to(workdir: str, steps: int) -> bool:
  checkpoint_dir = run_dir.RunDir(workdir).checkpoints
  return os.path.isdir(checkpoint_dir) and steps in checkpointing.committed_steps(checkpoint_dir)


def _exported(hf_dir: str) -> bool:
  return all(os.path.isfile(os.path.join(hf_dir, name))
             for name in (hf_format.CONFIG_FILE, hf_format.WEIGHTS_FILE))


def train(config, workdir: str, facts: state_lib.RunFacts, stage: str,
          join_teacher=None) -> trainer.TrainResult | None:
  """Trains to config.train.steps; None when already there. Raises StoppedEarly."""
  if _trained_to(workdir, config.train.steps):
    logger.info('%s already trained to step %d: skipped.', workdir, config.train.steps)
    return None
  result = trainer.train_and_evaluate(config, workdir, facts, join_teacher)
  if result.stopped_early:
    raise StoppedEarly(stage, result.step, workdir)
  return result


def train_teacher(config, run: run_dir.RunDir, data: prepare.PreparedData) -> str:
  """The demo teacher, trained to teacher.steps and exported; returns its HF directory."""
  teacher = teacher_config(config)
  if _trained_to(run.teacher.root, teacher.train.steps) and _exported(run.teacher_hf):
    logger.info('Teacher already trained and exported to %s: skipped.', run.teacher_hf)
    return run.teacher_hf
  if jax.process_count() > 1:
    raise ValueError('Pre-training the demo teacher runs in one process: run that stage on one '
                     'host first, or pass --config.kd.teacher_dir=<Hugging Face dir>.')
  print(f'== teacher: pre-training {config.teacher.shape} for {config.teacher.steps} steps '
        f'(MLM only) in {run.teacher.root}', flush=True)
  facts = state_lib.RunFacts(data.data_dir, data.tokenizer_dir, data.language_names)
  train(teacher, run.teacher.root, facts, 'teacher')
  from_run.export_checkpoint(run.teacher.root, run.teacher_hf,
                             extra_card=held_out_mlm(run.teacher))
  return run.teacher_hf


def choose_teacher(config, run: run_dir.RunDir, data: prepare.PreparedData) -> str | None:
  """The teacher to distil from (a Hugging Face directory), or None: no distillation."""
  if config.loss.kd_weight <= 0:
    return None
  if config.kd.teacher_dir:
    return config.kd.teacher_dir
  if config.teacher.steps > 0:
    return train_teacher(config, run, data)
  logger.warning('loss.kd_weight > 0 but there is no teacher (kd.teacher_dir is empty and '
                 'teacher.steps = 0): training without distillation.')
  return None


def open_cache(config, run: run_dir.RunDir, data: prepare.PreparedData,
               teacher_dir: str) -> cache_lib.TeacherCache:
  """The teacher's top-k cache for this run: built (or completed) here, then verified."""
  print(f'== cache: top-{config.kd.top_k} logits of {teacher_dir}', flush=True)
  directory = cache_format.cache_dir(config, run.root)
  info = build_cache.build_cache(config, teacher_dir, data, directory)
  logger.info('Teacher cache: %s', json.dumps(info))
  return cache_lib.TeacherCache(directory, config, teacher_dir=teacher_dir, verify=True)


def _logged(run: run_dir.RunDir, kind: str) -> tuple[dict, dict]:
  """First and last records of one kind in metrics.jsonl."""
  records = []
  if os.path.exists(run.metrics):
    with open(run.metrics) as f:
      records = [r for r in map(json.loads, f) if r.get('kind') == kind]
  return (records[0], records[-1]) if records else ({}, {})


def held_out_mlm(run: run_dir.RunDir) -> dict[str, float | None]:
  """The last held-out <mask>-slot figures of a run, beside what token frequencies score."""
  _, last = _logged(run, 'eval')
  return {name: last.get(f'eval_{key}') for name, key in (
      ('mask_accuracy', 'mask_accuracy'), ('mask_accuracy_baseline', 'mask_baseline_accuracy'),
      ('mask_loss', 'mask_loss'), ('mask_loss_unigram', 'mask_unigram_loss'))}


def build_evaluation_sets(config, options: suite_lib.SuiteOptions) -> None:
  """Builds the sets named by eval.build that the parallel-text cache lacks (downloads)."""
  wanted = parallel_text.set_names(config.get('eval', {}).get('build', ''))
  if not wanted:
    return
  print(f'== evaluation data: {", ".join(wanted)} (built once into the parallel-text cache)',
        flush=True)
  manifest = parallel_text.build(options.cache_dir, sets=wanted)
  for name in wanted:
    if name in manifest['missing_sets']:
      # The job goes on: the suite records the set as missing and UDHR stands in.
      print(f'== evaluation data: {name} could not be built: {manifest["missing_sets"][name]}',
            flush=True)


def evaluate_and_export(config, run: run_dir.RunDir, data: prepare.PreparedData,
                        retrained: bool) -> dict:
  """Universality figures of the final student, written with its export; skipped when done."""
  if not retrained and os.path.isfile(run.eval_json) and _exported(run.hf):
    # The final checkpoint has not changed since they were written.
    print(f'== evaluate and export: done for step {config.train.steps} already: skipped',
          flush=True)
    with open(run.eval_json) as f:
      return json.load(f)
  if jax.process_count() > 1:
    # Evaluation and export read the checkpoint onto one device: a single-process job.
    if jax.process_index() == 0:
      print(f'== evaluate and export: run `python launch/evaluate.py --workdir={run.root}` and '
            f'`python launch/export_hf.py --workdir={run.root} --out={run.hf}` on one host.',
            flush=True)
    return {}
  options = suite_lib.options_from_config(config, data.language_names)
  build_evaluation_sets(config, options)
  print('== evaluate: held-out articles and the cross-lingual suite', flush=True)
  # The final step, not an earlier one that a damaged final checkpoint would fall back to.
  encoder, _, _ = from_run.load_checkpoint_encoder(run.root, config.train.steps)
  figures = universality_eval.evaluate_encoder(encoder, data.tokenizer_dir, data.data_dir,
                                               config, run.eval, suite_options=options,
                                               model_name=run.root)
  unbuilt = suite_lib.unbuilt_sets(options)
  if unbuilt:
    print(f'== evaluation suite: {", ".join(unbuilt)} not built (UDHR stood in for their '
          f'languages). `{suite_lib.BUILD_COMMAND.format(sets=",".join(unbuilt))} && python '
          f'launch/evaluate.py --workdir={run.root}` builds them (downloads) and runs the suite.',
          flush=True)
  summary = {k: v for k, v in figures.items() if not isinstance(v, dict)}
  writer = metrics_writer.MetricsWriter(run.root, config.train.steps)
  writer.write(config.train.steps, summary, kind='universality')
  writer.close()
  print(f'== export: {run.hf}', flush=True)
  from_run.export_checkpoint(run.root, run.hf, config.train.steps,
                             extra_card={'evaluation': summary, **held_out_mlm(run)})
  return figures


def run(config: ml_collections.ConfigDict, workdir: str, evaluate_and_export_too: bool = True,
        ) -> dict:
  """Runs every stage; returns the summary printed as the job's last line.

  Raises StoppedEarly when a stage was preempted (its checkpoint saved).
  """
  run_ = run_dir.RunDir(workdir)
  print('== data: corpus and tokenizer', flush=True)
  data = prepare_data(config, run_.root)
  teacher_dir = choose_teacher(config, run_, data)
  cache = open_cache(config, run_, data, teacher_dir) if teacher_dir else None

  print(f'== student: {config.train.steps} steps in {run_.root}', flush=True)
  facts = state_lib.RunFacts(data.data_dir, data.tokenizer_dir, data.language_names,
                             teacher_dir)
  result = train(config, run_.root, facts, 'student', cache.join if cache else None)
  figures = (evaluate_and_export(config, run_, data, retrained=result is not None)
             if evaluate_and_export_too else {})

  first_train, last_train = _logged(run_, 'train')
  _, last_eval = _logged(run_, 'eval')
  return {
      'student_hf_dir': run_.hf,
      'teacher_hf_dir': teacher_dir,
      'metrics_file': run_.metrics,
      'eval_file': run_.eval_json,
      'steps': config.train.steps,
      'languages': len(data.language_names),
      'first_mlm_loss': first_train.get('mlm_loss'),
      'last_mlm_loss': last_train.get('mlm_loss'),
      **held_out_mlm(run_),
      'eval_disc_accuracy': last_eval.get('eval_disc_accuracy'),
      **{k: figures.get(k) for k in ('retrieval_top1', 'language_probe_accuracy',
                                     'language_probe_chance')},
      # The suite's headline figures at the last layer, each beside its tf-idf floor.
      **{k: v for k, v in figures.items() if '/' in k and not k.endswith('_best_layer')},
      'eval_suite_file': os.path.join(run_.eval, suite_report.SUITE_MARKDOWN) if figures else None,
  }
