"""The universality experiment (issue 15): its runs, their figures, paired tests and the bar.

  runs = universality.plan(config_arg='configs/universality.py', variants=VARIANTS,
                           seeds=[0, 1, 2], root=W, data_dir=D)
  records = [universality.read_run(run.variant, run.seed, run.workdir, tasks) for run in runs]
  result = universality.analyse(records, baseline='none', control='none+centering')

launch/universality.py runs the plan (launch/train.py, then launch/finetune.py per task) and
writes the report (universality_report.py). A record is one finished run's figures on held-out
items, at the final layer with mean pooling: on R1 the language-ID probe and retrieval P@1 to and
from English over the fixed 1,000 candidates, raw and centered; <mask> accuracy on the held-out
UDHR articles; each transfer task's headline over its target languages (C1 macro-F1, P1
accuracy, T1 UI span F1). Each comes with its floor (tf-idf, most frequent token, the task's) or
chance, and per language: the unit of the paired tests (evaluation/comparison.py; seeds are
averaged per language first). The control is the baseline's runs read through their centered
figures: the same encoders, each item minus its language's mean.
"""

from collections.abc import Mapping, Sequence
import dataclasses
import json
import math
import os

import ml_collections
import numpy as np

from unibert_jax import run_dir
from unibert_jax.evaluation import ablation
from unibert_jax.evaluation import comparison
from unibert_jax.evaluation import suite_report
from unibert_jax.finetune import compare_runs
from unibert_jax.finetune import results as finetune_results

SUITE_SET = 'R1'
TASK_FIGURES = {'C1': 'C1 macro-F1', 'P1': 'P1 accuracy', 'T1': 'T1 UI span F1'}
# The suite figures read as raw and, for the control, as centered ('{scope}': 1k where the set
# has the fixed-candidate protocol, as R1 has).
CENTERED = {'probe': 'probe_centered', 'retrieval_to_en': 'retrieval_to_en_centered',
            'retrieval_from_en': 'retrieval_from_en_centered'}
_SUITE_NAMES = {'probe': 'probe', 'probe_centered': 'probe_centered',
                'retrieval_to_en': 'retrieval_to_en_{scope}',
                'retrieval_from_en': 'retrieval_from_en_{scope}',
                'retrieval_to_en_centered': 'retrieval_to_en_{scope}_centered',
                'retrieval_from_en_centered': 'retrieval_from_en_{scope}_centered'}

# The bar of issue 15 for the best adversarial variant against the baseline.
PROBE_MAX = 0.25
SIGNIFICANCE = 0.05
MASK_TOLERANCE = 0.01   # "within 1 point": at most this much below the baseline


@dataclasses.dataclass(frozen=True)
class Figure:
  name: str
  label: str
  lower_is_better: bool = False


FIGURES = (
    Figure('probe', 'R1 language-ID probe', lower_is_better=True),
    Figure('probe_centered', 'R1 language-ID probe, centered', lower_is_better=True),
    Figure('retrieval_to_en', 'R1 P@1 to en'),
    Figure('retrieval_from_en', 'R1 P@1 from en'),
    Figure('retrieval_to_en_centered', 'R1 P@1 to en, centered'),
    Figure('retrieval_from_en_centered', 'R1 P@1 from en, centered'),
    Figure('mask_accuracy', '<mask> accuracy (held-out UDHR)'),
    *(Figure(task, label) for task, label in TASK_FIGURES.items()),
)
BY_NAME = {figure.name: figure for figure in FIGURES}
# What the dev split (held-out UDHR, not R1 nor the tasks' items) picks the best on.
DEV_RULE = ('lowest language-ID probe accuracy on the held-out UDHR sequences (the last '
            'eval_probe_accuracy of metrics.jsonl, else eval.json language_probe_accuracy; '
            'ties: highest held-out UDHR retrieval_top1)')


@dataclasses.dataclass(frozen=True)
class Run:
  """One training run of the experiment and its launch/train.py arguments."""
  variant: str
  seed: int
  workdir: str
  train_args: tuple[str, ...]

  def transfer_dir(self, task: str) -> str:
    return transfer_dir(self.workdir, task)


def transfer_dir(workdir: str, task: str) -> str:
  return os.path.join(workdir, 'transfer', task)


def override_args(overrides: Mapping[str, object]) -> list[str]:
  """{'loss.adv_weight': 0.0} -> ['--config.loss.adv_weight=0.0']."""
  return [f'--config.{path}={value}' for path, value in overrides.items()]


def variant_config(config: ml_collections.ConfigDict,
                   overrides: Mapping[str, object]) -> ml_collections.ConfigDict:
  """A copy of `config` with a variant's overrides; a field the config lacks is an error (a
  misspelt override would otherwise be added silently)."""
  config = config.copy_and_resolve_references()
  for path, value in overrides.items():
    *sections, field = path.split('.')
    parent = config
    for section in sections:
      if section not in parent or not isinstance(parent[section], ml_collections.ConfigDict):
        raise ValueError(f'Variant override {path}={value!r}: the config has no section '
                         f'{section!r}.')
      parent = parent[section]
    if field not in parent:
      raise ValueError(f'Variant override {path}={value!r}: the config has no field {path}.')
    parent[field] = value
  return config


def plan(*, config_arg: str, variants: Mapping[str, Mapping[str, object]], seeds: Sequence[int],
         root: str, data_dir: str, overrides: Sequence[str] = ()) -> list[Run]:
  """The training runs, seed-major (an interrupted experiment has whole seeds).

  Every run trains on the same prepared data (data_dir); `overrides` (--config.* as typed)
  apply to all, the variant's own after them.
  """
  runs = []
  for seed in seeds:
    for variant, variant_overrides in variants.items():
      workdir = os.path.join(root, 'runs', variant, f'seed_{seed}')
      train_args = (f'--config={config_arg}', f'--workdir={workdir}', *overrides,
                    f'--config.seed={seed}', *override_args(variant_overrides),
                    f'--config.data.data_dir={data_dir}')
      runs.append(Run(variant, int(seed), workdir, train_args))
  return runs


def transfer_args(workdir: str, task: str, settings: Mapping, languages: Sequence[str],
                  parallel_text_dir: str | None = None) -> list[str]:
  """launch/finetune.py's arguments for one task on one run (settings: configs/universality.py
  TRANSFER)."""
  args = [f'--task={task}', f'--model={workdir}', f'--workdir={transfer_dir(workdir, task)}',
          f'--languages={",".join(languages)}',
          f'--seeds={",".join(str(seed) for seed in settings["seeds"])}',
          f'--learning_rate={settings["learning_rate"]}', f'--epochs={settings["epochs"]}',
          f'--max_eval_per_language={settings["max_eval_per_language"]}']
  limit = settings.get('max_train_examples', {}).get(task)
  if limit:
    args.append(f'--max_train_examples={limit}')
  for name in ('batch_size', 'max_length'):
    if settings.get(name):
      args.append(f'--{name}={settings[name]}')
  if parallel_text_dir:
    args.append(f'--parallel_text_dir={parallel_text_dir}')
  return args


def _last_eval_record(metrics_file: str) -> dict:
  last = {}
  if os.path.isfile(metrics_file):
    with open(metrics_file) as f:
      for line in f:
        record = json.loads(line)
        if record.get('kind') == 'eval':
          last = record
  return last


def _suite_figures(suite: Mapping, workdir: str) -> dict:
  """The R1 figures of one suite at its last layer: values, floors, chance, per language."""
  result = suite_report.evaluated_sets(suite).get(SUITE_SET)
  if result is None:
    why = suite.get('sets', {}).get(SUITE_SET, {}).get('missing', 'not requested')
    raise ValueError(f'{workdir}: the suite did not evaluate {SUITE_SET} ({why}); build it '
                     '(launch/build_eval_data.py --sets=R1) and rerun launch/evaluate.py.')
  layer = suite_report.resolve_layer(suite, None)
  scope = suite_report.retrieval_scope(suite_report.applicable_figures(result))
  out = {'values': {}, 'floors': {}, 'chance': {}, 'per_language': {}}
  for name, suite_name in _SUITE_NAMES.items():
    suite_name = suite_name.format(scope=scope)
    out['values'][name] = suite_report.at_layer(result['model']['mean'][suite_name], layer)
    out['floors'][name] = result['floor']['mean'].get(suite_name)
    out['chance'][name] = result['chance'].get(suite_name)
    out['per_language'][name] = {
        language: value for language, values in
        result['model']['per_language'][suite_name].items()
        if (value := suite_report.at_layer(values, layer)) is not None}
  out['per_layer'] = {name: result['model']['mean'][_SUITE_NAMES[name]]
                      for name in ('probe', 'probe_centered')}
  return out


def read_run(variant: str, seed: int, workdir: str, tasks: Sequence[str]) -> dict:
  """One finished run's record (see the module docstring) from the files its stages wrote:
  eval/eval.json, metrics.jsonl and transfer/<task>/finetune.json."""
  run = run_dir.RunDir(workdir)
  with open(run.eval_json) as f:
    report = json.load(f)
  if 'suite' not in report:
    raise ValueError(f'{run.eval_json} has no suite; evaluate the run with the suite '
                     '(launch/evaluate.py) first.')
  last_eval = _last_eval_record(run.metrics)
  held_out_probe = last_eval.get('eval_probe_accuracy')
  record = {'variant': variant, 'seed': int(seed), 'workdir': workdir,
            **_suite_figures(report['suite'], workdir),
            'dev': {'udhr_probe': (report.get('language_probe_accuracy')
                                   if held_out_probe is None else held_out_probe),
                    'udhr_retrieval': report.get('retrieval_top1')}}
  record['values']['mask_accuracy'] = report.get('mlm_accuracy')
  record['floors']['mask_accuracy'] = last_eval.get('eval_mask_baseline_accuracy')
  record['per_language']['mask_accuracy'] = dict(
      report.get('per_language', {}).get('mlm_accuracy', {}))
  for task in tasks:
    path = os.path.join(transfer_dir(workdir, task), finetune_results.RESULT_FILE)
    with open(path) as f:
      summary = json.load(f)['summary']
    record['values'][task] = summary['en_dev_selected']
    record['floors'][task] = summary['floor']
    # Per target language (English left out), the mean over fine-tuning seeds.
    per_language = compare_runs.seed_scores([path]).get(task, {})
    record['per_language'][task] = {language: float(np.mean(scores))
                                    for language, scores in per_language.items()}
  return record


def control_record(record: Mapping, control: str) -> dict:
  """A baseline record read through its centered figures, as the control variant."""
  def centered(section):
    return {raw: record[section].get(name) for raw, name in CENTERED.items()}
  return {'variant': control, 'seed': record['seed'], 'workdir': record['workdir'],
          'values': centered('values'), 'floors': centered('floors'),
          'chance': centered('chance'), 'per_language': centered('per_language'),
          'per_layer': {'probe': record['per_layer']['probe_centered']}, 'dev': {}}


def _flat(record: Mapping) -> dict:
  flat = {'variant': record['variant'], 'seed': record['seed']}
  for figure, value in record['values'].items():
    flat[figure] = value
    flat[f'{figure}_floor'] = record['floors'].get(figure)
    flat[f'{figure}_chance'] = record['chance'].get(figure)
  return flat


def summarize(records: Sequence[Mapping]) -> list[dict]:
  """Per variant (in order of appearance): mean and sample std over seeds of every figure, its
  floor and its chance (ablation.summarize_ablation)."""
  keys = [f'{figure.name}{suffix}' for figure in FIGURES for suffix in ('', '_floor', '_chance')]
  rows = ablation.summarize_ablation([_flat(record) for record in records], keys, constants=())
  return [{key: list(value) if isinstance(value, tuple) else value for key, value in row.items()}
          for row in rows]


def _seed_scores(records: Sequence[Mapping], figure: str) -> dict[str, list[float]]:
  """Language -> one value per record, for the languages every record scored."""
  per_run = [record['per_language'].get(figure) or {} for record in records]
  languages = set.intersection(*(set(scores) for scores in per_run)) if per_run else set()
  return {language: [scores[language] for scores in per_run] for language in sorted(languages)}


def _finite(value: float | None) -> float | None:
  return value if value is not None and math.isfinite(value) else None


def paired(baseline: Sequence[Mapping], candidate: Sequence[Mapping], figure: str,
           baseline_figure: str | None = None) -> dict:
  """candidate's `figure` against baseline's `baseline_figure` (default the same), paired over
  the languages both scored, seeds averaged per language (comparison.compare)."""
  base = _seed_scores(baseline, baseline_figure or figure)
  cand = _seed_scores(candidate, figure)
  languages = sorted(set(base) & set(cand))
  if len(languages) < 2:
    return {'skipped': f'{len(languages)} language(s) scored by both; a paired test needs 2'}
  result = comparison.compare({l: base[l] for l in languages}, {l: cand[l] for l in languages})
  gain = (-1 if BY_NAME[figure].lower_is_better else 1) * result.mean_difference
  return {'languages': len(languages),
          'baseline_mean': float(np.mean(list(result.baseline.values()))),
          'candidate_mean': float(np.mean(list(result.candidate.values()))),
          'mean_difference': result.mean_difference,
          'average_relative_improvement': result.average_relative_improvement,
          't_pvalue': _finite(result.t_pvalue),
          'wilcoxon_pvalue': _finite(result.wilcoxon_pvalue),
          'outcome': 'better' if gain > 0 else 'worse' if gain < 0 else 'same'}


def choose_best(records: Sequence[Mapping], candidates: Sequence[str]) -> tuple[str, dict]:
  """The candidate the dev split picks (DEV_RULE), and every candidate's dev figures."""
  dev = {}
  for variant in candidates:
    runs = [record for record in records if record['variant'] == variant]
    probe = [r['dev']['udhr_probe'] for r in runs if r['dev'].get('udhr_probe') is not None]
    retrieval = [r['dev']['udhr_retrieval'] for r in runs
                 if r['dev'].get('udhr_retrieval') is not None]
    dev[variant] = {'udhr_probe': float(np.mean(probe)) if probe else None,
                    'udhr_retrieval': float(np.mean(retrieval)) if retrieval else None}
  scored = [v for v in candidates if dev[v]['udhr_probe'] is not None]
  if not scored:
    raise ValueError('No candidate run has a held-out UDHR probe (metrics.jsonl or eval.json '
                     'language_probe_accuracy) to choose the best variant on.')
  best = min(scored, key=lambda v: (dev[v]['udhr_probe'], -(dev[v]['udhr_retrieval'] or 0.0)))
  return best, dev


def _mean(rows: Mapping[str, Mapping], variant: str, key: str) -> float | None:
  value = rows[variant].get(key)
  return value[0] if value else None


def _number(value: float | None) -> str:
  return '—' if value is None else f'{value:.3f}'


def _p(value: float | None) -> str:
  return '—' if value is None else f'{value:.2g}'


def check_bar(variant: str, baseline: str, control: str, rows: Mapping[str, Mapping],
              versus_baseline: Mapping[str, Mapping], versus_control: Mapping[str, Mapping]
              ) -> list[dict]:
  """Issue 15's bar for `variant`: [{'name', 'criterion', 'passed' (None: not measured),
  'detail'}]."""
  checks = []
  probe = _mean(rows, variant, 'probe')
  checks.append({
      'name': 'probe', 'criterion': f'R1 language-ID probe at most {PROBE_MAX}',
      'passed': None if probe is None else probe <= PROBE_MAX,
      'detail': f'{_number(probe)} ({baseline} {_number(_mean(rows, baseline, "probe"))}, '
                f'chance {_number(_mean(rows, variant, "probe_chance"))})'})
  passed, details = True, []
  for figure in ('retrieval_to_en', 'retrieval_from_en'):
    test, against = versus_baseline.get(figure, {}), versus_control.get(figure, {})
    if 'mean_difference' not in test or 'mean_difference' not in against:
      passed = None
      details.append(f'{figure}: not compared')
      continue
    significant = all(p is not None and p < SIGNIFICANCE
                      for p in (test['t_pvalue'], test['wilcoxon_pvalue']))
    higher = test['mean_difference'] > 0 and significant
    as_high = against['mean_difference'] >= 0
    passed = passed and higher and as_high
    details.append(f'{figure} {_number(test["candidate_mean"])} vs {baseline} '
                   f'{_number(test["baseline_mean"])} ({test["mean_difference"]:+.3f}, t p '
                   f'{_p(test["t_pvalue"])}, Wilcoxon p {_p(test["wilcoxon_pvalue"])}), vs '
                   f'{control} {_number(against["baseline_mean"])}')
  checks.append({
      'name': 'retrieval',
      'criterion': f'R1 P@1 to and from en higher than {baseline} (paired t and Wilcoxon p < '
                   f'{SIGNIFICANCE} over languages) and at least as high as {control}',
      'passed': passed, 'detail': '; '.join(details)})
  mask = versus_baseline.get('mask_accuracy', {})
  checks.append({
      'name': 'mask', 'criterion': f'<mask> accuracy at most {MASK_TOLERANCE} below {baseline}',
      'passed': (mask['mean_difference'] >= -MASK_TOLERANCE if 'mean_difference' in mask
                 else None),
      'detail': (f'{_number(mask["candidate_mean"])} vs {_number(mask["baseline_mean"])} '
                 f'({mask["mean_difference"]:+.4f})' if 'mean_difference' in mask
                 else 'not compared')})
  c1 = versus_baseline.get('C1', {})
  checks.append({
      'name': 'C1', 'criterion': f'C1 zero-shot macro-F1 not lower than {baseline}',
      'passed': c1['mean_difference'] >= 0 if 'mean_difference' in c1 else None,
      'detail': (f'{_number(c1["candidate_mean"])} vs {_number(c1["baseline_mean"])} '
                 f'({c1["mean_difference"]:+.4f}, t p {_p(c1["t_pvalue"])}, Wilcoxon p '
                 f'{_p(c1["wilcoxon_pvalue"])})' if 'mean_difference' in c1
                 else 'not run')})
  return checks


def _per_layer(records: Sequence[Mapping], name: str) -> list[float | None]:
  curves = [record['per_layer'][name] for record in records if record['per_layer'].get(name)]
  if not curves:
    return []
  return [float(np.mean(values)) if all(v is not None for v in values) else None
          for values in zip(*curves)]


def analyse(records: Sequence[Mapping], *, baseline: str, control: str,
            best: str | None = None) -> dict:
  """Everything the report shows, from the runs' records.

  Args:
    records: read_run's records of every trained variant (the baseline among them).
    baseline: the variant without adversary; the comparisons' reference.
    control: the name under which the baseline's centered figures appear.
    best: the candidate the bar headlines (default: chosen on the dev split, DEV_RULE).

  Returns:
    {'variants', 'candidates', 'summary' (rows of summarize, the control's included),
     'versus_baseline' {candidate: {figure: paired}}, 'versus_control' {variant: {figure:
     paired}}, 'best', 'best_chosen_by', 'dev', 'bar' {candidate: checks}, 'probe_per_layer'}.
  """
  variants = list(dict.fromkeys(record['variant'] for record in records))
  if baseline not in variants:
    raise ValueError(f'No run of the baseline {baseline!r} among the variants {variants}.')
  candidates = [variant for variant in variants if variant != baseline]
  if not candidates:
    raise ValueError(f'Only the baseline {baseline!r} was run: nothing to compare.')
  by_variant = {v: [r for r in records if r['variant'] == v] for v in variants}
  controls = [control_record(record, control) for record in by_variant[baseline]]
  rows = summarize(list(records) + controls)
  summary = {row['variant']: row for row in rows}
  versus_baseline = {
      candidate: {figure.name: paired(by_variant[baseline], by_variant[candidate], figure.name)
                  for figure in FIGURES}
      for candidate in candidates}
  # The control has the raw names of the centered figures; every candidate against it.
  versus_control = {candidate: {figure: paired(controls, by_variant[candidate], figure)
                                for figure in CENTERED}
                    for candidate in candidates}
  chosen, dev = choose_best(records, candidates)
  if best is not None and best not in candidates:
    raise ValueError(f'--best={best}: not one of the candidates {candidates}.')
  return {
      'variants': variants + [control], 'baseline': baseline, 'control': control,
      'candidates': candidates, 'seeds': sorted({r['seed'] for r in by_variant[baseline]}),
      'summary': rows,
      'versus_baseline': versus_baseline, 'versus_control': versus_control,
      'best': best or chosen,
      'best_chosen_by': 'given' if best else f'dev split: {DEV_RULE}', 'dev': dev,
      'bar': {candidate: check_bar(candidate, baseline, control, summary,
                                   versus_baseline[candidate], versus_control[candidate])
              for candidate in candidates},
      'probe_per_layer': {**{v: _per_layer(by_variant[v], 'probe') for v in variants},
                          control: _per_layer(controls, 'probe')},
  }
