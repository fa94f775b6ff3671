r"""The universality experiment (issue 15), end to end in one command; prints one JSON line.

  python launch/universality.py --workdir=/tmp/unibert_universality --seeds=0,1,2

1. The shared data, once: the UDHR corpus and tokenizer (launch/prepare_data.py into
   <workdir>/shared), and R1 and T1 in the parallel-text cache (launch/build_eval_data.py, only
   when missing; downloads).
2. Every variant of the config's VARIANTS x seed: launch/train.py on the shared data (the job's
   evaluation stage runs the suite on R1 and scores the held-out <mask> slots), then
   launch/finetune.py per transfer task (the config's TRANSFER) on the run's languages. The
   fine-tunings of a run (one core) go on while the next run trains.
3. <workdir>/universality.md, universality.json, universality.png: mean ± std over seeds per
   variant, each variant against the baseline (and every candidate against the centered
   baseline) paired over languages, the bar of issue 15 for the best variant (chosen on held-out
   UDHR data, a dev split apart from R1 and the tasks), the R1 probe per layer. <workdir>/suite_compare.md holds every suite
   figure of every variant against the baseline (evaluation/compare_evals.py).

Finished stages are skipped (a run with eval/eval.json, a task with finetune.json), so an
interrupted experiment resumes with the same command. --config.* overrides apply to every run.
--variants picks some (the baseline always among them). Times on 2 CPU cores: the docstring of
configs/universality.py; configs/universality.py:tiny is the tests' smoke run.
"""

from concurrent import futures
import json
import os
import shutil
import sys
import time

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from unibert_jax import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

_WORKDIR = flags.DEFINE_string('workdir', None, 'Root of the experiment.', required=True)
_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2'], 'config.seed of each repetition (>= 3).')
_VARIANTS = flags.DEFINE_list('variants', None, 'Variants to run (default: all of the config\'s '
                              'VARIANTS); the baseline is always run.')
_BEST = flags.DEFINE_string('best', None, 'The variant the bar is checked for (default: chosen '
                            'on the held-out UDHR probe).')
_PARALLEL_TEXT_DIR = flags.DEFINE_string(
    'parallel_text_dir', None, 'The parallel-text cache of R1 and T1 (default ~/.cache/'
    'unibert_jax/parallel_text); passed to every run and fine-tuning.')
_CONFIG = config_flags.DEFINE_config_file(
    'config', os.path.join(ROOT, 'configs', 'universality.py'),
    'Config of every run; its module holds VARIANTS, BASELINE, CENTERED_CONTROL and transfer().')


def _config_arg() -> str:
  # config_flags keeps the 'path:variant' the user typed.
  return config_flags.get_config_filename(flags.FLAGS['config'])


def _overrides() -> list[str]:
  """The --config.* arguments as typed, passed on verbatim to every training run."""
  return [arg for arg in sys.argv[1:] if arg.startswith('--config.')]


def _experiment_module(config_arg: str):
  """The config file as a module: its VARIANTS, BASELINE, CENTERED_CONTROL and transfer()."""
  import importlib.util  # pylint: disable=g-import-not-at-top
  path = config_arg.split(':')[0]
  spec = importlib.util.spec_from_file_location('universality_experiment_config',
                                                os.path.join(ROOT, path))
  module = importlib.util.module_from_spec(spec)
  spec.loader.exec_module(module)
  missing = [name for name in ('VARIANTS', 'BASELINE', 'CENTERED_CONTROL', 'transfer')
             if not hasattr(module, name)]
  if missing:
    raise ValueError(f'--config={config_arg} defines no {", ".join(missing)}; use '
                     'configs/universality.py or a copy of it.')
  return module


def _python(script: str, *args: str) -> list[str]:
  return [sys.executable, os.path.join('launch', script), *args]


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments {argv[1:]}.')
  # pylint: disable=g-import-not-at-top
  import jax
  from unibert_jax import config_schema
  from unibert_jax import run_dir
  from unibert_jax.data import languages as languages_lib
  from unibert_jax.evaluation import ablation
  from unibert_jax.evaluation import compare_evals
  from unibert_jax.evaluation import suite as suite_lib
  from unibert_jax.experiments import universality
  from unibert_jax.experiments import universality_report
  from unibert_jax.finetune import results as finetune_results
  from unibert_jax.tasks import registry
  # pylint: enable=g-import-not-at-top
  start = time.time()
  root = os.path.abspath(_WORKDIR.value)
  seeds = [int(s) for s in _SEEDS.value]
  if len(set(seeds)) != len(seeds) or not seeds:
    raise ValueError(f'--seeds={",".join(_SEEDS.value)}: give distinct seeds.')
  if len(seeds) < 3:
    logging.warning('Only %d seed(s): the experiment\'s claims need at least 3.', len(seeds))
  config_arg, overrides = _config_arg(), _overrides()
  experiment = _experiment_module(config_arg)
  baseline, control = experiment.BASELINE, experiment.CENTERED_CONTROL
  chosen = _VARIANTS.value or list(experiment.VARIANTS)
  unknown = sorted(set(chosen) - set(experiment.VARIANTS))
  if unknown:
    raise ValueError(f'--variants: unknown {unknown}; the config has '
                     f'{", ".join(experiment.VARIANTS)}.')
  variants = {name: experiment.VARIANTS[name] for name in experiment.VARIANTS
              if name in chosen or name == baseline}
  if len(variants) < 2:
    raise ValueError(f'--variants={",".join(chosen)}: name at least one variant besides the '
                     f'baseline {baseline!r}.')
  config = _CONFIG.value
  parallel_text_dir = _PARALLEL_TEXT_DIR.value
  if parallel_text_dir:
    overrides = [*overrides, f'--config.eval.parallel_text_dir={parallel_text_dir}']
    config.eval.parallel_text_dir = parallel_text_dir
  # Every variant's config is checked before anything runs.
  for name, variant_overrides in variants.items():
    try:
      config_schema.validate(universality.variant_config(config, variant_overrides),
                             jax.device_count(), jax.process_count())
    except ValueError as error:
      raise ValueError(f'Variant {name!r}: {error}') from error
  settings = experiment.transfer(config_arg.partition(':')[2] or None)
  tasks = tuple(settings['tasks'])

  # 1. The shared data: corpus and tokenizer; R1 and T1.
  shared = os.path.join(root, 'shared')
  prepared = json.loads(ablation.run_script(
      _python('prepare_data.py', f'--config={config_arg}', f'--workdir={shared}', *overrides),
      os.path.join(shared, 'prepare_data.log'), ROOT))
  cache_dir = os.path.expanduser(parallel_text_dir or '') or None
  needed = ('R1', 'T1') if 'T1' in tasks else ('R1',)
  unbuilt = suite_lib.unbuilt_sets(suite_lib.SuiteOptions(sets=needed, cache_dir=cache_dir))
  if unbuilt:
    ablation.run_script(
        _python('build_eval_data.py', f'--sets={",".join(unbuilt)}',
                *([f'--cache_dir={cache_dir}'] if cache_dir else [])),
        os.path.join(shared, 'build_eval_data.log'), ROOT)
  run_languages = languages_lib.resolve_languages(config.data.languages)
  task_languages = {}
  for task in tasks:   # each task's test languages among the runs' languages
    available = registry.load_task(task, parallel_text_dir=cache_dir).languages
    task_languages[task] = [language for language in run_languages if language in available]

  # 2. The runs.
  runs = universality.plan(config_arg=config_arg, variants=variants, seeds=seeds, root=root,
                           data_dir=prepared['data_dir'], overrides=overrides)

  def train(run: universality.Run) -> None:
    if os.path.isfile(run_dir.RunDir(run.workdir).eval_json):
      return
    last_line = ablation.run_script([sys.executable, 'launch/train.py', *run.train_args],
                                    os.path.join(run.workdir, 'train.log'), ROOT)
    if 'stopped_early_at_step' in last_line:
      raise RuntimeError(f'{run.workdir} stopped before train.steps ({last_line}); rerun the '
                         'experiment to resume.')

  def finetune(run: universality.Run) -> dict:
    """Fine-tunes the run on every task not done yet; returns its record."""
    for task in tasks:
      workdir = run.transfer_dir(task)
      if os.path.isfile(os.path.join(workdir, finetune_results.RESULT_FILE)):
        continue
      if os.path.isdir(workdir):   # an interrupted fine-tuning: its epochs would be reused
        shutil.rmtree(workdir)
      ablation.run_script(
          _python('finetune.py', *universality.transfer_args(
              run.workdir, task, settings, task_languages[task], parallel_text_dir)),
          os.path.join(run.workdir, 'transfer', f'{task}.log'), ROOT)
    logging.info('%s seed %d done (%.0f s so far)', run.variant, run.seed, time.time() - start)
    return universality.read_run(run.variant, run.seed, run.workdir, tasks)

  # Fine-tuning keeps one core busy, training more: a run's fine-tunings go on in the
  # background while the next run trains.
  with futures.ThreadPoolExecutor(max_workers=1) as background:
    pending = []
    try:
      for run in runs:
        failed = [future for future in pending if future.done() and future.exception()]
        if failed:
          failed[0].result()   # raises the first failure before more training
        train(run)
        pending.append(background.submit(finetune, run))
      records = [future.result() for future in pending]
    except BaseException:
      for future in pending:   # the fine-tunings not started yet; one under way finishes
        future.cancel()
      raise

  # 3. The report.
  result = universality.analyse(records, baseline=baseline, control=control, best=_BEST.value)
  header = (f'`python launch/universality.py {" ".join(sys.argv[1:])}`; variants: ' +
            '; '.join(f'{name} {dict(o)}' for name, o in variants.items()) +
            f'; transfer: {settings}.')
  paths = universality_report.write(result, root, header, records)
  names = list(variants)
  groups = [[r.workdir for r in runs if r.variant == name] for name in names]
  suite_comparison = compare_evals.compare(groups, names)
  compare_paths = compare_evals.write(suite_comparison, compare_evals.markdown(suite_comparison),
                                      root, 'suite_compare.json', 'suite_compare.md')
  cli.print_json({
      'universality_md': paths['markdown'], 'universality_json': paths['json'],
      'universality_png': paths['png'], 'suite_compare_md': compare_paths['compare_markdown'],
      'runs': len(runs), 'best': result['best'],
      'bar': {check['name']: check['passed'] for check in result['bar'][result['best']]},
      'seconds': round(time.time() - start, 1)})


if __name__ == '__main__':
  cli.run(main)
