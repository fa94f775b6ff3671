"""An ablation of the objectives: the training runs to make, and their summary over seeds.

`plan_ablation` lists the runs (every variant x seed, sharing one demo run's data and teacher);
`launch/ablation.py` runs them (`run_script`). `summarize_ablation` turns their evaluations
into mean ± std per variant, as a markdown table and a chart (`draw_bars` per figure). The
universality experiment (experiments/universality.py) uses the same pieces with its figures.
"""

from collections.abc import Mapping, Sequence
import dataclasses
import logging
import math
import os
import subprocess

import numpy as np

from unibert_jax.evaluation import plotting

ABLATION_METRICS = ('retrieval_top1', 'language_probe_accuracy', 'mlm_accuracy')
CHANCE_KEYS = ('language_probe_chance', 'retrieval_chance')


def run_script(argv: Sequence[str], log_path: str, cwd: str) -> str:
  """Runs a launch script (argv[0] the interpreter), stderr and stdout into log_path; returns
  stdout's last line. Raises RuntimeError with the log's tail when it fails."""
  os.makedirs(os.path.dirname(log_path), exist_ok=True)
  logging.info('Running %s (log: %s)', ' '.join(argv[1:]), log_path)
  with open(log_path, 'w') as log:
    process = subprocess.run(list(argv), cwd=cwd, stdout=subprocess.PIPE, stderr=log, text=True)
    log.write(process.stdout)
  if process.returncode:
    with open(log_path) as log:
      tail = log.read()[-3000:]
    raise RuntimeError(f'{argv[1]} failed (exit {process.returncode}); see {log_path}:\n{tail}')
  lines = [line for line in process.stdout.splitlines() if line.strip()]
  return lines[-1] if lines else ''


def summarize_ablation(results: Sequence[Mapping],
                       metrics: Sequence[str] = ABLATION_METRICS + CHANCE_KEYS,
                       constants: Sequence[str] = ('adv_weight', 'kd_weight')) -> list[dict]:
  """Mean and sample std over seeds, per variant, in the order the variants first appear.

  Args:
    results: one dict per run with 'variant', 'seed' and the `metrics` (a metric a run lacks
      or has as None is left out of that variant's mean). Every variant must have the same
      seeds: the comparison is paired.
    metrics: the figures to summarise, each as (mean, std) in the rows.
    constants: per-variant settings copied from the variant's first run.
  """
  by_variant: dict[str, list[Mapping]] = {}
  for result in results:
    by_variant.setdefault(result['variant'], []).append(result)
  if not by_variant:
    raise ValueError('summarize_ablation got no results.')
  seed_sets = {v: sorted(r['seed'] for r in rs) for v, rs in by_variant.items()}
  if len({tuple(s) for s in seed_sets.values()}) != 1:
    raise ValueError(f'Ablation variants were run with different seeds {seed_sets}; '
                     'rerun the missing ones so every variant has the same seeds.')
  rows = []
  for variant, runs in by_variant.items():
    row = {'variant': variant, 'seeds': len(runs)}
    for key in metrics:
      values = np.array([r[key] for r in runs if r.get(key) is not None], np.float64)
      if len(values):
        row[key] = (float(values.mean()),
                    float(values.std(ddof=1)) if len(values) > 1 else float('nan'))
    for key in constants:
      if key in runs[0]:
        row[key] = runs[0][key]
    rows.append(row)
  return rows


def mean_std(value: tuple[float, float]) -> str:
  """'mean ± std' (just the mean where the std is undefined: one seed)."""
  mean, std = value
  return f'{mean:.3f} ± {std:.3f}' if not math.isnan(std) else f'{mean:.3f}'


def ablation_markdown(rows: Sequence[Mapping]) -> str:
  """A markdown table: one row per variant, mean ± std over seeds of the three figures."""
  header = ['variant', 'adv_weight', 'kd_weight', 'seeds', 'retrieval top-1 ↑',
            'language probe ↓', 'probe chance', 'MLM accuracy ↑']
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  for row in rows:
    cells = [row['variant'], str(row.get('adv_weight', '')), str(row.get('kd_weight', '')),
             str(row['seeds'])]
    cells += [mean_std(row[key]) if key in row else '' for key in (
        'retrieval_top1', 'language_probe_accuracy', 'language_probe_chance', 'mlm_accuracy')]
    lines.append('| ' + ' | '.join(cells) + ' |')
  return '\n'.join(lines) + '\n'


def draw_bars(axis, rows: Sequence[Mapping], key: str, title: str,
              reference: tuple[str, str] | None = None) -> None:
  """One figure's bars per variant (mean, std error bars over seeds) on `axis`; `reference`
  (row key, label) draws that figure's mean over variants as a dashed line (chance, floor)."""
  shown = [row for row in rows if key in row]
  x = np.arange(len(shown))
  means = [row[key][0] for row in shown]
  stds = [0.0 if math.isnan(row[key][1]) else row[key][1] for row in shown]
  axis.bar(x, means, yerr=stds, capsize=4, color='tab:blue')
  if reference and shown and all(reference[0] in row for row in shown):
    axis.axhline(np.mean([row[reference[0]][0] for row in shown]), color='gray',
                 linestyle='--', label=reference[1])
    axis.legend(loc='upper right', fontsize=7)
  axis.set_xticks(x, [row['variant'] for row in shown], rotation=20)
  axis.set_ylim(0, 1)
  axis.set_title(title, fontsize=9)


def plot_ablation(rows: Sequence[Mapping], path: str) -> None:
  """Grouped bars (mean, std error bars over seeds) of the three figures per variant."""
  plt = plotting.pyplot()
  titles = {'retrieval_top1': 'retrieval top-1 (higher: more universal)',
            'language_probe_accuracy': 'language probe (lower: more universal)',
            'mlm_accuracy': 'MLM accuracy'}
  chance = {'retrieval_top1': ('retrieval_chance', 'chance'),
            'language_probe_accuracy': ('language_probe_chance', 'chance')}
  figure, axes = plt.subplots(1, 3, figsize=(4 + 1.2 * len(rows) * 3, 4), constrained_layout=True)
  for axis, key in zip(axes, ABLATION_METRICS):
    draw_bars(axis, rows, key, titles[key], chance.get(key))
  figure.savefig(path, dpi=100)
  plt.close(figure)


@dataclasses.dataclass(frozen=True)
class AblationRun:
  variant: str
  seed: int
  adv_weight: float
  kd_weight: float
  workdir: str
  train_args: tuple[str, ...]  # arguments of launch/train.py


def ablation_variants(adv_weight: float, kd_weight: float) -> list[tuple[str, float, float]]:
  """(name, adv_weight, kd_weight): each objective on at the config's weight, or off."""
  if adv_weight <= 0 or kd_weight <= 0:
    raise ValueError(f'The ablation switches loss.adv_weight ({adv_weight}) and '
                     f'loss.kd_weight ({kd_weight}) off against their "on" value, which must be '
                     'positive; set both in the config.')
  return [('mlm+adv+kd', adv_weight, kd_weight), ('mlm+adv', adv_weight, 0.0),
          ('mlm+kd', 0.0, kd_weight), ('mlm', 0.0, 0.0)]


def plan_ablation(*, config_arg: str, seeds: Sequence[int], adv_weight: float, kd_weight: float,
                  root: str, data_dir: str, teacher_dir: str,
                  overrides: Sequence[str] = ()) -> list[AblationRun]:
  """The training runs of the ablation, seed-major (a partial ablation has whole seeds).

  Runs of one seed differ only in loss.adv_weight and loss.kd_weight. All runs share the
  prepared data and the teacher of one demo run; the teacher's top-k cache is per seed
  (the training stream, hence the cached examples, depend on config.seed) and shared by the
  four variants of that seed: the first run of a seed writes it, the others read it.
  """
  runs = []
  for seed in seeds:
    for variant, adv, kd in ablation_variants(adv_weight, kd_weight):
      workdir = os.path.join(root, 'runs', variant, f'seed_{seed}')
      train_args = (f'--config={config_arg}', f'--workdir={workdir}', *overrides,
                    f'--config.seed={seed}',
                    f'--config.loss.adv_weight={adv}', f'--config.loss.kd_weight={kd}',
                    f'--config.data.data_dir={data_dir}',
                    f'--config.kd.teacher_dir={teacher_dir}',
                    f'--config.kd.cache_dir={os.path.join(root, "teacher_cache", f"seed_{seed}")}')
      runs.append(AblationRun(variant, int(seed), adv, kd, workdir, train_args))
  return runs
