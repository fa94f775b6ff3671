"""The main job, stage by stage; each stage is skipped when its output already exists.

  data      corpus + tokenizer                      <workdir>/data
  teacher   pre-train a larger teacher (MLM only)   <workdir>/teacher, exported to <workdir>/teacher_hf
            (only when distillation is on, kd.teacher_dir is empty and teacher.steps > 0)
  cache     the teacher's top-k logits              <workdir>/teacher_cache (or kd.cache_dir)
  student   MLM + adversarial + distillation        <workdir>/checkpoints, metrics.jsonl
  evaluate  universality on held-out articles       <workdir>/eval/eval.json, eval.png
  export    Hugging Face directory                  <workdir>/hf
"""

import json
import logging
import os

import jax
from jax.experimental import multihost_utils
import ml_collections

from unibert_jax.train import checkpointing
from unibert_jax.data import corpus
from unibert_jax.data import prepare as data_preparation
from unibert_jax.evaluation import universality_eval as evaluation
from unibert_jax.export import hf_format as hf_io
from unibert_jax.train import metrics_writer
from unibert_jax.teacher import cache as teacher_cache_lib
from unibert_jax.train import step as train_step
from unibert_jax.train import trainer
from configs import base as base_config

logger = logging.getLogger(__name__)


def _barrier(name: str) -> None:
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def prepare(config: ml_collections.ConfigDict, workdir: str) -> trainer.PreparedData:
  """Corpus and tokenizer (process 0 builds, the others wait and then read)."""
  if jax.process_index() == 0:
    info = data_preparation.prepare_data(config, workdir)
  _barrier('unibert_prepare_data')
  if jax.process_index() != 0:
    info = data_preparation.prepare_data(config, workdir)
  data_dir, tokenizer_dir = os.path.abspath(info['data_dir']), os.path.abspath(info['tokenizer_dir'])
  # Later stages (and exports of this run) find the data through the config.
  config.data.data_dir, config.data.tokenizer_dir = data_dir, tokenizer_dir
  return trainer.PreparedData(data_dir, tokenizer_dir, list(corpus.language_names(data_dir)))


def teacher_config(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
  """The student's config with the teacher's shape and schedule, MLM only."""
  teacher = config.copy_and_resolve_references()
  layers, hidden, heads, ffn = base_config.MODEL_SHAPES[config.teacher.shape]
  teacher.model.update(num_layers=layers, hidden_size=hidden, num_heads=heads,
                       intermediate_size=ffn)
  teacher.train.update(steps=config.teacher.steps, learning_rate=config.teacher.learning_rate,
                       warmup_steps=config.teacher.warmup_steps,
                       eval_every=config.teacher.steps,
                       checkpoint_every=min(config.train.checkpoint_every, config.teacher.steps))
  teacher.loss.update(adv_weight=0.0, kd_weight=0.0)
  teacher.kd.teacher_dir = ''
  teacher.profile.start_step = -1
  return teacher


def _finished(run_dir: str, steps: int) -> bool:
  checkpoint_dir = os.path.join(run_dir, 'checkpoints')
  return steps in checkpointing.committed_steps(checkpoint_dir) if os.path.isdir(
      checkpoint_dir) else False


def _train(config, run_dir, data, cache=None):
  if _finished(run_dir, config.train.steps):
    logger.info('%s already trained to step %d: skipped.', run_dir, config.train.steps)
    return None
  return trainer.train_and_evaluate(config, run_dir, data, cache)


def _train_teacher(config, workdir, data) -> str:
  teacher_hf = os.path.join(workdir, 'teacher_hf')
  if os.path.exists(os.path.join(teacher_hf, 'config.json')):
    logger.info('Teacher already exported to %s: skipped.', teacher_hf)
    return teacher_hf
  teacher_run = os.path.join(workdir, 'teacher')
  print(f'== teacher: pre-training {config.teacher.shape} for {config.teacher.steps} steps '
        f'(MLM only) in {teacher_run}', flush=True)
  _train(teacher_config(config), teacher_run, data)
  hf_io.export_checkpoint(teacher_run, teacher_hf)
  return teacher_hf


def _last_logged(workdir: str, kind: str) -> tuple[dict, dict]:
  """First and last records of one kind in metrics.jsonl."""
  path = os.path.join(workdir, 'metrics.jsonl')
  records = []
  if os.path.exists(path):
    with open(path) as f:
      records = [r for r in map(json.loads, f) if r.get('kind') == kind]
  return (records[0], records[-1]) if records else ({}, {})


def run(config: ml_collections.ConfigDict, workdir: str, evaluate_and_export: bool = True) -> dict:
  """Runs every stage; returns the summary printed as the job's last line."""
  workdir = os.path.abspath(workdir)
  print('== data: corpus and tokenizer', flush=True)
  data = prepare(config, workdir)
  wants_teacher = config.loss.kd_weight > 0
  teacher_hf = config.kd.teacher_dir
  if wants_teacher and not teacher_hf and config.teacher.steps > 0:
    if jax.process_count() > 1:
      raise ValueError('Pre-training the demo teacher runs in one process: run that stage on one '
                       'host first, or pass --config.kd.teacher_dir=<Hugging Face dir>.')
    teacher_hf = _train_teacher(config, workdir, data)
  config.kd.teacher_dir = teacher_hf
  cache = None
  if train_step.uses_distillation(config):
    print(f'== cache: top-{config.kd.top_k} logits of {teacher_hf}', flush=True)
    cache_info = teacher_cache_lib.build_cache(config, teacher_hf, workdir)
    logger.info('Teacher cache: %s', json.dumps(cache_info))
    cache = teacher_cache_lib.TeacherCache(teacher_cache_lib.cache_dir(config, workdir), config)
  elif wants_teacher:
    logger.warning('loss.kd_weight > 0 but there is no teacher (kd.teacher_dir is empty and '
                   'teacher.steps = 0): training without distillation.')

  print(f'== student: {config.train.steps} steps in {workdir}', flush=True)
  result = _train(config, workdir, data, cache)
  if result is not None and result.stopped_early:
    return {'stopped_early_at_step': result.step, 'workdir': workdir}

  eval_dir = os.path.join(workdir, 'eval')
  eval_file = os.path.join(eval_dir, 'eval.json')
  student_hf = os.path.join(workdir, 'hf')
  figures = {}
  already_done = result is None and os.path.isfile(eval_file) and all(
      os.path.isfile(os.path.join(student_hf, name))
      for name in (hf_io.CONFIG_FILE, hf_io.WEIGHTS_FILE))
  if not evaluate_and_export:
    pass
  elif already_done:  # the final checkpoint has not changed since they were written
    print(f'== evaluate and export: done for step {config.train.steps} already: skipped',
          flush=True)
    with open(eval_file) as f:
      figures = json.load(f)
  elif jax.process_count() > 1:
    # Evaluation and export read the checkpoint onto one device: a single-process job.
    if jax.process_index() == 0:
      print(f'== evaluate and export: run `python launch/evaluate.py --workdir={workdir}` and '
            f'`python launch/export_hf.py --workdir={workdir} --out={student_hf}` on one host.',
            flush=True)
  else:
    print('== evaluate: held-out articles', flush=True)
    encoder, _ = hf_io.load_checkpoint_encoder(workdir)
    figures = evaluation.evaluate_encoder(encoder, data.tokenizer_dir, data.data_dir, config,
                                          eval_dir)
    summary = {k: v for k, v in figures.items() if not isinstance(v, dict)}
    writer = metrics_writer.MetricsWriter(workdir, config.train.steps)
    writer.write(config.train.steps, summary, kind='universality')
    writer.close()
    print(f'== export: {student_hf}', flush=True)
    hf_io.export_checkpoint(workdir, student_hf, extra_card={'evaluation': summary})

  first_train, last_train = _last_logged(workdir, 'train')
  _, last_eval = _last_logged(workdir, 'eval')
  return {
      'student_hf_dir': student_hf,
      'teacher_hf_dir': teacher_hf or None,
      'metrics_file': os.path.join(workdir, 'metrics.jsonl'),
      'eval_file': eval_file,
      'steps': config.train.steps,
      'first_mlm_loss': first_train.get('mlm_loss'),
      'last_mlm_loss': last_train.get('mlm_loss'),
      'eval_mlm_accuracy': last_eval.get('eval_mlm_accuracy'),
      'eval_disc_accuracy': last_eval.get('eval_disc_accuracy'),
      **{k: figures.get(k) for k in ('retrieval_top1', 'language_probe_accuracy',
                                     'language_probe_chance', 'mlm_accuracy')},
  }
