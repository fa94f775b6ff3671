"""The universality experiment: its variants reach the config, its runs' files are read, the
statistics and the bar come out right on results written here, and the launcher runs end to end.

The files of a run are written as the runners write them: the suite beside the held-out figures
in eval/eval.json, the eval record in metrics.jsonl (MetricsWriter), and finetune.json per task
(finetune/results.py from seed results). The figures in them are chosen here, so that every
expected number is known.
"""

import json
import os
import subprocess
import sys

from absl import flags
from ml_collections import config_flags
import numpy as np
import pytest

from configs import universality as universality_config
from tests.evaluation.test_suite_report import make_suite
from tests.tasks import test_offline_tasks as offline_fixtures
from unibert_jax import config_schema
from unibert_jax.experiments import universality
from unibert_jax.experiments import universality_report
from unibert_jax.finetune import results as finetune_results
from unibert_jax.finetune import transfer
from unibert_jax.tasks import examples as examples_lib
from unibert_jax.train import metrics_writer

# The synthetic variants shift every language alike: scipy warns that the differences' spread is
# (nearly) zero, which is what they are built to be.
pytestmark = pytest.mark.filterwarnings('ignore:Precision loss occurred:RuntimeWarning')

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LANGUAGES = ('da', 'de', 'es', 'fr', 'it', 'nl', 'pl', 'pt')   # R1's targets (not en)
TASKS = ('C1', 'P1', 'T1')
HEADLINES = {'C1': 'macro_f1', 'P1': 'accuracy', 'T1': 'f1_UI'}
SEEDS = (0, 1, 2)
# make_suite's last layer: retrieval 0.6 x (1 - 0.05 i) for language i, centered +0.05; the
# probe 0.6 x the same scale. Each variant's shifts of that (per seed a small wobble).
WOBBLE = (0.0, 0.004, -0.004)


def _set_last_layer(suite, figure, per_language):
  """Sets a figure's last-layer value per language in R1, and its mean over languages."""
  model = suite['sets']['R1']['model']
  for language, value in per_language.items():
    model['per_language'][figure][language][-1] = value
  model['mean'][figure][-1] = float(np.mean(list(per_language.values())))


def _task(name):
  """A TaskData with one example per language: what results.aggregate reads of it."""
  if name == 'T1':
    kind = examples_lib.TOKEN_CLASSIFICATION
    example = lambda l: examples_lib.TokenClassificationExample(('a',), ('O',), l, f'{l}:1')
  else:
    kind = examples_lib.CLASSIFICATION
    example = lambda l: examples_lib.ClassificationExample('a', None, 0, l, f'{l}:1')
  return examples_lib.TaskData(
      name=name, kind=kind, label_names=('x', 'y'), train=(example('en'),), dev=(example('en'),),
      test={l: (example(l),) for l in ('en',) + LANGUAGES}, headline_metric=HEADLINES[name])


def write_run(workdir, *, retrieval_shift=0.0, probe=0.6, mask_shift=0.0, c1_shift=0.0,
              udhr_probe=0.5, seed=0, eval_probe=None):
  """One finished run: eval/eval.json (suite + held-out figures), metrics.jsonl and the three
  tasks' finetune.json."""
  wobble = WOBBLE[seed]
  suite = make_suite(LANGUAGES, shift=dict.fromkeys(LANGUAGES, retrieval_shift + wobble),
                     model=str(workdir), missing=(), sets=('R1',))
  _set_last_layer(suite, 'probe', {l: probe + wobble for l in LANGUAGES})
  mask = {l: 0.2 + 0.01 * i + mask_shift + wobble for i, l in enumerate(('en',) + LANGUAGES)}
  report = {'suite': suite, 'mlm_accuracy': float(np.mean(list(mask.values()))),
            'per_language': {'mlm_accuracy': mask}, 'language_probe_accuracy': udhr_probe,
            'language_probe_chance': 0.1, 'retrieval_top1': 0.3}
  os.makedirs(os.path.join(workdir, 'eval'))
  with open(os.path.join(workdir, 'eval', 'eval.json'), 'w') as f:
    json.dump(report, f)
  writer = metrics_writer.MetricsWriter(str(workdir), 600)
  held_out = {} if eval_probe is None else {'eval_probe_accuracy': eval_probe}
  writer.write(600, {'eval_mask_accuracy': 0.2, 'eval_mask_baseline_accuracy': 0.04,
                     **held_out}, kind='eval')
  writer.close()
  for task in TASKS:
    shift = c1_shift if task == 'C1' else 0.0
    scores = {l: {HEADLINES[task]: 0.3 + 0.02 * i + shift + wobble}
              for i, l in enumerate(('en',) + LANGUAGES)}
    seed_result = transfer.SeedResult(
        seed=0, epochs=[{'epoch': 1, 'loss': 1.0, 'en_dev': scores['en'], 'target_dev': {}}],
        selected_epoch=1, oracle_epochs={}, test=scores, oracle_test={}, train_seconds=1.0,
        eval_seconds=1.0, train_tokens=10, steps=1)
    floor = ('majority', {l: {HEADLINES[task]: 0.1} for l in ('en',) + LANGUAGES})
    result = finetune_results.aggregate(_task(task), [seed_result], floor, {'model': workdir})
    finetune_results.write(result, universality.transfer_dir(str(workdir), task))


# Variant -> write_run's arguments: 'strong' clears the bar, 'below_control' beats 'none' but
# not its centered figures (+0.03 < +0.05), 'weak' changes nothing but <mask> and C1 (worse).
VARIANTS = {'none': dict(), 'strong': dict(retrieval_shift=0.1, probe=0.2, mask_shift=-0.005,
                                           c1_shift=0.01, udhr_probe=0.2),
            'below_control': dict(retrieval_shift=0.03, probe=0.24, udhr_probe=0.3),
            'weak': dict(probe=0.5, mask_shift=-0.02, c1_shift=-0.02, udhr_probe=0.25)}


@pytest.fixture(scope='module')
def records(tmp_path_factory):
  root = tmp_path_factory.mktemp('experiment')
  found = []
  for seed in SEEDS:
    for variant, options in VARIANTS.items():
      workdir = str(root / variant / f'seed_{seed}')
      write_run(workdir, seed=seed, **options)
      found.append(universality.read_run(variant, seed, workdir, TASKS))
  return found


@pytest.fixture(scope='module')
def result(records):
  return universality.analyse(records, baseline='none', control='none+centering')


def test_a_run_is_read_at_the_last_layer_with_floors_chance_and_languages(records):
  record = next(r for r in records if r['variant'] == 'strong' and r['seed'] == 1)
  scale = {l: 1 - 0.05 * i for i, l in enumerate(LANGUAGES)}
  for language in LANGUAGES:   # make_suite: 0.6 x scale, +0.1 shift, +0.004 wobble
    assert record['per_language']['retrieval_to_en'][language] == pytest.approx(
        0.6 * scale[language] + 0.104)
    assert record['per_language']['retrieval_to_en_centered'][language] == pytest.approx(
        0.6 * scale[language] + 0.154)
  assert record['values']['probe'] == pytest.approx(0.204)
  assert record['chance']['probe'] == pytest.approx(1 / 9)
  assert record['floors']['retrieval_to_en'] == 0.25      # the tf-idf floor of make_set
  assert record['floors']['mask_accuracy'] == 0.04        # from metrics.jsonl
  assert set(record['per_language']['mask_accuracy']) == {'en', *LANGUAGES}
  # Transfer: the target languages only (English left out), the mean over them.
  assert set(record['per_language']['C1']) == set(LANGUAGES)
  assert record['values']['C1'] == pytest.approx(
      np.mean([0.3 + 0.02 * i + 0.014 for i in range(1, 9)]))
  assert record['floors']['T1'] == pytest.approx(0.1)
  assert len(record['per_layer']['probe']) == 5 and record['dev']['udhr_probe'] == 0.2


def test_the_dev_probe_is_the_trainers_held_out_probe_where_logged(tmp_path):
  write_run(str(tmp_path / 'a'), udhr_probe=0.5)
  write_run(str(tmp_path / 'b'), udhr_probe=0.5, eval_probe=0.125)
  assert universality.read_run('a', 0, str(tmp_path / 'a'), ())['dev']['udhr_probe'] == 0.5
  assert universality.read_run('b', 0, str(tmp_path / 'b'), ())['dev']['udhr_probe'] == 0.125


def test_summary_is_mean_and_sample_std_over_seeds_with_the_control(records, result):
  rows = {row['variant']: row for row in result['summary']}
  assert list(rows) == ['none', 'strong', 'below_control', 'weak', 'none+centering']
  values = [r['values']['retrieval_to_en'] for r in records if r['variant'] == 'strong']
  assert rows['strong']['retrieval_to_en'] == pytest.approx(
      [np.mean(values), np.std(values, ddof=1)])
  assert rows['strong']['seeds'] == 3
  # The control: none's centered figures under the raw names.
  centered = [r['values']['retrieval_to_en_centered'] for r in records if r['variant'] == 'none']
  assert rows['none+centering']['retrieval_to_en'][0] == pytest.approx(np.mean(centered))
  assert 'C1' not in rows['none+centering']


def test_paired_tests_over_languages(result):
  strong = result['versus_baseline']['strong']
  row = strong['retrieval_to_en']
  assert row['languages'] == 8 and row['mean_difference'] == pytest.approx(0.1)
  assert row['wilcoxon_pvalue'] == pytest.approx(2 / 2**8)   # 8 of 8 languages higher
  assert row['t_pvalue'] < 1e-6 and row['outcome'] == 'better'
  assert row['average_relative_improvement'] > 0
  assert strong['probe']['outcome'] == 'better'              # lower is better
  assert strong['mask_accuracy']['mean_difference'] == pytest.approx(-0.005)
  assert strong['C1']['mean_difference'] == pytest.approx(0.01)
  assert strong['T1']['mean_difference'] == pytest.approx(0.0)
  against = result['versus_control']['below_control']['retrieval_to_en']
  assert against['mean_difference'] == pytest.approx(0.03 - 0.05)


def test_the_bar(result):
  assert result['best'] == 'strong'   # the lowest held-out UDHR probe
  assert result['best_chosen_by'].startswith('dev split')
  verdict = {variant: {c['name']: c['passed'] for c in checks}
             for variant, checks in result['bar'].items()}
  assert verdict['strong'] == {'probe': True, 'retrieval': True, 'mask': True, 'C1': True}
  assert verdict['below_control'] == {'probe': True, 'retrieval': False, 'mask': True,
                                      'C1': True}
  assert verdict['weak'] == {'probe': False, 'retrieval': False, 'mask': False, 'C1': False}


def test_a_given_best_is_kept_and_an_unknown_one_refused(records):
  result = universality.analyse(records, baseline='none', control='c', best='weak')
  assert result['best'] == 'weak' and result['best_chosen_by'] == 'given'
  with pytest.raises(ValueError, match='not one of the candidates'):
    universality.analyse(records, baseline='none', control='c', best='none')
  with pytest.raises(ValueError, match='No run of the baseline'):
    universality.analyse([r for r in records if r['variant'] != 'none'], baseline='none',
                         control='c')


def test_the_report_files(result, records, tmp_path):
  paths = universality_report.write(result, str(tmp_path), 'header line', records)
  text = open(paths['markdown']).read()
  assert 'header line' in text and '| probe | R1 language-ID probe at most 0.25 | **PASS** |' in text
  assert 'The best adversarial variant: **strong**' in text
  assert text.count('| strong | R1 P@1 to en |') == 2   # against none and against the control
  saved = json.loads(open(paths['json']).read())   # strict JSON: no NaN
  assert saved['best'] == 'strong' and len(saved['runs']) == 12
  assert open(paths['png'], 'rb').read(4) == b'\x89PNG'


def test_one_seed_has_no_std_and_still_reports(records, tmp_path):
  one = universality.analyse([r for r in records if r['seed'] == 0], baseline='none',
                             control='none+centering')
  row = next(row for row in one['summary'] if row['variant'] == 'strong')
  assert np.isnan(row['probe'][1])
  paths = universality_report.write(one, str(tmp_path))
  assert json.loads(open(paths['json']).read())['summary'][1]['probe'][1] is None


@pytest.mark.parametrize('size', [None, 'gpu'])
@pytest.mark.parametrize('variant', list(universality_config.VARIANTS))
def test_every_variant_is_a_valid_config(variant, size):
  overrides = universality_config.VARIANTS[variant]
  config = universality.variant_config(universality_config.get_config(size), overrides)
  config_schema.validate(config, 1, 1)
  for path, value in overrides.items():
    section, field = path.rsplit('.', 1)
    assert config[section][field] == value


def test_the_variants_reach_launch_train_as_typed():
  """The training arguments of each run, parsed as launch/train.py parses them."""
  runs = universality.plan(config_arg='configs/universality.py',
                           variants=universality_config.VARIANTS, seeds=[0, 1, 2], root='/x',
                           data_dir='/x/shared/data', overrides=['--config.train.steps=7'])
  assert len(runs) == 12 and [run.seed for run in runs[:4]] == [0] * 4
  assert len({run.workdir for run in runs}) == 12
  for run in runs[:4]:
    argv = [os.path.join(ROOT, 'launch', 'train.py'),
            *(arg.replace('configs/', os.path.join(ROOT, 'configs') + '/', 1)
              if arg.startswith('--config=') else arg for arg in run.train_args)]
    values = flags.FlagValues()
    # The override flags come from the command line, as in launch/train.py.
    config_flags.DEFINE_config_file('config', None, flag_values=values, sys_argv=argv)
    flags.DEFINE_string('workdir', None, '', flag_values=values)
    values(argv)
    expected = universality.variant_config(universality_config.get_config(),
                                           universality_config.VARIANTS[run.variant])
    config = values.config
    assert config.train.steps == 7 and config.seed == 0
    assert config.data.data_dir == '/x/shared/data'
    for path in universality_config.VARIANTS[run.variant]:
      section, field = path.rsplit('.', 1)
      assert config[section][field] == expected[section][field], (run.variant, path)


def test_an_unknown_override_is_refused():
  with pytest.raises(ValueError, match='no field adversary.objectiv'):
    universality.variant_config(universality_config.get_config(),
                                {'adversary.objectiv': 'grl'})
  with pytest.raises(ValueError, match="no section 'adversaryy'"):
    universality.variant_config(universality_config.get_config(), {'adversaryy.x': 1})


def test_the_config_has_no_teacher_and_scores_r1():
  config = universality_config.get_config()
  assert config.loss.kd_weight == 0 and config.teacher.steps == 0
  assert config.eval.sets == 'R1' and config.eval.build == 'R1'
  assert universality_config.BASELINE in universality_config.VARIANTS
  assert universality_config.VARIANTS['none']['loss.adv_weight'] == 0


def test_transfer_arguments():
  args = universality.transfer_args('/w/run', 'P1', universality_config.TRANSFER, ['da', 'it'],
                                    '/cache')
  assert args[:4] == ['--task=P1', '--model=/w/run', '--workdir=/w/run/transfer/P1',
                      '--languages=da,it']
  assert '--max_train_examples=1000' in args and '--learning_rate=0.001' in args
  assert '--parallel_text_dir=/cache' in args and '--seeds=0' in args


@pytest.mark.slow
def test_the_launcher_end_to_end(tmp_path):
  """configs/universality.py:tiny, two variants x one seed, on a small parallel-text cache:
  the report, the JSON line, and a rerun that skips every finished stage."""
  cache = offline_fixtures.write_cache(
      str(tmp_path / 'cache'), offline_fixtures.c1_items() + offline_fixtures.p1_items(),
      offline_fixtures.t1_items())
  command = [sys.executable, os.path.join(ROOT, 'launch', 'universality.py'),
             f'--workdir={tmp_path / "w"}', '--seeds=0', '--variants=none,grl',
             '--config=configs/universality.py:tiny', f'--parallel_text_dir={cache}']
  done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=1200)
  assert done.returncode == 0, done.stderr[-4000:]
  line = json.loads(done.stdout.strip().splitlines()[-1])
  assert line['runs'] == 2 and line['best'] == 'grl'
  assert set(line['bar']) == {'probe', 'retrieval', 'mask', 'C1'}
  saved = json.loads(open(line['universality_json']).read())
  assert [row['variant'] for row in saved['summary']] == ['none', 'grl', 'none+centering']
  for run in saved['runs']:
    assert set(run['values']) >= {'probe', 'retrieval_to_en', 'mask_accuracy', *TASKS}
    assert all(value is not None for value in run['values'].values()), run['values']
  assert os.path.getsize(line['universality_png']) > 1000
  assert 'R1' in open(line['suite_compare_md']).read()
  # A rerun trains and fine-tunes nothing: the same results, quickly.
  again = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
  assert again.returncode == 0, again.stderr[-4000:]
  assert json.loads(again.stdout.strip().splitlines()[-1])['bar'] == line['bar']
  assert 'launch/train.py' not in again.stderr
