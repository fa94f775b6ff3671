"""A transfer run's per-language table: seeds averaged, English-dev and oracle selection side by
side, the task's floor on the same items; written as finetune.json, finetune.md, finetune.png."""

from collections.abc import Mapping, Sequence
import json
import os

import numpy as np

from unibert_jax.evaluation import plotting
from unibert_jax.finetune import transfer
from unibert_jax.tasks import examples as examples_lib

RESULT_FILE = 'finetune.json'
ENGLISH = 'en'


def _numbers(scores: Mapping) -> dict[str, float]:
  return {k: float(v) for k, v in scores.items() if isinstance(v, (int, float))}


def _mean(rows: Sequence[Mapping]) -> dict[str, float]:
  keys = sorted(set.intersection(*(set(_numbers(row)) for row in rows)))
  return {key: float(np.mean([row[key] for row in rows])) for key in keys}


def _std(values: Sequence[float]) -> float:
  return float(np.std(values, ddof=1)) if len(values) > 1 else 0.0


def aggregate(task: examples_lib.TaskData, seeds: Sequence[transfer.SeedResult],
              floor: tuple[str, Mapping[str, Mapping]] | None, info: Mapping) -> dict:
  """The result file's content. Means over target languages leave English out (the transfer
  claim is about the others; English test is reported on its own)."""
  headline = task.headline_metric
  floor_name, floor_scores = floor or (None, {})
  languages = {}
  for language in task.languages:
    selected = [seed.test[language] for seed in seeds]
    oracle = [seed.oracle_test[language] for seed in seeds if language in seed.oracle_test]
    languages[language] = {
        'examples': len(task.test[language]),
        'en_dev_selected': _mean(selected),
        'en_dev_selected_seeds': [row[headline] for row in selected],
        'en_dev_selected_std': _std([row[headline] for row in selected]),
        'oracle': _mean(oracle) if len(oracle) == len(seeds) else None,
        'floor': _numbers(floor_scores[language]) if language in floor_scores else None}
  targets = [language for language in languages if language != ENGLISH]
  mean_over = lambda column: (
      float(np.mean([languages[l][column][headline] for l in targets]))
      if targets and all(languages[l][column] for l in targets) else None)
  summary = {
      'task': task.name, 'headline_metric': headline, 'seeds': [seed.seed for seed in seeds],
      'target_languages': len(targets),
      'en_dev_selected': mean_over('en_dev_selected'), 'oracle': mean_over('oracle'),
      'floor': mean_over('floor'), 'floor_name': floor_name,
      'english_test': (languages[ENGLISH]['en_dev_selected'][headline]
                       if ENGLISH in languages else None),
      'english_dev': float(np.mean([next(e for e in seed.epochs if e['epoch'] ==
                                         seed.selected_epoch)['en_dev'][headline]
                                    for seed in seeds])),
      'train_seconds_per_seed': float(np.mean([seed.train_seconds for seed in seeds])),
      'eval_seconds_per_seed': float(np.mean([seed.eval_seconds for seed in seeds])),
      'train_tokens_per_second': float(sum(seed.train_tokens for seed in seeds)
                                       / max(sum(seed.train_seconds for seed in seeds), 1e-9)),
  }
  return {'summary': summary, 'info': dict(info), 'languages': languages,
          'seeds': [seed.to_json() for seed in seeds]}


def _cell(value: float | None) -> str:
  return '-' if value is None else f'{value:.3f}'


def markdown(result: Mapping) -> str:
  summary, headline = result['summary'], result['summary']['headline_metric']
  seeds = len(summary['seeds'])
  lines = [
      f'# {summary["task"]}: zero-shot transfer from English ({result["info"].get("model", "")})',
      '',
      f'{headline}, mean of {seeds} seed(s) {summary["seeds"]}; the model of each seed is the '
      'epoch with the best English dev score; "oracle" selects per language on its own dev '
      f'set (Keung et al. 2020). Floor: {summary["floor_name"] or "none"}, on the same items.',
      '',
      f'- target languages: {summary["target_languages"]}; mean {headline}: '
      f'**{_cell(summary["en_dev_selected"])}** (oracle {_cell(summary["oracle"])}, floor '
      f'{_cell(summary["floor"])})',
      f'- English: dev {_cell(summary["english_dev"])}, test {_cell(summary["english_test"])}',
      f'- time per seed: {summary["train_seconds_per_seed"]:.0f} s training, '
      f'{summary["eval_seconds_per_seed"]:.0f} s evaluation; '
      f'{summary["train_tokens_per_second"]:.0f} training tokens/s',
      '',
      f'| language | items | {headline} | seed std | oracle | floor | minus floor |',
      '|---|---:|---:|---:|---:|---:|---:|']
  for language, row in result['languages'].items():
    ours = row['en_dev_selected'][headline]
    floor = row['floor'][headline] if row['floor'] else None
    oracle = row['oracle'][headline] if row['oracle'] else None
    lines.append(f'| {language} | {row["examples"]} | {ours:.3f} | {row["en_dev_selected_std"]:.3f}'
                 f' | {_cell(oracle)} | {_cell(floor)} | '
                 f'{"-" if floor is None else f"{ours - floor:+.3f}"} |')
  return '\n'.join(lines) + '\n'


def plot(result: Mapping, path: str) -> None:
  plt = plotting.pyplot()
  headline = result['summary']['headline_metric']
  rows = sorted(result['languages'].items(), key=lambda kv: -kv[1]['en_dev_selected'][headline])
  x = np.arange(len(rows))
  figure, axes = plt.subplots(figsize=(max(6.0, 0.22 * len(rows)), 3.6))
  axes.bar(x, [row['en_dev_selected'][headline] for _, row in rows], color='tab:blue',
           label='English-dev selection')
  for column, marker, color, label in (('oracle', '_', 'black', 'oracle selection'),
                                       ('floor', 'x', 'tab:red', 'floor')):
    points = [(i, row[column][headline]) for i, (_, row) in enumerate(rows) if row[column]]
    if points:
      axes.scatter(*zip(*points), marker=marker, color=color, label=label, zorder=3)
  axes.set_xticks(x, [language for language, _ in rows], rotation=90, fontsize=6)
  axes.set_ylabel(headline)
  axes.set_title(f'{result["summary"]["task"]}: fine-tuned on English')
  axes.legend(fontsize=7)
  figure.tight_layout()
  figure.savefig(path, dpi=120)
  plt.close(figure)


def write(result: Mapping, out_dir: str) -> dict[str, str]:
  os.makedirs(out_dir, exist_ok=True)
  paths = {'json': os.path.join(out_dir, RESULT_FILE),
           'markdown': os.path.join(out_dir, 'finetune.md'),
           'png': os.path.join(out_dir, 'finetune.png')}
  with open(paths['json'], 'w') as f:
    json.dump(result, f, indent=1)
  with open(paths['markdown'], 'w') as f:
    f.write(markdown(result))
  plot(result, paths['png'])
  return paths


def one_line(result: Mapping, paths: Mapping[str, str]) -> dict:
  """The printed JSON line: the summary and where the files are."""
  return {**result['summary'], 'table': paths['markdown']}
