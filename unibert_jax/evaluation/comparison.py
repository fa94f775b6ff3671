"""Two systems compared over the languages of a task: paired differences, the UniBERT paper's
average relative improvement, and paired significance tests over languages.

Several runs (seeds) per system and language are averaged per language first, and the tests
pair the languages. The language is the unit the claim is about ("better across languages"),
and seeds of two systems are not paired with each other (seed k of one system shares nothing
with seed k of the other), so pairing (language, seed) rows would count seed noise as extra
independent evidence. The spread over seeds is reported apart (`seed_std`).
"""

from collections.abc import Mapping, Sequence
import dataclasses

import numpy as np
from scipy import stats

Scores = Mapping[str, float | Sequence[float]]   # language -> score, or one score per seed


@dataclasses.dataclass(frozen=True)
class Comparison:
  """candidate vs baseline on the same languages (scores averaged over seeds)."""
  languages: tuple[str, ...]
  baseline: dict[str, float]
  candidate: dict[str, float]
  differences: dict[str, float]            # candidate - baseline, per language
  mean_difference: float
  average_relative_improvement: float | None  # mean of (candidate - baseline) / baseline;
                                              # None where the baseline scores 0 somewhere
  t_statistic: float                       # paired t-test over languages (scipy ttest_rel)
  t_pvalue: float
  wilcoxon_statistic: float                # Wilcoxon signed-rank over languages
  wilcoxon_pvalue: float
  seed_std: dict[str, tuple[float, float]]  # language -> (baseline, candidate) std over seeds


def per_language_means(scores: Scores) -> dict[str, float]:
  """Language -> the score, or the mean of its seeds' scores."""
  means = {}
  for language, value in scores.items():
    values = np.atleast_1d(np.asarray(value, dtype=np.float64))
    if values.size == 0:
      raise ValueError(f'Language {language} has no scores.')
    means[language] = float(values.mean())
  return means


def _seed_std(value) -> float:
  values = np.atleast_1d(np.asarray(value, dtype=np.float64))
  return float(values.std(ddof=1)) if values.size > 1 else 0.0


def average_relative_improvement(baseline: Mapping[str, float],
                                 candidate: Mapping[str, float]) -> float:
  """The UniBERT paper's "average relative improvement": the mean over languages of
  (candidate - baseline) / baseline (a fraction: 0.02 = 2%). Each language counts equally,
  whatever its baseline."""
  languages = _common_languages(baseline, candidate)
  ratios = []
  for language in languages:
    if baseline[language] == 0:
      raise ValueError(f'The baseline scores 0 on {language}: the relative improvement is '
                       f'undefined; compare differences instead.')
    ratios.append((candidate[language] - baseline[language]) / baseline[language])
  return float(np.mean(ratios))


def _common_languages(baseline: Mapping, candidate: Mapping) -> tuple[str, ...]:
  if set(baseline) != set(candidate):
    only_baseline = sorted(set(baseline) - set(candidate))
    only_candidate = sorted(set(candidate) - set(baseline))
    raise ValueError(f'Compare on the same languages: only the baseline has {only_baseline}, '
                     f'only the candidate has {only_candidate}.')
  return tuple(sorted(baseline))


def compare(baseline: Scores, candidate: Scores) -> Comparison:
  """Paired comparison over languages; needs at least 2 languages."""
  languages = _common_languages(baseline, candidate)
  if len(languages) < 2:
    raise ValueError(f'A paired test needs at least 2 languages, got {list(languages)}.')
  baseline_means, candidate_means = per_language_means(baseline), per_language_means(candidate)
  differences = np.asarray([candidate_means[language] - baseline_means[language]
                            for language in languages])
  if np.all(differences == 0):
    t_statistic, t_pvalue, wilcoxon_statistic, wilcoxon_pvalue = 0.0, 1.0, 0.0, 1.0
  else:
    t_result = stats.ttest_rel([candidate_means[language] for language in languages],
                               [baseline_means[language] for language in languages])
    wilcoxon_result = stats.wilcoxon(differences)
    t_statistic, t_pvalue = float(t_result.statistic), float(t_result.pvalue)
    wilcoxon_statistic = float(wilcoxon_result.statistic)
    wilcoxon_pvalue = float(wilcoxon_result.pvalue)
  return Comparison(
      languages=languages, baseline=baseline_means, candidate=candidate_means,
      differences=dict(zip(languages, differences.tolist())),
      mean_difference=float(differences.mean()),
      # A baseline of 0 (a retrieval no language pair solves) leaves the ratio undefined; the
      # differences and the tests still say something, so the comparison goes on without it.
      average_relative_improvement=(
          average_relative_improvement(baseline_means, candidate_means)
          if all(baseline_means[language] != 0 for language in languages) else None),
      t_statistic=t_statistic, t_pvalue=t_pvalue, wilcoxon_statistic=wilcoxon_statistic,
      wilcoxon_pvalue=wilcoxon_pvalue,
      seed_std={language: (_seed_std(baseline[language]), _seed_std(candidate[language]))
                for language in languages})
