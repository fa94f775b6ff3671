"""Firefox .properties files, read by hand."""

from unibert_jax.evaluation.parallel_text import properties

from tests.evaluation.parallel_text import fixture_files


def test_fixture_file():
  entries = properties.parse(fixture_files.ENGLISH_PROPERTIES)
  assert entries == {
      'saveFailed': 'The file could not be saved because the disk is full',
      'downloadCount': '%S files are being downloaded right now',
      'longText': 'This message continues on the next line of the file',
  }


def test_separators_comments_and_escapes():
  text = ('! bang comment\n# hash comment\nspaced : colon value\nbare value without sign\n'
          'escaped\\=key = v\nunicode = caf\\u00e9\nnewline = one\\ntwo\n')
  assert properties.parse(text) == {
      'spaced': 'colon value', 'bare': 'value without sign', 'escaped=key': 'v',
      'unicode': 'café', 'newline': 'one\\ntwo'}  # \n kept for the placeholder filter


def test_even_backslashes_do_not_continue_the_line():
  assert properties.parse('a = ends with backslash\\\\\nb = next\n') == {
      'a': 'ends with backslash\\', 'b': 'next'}
