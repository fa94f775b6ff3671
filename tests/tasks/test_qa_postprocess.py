"""QA windows over long contexts and the mapping of logits back to context characters."""

import numpy as np
import pytest
from tokenizers import Tokenizer
from tokenizers import models
from tokenizers import pre_tokenizers
from tokenizers import processors

from unibert_jax.data import tokenizer as tokenizer_lib
from unibert_jax.tasks import qa_postprocess
from unibert_jax.tasks.examples import QAExample

from tests.helpers import multilingual_text

# 25 context words w00..w24, so that word i is token i of the context.
CONTEXT = ' '.join(f'w{index:02d}' for index in range(25))
QUESTION = 'which word ?'
SPECIAL = {'<s>': 0, '<pad>': 1, '</s>': 2, '<unk>': 3}


def word_tokenizer() -> Tokenizer:
  """One token per word, XLM-R's pair layout `<s> A </s></s> B </s>` (4 special tokens)."""
  words = QUESTION.split() + CONTEXT.split()
  vocab = {**SPECIAL, **{word: len(SPECIAL) + index for index, word in enumerate(words)}}
  tokenizer = Tokenizer(models.WordLevel(vocab, unk_token='<unk>'))
  tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
  tokenizer.post_processor = processors.TemplateProcessing(
      single='<s> $A </s>', pair='<s> $A </s> </s> $B </s>',
      special_tokens=[('<s>', 0), ('</s>', 2)])
  return tokenizer


def char_start(word_index: int) -> int:
  return 4 * word_index   # 'wNN ' is 4 characters


# max_length 24 - 3 question tokens - 4 special = 17 context tokens per window; stride 10:
# window 0 holds context tokens 0-16, window 1 tokens 10-24.
WINDOW_ARGS = dict(max_length=24, doc_stride=10)
FIRST_CONTEXT_POSITION = 1 + 3 + 2   # <s>, 3 question tokens, </s></s>


def example(first_word: int, last_word: int) -> QAExample:
  start = char_start(first_word)
  text = CONTEXT[start:char_start(last_word) + 3]
  return QAExample(QUESTION, CONTEXT, ((text, start),), 'en', 'q1')


def logits_for(windows, peaks, baseline=-10.0):
  """Start and end logits, `baseline` everywhere but `peaks`: {(window, 'start'|'end',
  position): logit}; padded past the input, as batched model outputs are."""
  starts = [np.full(len(window.input_ids) + 5, baseline) for window in windows]
  ends = [np.full(len(window.input_ids) + 5, baseline) for window in windows]
  for (window, side, position), value in peaks.items():
    (starts if side == 'start' else ends)[window][position] = value
  return starts, ends


def test_windows_step_through_the_context_and_carry_its_offsets():
  windows = qa_postprocess.windows(word_tokenizer(), example(20, 21), **WINDOW_ARGS)
  assert len(windows) == 2
  for window, first_word in zip(windows, (0, 10)):
    context = [offsets for offsets in window.context_offsets if offsets is not None]
    assert context[0] == (char_start(first_word), char_start(first_word) + 3)
    assert window.context_offsets[:FIRST_CONTEXT_POSITION] == (None,) * FIRST_CONTEXT_POSITION
    assert window.input_ids[0] == 0 and window.input_ids[-1] == 2
  assert len(windows[0].input_ids) == 24 and len(windows[1].input_ids) == 6 + 15 + 1


def test_the_answer_in_the_second_window_maps_back_to_its_characters():
  tokenizer = word_tokenizer()
  qa = example(20, 21)
  windows = qa_postprocess.windows(tokenizer, qa, **WINDOW_ARGS)
  assert (windows[0].start_position, windows[0].end_position) == (0, 0)   # not inside
  second = windows[1]
  start, end = second.start_position, second.end_position
  assert (start, end) == (FIRST_CONTEXT_POSITION + 10, FIRST_CONTEXT_POSITION + 11)
  # A higher peak on question tokens of the first window must be ignored.
  starts, ends = logits_for(windows, {(1, 'start', start): 5.0, (1, 'end', end): 5.0,
                                      (0, 'start', 2): 50.0, (0, 'end', 3): 50.0})
  answer = qa_postprocess.predict_answers([qa], windows, starts, ends)['q1']
  assert (answer.text, answer.start) == ('w20 w21', char_start(20))
  assert answer.text == qa.answers[0][0] and answer.score == 10.0


def test_an_answer_straddling_the_overlap_comes_from_the_window_that_holds_it():
  qa = example(15, 18)   # window 0 ends at token 16: only window 1 holds all of it
  windows = qa_postprocess.windows(word_tokenizer(), qa, **WINDOW_ARGS)
  assert (windows[0].start_position, windows[0].end_position) == (0, 0)
  start, end = windows[1].start_position, windows[1].end_position
  assert (start, end) == (FIRST_CONTEXT_POSITION + 5, FIRST_CONTEXT_POSITION + 8)
  # Window 0 scores 15-16 higher, but token 15 has more context in window 1 (5 tokens on each
  # side against 1): window 0 may not start an answer there.
  assert not windows[0].max_context[FIRST_CONTEXT_POSITION + 15]
  assert windows[1].max_context[start]
  starts, ends = logits_for(windows, {
      (0, 'start', FIRST_CONTEXT_POSITION + 15): 9.0, (0, 'end', FIRST_CONTEXT_POSITION + 16): 9.0,
      (1, 'start', start): 4.0, (1, 'end', end): 4.0})
  answer = qa_postprocess.predict_answers([qa], windows, starts, ends)['q1']
  assert (answer.text, answer.start) == ('w15 w16 w17 w18', char_start(15))


def test_in_the_overlap_the_max_context_window_answers():
  qa = example(12, 12)    # tokens 10-16 are in both windows; token 12 is central in window 0
  windows = qa_postprocess.windows(word_tokenizer(), qa, **WINDOW_ARGS)
  assert windows[0].max_context[FIRST_CONTEXT_POSITION + 12]
  assert not windows[1].max_context[FIRST_CONTEXT_POSITION + 2]
  starts, ends = logits_for(windows, {
      (1, 'start', FIRST_CONTEXT_POSITION + 2): 9.0, (1, 'end', FIRST_CONTEXT_POSITION + 2): 9.0,
      (0, 'start', FIRST_CONTEXT_POSITION + 12): 1.0, (0, 'end', FIRST_CONTEXT_POSITION + 12): 1.0})
  answer = qa_postprocess.predict_answers([qa], windows, starts, ends)['q1']
  assert (answer.text, answer.start, answer.score) == ('w12', char_start(12), 2.0)


def test_reversed_spans_are_not_answers():
  windows = qa_postprocess.windows(word_tokenizer(), example(2, 2), **WINDOW_ARGS)
  first = FIRST_CONTEXT_POSITION
  starts, ends = logits_for(windows, {(0, 'start', first + 7): 9.0, (0, 'end', first + 6): 9.0})
  answer = qa_postprocess.best_answer(CONTEXT, windows, starts, ends)
  assert answer.score == -1.0    # a peak with a baseline logit, not the reversed 18


def test_spans_longer_than_max_answer_tokens_are_not_answers():
  windows = qa_postprocess.windows(word_tokenizer(), example(2, 2), **WINDOW_ARGS)
  first = FIRST_CONTEXT_POSITION
  starts, ends = logits_for(windows, {(0, 'start', first): 9.0, (0, 'end', first + 12): 9.0})
  long = qa_postprocess.best_answer(CONTEXT, windows, starts, ends, max_answer_tokens=13)
  assert (long.text, long.score) == (CONTEXT[:char_start(12) + 3], 18.0)
  short = qa_postprocess.best_answer(CONTEXT, windows, starts, ends, max_answer_tokens=12)
  assert short.score == -1.0


def test_no_qualifying_span_gives_an_empty_answer():
  qa = example(2, 2)
  windows = qa_postprocess.windows(word_tokenizer(), qa, **WINDOW_ARGS)
  starts, ends = logits_for(windows, {(0, 'start', 1): 9.0, (0, 'end', 2): 9.0,
                                      (1, 'start', 1): 9.0, (1, 'end', 2): 9.0})
  # n_best 1: only the question-token peaks are candidates, and they are not context.
  answer = qa_postprocess.best_answer(CONTEXT, windows, starts, ends, n_best=1)
  assert answer.text == '' and answer.score == float('-inf')


def test_a_long_question_is_cut_and_a_tokenizer_that_truncates_is_refused():
  tokenizer = word_tokenizer()
  long_question = QAExample(' '.join(['which'] * 30), CONTEXT, (('w01', 4),), 'en', 'q2')
  windows = qa_postprocess.windows(tokenizer, long_question, max_length=40, doc_stride=10,
                                   max_query_length=5)
  assert windows[0].context_offsets[1 + 5 + 2] == (0, 3)
  tokenizer.enable_truncation(512)
  with pytest.raises(ValueError, match='without truncation or padding'):
    qa_postprocess.windows(tokenizer, long_question)


def test_offsets_of_the_project_tokenizer_recover_the_answer(tmp_path):
  """The XLM-R-style SentencePiece tokenizer (Metaspace, precompiled normalizer)."""
  tokenizer = tokenizer_lib.load_tokenizer(
      multilingual_text.train_tokenizer(str(tmp_path / 'tokenizer')))
  context = ' '.join([multilingual_text.ARTICLE_1['en']] * 3)
  answer_start = context.index('conscience', 200)
  qa = QAExample('They are endowed with what?', context, (('conscience', answer_start),), 'en',
                 'q3')
  windows = qa_postprocess.windows(tokenizer, qa, max_length=40, doc_stride=8)
  assert len(windows) > 3
  holding = [window for window in windows if window.start_position]
  assert holding
  for window in holding:
    start = window.context_offsets[window.start_position][0]
    end = window.context_offsets[window.end_position][1]
    assert context[start:end].strip() == 'conscience'
  starts, ends = logits_for(windows, {
      (windows.index(window), side, getattr(window, f'{side}_position')): 5.0
      for window in holding for side in ('start', 'end')})
  answer = qa_postprocess.predict_answers([qa], windows, starts, ends)['q3']
  assert (answer.text, answer.start) == ('conscience', answer_start)
