"""What people read of the universality experiment: markdown, a PNG and the JSON file.

  universality_report.write(result, out_dir, header)   # universality.md, .json, .png

`result` is universality.analyse's. Means are over seeds ± their sample std; the paired tests
are over languages (seeds averaged per language first).
"""

from collections.abc import Mapping, Sequence
import json
import math
import os

import numpy as np

from unibert_jax.evaluation import ablation
from unibert_jax.evaluation import plotting
from unibert_jax.experiments import universality

MARKDOWN, JSON, PLOT = 'universality.md', 'universality.json', 'universality.png'
NONE_MARK = '—'
_PASS = {True: 'PASS', False: 'FAIL', None: 'not measured'}


def _cell(row: Mapping, key: str) -> str:
  value = row.get(key)
  if value is None or value[0] is None:
    return NONE_MARK
  mean, std = value
  return ablation.mean_std((mean, float('nan') if std is None else std))


def _number(value: float | None, sign: bool = False) -> str:
  if value is None or not math.isfinite(value):
    return NONE_MARK
  return f'{value:+.3f}' if sign else f'{value:.3f}'


def _p(value: float | None) -> str:
  if value is None:
    return NONE_MARK
  return f'{value:.2g}' if value < 0.001 else f'{value:.3f}'


def _reference(rows: Mapping[str, Mapping], baseline: str, figure: str) -> str:
  """The figure's floor and chance, as the baseline's runs saw them."""
  row = rows[baseline]
  parts = [f'{label} {_number(row[key][0])}' for label, key in
           (('floor', f'{figure}_floor'), ('chance', f'{figure}_chance')) if row.get(key)]
  return ', '.join(parts) or NONE_MARK


def _summary_table(result: Mapping) -> list[str]:
  rows = {row['variant']: row for row in result['summary']}
  variants = result['variants']
  lines = ['| figure | ' + ' | '.join(variants) + ' | floor / chance |',
           '|' + '---|' * (len(variants) + 2)]
  for figure in universality.FIGURES:
    if not any(figure.name in rows[v] for v in variants):
      continue
    arrow = '↓' if figure.lower_is_better else '↑'
    lines.append(f'| {figure.label} {arrow} | ' +
                 ' | '.join(_cell(rows[v], figure.name) for v in variants) +
                 f' | {_reference(rows, result["baseline"], figure.name)} |')
  return lines


def _comparison_table(comparisons: Mapping[str, Mapping], baseline_name: str) -> list[str]:
  lines = [f'| candidate | figure | {baseline_name} | candidate | mean difference | ARI | '
           't-test p | Wilcoxon p | languages | outcome |', '|' + '---|' * 10]
  for candidate, figures in comparisons.items():
    for name, row in figures.items():
      label = universality.BY_NAME[name].label
      if 'skipped' in row:
        lines.append(f'| {candidate} | {label} | {row["skipped"]} |' + ' |' * 7)
        continue
      ari = row['average_relative_improvement']
      lines.append(
          f'| {candidate} | {label} | {_number(row["baseline_mean"])} | '
          f'{_number(row["candidate_mean"])} | {_number(row["mean_difference"], sign=True)} | '
          f'{NONE_MARK if ari is None else f"{100 * ari:+.1f}%"} | {_p(row["t_pvalue"])} | '
          f'{_p(row["wilcoxon_pvalue"])} | {row["languages"]} | {row["outcome"]} |')
  return lines


def _bar(result: Mapping) -> list[str]:
  best = result['best']
  lines = [f'The best adversarial variant: **{best}** ({result["best_chosen_by"]}).', '',
           '| variant | held-out UDHR probe ↓ | held-out UDHR retrieval top-1 ↑ |',
           '|---|---|---|']
  lines += [f'| {variant} | {_number(dev["udhr_probe"])} | {_number(dev["udhr_retrieval"])} |'
            for variant, dev in result['dev'].items()]
  lines += ['', f'### {best} against {result["baseline"]}', '',
            '| check | criterion | result | numbers |', '|---|---|---|---|']
  lines += [f'| {check["name"]} | {check["criterion"]} | **{_PASS[check["passed"]]}** | '
            f'{check["detail"]} |' for check in result['bar'][best]]
  others = [candidate for candidate in result['candidates'] if candidate != best]
  if others:
    lines += ['', 'The other candidates on the same checks: ' + '; '.join(
        f'{candidate}: ' + ', '.join(f'{check["name"]} {_PASS[check["passed"]]}'
                                     for check in result['bar'][candidate])
        for candidate in others) + '.']
  return lines


def _per_layer(result: Mapping) -> list[str]:
  curves = {v: c for v, c in result['probe_per_layer'].items() if c}
  if not curves:
    return []
  layers = max(len(curve) for curve in curves.values())
  lines = ['| variant | ' + ' | '.join(f'layer {layer}' for layer in range(layers)) + ' |',
           '|' + '---|' * (layers + 1)]
  lines += [f'| {v} | ' + ' | '.join(_number(value) for value in curve) + ' |'
            for v, curve in curves.items()]
  return lines


def markdown(result: Mapping, header: str = '') -> str:
  baseline, control = result['baseline'], result['control']
  seeds = len(result['seeds'])
  lines = ['# The universality experiment', '']
  if header:
    lines += [header, '']
  lines += [
      f'Seeds {result["seeds"]}. Held-out items, final layer, mean pooling. R1: the suite\'s '
      'set of UI sentences (language-ID probe trained on one half of the keys, tested on the '
      'other; retrieval P@1 over the fixed 1,000 candidates). <mask> accuracy: held-out UDHR '
      'articles (mean over languages; its floor is the most frequent training token). C1, P1, '
      'T1: fine-tuned on English, mean over the target languages (English left out). '
      f'**{control}** is {baseline} read through the suite\'s centered figures (each item minus '
      'its language\'s mean): not trained.', '',
      f'## Per variant: mean ± std over {seeds} seed(s)', '', *_summary_table(result), '',
      f'## Against {baseline}', '',
      'Paired over languages, seeds averaged per language first; ARI: the UniBERT paper\'s '
      'average relative improvement (mean over languages of (candidate - baseline) / '
      'baseline). For the probe lower is better, so "better" means a negative difference. '
      'Means here are over the paired languages: for the probe, each language\'s recall '
      '(English, the pivot, is not among them), so they differ from the accuracy above.', '',
      *_comparison_table(result['versus_baseline'], baseline), '',
      f'## Against {control}', '',
      f'Each candidate\'s raw figures against {baseline}\'s centered ones.', '',
      *_comparison_table(result['versus_control'], control), '',
      '## The bar (issue 15)', '', *_bar(result), '']
  per_layer = _per_layer(result)
  if per_layer:
    lines += ['## The R1 language-ID probe at every layer (mean over seeds; 0 = embeddings)', '',
              *per_layer, '']
  return '\n'.join(lines)


def plot(result: Mapping, path: str) -> None:
  """Bars per variant (± std over seeds) of the headline figures, and the probe per layer."""
  plt = plotting.pyplot()
  rows = [{k: (tuple(np.nan if x is None else x for x in v) if isinstance(v, list) else v)
           for k, v in row.items()} for row in result['summary']]
  panels = [figure for figure in universality.FIGURES
            if not figure.name.endswith('_centered') and any(figure.name in r for r in rows)]
  columns = math.ceil((len(panels) + 1) / 2)
  figure, grid = plt.subplots(2, columns, figsize=(1 + 3.2 * columns, 7.5),
                              constrained_layout=True, squeeze=False)
  axes = grid.ravel()
  for axis in axes[len(panels) + 1:]:
    axis.set_visible(False)
  for axis, panel in zip(axes, panels):
    reference = ((f'{panel.name}_chance', 'chance') if panel.name == 'probe'
                 else (f'{panel.name}_floor', 'floor'))
    ablation.draw_bars(axis, rows, panel.name, panel.label + (' ↓' if panel.lower_is_better
                                                              else ' ↑'), reference)
    axis.tick_params(axis='x', labelsize=7)
  curve_axis = axes[len(panels)]
  for variant, curve in result['probe_per_layer'].items():
    if curve:
      curve_axis.plot(range(len(curve)), [np.nan if v is None else v for v in curve],
                      marker='o', linestyle='--' if variant == result['control'] else '-',
                      label=variant)
  curve_axis.set_xlabel('layer (0 = embeddings)')
  curve_axis.set_ylim(0, 1)
  curve_axis.set_title('R1 probe per layer ↓', fontsize=9)
  curve_axis.legend(fontsize=7)
  figure.savefig(path, dpi=100)
  plt.close(figure)


def _json_safe(value):
  """JSON keeps no NaN (the std of one seed): None instead."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, Mapping):
    return {key: _json_safe(item) for key, item in value.items()}
  if isinstance(value, (list, tuple)):
    return [_json_safe(item) for item in value]
  return value


def write(result: Mapping, out_dir: str, header: str = '',
          records: Sequence[Mapping] = ()) -> dict[str, str]:
  """Writes universality.md, .json (the result and the runs' records) and .png into out_dir."""
  os.makedirs(out_dir, exist_ok=True)
  paths = {'markdown': os.path.join(out_dir, MARKDOWN), 'json': os.path.join(out_dir, JSON),
           'png': os.path.join(out_dir, PLOT)}
  with open(paths['markdown'], 'w') as f:
    f.write(markdown(result, header))
  with open(paths['json'], 'w') as f:
    json.dump(_json_safe({**result, 'runs': list(records)}), f, indent=1)
  plot(result, paths['png'])
  return paths
