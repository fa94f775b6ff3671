"""Words for token classification: punctuation apart, Han/kana per character, span cuts."""

from unibert_jax.tasks import word_tokens


def test_words_punctuation_and_spaces():
  text = 'Choose Format - Cells… (Ctrl+1), then “OK”.'
  words = [text[start:end] for start, end in word_tokens.word_offsets(text)]
  assert words == ['Choose', 'Format', '-', 'Cells', '…', '(', 'Ctrl', '+', '1', ')', ',',
                   'then', '“', 'OK', '”', '.']


def test_han_and_kana_are_one_word_per_character_hangul_and_marks_are_not():
  text = 'ファイル保存 파일 저장 हिंदी'
  words = [text[start:end] for start, end in word_tokens.word_offsets(text)]
  assert words == ['フ', 'ァ', 'イ', 'ル', '保', '存', '파일', '저장', 'हिंदी']


def test_words_are_cut_at_span_boundaries():
  text = 'Menü«Extras»wählen'
  assert [text[start:end] for start, end in word_tokens.word_offsets(text, [5, 11])] == [
      'Menü', '«', 'Extras', '»', 'wählen']
  glued = 'ExtrasMenü'
  assert [glued[s:e] for s, e in word_tokens.word_offsets(glued, [6])] == ['Extras', 'Menü']


def test_tokens_and_tags_from_spans():
  tokens, tags = word_tokens.tokens_and_tags('Press Shift+F7 in Writer.',
                                             [(6, 14, 'KEY'), (18, 24, 'PRODUCT')])
  assert tokens == ('Press', 'Shift', '+', 'F7', 'in', 'Writer', '.')
  assert tags == ('O', 'B-KEY', 'I-KEY', 'I-KEY', 'O', 'B-PRODUCT', 'O')
