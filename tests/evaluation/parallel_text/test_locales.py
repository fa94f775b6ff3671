"""Locale tables: only the project's languages, one locale each, no duplicate variants."""

import pytest

from unibert_jax.data import languages
from unibert_jax.evaluation.parallel_text import locales

TABLES = {'firefox': locales.FIREFOX, 'libreoffice_ui': locales.LIBREOFFICE_UI,
          'libreoffice_help': locales.LIBREOFFICE_HELP, 'gnome_help': locales.GNOME_HELP}


@pytest.mark.parametrize('name', sorted(TABLES))
def test_tables_name_only_project_languages_and_no_english(name):
  assert set(TABLES[name]) <= set(languages.DEFAULT_LANGUAGES) - {'en'}


def test_locale_choices_of_the_note():
  assert locales.FIREFOX['es'] == 'es-ES' and locales.FIREFOX['pt'] == 'pt-PT'
  assert locales.FIREFOX['zh'] == 'zh-CN' and locales.FIREFOX['no'] == 'nb-NO'
  assert locales.FIREFOX['sr'] == 'sr'                      # Cyrillic
  assert locales.LIBREOFFICE_UI['ku'] == ('kmr', 'kmr@latin')
  assert locales.LIBREOFFICE_UI['sr'] == ('sr', 'sr')       # not sr@latin
  assert locales.LIBREOFFICE_HELP['zh'] == ('zh-cn', 'zh-CN')
  assert locales.GNOME_HELP['zh'] == 'zh_CN' and locales.GNOME_HELP['pt'] == 'pt'


def test_no_english_variant_or_regional_duplicate_is_read():
  firefox = {locale.lower() for locale in locales.FIREFOX.values()}
  assert not firefox & {'en-gb', 'en-ca', 'ca-valencia', 'es-ar', 'es-cl', 'es-mx', 'pt-br',
                        'zh-tw', 'sr@latin'}
  libreoffice = {directory for _, directory in locales.LIBREOFFICE_UI.values()}
  assert not libreoffice & {'en_GB', 'en_ZA', 'ca@valencia', 'pt_BR', 'zh_TW', 'sr@latin'}
  assert not set(locales.GNOME_HELP.values()) & {'pt_BR', 'sr@latin'}
