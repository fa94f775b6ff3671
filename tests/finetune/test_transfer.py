"""The transfer loop: English-dev selection, oracle selection, subsets, the launcher's files.

A small C1 cache (tests/tasks' fixture items) and a random exported encoder stand in for the
real corpus and a trained model: what is checked is the protocol, not the scores.
"""

import dataclasses
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import transformers

from tests.helpers import kd_setup
from tests.tasks import test_offline_tasks as offline_fixtures
from unibert_jax import sharding
from unibert_jax.finetune import experiment
from unibert_jax.finetune import model_source
from unibert_jax.finetune import step as step_lib
from unibert_jax.finetune import transfer
from unibert_jax.tasks import examples as examples_lib
from unibert_jax.tasks import offline_tasks
from unibert_jax.tasks import registry

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope='module')
def c1_cache(tmp_path_factory):
  return offline_fixtures.write_cache(str(tmp_path_factory.mktemp('c1') / 'cache'),
                                      r1_items=offline_fixtures.c1_items())


@pytest.fixture(scope='module')
def hf_model(multilingual_tokenizer, tmp_path_factory):
  return kd_setup.export_random_teacher(multilingual_tokenizer,
                                        str(tmp_path_factory.mktemp('model') / 'hf'))


def _scrambled(examples, shift: int, num_labels: int):
  return tuple(dataclasses.replace(e, label=(e.label + shift) % num_labels) for e in examples)


def _finetune(task, hf_model, workdir, epochs=3):
  source = model_source.load(hf_model)
  hyper = step_lib.Hyper.for_kind(task.kind, learning_rate=3e-3, epochs=epochs, batch_size=8,
                                  max_length=32)
  encoded = transfer.encode_task(task, source.tokenizer, experiment._framing(hyper))
  result, _ = transfer.finetune_seed(source.encoder, encoded, hyper, 0,
                                     sharding.make_mesh((1, 1, 1)), source.special.pad,
                                     os.path.join(workdir, 'checkpoints'), log=lambda _: None)
  return result


def test_english_dev_selection_never_reads_target_language_labels(c1_cache, hf_model, tmp_path):
  task = registry.load_task('C1', parallel_text_dir=c1_cache)
  targets = [language for language in task.languages if language != 'en']
  n = len(task.label_names)
  # The same task with every target-language label (test and dev) changed.
  scrambled = dataclasses.replace(
      task,
      test={l: task.test[l] if l == 'en' else _scrambled(task.test[l], 3, n) for l in task.test},
      target_dev={l: _scrambled(examples, 5, n) for l, examples in task.target_dev.items()})
  plain = _finetune(task, hf_model, str(tmp_path / 'plain'))
  other = _finetune(scrambled, hf_model, str(tmp_path / 'scrambled'))
  assert [e['en_dev'] for e in plain.epochs] == [e['en_dev'] for e in other.epochs]
  assert plain.selected_epoch == other.selected_epoch == transfer.select_english(
      plain.epochs, task.headline_metric)
  # Target labels do reach what they should: the test scores and the target-dev scores.
  assert any(plain.test[l] != other.test[l] for l in targets)
  assert [e['target_dev'] for e in plain.epochs] != [e['target_dev'] for e in other.epochs]
  assert plain.test['en'] == other.test['en']
  # Each epoch was checkpointed, and the oracle picks each language's best dev epoch.
  assert sorted(int(d) for d in os.listdir(tmp_path / 'plain' / 'checkpoints')
                if d.isdigit()) == [1, 2, 3]
  for language, epoch in plain.oracle_epochs.items():
    best = max(e['target_dev'][language] for e in plain.epochs)
    assert plain.epochs[epoch - 1]['target_dev'][language] == best


def test_selection_rules_on_given_epochs():
  epochs = [{'epoch': 1, 'en_dev': {'f1': 0.5}, 'target_dev': {'de': 0.9, 'ja': 0.1}},
            {'epoch': 2, 'en_dev': {'f1': 0.7}, 'target_dev': {'de': 0.2, 'ja': 0.1}},
            {'epoch': 3, 'en_dev': {'f1': 0.7}, 'target_dev': {'de': 0.3, 'ja': 0.4}}]
  assert transfer.select_english(epochs, 'f1') == 2       # the earliest of equal English scores
  assert transfer.select_oracle(epochs) == {'de': 1, 'ja': 3}


def test_subsample_is_fixed_and_keeps_pairs_together():
  examples = [examples_lib.ClassificationExample('a', 'b', i % 2, 'de', f'id{i}', f'g{i // 2}')
              for i in range(40)]
  subset = experiment.subsample(examples, 10)
  assert subset == experiment.subsample(list(reversed(examples)), 10)[::-1]
  groups = {}
  for example in subset:
    groups.setdefault(example.group, []).append(example.label)
  assert len(subset) == 10 and all(sorted(labels) == [0, 1] for labels in groups.values())
  assert experiment.subsample(examples, None) == tuple(examples)


@pytest.mark.slow
def test_launcher_writes_the_table_and_one_json_line(c1_cache, hf_model, tmp_path):
  workdir = tmp_path / 'ft'
  command = [sys.executable, os.path.join(ROOT, 'launch', 'finetune.py'), '--task=C1',
             f'--model={hf_model}', f'--workdir={workdir}', '--seeds=0,1', '--epochs=2',
             '--learning_rate=3e-3', '--batch_size=8', f'--parallel_text_dir={c1_cache}',
             '--export']
  done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=600)
  assert done.returncode == 0, done.stderr[-3000:]
  line = json.loads(done.stdout.strip().splitlines()[-1])
  assert line['task'] == 'C1' and line['seeds'] == [0, 1] and line['target_languages'] == 3
  assert line['floor_name'] == 'char tf-idf logistic regression'
  result = json.loads((workdir / 'finetune.json').read_text())
  assert sorted(result['languages']) == ['de', 'en', 'ja', 'sw']
  for language, row in result['languages'].items():
    assert len(row['en_dev_selected_seeds']) == 2
    assert row['en_dev_selected']['macro_f1'] == pytest.approx(
        np.mean(row['en_dev_selected_seeds']))
    assert row['floor'] is not None and 0 <= row['floor']['macro_f1'] <= 1
    assert (row['oracle'] is None) == (language == 'en')   # English has no target dev
  mean = np.mean([result['languages'][l]['en_dev_selected']['macro_f1'] for l in ('de', 'ja', 'sw')])
  assert line['en_dev_selected'] == pytest.approx(mean)
  assert (workdir / 'finetune.md').read_text().count('\n| ') == 4 + 1
  assert (workdir / 'finetune.png').stat().st_size > 1000
  assert (workdir / 'seed_1' / 'checkpoints' / '2').is_dir()
  # --export: the selected model of seed 0 serves in transformers with the task's labels.
  classify = transformers.pipeline('text-classification', model=str(workdir / 'hf'))
  assert classify('Insert a chart into the slide')[0]['label'] in offline_tasks.C1_LABELS
  # Comparing the run with itself: no difference, no significance.
  done = subprocess.run([sys.executable, os.path.join(ROOT, 'launch', 'finetune.py'),
                         f'--compare={workdir},{workdir}', f'--out_dir={tmp_path}'],
                        capture_output=True, text=True, cwd=ROOT, timeout=120)
  assert done.returncode == 0, done.stderr[-3000:]
  compared = json.loads(done.stdout.strip().splitlines()[-1])
  assert compared['C1/mean_difference'] == 0 and compared['C1/t_pvalue'] == 1.0


def test_launcher_refuses_a_workdir_that_holds_a_finished_run(c1_cache, hf_model, tmp_path):
  checkpoints = tmp_path / 'ft' / 'seed_0' / 'checkpoints'
  (checkpoints / '1').mkdir(parents=True)
  done = subprocess.run([sys.executable, os.path.join(ROOT, 'launch', 'finetune.py'),
                         '--task=C1', f'--model={hf_model}', f'--workdir={tmp_path / "ft"}',
                         f'--parallel_text_dir={c1_cache}'],
                        capture_output=True, text=True, cwd=ROOT, timeout=300)
  assert done.returncode == 1
  assert done.stderr.strip().splitlines()[-1].startswith('error: ')
  assert str(checkpoints) in done.stderr and '--workdir' in done.stderr
