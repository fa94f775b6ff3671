"""The evaluation suite's readable outputs: flat summary, markdown tables and the PNG."""

import pathlib
import warnings

import pytest

from unibert_jax.evaluation import plotting
from unibert_jax.evaluation import suite_report

LANGUAGES = ('de', 'fr', 'ja', 'sw', 'zh')
# Language i scores its profile times 1 - 0.05 i: the mean over the five languages is 0.9 times
# the profile. Retrieval peaks at layer 3 and the last layer (4) scores 0.6; the probe is lowest
# (most universal) at layer 2.
RETRIEVAL_PROFILE = (0.10, 0.30, 0.50, 0.70, 0.60)
PROBE_PROFILE = (0.95, 0.80, 0.40, 0.55, 0.60)
# Figure -> (profile, offset added to every value, floor, chance for the 1k protocol).
FIGURE_SHAPES = {
    'retrieval_to_en_1k': (RETRIEVAL_PROFILE, 0.0, 0.25, 0.001),
    'retrieval_from_en_1k': (RETRIEVAL_PROFILE, -0.02, 0.24, 0.001),
    'retrieval_to_en_all': (RETRIEVAL_PROFILE, -0.1, 0.2, None),
    'retrieval_from_en_all': (RETRIEVAL_PROFILE, -0.12, 0.19, None),
    'retrieval_to_en_1k_centered': (RETRIEVAL_PROFILE, 0.05, 0.27, 0.001),
    'retrieval_from_en_1k_centered': (RETRIEVAL_PROFILE, 0.03, 0.26, 0.001),
    'retrieval_to_en_all_centered': (RETRIEVAL_PROFILE, -0.05, 0.22, None),
    'retrieval_from_en_all_centered': (RETRIEVAL_PROFILE, -0.07, 0.21, None),
    'probe': (PROBE_PROFILE, 0.0, 0.99, None),
    'probe_centered': (PROBE_PROFILE, -0.2, 0.9, None),
    'mean_distance_to_en': (PROBE_PROFILE, -0.3, None, None),
}


def make_set(languages=LANGUAGES, num_layers=4, fixed_candidates=1000, items=1200, shift=None):
  """One set's result, as the suite driver writes it. `shift`: language -> a value added to
  every figure of that language (a better or worse variant)."""
  shift = shift or {}
  scale_step = min(0.05, 0.5 / len(languages))   # many languages stay between 0 and 1
  layers = range(num_layers + 1)
  model_per_language, floor_per_language, model_mean, floor_mean, chance = {}, {}, {}, {}, {}
  for figure, (profile, offset, floor, one_k_chance) in FIGURE_SHAPES.items():
    applies = fixed_candidates is not None or '_1k' not in figure
    per_language = {}
    for index, language in enumerate(languages):
      scale = 1 - scale_step * index
      per_language[language] = [
          profile[layer % len(profile)] * scale + offset + shift.get(language, 0.0)
          if applies else None for layer in layers]
    model_per_language[figure] = per_language
    model_mean[figure] = [
        sum(values[layer] for values in per_language.values()) / len(languages)
        if applies else None for layer in layers]
    floor_mean[figure] = floor if applies else None
    floor_per_language[figure] = {
        language: floor + 0.01 * (index % 10) if applies and floor is not None else None
        for index, language in enumerate(languages)}
    if figure.startswith('retrieval'):
      chance[figure] = (one_k_chance if '_1k' in figure else 1 / items) if applies else None
    elif figure.startswith('probe'):
      chance[figure] = 1 / (len(languages) + 1)
    else:
      chance[figure] = None
  return {'languages': list(languages), 'items': {language: items for language in languages},
          'fixed_candidates': fixed_candidates,
          'model': {'mean': model_mean, 'per_language': model_per_language},
          'floor': {'mean': floor_mean, 'per_language': floor_per_language},
          'chance': chance, 'missing': None}


def make_suite(languages=LANGUAGES, num_layers=4, shift=None, model='runs/base/hf',
               missing=('R1e',), sets=('R1', 'R2')):
  """A suite with R1 (the 1k protocol), R2 (no 1k: all items) and sets marked missing."""
  result = {name: make_set(languages, num_layers, 1000 if name == 'R1' else None,
                           1200 if name == 'R1' else 300, shift) for name in sets}
  result.update({name: {'missing': 'not in the parallel-text cache'} for name in missing})
  return {'pooling': 'mean', 'num_layers': num_layers, 'model': model,
          'item_sha256': 'ab' * 32,
          'seconds': {'features': 12.5, 'metrics': 3.0, 'total': 15.5}, 'sets': result}


def test_summary_reads_the_last_layer_the_best_layer_and_the_floor():
  summary = suite_report.summary(make_suite())
  assert summary['suite_layer'] == 4
  assert summary['item_sha256'] == 'ab' * 32
  assert summary['R1/retrieval_to_en_1k'] == pytest.approx(0.54)            # 0.6 * 0.9
  assert summary['R1/retrieval_to_en_1k_best_layer'] == 3
  assert summary['R1/retrieval_to_en_1k_floor'] == 0.25
  assert summary['R1/retrieval_from_en_1k_centered'] == pytest.approx(0.57)  # 0.54 + 0.03
  assert summary['R1/probe'] == pytest.approx(0.54)
  assert summary['R1/probe_best_layer'] == 2        # lowest, not highest: lower is better
  assert summary['R1/probe_centered_best_layer'] == 2
  assert summary['R1/probe_floor'] == 0.99
  # R2 has no 1k protocol: its headline is retrieval over all items.
  assert summary['R2/retrieval_to_en_all'] == pytest.approx(0.44)
  assert summary['R2/retrieval_to_en_all_best_layer'] == 3
  assert not any('R2/retrieval_to_en_1k' in key for key in summary)
  # The headline only: no from-English best layer, no distance, no missing set.
  assert 'R1/retrieval_from_en_1k_best_layer' not in summary
  assert not any('mean_distance' in key or key.startswith('R1e') for key in summary)


def test_summary_at_a_chosen_layer_and_an_unknown_one():
  summary = suite_report.summary(make_suite(), layer=2)
  assert summary['suite_layer'] == 2
  assert summary['R1/retrieval_to_en_1k'] == pytest.approx(0.45)   # 0.5 * 0.9
  assert summary['R1/retrieval_to_en_1k_best_layer'] == 3          # the same whatever the layer
  with pytest.raises(ValueError, match='layers are 0 .embeddings. to 4'):
    suite_report.summary(make_suite(), layer=5)


def test_best_layer_skips_unknown_values_and_takes_the_first_tie():
  assert suite_report.best_layer([None, 0.2, 0.5, 0.5, float('nan')], 'retrieval_to_en_1k') == 2
  assert suite_report.best_layer([0.9, None, 0.3, 0.3], 'probe') == 2
  assert suite_report.best_layer([None, None], 'probe') is None


def test_markdown_has_the_figure_and_language_tables():
  suite = make_suite()
  suite['sets']['R1']['model']['per_language']['retrieval_from_en_1k']['zh'][4] = None
  text = suite_report.markdown(suite)
  assert text.startswith('# Evaluation suite')
  assert '`runs/base/hf`' in text and 'pooling mean' in text and 'ab' * 32 in text
  assert 'lower is better' in text
  # Figure table: model at layer 4, best layer (value and index), floor, chance.
  assert '| retrieval_to_en_1k | 0.540 | 0.630 @ layer 3 | 0.250 | 0.001 |' in text
  assert '| probe (lower is better) | 0.540 | 0.360 @ layer 2 | 0.990 | 0.167 |' in text
  assert '| mean_distance_to_en (lower is better) | 0.240 | 0.060 @ layer 2 | — | — |' in text
  # Per language at layer 4: de scores the profile itself (0.6); its floor is the set's floor.
  assert '| de | 1200 | 0.600 | 0.650 | 0.580 | 0.630 | 0.600 | 0.250 |' in text
  assert '| zh | 1200 | 0.480 | 0.530 | — | 0.510 | 0.480 | 0.290 |' in text
  # R2 has no 1k protocol: no 1k rows, the per-language columns are over all items.
  r2 = text[text.index('## R2'):text.index('## R1e')]
  assert 'retrieval_to_en_1k' not in r2 and 'to en all centered' in r2
  assert '| retrieval_to_en_all | 0.440 | 0.530 @ layer 3 | 0.200 | 0.003 |' in r2
  assert '## R1e\n\nNot evaluated: not in the parallel-text cache.' in text


def test_markdown_at_a_chosen_layer():
  text = suite_report.markdown(make_suite(), layer=2)
  assert 'model (layer 2)' in text
  assert '| retrieval_to_en_1k | 0.450 | 0.630 @ layer 3 | 0.250 | 0.001 |' in text


def _plot_without_warnings(suite, path):
  plotting.pyplot()   # importing matplotlib is not what is under test
  with warnings.catch_warnings():
    warnings.simplefilter('error')
    suite_report.plot(suite, str(path))
  data = path.read_bytes()
  assert data[:8] == b'\x89PNG\r\n\x1a\n'
  return data


@pytest.mark.parametrize('languages', [('de',), tuple(f'l{i:02d}' for i in range(60))])
def test_plot_writes_a_png_for_one_and_for_many_languages(tmp_path, languages):
  _plot_without_warnings(make_suite(languages, missing=(), sets=('R1',)),
                         tmp_path / 'eval_suite.png')


def test_plot_skips_missing_sets_and_draws_the_others(tmp_path):
  two_sets = _plot_without_warnings(make_suite(), tmp_path / 'two.png')
  one_set = _plot_without_warnings(make_suite(sets=('R1',)), tmp_path / 'one.png')
  assert len(two_sets) > len(one_set)      # the second set is drawn; R1e is left out
  _plot_without_warnings(make_suite(sets=(), missing=('R1', 'R2')), tmp_path / 'none.png')


def test_write_puts_the_markdown_and_the_png_in_the_directory(tmp_path):
  paths = suite_report.write(make_suite(), str(tmp_path / 'eval'), layer=3)
  assert paths == {'markdown': str(tmp_path / 'eval' / 'eval_suite.md'),
                   'plot': str(tmp_path / 'eval' / 'eval_suite.png')}
  assert 'model (layer 3)' in pathlib.Path(paths['markdown']).read_text()
  assert pathlib.Path(paths['plot']).read_bytes()[:4] == b'\x89PNG'
