"""Two fine-tuned systems compared per task and language (`launch/finetune.py --compare=A,B`).

Each side is a finetune.json, a directory holding one, or a directory whose sub-directories hold
them (one per task); several joined by '+' are pooled (more seeds of one system). Per task, the
headline score of each language (English left out) is averaged over seeds and compared with
evaluation.comparison: the differences, the UniBERT paper's average relative improvement, and
paired t and Wilcoxon tests over languages.
"""

from collections.abc import Mapping, Sequence
import json
import os

from unibert_jax.evaluation import comparison
from unibert_jax.evaluation import compare_evals
from unibert_jax.finetune import results

COMPARE_JSON = 'finetune_compare.json'
COMPARE_MARKDOWN = 'finetune_compare.md'


def result_files(path: str) -> list[str]:
  """The finetune.json files `path` names: itself, in it, or one level below it."""
  if os.path.isfile(path):
    return [path]
  direct = os.path.join(path, results.RESULT_FILE)
  if os.path.isfile(direct):
    return [direct]
  found = sorted(os.path.join(path, name, results.RESULT_FILE) for name in
                 (os.listdir(path) if os.path.isdir(path) else [])
                 if os.path.isfile(os.path.join(path, name, results.RESULT_FILE)))
  if not found:
    raise FileNotFoundError(f'{path} holds no {results.RESULT_FILE} (nor do its sub-directories); '
                            'pass the --workdir of launch/finetune.py.')
  return found


def seed_scores(paths: Sequence[str]) -> dict[str, dict[str, list[float]]]:
  """task -> target language -> the headline score of every seed in the files."""
  by_task: dict[str, dict[str, list[float]]] = {}
  for path in paths:
    for file in result_files(path):
      with open(file) as f:
        result = json.load(f)
      task = result['summary']['task']
      for language, row in result['languages'].items():
        if language != results.ENGLISH:
          by_task.setdefault(task, {}).setdefault(language, []).extend(
              row['en_dev_selected_seeds'])
  return by_task


def compare(baseline_paths: Sequence[str], candidate_paths: Sequence[str]) -> dict:
  baseline, candidate = seed_scores(baseline_paths), seed_scores(candidate_paths)
  tasks = sorted(set(baseline) & set(candidate))
  if not tasks:
    raise ValueError(f'The two sides share no task: {sorted(baseline)} against '
                     f'{sorted(candidate)}.')
  compared = {}
  for task in tasks:
    languages = sorted(set(baseline[task]) & set(candidate[task]))
    result = comparison.compare({l: baseline[task][l] for l in languages},
                                {l: candidate[task][l] for l in languages})
    compared[task] = {
        'languages': languages,
        'mean_difference': result.mean_difference,
        'average_relative_improvement': result.average_relative_improvement,
        't_pvalue': result.t_pvalue, 'wilcoxon_pvalue': result.wilcoxon_pvalue,
        'per_language': {l: {'baseline': result.baseline[l], 'candidate': result.candidate[l],
                             'difference': result.differences[l]} for l in languages}}
  return {'baseline': list(baseline_paths), 'candidate': list(candidate_paths),
          'tasks': compared,
          'not_compared': sorted(set(baseline) ^ set(candidate))}


def markdown(result: Mapping) -> str:
  lines = [f'# Fine-tuning: {"+".join(result["candidate"])} against '
           f'{"+".join(result["baseline"])}', '',
           '| task | languages | mean difference | avg. relative improvement | t p | '
           'Wilcoxon p |', '|---|---:|---:|---:|---:|---:|']
  for task, row in result['tasks'].items():
    ari = row['average_relative_improvement']
    lines.append(f'| {task} | {len(row["languages"])} | {row["mean_difference"]:+.4f} | '
                 f'{"-" if ari is None else f"{100 * ari:+.2f} %"} | {row["t_pvalue"]:.3g} | '
                 f'{row["wilcoxon_pvalue"]:.3g} |')
  for task, row in result['tasks'].items():
    lines += ['', f'## {task}', '', '| language | baseline | candidate | difference |',
              '|---|---:|---:|---:|']
    lines += [f'| {l} | {v["baseline"]:.3f} | {v["candidate"]:.3f} | {v["difference"]:+.3f} |'
              for l, v in row['per_language'].items()]
  return '\n'.join(lines) + '\n'


def main(spec: str, out_dir: str | None = None) -> dict:
  """Compares 'A,B' (baseline first); writes the JSON and markdown; returns the JSON line."""
  groups = compare_evals.parse_spec(spec)
  if len(groups) != 2:
    raise ValueError(f'--compare={spec!r}: give exactly two systems, baseline first (A,B).')
  result = compare(*groups)
  paths = compare_evals.write(result, markdown(result), out_dir, COMPARE_JSON, COMPARE_MARKDOWN)
  line = {f'{task}/{key}': row[key] for task, row in result['tasks'].items()
          for key in ('mean_difference', 'average_relative_improvement', 't_pvalue',
                      'wilcoxon_pvalue')}
  return {**line, **paths}
