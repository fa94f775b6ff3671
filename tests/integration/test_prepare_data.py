"""launch/prepare_data.py end to end (a subprocess, as a user runs it) and its no-op rerun."""

import json
import os
import subprocess
import sys

import pytest

from configs import demo
from unibert_jax.data import corpus
from unibert_jax.data import prepare as data_preparation
from unibert_jax.data import tokenizer as tokenizer_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _run_prepare_data(workdir, cache_dir):
  env = {k: v for k, v in os.environ.items() if k != 'JAX_PLATFORMS'}  # must not be needed
  result = subprocess.run(
      [sys.executable, os.path.join(ROOT, 'launch', 'prepare_data.py'),
       '--config=' + os.path.join(ROOT, 'configs', 'demo.py') + ':tiny',
       f'--workdir={workdir}', f'--config.data.cache_dir={cache_dir}'],
      capture_output=True, text=True, env=env, cwd=str(workdir), timeout=600, check=False)
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [line for line in result.stdout.splitlines() if line.strip()]
  assert len(lines) == 1, result.stdout  # exactly one JSON line on stdout
  return json.loads(lines[0])


def _mtimes(data_dir):
  return {os.path.join(root, f): os.path.getmtime(os.path.join(root, f))
          for root, _, files in os.walk(data_dir) for f in files}


@pytest.fixture(scope='module')
def prepared(udhr_cache, tmp_path_factory):
  cache_dir = udhr_cache
  workdir = tmp_path_factory.mktemp('workdir')
  first = _run_prepare_data(workdir, cache_dir)
  return workdir, cache_dir, first


def test_prepare_data_from_nothing(prepared):
  workdir, _, result = prepared
  config = demo.get_config('tiny')
  data_dir = os.path.join(str(workdir), 'data')
  assert result['data_dir'] == data_dir
  assert result['tokenizer_dir'] == os.path.join(data_dir, 'tokenizer')
  stats = corpus.corpus_stats(data_dir)
  assert result['languages'] == len(stats['languages']) == 107
  assert result['train_examples'] == stats['num_examples']['train'] > 0
  assert result['validation_examples'] == stats['num_examples']['validation'] > 0
  assert result['vocab_size'] == config.data.vocab_size == 2000
  assert tokenizer_lib.check_tokenizer_dir(result['tokenizer_dir'], 2000) == 2000
  assert len(corpus.open_split(data_dir, 'train')) == result['train_examples']


def test_rerun_is_a_quick_no_op(prepared):
  workdir, cache_dir, first = prepared
  before = _mtimes(os.path.join(str(workdir), 'data'))
  second = _run_prepare_data(workdir, cache_dir)
  assert second['seconds'] < 2.0
  assert {k: v for k, v in second.items() if k != 'seconds'} == {
      k: v for k, v in first.items() if k != 'seconds'}
  assert _mtimes(os.path.join(str(workdir), 'data')) == before  # nothing rewritten


def test_an_existing_tokenizer_dir_is_accepted_instead_of_training(prepared, tmp_path):
  workdir, cache_dir, first = prepared
  config = demo.get_config('tiny')
  config.data.data_dir = first['data_dir']
  config.data.cache_dir = cache_dir
  config.data.tokenizer_dir = first['tokenizer_dir']   # e.g. a teacher's tokenizer
  result = data_preparation.prepare_data(config, str(tmp_path))
  assert result['tokenizer_dir'] == first['tokenizer_dir']
  assert not os.listdir(tmp_path)   # nothing built in the new workdir
  config.data.vocab_size = 8000
  with pytest.raises(ValueError, match='data.vocab_size=8000'):
    data_preparation.prepare_data(config, str(tmp_path))
