"""Every task kind runs through the whole harness from the real readers: XNLI (pairs), PAN-X
(tags), XQuAD and MLQA (QA windows and answers) from fixture datasets of the real TFDS
builders, and STS (regression) from its JSON-lines copy. One short epoch each on a random
encoder: what is checked is that each kind trains, selects and scores every language."""

import json
import os

import numpy as np
import pytest

from tests.helpers import kd_setup
from tests.tasks import tfds_fixtures
from unibert_jax.finetune import experiment

pytestmark = pytest.mark.slow


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  return tfds_fixtures.write_all(str(tmp_path_factory.mktemp('tfds')),
                                 str(tmp_path_factory.mktemp('raw')))


@pytest.fixture(scope='module')
def sts_dir(tmp_path_factory):
  directory = tmp_path_factory.mktemp('sts')
  rng = np.random.default_rng(0)
  for language in ('en', 'de'):
    for split, rows in (('train', 24), ('dev', 8), ('test', 8)):
      (directory / language).mkdir(exist_ok=True)
      with open(directory / language / f'{split}.jsonl', 'w') as f:
        for i in range(rows):
          f.write(json.dumps({'sentence1': f'{language} a cat sits {i}',
                              'sentence2': f'{language} a dog runs {i % 3}',
                              'similarity_score': float(rng.uniform(0, 5))}) + '\n')
  return str(directory)


@pytest.fixture(scope='module')
def hf_model(multilingual_tokenizer, tmp_path_factory):
  return kd_setup.export_random_teacher(multilingual_tokenizer,
                                        str(tmp_path_factory.mktemp('model') / 'hf'))


@pytest.mark.parametrize('task,languages,metric', [
    ('xnli', ('en', 'de', 'sw'), 'accuracy'), ('panx', ('en', 'de'), 'f1'),
    ('xquad', ('en', 'de'), 'f1'), ('mlqa', ('de',), 'f1'), ('sts', ('en', 'de'), 'spearman')])
def test_each_benchmark_kind_runs_end_to_end(task, languages, metric, data_dir, sts_dir,
                                             hf_model, tmp_path):
  # The languages the fixtures hold.
  options = experiment.Options(task=task, model=hf_model, workdir=str(tmp_path), epochs=1,
                               languages=languages,
                               batch_size=4, learning_rate=1e-3, tfds_data_dir=data_dir,
                               sts_dir=sts_dir)
  result = experiment.run(options, log=lambda _: None)
  task_data = experiment.load_task(options)
  assert sorted(result['languages']) == list(task_data.languages)
  for language, row in result['languages'].items():
    assert row['examples'] == len(task_data.test[language])
    value = row['en_dev_selected'][metric]
    assert np.isfinite(value) and (-1 <= value <= 1 if metric == 'spearman' else 0 <= value <= 1)
  assert result['summary']['headline_metric'] == task_data.headline_metric
  if task in ('xquad', 'mlqa'):   # 384-token windows, capped at the encoder's positions
    assert result['info']['hyper']['max_length'] <= 384
    assert result['info']['hyper']['epochs'] == 1 and result['info']['hyper']['learning_rate'] == 1e-3
  assert os.path.exists(tmp_path / 'finetune.png')
