"""Variants of a model compared on the evaluation suite, with significance tests over languages.

A variant is one eval.json, or several (seeds of that variant). The first variant is the
baseline; each other one is compared with it on every set and figure that all files scored, over
the languages all files scored, at one layer (default: each model's last): per-language paired
differences, the UniBERT paper's average relative improvement, and the paired t-test and
Wilcoxon signed-rank test over languages, seeds averaged per language first (comparison.py).

  result = compare_evals.compare([['runs/base'], ['runs/adv_s0', 'runs/adv_s1']])
  print(compare_evals.markdown(result))
  compare_evals.main('runs/base,runs/adv_s0+runs/adv_s1', out_dir)   # writes compare.json, .md

For the probe, the centered probe and the distance to English, lower is better (more
language-universal): those figures are marked `lower_is_better` (`improvement_direction`
'lower'), their relative improvement is kept raw (positive = the candidate is higher), and
`outcome` says whether the mean difference is an improvement ('better', 'worse' or 'same').
"""

from collections.abc import Collection, Mapping, Sequence
import dataclasses
import json
import math
import os

import numpy as np

from unibert_jax import run_dir
from unibert_jax.evaluation import comparison
from unibert_jax.evaluation import suite_report

COMPARE_JSON, COMPARE_MARKDOWN = 'compare.json', 'compare.md'
SIGNIFICANCE = 0.05   # the markdown's "n.s." mark only; the p-values themselves are reported
SUMMARY_STATISTICS = ('mean_difference', 'average_relative_improvement', 't_pvalue',
                      'wilcoxon_pvalue')


@dataclasses.dataclass(frozen=True)
class _Run:
  """One eval.json's suite, read at one layer."""
  path: str
  suite: Mapping
  layer: int


def eval_json_path(path: str) -> str:
  """The eval.json that `path` names: the file, <dir>/eval.json, or a run's eval/eval.json."""
  if os.path.isdir(path):
    for candidate in (os.path.join(path, run_dir.EVAL_FILE), run_dir.RunDir(path).eval_json):
      if os.path.isfile(candidate):
        return candidate
    raise ValueError(f'{path} holds no {run_dir.EVAL_FILE} (nor eval/{run_dir.EVAL_FILE}); '
                     'give the eval.json of each variant or the directory holding it.')
  if not os.path.isfile(path):
    raise ValueError(f'{path} does not exist; give the eval.json of each variant or the '
                     'directory holding it.')
  return path


def _read_run(path: str, layer: int | None) -> _Run:
  file = eval_json_path(path)
  with open(file) as f:
    try:
      report = json.load(f)
    except json.JSONDecodeError as error:
      raise ValueError(f'{file} is not valid JSON ({error}).') from error
  suite = report.get('suite') if isinstance(report, dict) else None
  if not isinstance(suite, dict) or 'sets' not in suite or 'num_layers' not in suite:
    raise ValueError(f'{file} holds no evaluation-suite result (no "suite" section with sets '
                     'and num_layers); evaluate that model with the suite first.')
  try:
    return _Run(file, suite, suite_report.resolve_layer(suite, layer))
  except ValueError as error:
    raise ValueError(f'{file}: {error}') from error


def _label(path: str) -> str:
  """A short name for a path: its directory, above a run's eval/ folder."""
  path = os.path.normpath(path)
  if path.endswith('.json'):
    path = os.path.dirname(path) or '.'
  if os.path.basename(path) == 'eval':
    path = os.path.dirname(path) or path
  return os.path.basename(os.path.abspath(path))


def _default_names(groups: Sequence[Sequence[str]]) -> list[str]:
  names = ['+'.join(_label(path) for path in group) for group in groups]
  # Two variants with the same directory name (runs/a/x, runs/b/x) stay apart by position.
  return [f'{name}#{index}' if names.count(name) > 1 else name
          for index, name in enumerate(names)]


def _shared(members_by_file: Sequence[tuple[str, Collection[str]]],
            what: str) -> tuple[list[str], str | None]:
  """What every file has (in the first file's order), or, where that is nothing, why: the
  first file that shares none with the files before it."""
  first_file, shared = members_by_file[0]
  shared = list(shared)
  if not shared:
    return [], f'{first_file} has no {what}'
  for file, members in members_by_file[1:]:
    kept = [member for member in shared if member in set(members)]
    if not kept:
      return [], (f'{file} shares no {what} with the files before it (it has '
                  f'{sorted(members)}, they share {shared})')
    shared = kept
  return shared, None


def _sets_not_everywhere(sets_by_file: Sequence[tuple[str, Collection[str]]]) -> list[str]:
  every_set = dict.fromkeys(name for _, names in sets_by_file for name in names)
  return [f'{name}: not evaluated in {file}' for name in every_set
          for file, names in sets_by_file if name not in names]


def _finite(value):
  """JSON keeps no NaN or infinity (a t-test of identical differences): None instead."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  return value


def _scores(runs: Sequence[_Run], set_name: str, figure: str) -> list[dict[str, float]]:
  """Per run, language -> the model's value at the run's layer (unknown ones left out)."""
  scores = []
  for run in runs:
    per_language = run.suite['sets'][set_name]['model']['per_language'].get(figure, {})
    scores.append({language: value for language, values in per_language.items()
                   if (value := suite_report.at_layer(values, run.layer)) is not None})
  return scores


def _figure_result(figure: str, result: comparison.Comparison) -> dict:
  lower_is_better = suite_report.lower_is_better(figure)
  gain = -result.mean_difference if lower_is_better else result.mean_difference
  baseline_std = [std for std, _ in result.seed_std.values()]
  candidate_std = [std for _, std in result.seed_std.values()]
  return {
      'lower_is_better': lower_is_better,
      'improvement_direction': 'lower' if lower_is_better else 'higher',
      'outcome': 'better' if gain > 0 else 'worse' if gain < 0 else 'same',
      'languages': list(result.languages),
      'baseline_mean': float(np.mean(list(result.baseline.values()))),
      'candidate_mean': float(np.mean(list(result.candidate.values()))),
      'baseline_seed_std_mean': float(np.mean(baseline_std)),
      'candidate_seed_std_mean': float(np.mean(candidate_std)),
      'mean_difference': result.mean_difference,
      'average_relative_improvement': result.average_relative_improvement,
      't_statistic': _finite(result.t_statistic),
      't_pvalue': _finite(result.t_pvalue),
      'wilcoxon_statistic': _finite(result.wilcoxon_statistic),
      'wilcoxon_pvalue': _finite(result.wilcoxon_pvalue),
      'per_language': {
          language: {'baseline': result.baseline[language],
                     'candidate': result.candidate[language],
                     'difference': result.differences[language],
                     'baseline_seed_std': result.seed_std[language][0],
                     'candidate_seed_std': result.seed_std[language][1]}
          for language in result.languages},
  }


def compare(groups: Sequence[Sequence[str]], names: Sequence[str] | None = None,
            layer: int | None = None) -> dict:
  """Each variant against the first, per shared set and figure, over the shared languages.

  Args:
    groups: per variant, its eval.json paths (or directories holding one); several = seeds.
    names: per variant, a name (default: from the directory names).
    layer: the layer to compare at (default: each model's last).

  Returns:
    {'baseline': name, 'candidates': [names], 'variants': [{name, paths, layers, models}],
     'sets': {set: {candidate: {figure: {lower_is_better, improvement_direction, outcome,
     languages, baseline_mean, candidate_mean, *_seed_std_mean, mean_difference,
     average_relative_improvement, t_statistic, t_pvalue, wilcoxon_statistic, wilcoxon_pvalue,
     per_language}}}}, 'skipped': [why a shared set or figure was not compared]}.
  """
  if len(groups) < 2:
    raise ValueError(f'A comparison needs a baseline and at least one candidate; got '
                     f'{len(groups)} variant(s).')
  for index, group in enumerate(groups):
    if not group:
      raise ValueError(f'Variant {index} has no eval.json; give one path or more per variant.')
  names = list(names) if names is not None else _default_names(groups)
  if len(names) != len(groups) or len(set(names)) != len(names):
    raise ValueError(f'Give one distinct name per variant: {len(groups)} variants, names '
                     f'{names}.')
  runs = [[_read_run(path, layer) for path in group] for group in groups]
  every_run = [run for group in runs for run in group]
  sets_by_file = [(run.path, list(suite_report.evaluated_sets(run.suite)))
                  for run in every_run]
  set_names, why = _shared(sets_by_file, 'evaluated set')
  if why:
    raise ValueError(f'Nothing to compare: {why}.')
  result = {'baseline': names[0], 'candidates': names[1:],
            'variants': [{'name': name, 'paths': [run.path for run in group],
                          'layers': [run.layer for run in group],
                          'models': [run.suite.get('model') for run in group]}
                         for name, group in zip(names, runs)],
            'sets': {}, 'skipped': _sets_not_everywhere(sets_by_file)}
  for set_name in set_names:
    set_results = [(run.path, run.suite['sets'][set_name]) for run in every_run]
    languages, why_languages = _shared(
        [(file, result['languages']) for file, result in set_results], 'language')
    figures, why_figures = _shared(
        [(file, suite_report.applicable_figures(result)) for file, result in set_results],
        'figure')
    if why_languages or why_figures:
      result['skipped'].append(f'{set_name}: {why_languages or why_figures}')
      continue
    for figure in figures:
      scores = [_scores(group, set_name, figure) for group in runs]
      scored = [language for language in languages
                if all(language in run_scores for group in scores for run_scores in group)]
      if len(scored) < 2:
        result['skipped'].append(f'{set_name}/{figure}: {len(scored)} language(s) scored by '
                                 'every file at the compared layer; a paired test needs 2')
        continue
      baseline = {language: [run_scores[language] for run_scores in scores[0]]
                  for language in scored}
      for name, candidate_scores in zip(names[1:], scores[1:]):
        candidate = {language: [run_scores[language] for run_scores in candidate_scores]
                     for language in scored}
        result['sets'].setdefault(set_name, {}).setdefault(name, {})[figure] = (
            _figure_result(figure, comparison.compare(baseline, candidate)))
  if not result['sets']:
    raise ValueError('Nothing to compare: ' + '; '.join(result['skipped']) + '.')
  return result


def _number(value, digits: int = 3, sign: bool = False) -> str:
  if value is None or not math.isfinite(value):
    return suite_report.NONE_MARK
  return f'{value:+.{digits}f}' if sign else f'{value:.{digits}f}'


def _mean_cell(mean: float, seed_std: float, seeds: int) -> str:
  return _number(mean) + (f' ± {seed_std:.3f}' if seeds > 1 else '')


def _p_value(value) -> str:
  if value is None:
    return suite_report.NONE_MARK
  return f'{value:.2g}' if value < 0.001 else f'{value:.3f}'


def _outcome(row: Mapping) -> str:
  significant = any(p is not None and p < SIGNIFICANCE
                    for p in (row['t_pvalue'], row['wilcoxon_pvalue']))
  return row['outcome'] + ('' if significant or row['outcome'] == 'same' else ' (n.s.)')


def markdown(result: Mapping) -> str:
  """The comparison as markdown: the variants, then per set and candidate a table of figures."""
  seeds = {variant['name']: len(variant['paths']) for variant in result['variants']}
  lines = ['# Comparison on the evaluation suite', '']
  for role, variant in zip(['baseline'] + ['candidate'] * len(result['candidates']),
                           result['variants']):
    lines.append(f'- {role} **{variant["name"]}**: {seeds[variant["name"]]} run(s) at layer(s) '
                 f'{sorted(set(variant["layers"]))}: ' +
                 ', '.join(f'`{path}`' for path in variant['paths']))
  lines += ['', 'Per figure: means over the shared languages (± the mean std over seeds); '
            'ARI = the average relative improvement, the mean over languages of (candidate - '
            'baseline) / baseline; p-values of the paired t-test and the Wilcoxon signed-rank '
            'test over languages (seeds averaged per language first). For figures marked '
            '"lower is better" a negative difference is the improvement. Outcome: the sign of '
            f'the mean difference; n.s. where neither test has p < {SIGNIFICANCE}.']
  baseline = result['baseline']
  for set_name, candidates in result['sets'].items():
    for candidate, figures in candidates.items():
      lines += ['', f'## {set_name}: {candidate} vs {baseline}', '',
                f'| figure | {baseline} mean | {candidate} mean | mean difference | ARI | '
                't-test p | Wilcoxon p | languages | outcome |',
                '|' + '---|' * 9]
      for figure, row in figures.items():
        ari = row['average_relative_improvement']
        lines.append(' '.join([
            '|', figure + (' (lower is better)' if row['lower_is_better'] else ''),
            '|', _mean_cell(row['baseline_mean'], row['baseline_seed_std_mean'], seeds[baseline]),
            '|', _mean_cell(row['candidate_mean'], row['candidate_seed_std_mean'],
                            seeds[candidate]),
            '|', _number(row['mean_difference'], sign=True),
            '|', suite_report.NONE_MARK if ari is None else f'{100 * ari:+.1f}%',
            '|', _p_value(row['t_pvalue']), '|', _p_value(row['wilcoxon_pvalue']),
            '|', str(len(row['languages'])), '|', _outcome(row), '|']))
  if result['skipped']:
    lines += ['', 'Not compared:', ''] + [f'- {why}' for why in result['skipped']]
  return '\n'.join(lines) + '\n'


def parse_spec(spec: str) -> list[list[str]]:
  """'A,B' -> [[A], [B]]; each of A, B may be 'a1+a2+a3' (seeds of one variant)."""
  groups = [[path.strip() for path in part.split('+') if path.strip()]
            for part in spec.split(',')]
  if len(groups) < 2 or not all(groups):
    raise ValueError(f'--compare={spec!r}: give the variants separated by commas, the seeds of '
                     'one variant joined by "+", the baseline first, e.g. '
                     'runs/base,runs/adv_s0+runs/adv_s1.')
  return groups


def flat_summary(result: Mapping) -> dict[str, float | int | str | None]:
  """One JSON line: per set and headline figure, the difference, ARI and p-values, keyed
  `<set>/<figure>/<statistic>` (prefixed `<candidate>/` where there are several candidates)."""
  flat = {'baseline': result['baseline'], 'candidates': ','.join(result['candidates'])}
  several = len(result['candidates']) > 1
  for set_name, candidates in result['sets'].items():
    for candidate, figures in candidates.items():
      prefix = f'{candidate}/' if several else ''
      for figure in suite_report.headline_figures(figures):
        row = figures[figure]
        for statistic in SUMMARY_STATISTICS:
          flat[f'{prefix}{set_name}/{figure}/{statistic}'] = row[statistic]
        flat[f'{prefix}{set_name}/{figure}/languages'] = len(row['languages'])
  return flat


def main(spec: str, out_dir: str | None = None) -> dict:
  """`launch/evaluate.py --compare=SPEC`: compares, writes compare.json and compare.md into
  out_dir (default: the current directory), returns the flat summary with their paths."""
  result = compare(parse_spec(spec))
  return flat_summary(result) | write(result, markdown(result), out_dir, COMPARE_JSON,
                                      COMPARE_MARKDOWN)


def write(result: Mapping, markdown_text: str, out_dir: str | None, json_name: str,
          markdown_name: str) -> dict[str, str]:
  """Writes a comparison's JSON and markdown into out_dir (default: the current directory);
  returns {'compare_json', 'compare_markdown'}: their paths."""
  out_dir = out_dir or os.getcwd()
  os.makedirs(out_dir, exist_ok=True)
  paths = {'compare_json': os.path.join(out_dir, json_name),
           'compare_markdown': os.path.join(out_dir, markdown_name)}
  with open(paths['compare_json'], 'w') as f:
    json.dump(result, f, indent=1)
  with open(paths['compare_markdown'], 'w') as f:
    f.write(markdown_text)
  return paths
