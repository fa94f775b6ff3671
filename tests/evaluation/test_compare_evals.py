"""Variants compared on the evaluation suite: paired tests over languages, seeds, file errors."""

import json
import math
import os

import pytest

from tests.evaluation.test_suite_report import make_suite
from unibert_jax.evaluation import compare_evals

LANGUAGES = ('de', 'fr', 'ja', 'sw', 'zh', 'hi', 'ar', 'ru')
# Better on every language by 0.05 to 0.078.
MARGIN = {language: 0.05 + 0.004 * index for index, language in enumerate(LANGUAGES)}
# Up and down by about the same amounts: no systematic difference.
NOISE = dict(zip(LANGUAGES, (0.03, -0.025, 0.012, -0.018, 0.021, -0.02, 0.007, -0.009)))
LOWER_IS_BETTER = {'probe', 'probe_centered', 'mean_distance_to_en'}


def write_eval(directory, shift=None, languages=LANGUAGES, **suite_options) -> str:
  """An eval.json as the evaluation job writes it: the suite beside the MLM figures."""
  os.makedirs(directory, exist_ok=True)
  report = {'suite': make_suite(languages, shift=shift, model=str(directory), **suite_options),
            'mlm_accuracy': 0.41, 'mask_accuracy_baseline': 0.05}
  with open(os.path.join(directory, 'eval.json'), 'w') as f:
    json.dump(report, f)
  return str(directory)


def test_a_candidate_better_on_every_language_is_significant(tmp_path):
  base, candidate = write_eval(tmp_path / 'base'), write_eval(tmp_path / 'adv', MARGIN)
  result = compare_evals.compare([[base], [candidate]])
  assert (result['baseline'], result['candidates']) == ('base', ['adv'])
  row = result['sets']['R1']['adv']['retrieval_to_en_1k']
  assert row['languages'] == sorted(LANGUAGES)
  assert row['mean_difference'] == pytest.approx(0.064)
  assert row['per_language']['de']['difference'] == pytest.approx(0.05)
  assert row['candidate_mean'] - row['baseline_mean'] == pytest.approx(0.064)
  assert row['t_pvalue'] < 1e-4
  assert row['wilcoxon_pvalue'] == pytest.approx(2 / 2**8)   # all 8 differences positive
  assert row['average_relative_improvement'] > 0.08
  assert (row['lower_is_better'], row['improvement_direction'], row['outcome']) == (
      False, 'higher', 'better')
  # R2 has no 1k protocol: compared over all items only.
  assert 'retrieval_to_en_1k' not in result['sets']['R2']['adv']
  assert result['sets']['R2']['adv']['retrieval_to_en_all']['t_pvalue'] < 1e-4


def test_figures_where_lower_is_better_are_flagged(tmp_path):
  base, candidate = write_eval(tmp_path / 'base'), write_eval(tmp_path / 'adv', MARGIN)
  figures = compare_evals.compare([[base], [candidate]])['sets']['R1']['adv']
  assert {figure for figure, row in figures.items() if row['lower_is_better']} == LOWER_IS_BETTER
  probe = figures['probe']
  # The candidate's probe is higher: the raw relative improvement is positive, and it is worse.
  assert probe['average_relative_improvement'] > 0
  assert (probe['improvement_direction'], probe['outcome']) == ('lower', 'worse')


def test_symmetric_noise_is_not_significant(tmp_path):
  base, candidate = write_eval(tmp_path / 'base'), write_eval(tmp_path / 'noisy', NOISE)
  result = compare_evals.compare([[base], [candidate]])
  row = result['sets']['R1']['noisy']['retrieval_to_en_1k']
  assert abs(row['mean_difference']) < 0.001
  assert row['t_pvalue'] > 0.5
  assert row['wilcoxon_pvalue'] > 0.5
  assert f'| {row["t_pvalue"]:.3f} | {row["wilcoxon_pvalue"]:.3f} | 8 | worse (n.s.) |' in (
      compare_evals.markdown(result))


def test_seeds_are_averaged_per_language(tmp_path):
  seeds = [write_eval(tmp_path / f'base_s{seed}', dict.fromkeys(LANGUAGES, offset))
           for seed, offset in enumerate((0.02, -0.02))]
  single, candidate = write_eval(tmp_path / 'base'), write_eval(tmp_path / 'adv', MARGIN)
  with_seeds = compare_evals.compare([seeds, [candidate]], names=['base', 'adv'])
  without = compare_evals.compare([[single], [candidate]])
  row, reference = (result['sets']['R1']['adv']['retrieval_to_en_1k']
                    for result in (with_seeds, without))
  assert row['baseline_mean'] == pytest.approx(reference['baseline_mean'])
  assert row['t_pvalue'] == pytest.approx(reference['t_pvalue'])
  assert row['wilcoxon_pvalue'] == pytest.approx(reference['wilcoxon_pvalue'])
  # The spread over seeds is reported: the std (ddof 1) of x + 0.02 and x - 0.02.
  assert row['per_language']['ja']['baseline_seed_std'] == pytest.approx(0.02 * math.sqrt(2))
  assert row['per_language']['ja']['candidate_seed_std'] == 0.0
  assert with_seeds['variants'][0]['paths'] == [os.path.join(path, 'eval.json') for path in seeds]
  # Baseline mean 0.6 (the last layer) times the mean scale of the eight languages, 0.825.
  assert '| retrieval_to_en_1k | 0.495 ± 0.028 | 0.559 |' in compare_evals.markdown(with_seeds)


def test_only_what_every_file_scored_is_compared(tmp_path):
  base = write_eval(tmp_path / 'base')
  candidate = write_eval(tmp_path / 'adv', MARGIN, languages=LANGUAGES[:-1], sets=('R1',))
  result = compare_evals.compare([[base], [candidate]])
  assert list(result['sets']) == ['R1']
  assert result['sets']['R1']['adv']['probe']['languages'] == sorted(LANGUAGES[:-1])
  assert f'R2: not evaluated in {candidate}/eval.json' in result['skipped']


def test_a_chosen_layer(tmp_path):
  base, candidate = write_eval(tmp_path / 'base'), write_eval(tmp_path / 'adv', MARGIN)
  result = compare_evals.compare([[base], [candidate]], layer=2)
  row = result['sets']['R1']['adv']['retrieval_to_en_1k']
  # Layer 2 of the profile is 0.5; the eight languages' scales average 1 - 0.05 * 3.5.
  assert row['baseline_mean'] == pytest.approx(0.5 * (1 - 0.05 * 3.5))
  assert result['variants'][0]['layers'] == [2]
  with pytest.raises(ValueError, match=r'base/eval.json: Layer 7 .* 0 \(embeddings\) to 4'):
    compare_evals.compare([[base], [candidate]], layer=7)


def test_a_run_directory_holds_its_eval_json_under_eval(tmp_path):
  base = write_eval(tmp_path / 'runs' / 'base' / 'eval')
  candidate = write_eval(tmp_path / 'runs' / 'adv' / 'eval', MARGIN)
  result = compare_evals.compare([[str(tmp_path / 'runs' / 'base')], [candidate]])
  assert result['variants'][0]['paths'] == [os.path.join(base, 'eval.json')]
  assert (result['baseline'], result['candidates']) == ('base', ['adv'])


def test_errors_name_the_file(tmp_path):
  base = write_eval(tmp_path / 'base')
  with pytest.raises(ValueError, match='nowhere/eval.json does not exist'):
    compare_evals.compare([[base], [str(tmp_path / 'nowhere' / 'eval.json')]])
  os.makedirs(tmp_path / 'empty')
  with pytest.raises(ValueError, match='empty holds no eval.json'):
    compare_evals.compare([[base], [str(tmp_path / 'empty')]])
  (tmp_path / 'old').mkdir()
  (tmp_path / 'old' / 'eval.json').write_text(json.dumps({'retrieval_top1': 0.3}))
  with pytest.raises(ValueError, match='old/eval.json holds no evaluation-suite result'):
    compare_evals.compare([[base], [str(tmp_path / 'old')]])
  (tmp_path / 'cut').mkdir()
  (tmp_path / 'cut' / 'eval.json').write_text('{"suite": {')
  with pytest.raises(ValueError, match='cut/eval.json is not valid JSON'):
    compare_evals.compare([[base], [str(tmp_path / 'cut')]])


def test_nothing_shared_is_an_error_naming_the_file(tmp_path):
  base = write_eval(tmp_path / 'base', sets=('R1',))
  other_set = write_eval(tmp_path / 'r2_only', sets=('R2',))
  with pytest.raises(ValueError, match=r'r2_only/eval.json shares no evaluated set'):
    compare_evals.compare([[base], [other_set]])
  other_languages = write_eval(tmp_path / 'asian', languages=('ko', 'th'), sets=('R1',))
  with pytest.raises(ValueError, match=r"asian/eval.json shares no language .*\['ko', 'th'\]"):
    compare_evals.compare([[base], [other_languages]])
  one_language = write_eval(tmp_path / 'one', languages=('de',), sets=('R1',))
  with pytest.raises(ValueError, match='1 language.s. scored by every file'):
    compare_evals.compare([[base], [one_language]])
  with pytest.raises(ValueError, match='baseline and at least one candidate'):
    compare_evals.compare([[base]])


def test_markdown_has_a_table_per_set(tmp_path):
  base, candidate = write_eval(tmp_path / 'base'), write_eval(tmp_path / 'adv', MARGIN)
  result = compare_evals.compare([[base], [candidate]])
  text = compare_evals.markdown(result)
  assert '## R1: adv vs base' in text and '## R2: adv vs base' in text
  assert ('| figure | base mean | adv mean | mean difference | ARI | t-test p | Wilcoxon p | '
          'languages | outcome |') in text
  row = result['sets']['R1']['adv']['retrieval_to_en_1k']
  ari = f'{100 * row["average_relative_improvement"]:+.1f}%'
  assert (f'| retrieval_to_en_1k | 0.495 | 0.559 | +0.064 | {ari} | {row["t_pvalue"]:.2g} | '
          '0.008 | 8 | better |') in text
  assert '| probe (lower is better) |' in text


def test_main_parses_the_spec_and_writes_both_files(tmp_path):
  base = write_eval(tmp_path / 'base')
  seeds = [write_eval(tmp_path / f'adv_s{seed}', {language: shift + (-1) ** seed * 0.01
                                                  for language, shift in MARGIN.items()})
           for seed in range(2)]
  out_dir = str(tmp_path / 'out')
  summary = compare_evals.main(f'{base},{seeds[0]}+{seeds[1]}', out_dir)
  assert summary['compare_json'] == os.path.join(out_dir, 'compare.json')
  assert (summary['baseline'], summary['candidates']) == ('base', 'adv_s0+adv_s1')
  assert summary['R1/retrieval_to_en_1k/mean_difference'] == pytest.approx(0.064)
  assert summary['R1/retrieval_to_en_1k/languages'] == 8
  assert summary['R1/probe/t_pvalue'] < 1e-4
  assert 'R1/mean_distance_to_en/t_pvalue' not in summary   # headline figures only
  json.dumps(summary, allow_nan=False)
  with open(summary['compare_json']) as f:
    written = json.loads(f.read(), parse_constant=lambda name: pytest.fail(f'{name} in JSON'))
  assert written['variants'][1]['paths'] == [os.path.join(path, 'eval.json') for path in seeds]
  with open(summary['compare_markdown']) as f:
    assert '## R1: adv_s0+adv_s1 vs base' in f.read()
  with pytest.raises(ValueError, match='separated by commas'):
    compare_evals.main(base, out_dir)
