"""Paired comparison over languages: differences, relative improvement, t-test and Wilcoxon."""

import pytest

from unibert_jax.evaluation import comparison

BASELINE = {'de': 0.50, 'fr': 0.40, 'ja': 0.20, 'sw': 0.25, 'zh': 0.10}
# Differences 0.01 .. 0.05: mean 0.03, sample std sqrt(2.5) * 0.01.
CANDIDATE = {'de': 0.51, 'fr': 0.42, 'ja': 0.23, 'sw': 0.29, 'zh': 0.15}


def test_relative_improvement_is_the_mean_of_per_language_ratios():
  # (0.01/0.5 + 0.02/0.4 + 0.03/0.2 + 0.04/0.25 + 0.05/0.1) / 5 = (.02+.05+.15+.16+.5)/5
  assert comparison.average_relative_improvement(BASELINE, CANDIDATE) == pytest.approx(0.176)


def test_paired_tests_over_languages():
  result = comparison.compare(BASELINE, CANDIDATE)
  assert result.differences == pytest.approx({'de': .01, 'fr': .02, 'ja': .03, 'sw': .04,
                                              'zh': .05})
  assert result.mean_difference == pytest.approx(0.03)
  # t = 0.03 / (sqrt(2.5) * 0.01 / sqrt(5)) = 3 * sqrt(2) = 4.2426; two-sided p with 4 df.
  assert result.t_statistic == pytest.approx(4.242641, rel=1e-5)
  assert result.t_pvalue == pytest.approx(0.013236, rel=1e-3)
  # Wilcoxon: all 5 differences positive -> W = 0, exact two-sided p = 2 / 2**5.
  assert result.wilcoxon_statistic == 0.0
  assert result.wilcoxon_pvalue == pytest.approx(0.0625)


def test_seeds_are_averaged_per_language_first():
  baseline = {'de': [0.49, 0.51], 'fr': [0.40], 'ja': [0.1, 0.3], 'sw': 0.25, 'zh': [0.1]}
  candidate = {'de': [0.50, 0.52], 'fr': 0.42, 'ja': [0.22, 0.24], 'sw': [0.29], 'zh': 0.15}
  result = comparison.compare(baseline, candidate)
  assert result.baseline == pytest.approx(BASELINE)
  assert result.candidate == pytest.approx(
      {'de': 0.51, 'fr': 0.42, 'ja': 0.23, 'sw': 0.29, 'zh': 0.15})
  assert result.wilcoxon_pvalue == pytest.approx(0.0625)
  assert result.seed_std['ja'] == pytest.approx((0.141421, 0.014142), rel=1e-4)
  assert result.seed_std['fr'] == (0.0, 0.0)


def test_a_mixed_case_has_the_signed_rank_p_value():
  candidate = dict(CANDIDATE, fr=0.38)   # differences .01, -.02, .03, .04, .05
  result = comparison.compare(BASELINE, candidate)
  # Ranks 1..5, the negative one has rank 2: W = 2; P(W <= 2) = 3 / 32, two-sided 6 / 32.
  assert result.wilcoxon_statistic == 2.0
  assert result.wilcoxon_pvalue == pytest.approx(0.1875)


def test_identical_systems_and_mismatched_languages():
  same = comparison.compare(BASELINE, BASELINE)
  assert (same.t_pvalue, same.wilcoxon_pvalue, same.average_relative_improvement) == (
      1.0, 1.0, 0.0)
  with pytest.raises(ValueError, match=r"only the candidate has \['hi'\]"):
    comparison.compare(BASELINE, dict(CANDIDATE, hi=0.3))
  with pytest.raises(ValueError, match='baseline scores 0 on de'):
    comparison.average_relative_improvement({'de': 0.0}, {'de': 0.1})


def test_a_zero_baseline_leaves_only_the_relative_improvement_undefined():
  result = comparison.compare(dict(BASELINE, de=0.0), CANDIDATE)
  assert result.average_relative_improvement is None
  assert result.differences['de'] == pytest.approx(0.51)
  assert 0 < result.t_pvalue < 1
