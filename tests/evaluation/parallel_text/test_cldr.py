"""CLDR emoji annotations (the tts name) from an npm tarball."""

from unibert_jax.evaluation.parallel_text import cldr
from unibert_jax.evaluation.parallel_text import locales

from tests.evaluation.parallel_text import fixture_files


def test_read_tarball_gives_tts_names_of_wanted_locales(tmp_path):
  path = fixture_files.write_cldr_tarball(str(tmp_path))
  names = cldr.read_tarball(path, {'en', 'sw', 'de'})
  assert names['en']['cldr:🐶'] == 'dog face'
  assert names['sw']['cldr:🍎'] == 'tufaha jekundu'
  assert set(names) == {'en', 'sw'}


def test_locale_exceptions():
  assert locales.cldr_locale('pnb') == 'pa-Arab'
  assert locales.cldr_locale('tl') == 'fil'
  assert locales.cldr_locale('de') == 'de'
