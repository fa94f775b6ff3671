r"""Ablation of UniBERT's objectives: adversary on/off x distillation on/off, several seeds.

  python launch/ablation.py --workdir=/tmp/unibert_ablation --seeds=0,1,2

1. One shared demo run (`launch/train.py --config=<config>`) prepares the UDHR data and
   tokenizer and pre-trains and exports the teacher; pass --shared_run=DIR to reuse a finished
   one (e.g. /tmp/unibert_demo).
2. For every seed, four student runs that differ only in loss.adv_weight (the config's value
   or 0) and loss.kd_weight (the config's value or 0), same steps, on the shared data and
   teacher (launch/train.py), each evaluated on the held-out articles (launch/evaluate.py).
3. <workdir>/ablation.md: mean ± std over seeds of retrieval top-1, language-probe accuracy
   (with its chance level) and MLM accuracy; <workdir>/ablation.png; results.jsonl per run.

Finished runs (those with eval/eval.json) are skipped, so an interrupted ablation resumes.
Any --config.* override (e.g. --config.train.steps=300) applies to every run. With
configs/demo.py the 12 student runs take about 1.5 hours on 2 CPU cores; --config=
configs/demo.py:tiny is a few-minute smoke test.
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import app
from absl import flags
from absl import logging
from ml_collections import config_flags

from unibert_jax import cli
from unibert_jax import run_dir
from unibert_jax.evaluation import ablation
from unibert_jax.evaluation import universality_eval

_WORKDIR = flags.DEFINE_string('workdir', None, 'Root of the ablation.', required=True)
_SEEDS = flags.DEFINE_list('seeds', ['0', '1', '2'], 'config.seed of each repetition (>= 3).')
_SHARED_RUN = flags.DEFINE_string(
    'shared_run', None, 'A finished demo run to take data and teacher from (default: run one '
    'into <workdir>/shared).')
_TEACHER_SUBDIR = flags.DEFINE_string(
    'teacher_subdir', None,
    'Where the shared run keeps its exported Hugging Face teacher, relative to its workdir '
    '(default: where launch/train.py exports it).')
_CONFIG = config_flags.DEFINE_config_file(
    'config', os.path.join(ROOT, 'configs', 'demo.py'),
    'Config of every run; its loss.adv_weight and loss.kd_weight are the "on" values.')


def _run(argv: list[str], log_path: str) -> str:
  return ablation.run_script(argv, log_path, ROOT)


def _config_arg() -> str:
  # config_flags keeps the 'path:variant' the user typed.
  return config_flags.get_config_filename(flags.FLAGS['config'])


def _overrides() -> list[str]:
  """The --config.* arguments as typed, passed on verbatim to every training run."""
  return [arg for arg in sys.argv[1:] if arg.startswith('--config.')]


def _teacher_dir(shared: str) -> str:
  if _TEACHER_SUBDIR.value:
    return os.path.join(shared, _TEACHER_SUBDIR.value)
  return run_dir.RunDir(shared).teacher_hf


def _shared_run(config_arg: str, overrides: list[str]) -> str:
  shared = _SHARED_RUN.value or os.path.join(_WORKDIR.value, 'shared')
  teacher_dir = _teacher_dir(shared)
  if not os.path.isdir(teacher_dir):
    if _SHARED_RUN.value:
      raise FileNotFoundError(f'--shared_run={shared} has no exported teacher at {teacher_dir}; '
                              'finish that run or set --teacher_subdir.')
    _run([sys.executable, 'launch/train.py', f'--config={config_arg}', f'--workdir={shared}',
          *overrides], os.path.join(shared, 'train.log'))
    if not os.path.isdir(teacher_dir):
      raise FileNotFoundError(f'The shared demo run left no teacher at {teacher_dir}; set '
                              '--teacher_subdir to where launch/train.py exports it.')
  return shared


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments {argv[1:]}.')
  seeds = [int(s) for s in _SEEDS.value]
  if len(seeds) < 3:
    logging.warning('Only %d seeds: the std over seeds says little below 3.', len(seeds))
  config = _CONFIG.value
  config_arg, overrides = _config_arg(), _overrides()
  shared = _shared_run(config_arg, overrides)
  data_dir = config.data.data_dir or run_dir.RunDir(shared).data
  runs = ablation.plan_ablation(
      config_arg=config_arg, seeds=seeds, adv_weight=config.loss.adv_weight,
      kd_weight=config.loss.kd_weight, root=_WORKDIR.value, data_dir=data_dir,
      teacher_dir=_teacher_dir(shared), overrides=overrides)

  results = []
  results_path = os.path.join(_WORKDIR.value, 'results.jsonl')
  for run in runs:
    eval_json = run_dir.RunDir(run.workdir).eval_json
    if not os.path.isfile(eval_json):
      log_path = os.path.join(run.workdir, 'train.log')
      last_line = _run([sys.executable, 'launch/train.py', *run.train_args], log_path)
      if 'stopped_early_at_step' in last_line:
        raise RuntimeError(f'{run.workdir} stopped before train.steps ({last_line}); see '
                           f'{log_path}, fix the cause and rerun the ablation to resume.')
    if not os.path.isfile(eval_json):  # the trainer may already have evaluated at its end
      _run([sys.executable, 'launch/evaluate.py', f'--workdir={run.workdir}',
            f'--out_dir={os.path.dirname(eval_json)}'], os.path.join(run.workdir, 'eval.log'))
    with open(eval_json) as f:
      report = json.load(f)
    results.append(dict(variant=run.variant, seed=run.seed, adv_weight=run.adv_weight,
                        kd_weight=run.kd_weight,
                        **{key: report[key] for key in universality_eval.SUMMARY_KEYS}))
    with open(results_path, 'w') as f:
      f.writelines(json.dumps(r) + '\n' for r in results)

  rows = ablation.summarize_ablation(results)
  table = ablation.ablation_markdown(rows)
  with open(os.path.join(_WORKDIR.value, 'ablation.md'), 'w') as f:
    f.write(f'Ablation over seeds {seeds} ({config_arg} {" ".join(overrides)}); '
            'mean ± std over seeds.\n\n' + table)
  ablation.plot_ablation(rows, os.path.join(_WORKDIR.value, 'ablation.png'))
  print(table, flush=True)


if __name__ == '__main__':
  cli.run(main)
