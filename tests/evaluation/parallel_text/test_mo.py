"""LibreOffice .mo catalogues (binary GNU format written by the test) and their keys."""

from unibert_jax.evaluation.parallel_text import filters
from unibert_jax.evaluation.parallel_text import libreoffice_ui
from unibert_jax.evaluation.parallel_text import mo

from tests.evaluation.parallel_text import fixture_files

JAPANESE = {
    ('savedialog|SaveDialog', '~Save the document'): 'ドキュメントを保存(~S)',
    ('', '_Add'): '追加(_A)',
    ('', 'Open File...'): 'ファイルを開く(O)...',
}


def test_read_gives_context_msgid_and_translation():
  entries = mo.read(fixture_files.mo_bytes(JAPANESE))
  assert entries == JAPANESE  # the header entry is left out


def test_package_keys_are_domain_context_msgid(tmp_path):
  deb = fixture_files.make_deb(str(tmp_path), 'libreoffice-l10n-ja', '1:1.0', {
      fixture_files.LIBREOFFICE_RESOURCE + 'ja/LC_MESSAGES/sw.mo': fixture_files.mo_bytes(JAPANESE),
      fixture_files.LIBREOFFICE_RESOURCE + 'ja-other/LC_MESSAGES/sw.mo': fixture_files.mo_bytes(
          {('', 'x'): 'y'}),
  })
  triples = set(libreoffice_ui.read_package(deb, 'ja'))
  assert triples == {
      ('sw||Open File...', 'Open File...', 'ファイルを開く(O)...'),
      ('sw||_Add', '_Add', '追加(_A)'),
      ('sw|savedialog|SaveDialog|~Save the document', '~Save the document', 'ドキュメントを保存(~S)'),
  }


def test_mnemonics_are_stripped_in_every_form():
  strip = filters.strip_libreoffice_mnemonics
  assert strip('~Save the document') == 'Save the document'
  assert strip('Insert a _row above') == 'Insert a row above'
  assert strip('ドキュメントを保存(~S)') == 'ドキュメントを保存'
  assert strip('追加(_A)') == '追加'
  assert strip('Text _~Attributes') == 'Text Attributes'
  assert strip('ファイルを開く(O)...') == 'ファイルを開く...'   # CJK form left after '~' was stripped


def test_mnemonic_stripping_keeps_real_parentheses():
  strip = filters.strip_libreoffice_mnemonics
  assert strip('영(0)으로 나눔.') == '영(0)으로 나눔.'           # Korean reading gloss
  assert strip('Objekt(e) einfügen') == 'Objekt(e) einfügen'    # German plural
  assert strip('Column (A) of the sheet') == 'Column (A) of the sheet'
  assert strip('an underscore ( _ ) first') == 'an underscore ( _ ) first'
