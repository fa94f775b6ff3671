"""What people read of an evaluation-suite result: flat scalars, a markdown report, a PNG.

The suite (the `suite` section of eval.json, see suite.evaluate_suite) holds every figure at
every layer, per language, beside the character n-gram tf-idf floor and chance. Here:

  summary(suite)            flat headline scalars (the job's last JSON line, the model card,
                            TensorBoard): `<set>/<figure>`, `_best_layer`, `_floor`
  markdown(suite)           per set, a figure table and a per-language table
  plot(suite, path)         per set, the per-layer curves and the per-language bars
  write(suite, out_dir)     eval_suite.md and eval_suite.png

Values are read at one layer, by default the last (layer 0 is the embedding output).
"""

from collections.abc import Collection, Mapping, Sequence
import math
import os

import numpy as np

from unibert_jax.evaluation import plotting

SUITE_MARKDOWN, SUITE_PLOT = 'eval_suite.md', 'eval_suite.png'
# The more language-universal the encoder, the LOWER these are (the probe tells languages apart,
# the distance separates language means); for every other figure higher is better.
LOWER_IS_BETTER = frozenset({'probe', 'probe_centered', 'mean_distance_to_en',
                             'mean_distance_between_languages'})
NONE_MARK = '—'


def lower_is_better(figure: str) -> bool:
  return figure in LOWER_IS_BETTER


def evaluated_sets(suite: Mapping) -> dict[str, Mapping]:
  """Set name -> its result, for the sets that were evaluated (not marked missing)."""
  return {name: result for name, result in suite['sets'].items()
          if not result.get('missing') and 'model' in result}


def resolve_layer(suite: Mapping, layer: int | None) -> int:
  """`layer`, or the last layer when None; a clear error when the suite has no such layer."""
  last = int(suite['num_layers'])
  if layer is None:
    return last
  if not 0 <= layer <= last:
    raise ValueError(f'Layer {layer} is not in the suite of {suite.get("model")!r}: its layers '
                     f'are 0 (embeddings) to {last}.')
  return layer


def _known(value) -> bool:
  return value is not None and math.isfinite(value)


def at_layer(values: Sequence[float | None] | None, layer: int) -> float | None:
  """One layer's value of a per-layer list (None when absent or not finite)."""
  if values is None or layer >= len(values) or not _known(values[layer]):
    return None
  return float(values[layer])


def best_layer(values: Sequence[float | None], figure: str) -> int | None:
  """The layer with the best value of `figure` (the first one on a tie); None if none is known."""
  known = [(value, layer) for layer, value in enumerate(values) if _known(value)]
  if not known:
    return None
  pick = min if lower_is_better(figure) else max
  best = pick(value for value, _ in known)
  return next(layer for value, layer in known if value == best)


def applicable_figures(set_result: Mapping) -> list[str]:
  """The figures of a set that apply (a figure that does not is None at every layer)."""
  return [figure for figure, values in set_result['model']['mean'].items()
          if any(_known(value) for value in values)]


def retrieval_scope(available: Collection[str]) -> str:
  """'1k' where the fixed 1,000-candidate protocol applies (among `available` figures), else
  'all' (retrieval over all of a language's items)."""
  return '1k' if 'retrieval_to_en_1k' in available else 'all'


def headline_figures(available: Collection[str]) -> list[str]:
  """The figures worth a headline: retrieval to and from English over the fixed 1,000
  candidates (over all items where there is no 1k protocol), raw and centered, and the probe
  raw and centered; those of them in `available`."""
  scope = retrieval_scope(available)
  headline = [f'retrieval_to_en_{scope}', f'retrieval_from_en_{scope}',
              f'retrieval_to_en_{scope}_centered', f'retrieval_from_en_{scope}_centered',
              'probe', 'probe_centered']
  return [figure for figure in headline if figure in available]


def summary(suite: Mapping, layer: int | None = None) -> dict[str, float | int | str | None]:
  """Flat headline scalars: per evaluated set and headline figure, the model's value at `layer`
  (`<set>/<figure>`), the floor (`<set>/<figure>_floor`) and, for retrieval to English and the
  probe, the best layer (`<set>/<figure>_best_layer`); plus `suite_layer` and `item_sha256`."""
  layer = resolve_layer(suite, layer)
  flat = {'suite_layer': layer, 'item_sha256': suite.get('item_sha256', '')}
  for name, result in evaluated_sets(suite).items():
    for figure in headline_figures(applicable_figures(result)):
      values = result['model']['mean'][figure]
      flat[f'{name}/{figure}'] = at_layer(values, layer)
      if figure.startswith(('retrieval_to_en', 'probe')):
        flat[f'{name}/{figure}_best_layer'] = best_layer(values, figure)
      flat[f'{name}/{figure}_floor'] = result.get('floor', {}).get('mean', {}).get(figure)
  return flat


def _number(value) -> str:
  return f'{value:.3f}' if _known(value) else NONE_MARK


def _table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> list[str]:
  lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
  return lines + ['| ' + ' | '.join(row) + ' |' for row in rows]


def _figure_rows(result: Mapping, layer: int) -> list[list[str]]:
  floor, chance = result.get('floor', {}).get('mean', {}), result.get('chance', {})
  rows = []
  for figure in applicable_figures(result):
    values = result['model']['mean'][figure]
    best = best_layer(values, figure)
    rows.append([figure + (' (lower is better)' if lower_is_better(figure) else ''),
                 _number(at_layer(values, layer)),
                 f'{_number(values[best])} @ layer {best}' if best is not None else NONE_MARK,
                 _number(floor.get(figure)), _number(chance.get(figure))])
  return rows


def _language_rows(result: Mapping, layer: int) -> tuple[list[str], list[list[str]]]:
  scope = retrieval_scope(applicable_figures(result))
  columns = {f'to en {scope}': f'retrieval_to_en_{scope}',
             f'to en {scope} centered': f'retrieval_to_en_{scope}_centered',
             f'from en {scope}': f'retrieval_from_en_{scope}',
             f'from en {scope} centered': f'retrieval_from_en_{scope}_centered',
             'probe recall': 'probe'}
  per_language = result['model']['per_language']
  floor = result.get('floor', {}).get('per_language', {}).get(f'retrieval_to_en_{scope}', {})
  items = result.get('items', {})
  rows = []
  for language in result['languages']:
    cells = [_number(at_layer(per_language.get(figure, {}).get(language), layer))
             for figure in columns.values()]
    rows.append([language, str(items.get(language, NONE_MARK)), *cells,
                 _number(floor.get(language))])
  return ['language', 'items', *columns, f'floor to en {scope}'], rows


def markdown(suite: Mapping, layer: int | None = None) -> str:
  """The suite as markdown: a header line, then per set a table of figures (the model at
  `layer`, its best layer, the tf-idf floor, chance) and a table of languages at `layer`."""
  layer = resolve_layer(suite, layer)
  item_hash = suite.get('item_sha256') or f'{NONE_MARK} (UDHR only)'
  lines = ['# Evaluation suite', '',
           f'model `{suite.get("model", "?")}`, pooling {suite.get("pooling", "?")}, '
           f'layer {layer} of {suite["num_layers"]} (0 = embeddings), items sha256 '
           f'`{item_hash}`. Higher is better for retrieval; lower is better (more '
           'language-universal) for the probe and the distance to English.']
  evaluated = evaluated_sets(suite)
  for name, result in suite['sets'].items():
    lines += ['', f'## {name}', '']
    if name not in evaluated:
      reason = (result.get('missing') or 'no model figures').rstrip('.')
      lines.append(f'Not evaluated: {reason}.')
      continue
    fixed = result.get('fixed_candidates')
    lines += [f'{len(result["languages"])} languages, {sum(result.get("items", {}).values())} '
              f'items; fixed candidates: {fixed if fixed else NONE_MARK}.', '']
    lines += _table(['figure', f'model (layer {layer})', 'best layer', 'tf-idf floor',
                     'chance'], _figure_rows(result, layer))
    lines += ['', f'Per language, layer {layer}:', '']
    lines += _table(*_language_rows(result, layer))
  return '\n'.join(lines) + '\n'


def _retrieval_curves(scope: str) -> dict[str, str]:
  """Figure -> colour of its per-layer curve (its floor is dashed in the same colour)."""
  return {f'retrieval_to_en_{scope}': 'tab:blue', f'retrieval_to_en_{scope}_centered': 'tab:cyan',
          f'retrieval_from_en_{scope}': 'tab:orange',
          f'retrieval_from_en_{scope}_centered': 'tab:olive'}


PROBE_CURVES = {'probe': 'tab:red', 'probe_centered': 'tab:pink'}


def _as_array(values: Sequence[float | None]) -> np.ndarray:
  return np.array([value if _known(value) else np.nan for value in values], dtype=np.float64)


def _curves(axis, result: Mapping, figures: Mapping[str, str], title: str) -> None:
  """Per-layer model curves, their floors (dashed) and chance (dotted)."""
  mean, floor = result['model']['mean'], result.get('floor', {}).get('mean', {})
  chances = set()
  for figure, colour in figures.items():
    if figure not in mean or not any(_known(value) for value in mean[figure]):
      continue
    values = _as_array(mean[figure])
    axis.plot(np.arange(len(values)), values, marker='o', markersize=3, color=colour,
              label=figure)
    if _known(floor.get(figure)):
      axis.axhline(floor[figure], color=colour, linestyle='--', linewidth=1)
    if _known(result.get('chance', {}).get(figure)):
      chances.add(result['chance'][figure])
  for chance in chances:
    axis.axhline(chance, color='gray', linestyle=':', linewidth=1)
  handles, _ = axis.get_legend_handles_labels()
  if handles:   # a legend with no entries is a matplotlib warning
    axis.plot([], [], color='black', linestyle='--', linewidth=1, label='tf-idf floor')
    if chances:
      axis.plot([], [], color='gray', linestyle=':', linewidth=1, label='chance')
    axis.legend(fontsize=7, loc='best')
  layers = max((len(values) for values in mean.values()), default=1)
  axis.set_xticks(range(0, layers, math.ceil(layers / 13)))   # whole layers, at most 13 ticks
  axis.set_title(title, fontsize=10)
  axis.set_xlabel('layer (0 = embeddings)', fontsize=8)
  axis.set_ylim(0, 1)


def _language_bars(axis, result: Mapping, layer: int, scope: str) -> None:
  """Per language: retrieval to English raw and centered at `layer`, the floor as a tick."""
  languages = list(result['languages'])
  per_language = result['model']['per_language']
  x = np.arange(len(languages))
  for offset, (figure, colour) in zip((-0.2, 0.2), (
      (f'retrieval_to_en_{scope}', 'tab:blue'),
      (f'retrieval_to_en_{scope}_centered', 'tab:cyan'))):
    values = [at_layer(per_language.get(figure, {}).get(language), layer)
              for language in languages]
    axis.bar(x + offset, [np.nan if value is None else value for value in values], 0.4,
             color=colour, label=figure)
  floor = result.get('floor', {}).get('per_language', {}).get(f'retrieval_to_en_{scope}', {})
  floor_values = [floor.get(language) for language in languages]
  if any(_known(value) for value in floor_values):
    axis.scatter(x, [value if _known(value) else np.nan for value in floor_values],
                 marker='_', s=120, color='black', label='tf-idf floor', zorder=3)
  fontsize = 9 if len(languages) <= 30 else 7 if len(languages) <= 60 else 5
  axis.set_xticks(x, languages, rotation=90, fontsize=fontsize)
  axis.set_xlim(-1, len(languages))
  axis.set_ylim(0, 1)
  axis.legend(fontsize=7, loc='upper right')
  axis.set_title(f'Retrieval to en ({scope}) per language, layer {layer}', fontsize=10)


def plot(suite: Mapping, path: str, layer: int | None = None) -> None:
  """The suite as a PNG: per evaluated set, the per-layer curves (retrieval, probe) and the
  per-language bars at `layer` (default the last). Sets marked missing are left out."""
  layer = resolve_layer(suite, layer)
  plt = plotting.pyplot()
  sets = evaluated_sets(suite)
  if not sets:
    figure = plt.figure(figsize=(6, 2))
    figure.text(0.5, 0.5, 'No evaluation set was evaluated.', ha='center', va='center')
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return
  most_languages = max(len(result['languages']) for result in sets.values())
  mosaic = []
  for name in sets:
    mosaic += [[f'{name}/retrieval', f'{name}/probe'], [f'{name}/languages'] * 2]
  figure, axes = plt.subplot_mosaic(
      mosaic, figsize=(max(12.0, 0.2 * most_languages), 7.5 * len(sets)), layout='constrained')
  for name, result in sets.items():
    scope = retrieval_scope(applicable_figures(result))
    _curves(axes[f'{name}/retrieval'], result, _retrieval_curves(scope),
            f'{name}: retrieval top-1 ({scope})')
    _curves(axes[f'{name}/probe'], result, PROBE_CURVES,
            f'{name}: language probe (lower is more universal)')
    _language_bars(axes[f'{name}/languages'], result, layer, scope)
  figure.suptitle(f'{suite.get("model", "")} ({suite.get("pooling", "?")} pooling)',
                  fontsize=11)
  figure.savefig(path, dpi=100)
  plt.close(figure)


def write(suite: Mapping, out_dir: str, layer: int | None = None) -> dict[str, str]:
  """Writes eval_suite.md and eval_suite.png into out_dir; returns their paths."""
  os.makedirs(out_dir, exist_ok=True)
  paths = {'markdown': os.path.join(out_dir, SUITE_MARKDOWN),
           'plot': os.path.join(out_dir, SUITE_PLOT)}
  with open(paths['markdown'], 'w') as f:
    f.write(markdown(suite, layer))
  plot(suite, paths['plot'], layer)
  return paths
