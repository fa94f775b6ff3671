"""Extractive QA over long contexts: question + context windows, and logits back to answers.

A context longer than one input is cut into windows, as XTREME's (BERT's) run_squad does:
`max_length` 384 tokens in all, the question cut to `max_query_length` 64 tokens, and
consecutive windows starting `doc_stride` 128 context tokens apart (BERT's meaning of the
stride: the step between window starts; Hugging Face fast tokenizers call the *overlap*
`stride`). A context token that several windows contain is answered only from the window where
it has the most context on both sides (BERT's `_check_is_max_context`).

Post-processing takes the `n_best` start and end logits of every window, keeps the pairs that
lie in the context with end >= start, at most `max_answer_tokens` tokens long and starting at a
max-context token, and returns the highest start + end logit as a character span of the
original context (the tokenizer's offset mapping; whitespace at the edges is trimmed).

Works with any `tokenizers.Tokenizer` (the project's XLM-R-style one, tokenizer.py): the
windows are built by the tokenizer's own truncation with overflow and its post-processor, so
the special tokens and type ids are the ones the encoder was trained with.
"""

from collections.abc import Mapping, Sequence
import collections
import dataclasses

import numpy as np
import tokenizers

from unibert_jax.tasks.examples import QAExample

MAX_LENGTH = 384
DOC_STRIDE = 128
MAX_QUERY_LENGTH = 64
N_BEST = 20
MAX_ANSWER_TOKENS = 30


@dataclasses.dataclass(frozen=True)
class QAWindow:
  """One model input: the question and a window of the context.

  context_offsets: per position, the [start, end) characters of the context the token covers,
    None for question and special tokens (and padding).
  max_context: per position, whether this window is where that context token has the most
    context (answers may start only there).
  start_position, end_position: the training target, the token positions of the first
    answer; both 0 (the first, special token) when the answer is not wholly in this window.
  """
  example_id: str
  input_ids: tuple[int, ...]
  type_ids: tuple[int, ...]
  context_offsets: tuple[tuple[int, int] | None, ...]
  max_context: tuple[bool, ...]
  start_position: int = 0
  end_position: int = 0


@dataclasses.dataclass(frozen=True)
class Answer:
  text: str
  start: int    # character offset in the context
  score: float  # start logit + end logit (-inf when no span qualified)


def _encode_question(tokenizer: tokenizers.Tokenizer, question: str,
                     max_query_length: int) -> tokenizers.Encoding:
  encoding = tokenizer.encode(question, add_special_tokens=False)
  if len(encoding.ids) <= max_query_length:
    return encoding
  # Re-encode the kept prefix (Encoding.truncate would leave overflow that post_process
  # would combine with every context window).
  return tokenizer.encode(question[:encoding.offsets[max_query_length - 1][1]],
                          add_special_tokens=False)


def windows(tokenizer: tokenizers.Tokenizer, example: QAExample, max_length: int = MAX_LENGTH,
            doc_stride: int = DOC_STRIDE, max_query_length: int = MAX_QUERY_LENGTH
            ) -> list[QAWindow]:
  """The windows of one example, in context order."""
  if tokenizer.truncation or tokenizer.padding:
    raise ValueError('qa_postprocess.windows needs a tokenizer without truncation or padding '
                     '(it would cut the context before the windows are made); call '
                     'no_truncation() and no_padding() on it, and pad the windows when batching.')
  question = _encode_question(tokenizer, example.question, max_query_length)
  context = tokenizer.encode(example.context, add_special_tokens=False)
  if not context.ids:
    raise ValueError(f'QA example {example.id}: the context has no tokens.')
  all_context_offsets = list(context.offsets)
  max_context_tokens = (max_length - len(question.ids)
                        - tokenizer.num_special_tokens_to_add(is_pair=True))
  if max_context_tokens <= 0:
    raise ValueError(f'QA example {example.id}: max_length={max_length} leaves no room for the '
                     f'context after {len(question.ids)} question tokens; raise max_length or '
                     f'lower max_query_length.')
  step = min(doc_stride, max_context_tokens)
  context_length = len(context.ids)
  if context_length > max_context_tokens:
    context.truncate(max_context_tokens, stride=max_context_tokens - step)
  full = tokenizer.post_process(question, context, add_special_tokens=True)
  parts = [full, *full.overflowing]
  window_starts = [index * step for index in range(len(parts))]
  for part, window_start in zip(parts, window_starts):
    first = part.sequence_ids.index(1)
    if tuple(part.offsets[first]) != tuple(all_context_offsets[window_start]):
      raise RuntimeError(f'QA example {example.id}: the tokenizer\'s overflow windows do not '
                         f'start every {step} tokens; this tokenizers version truncates '
                         f'differently, check qa_postprocess.windows against it.')
  best_window = _max_context_windows(context_length, window_starts,
                                     [_context_positions(part) for part in parts])
  answer = example.answers[0] if example.answers else None
  result = []
  for index, part in enumerate(parts):
    positions = _context_positions(part)
    # Encoding properties are built anew from Rust on every access: read each once.
    part_ids, part_offsets = part.ids, part.offsets
    offsets = tuple(tuple(part_offsets[position]) if position in positions else None
                    for position in range(len(part_ids)))
    max_context = tuple(
        position in positions and best_window[window_starts[index] + positions[position]] == index
        for position in range(len(part_ids)))
    start_position, end_position = _answer_positions(offsets, answer)
    result.append(QAWindow(example.id, tuple(part_ids), tuple(part.type_ids), offsets,
                           max_context, start_position, end_position))
  return result


def _context_positions(encoding: tokenizers.Encoding) -> dict[int, int]:
  """Position in the input -> index among the window's context tokens."""
  positions = [position for position, sequence in enumerate(encoding.sequence_ids)
               if sequence == 1]
  return {position: index for index, position in enumerate(positions)}


def _max_context_windows(context_length: int, window_starts: Sequence[int],
                         positions: Sequence[Mapping[int, int]]) -> list[int]:
  """For each context token, the window where min(left, right context) + 0.01 * length is
  largest (the first such window on ties), as BERT's run_squad."""
  best = [-1] * context_length
  best_score = [float('-inf')] * context_length
  for window, (start, window_positions) in enumerate(zip(window_starts, positions)):
    length = len(window_positions)
    for index in range(length):
      token = start + index
      score = min(index, length - 1 - index) + 0.01 * length
      if token < context_length and score > best_score[token]:
        best[token], best_score[token] = window, score
  return best


def _answer_positions(offsets, answer: tuple[str, int] | None) -> tuple[int, int]:
  if answer is None:
    return 0, 0
  text, char_start = answer
  char_end = char_start + len(text)
  context = [(position, span) for position, span in enumerate(offsets) if span is not None]
  if not context or context[0][1][0] > char_start or context[-1][1][1] < char_end:
    return 0, 0
  start = max(position for position, span in context if span[0] <= char_start)
  end = min(position for position, span in context if span[1] >= char_end)
  return start, end


def best_answer(context: str, example_windows: Sequence[QAWindow],
                start_logits: Sequence[np.ndarray], end_logits: Sequence[np.ndarray],
                n_best: int = N_BEST, max_answer_tokens: int = MAX_ANSWER_TOKENS) -> Answer:
  """The best span over all windows of one example (logits may be padded past the input)."""
  best = Answer('', 0, float('-inf'))
  for window, window_start_logits, window_end_logits in zip(example_windows, start_logits,
                                                             end_logits):
    length = len(window.input_ids)
    starts = np.asarray(window_start_logits, dtype=np.float64)[:length]
    ends = np.asarray(window_end_logits, dtype=np.float64)[:length]
    for start in np.argsort(-starts, kind='stable')[:n_best]:
      if window.context_offsets[start] is None or not window.max_context[start]:
        continue
      for end in np.argsort(-ends, kind='stable')[:n_best]:
        if (window.context_offsets[end] is None or end < start
            or end - start + 1 > max_answer_tokens):
          continue
        score = float(starts[start] + ends[end])
        if score > best.score:
          best = _trimmed(context, window.context_offsets[start][0],
                          window.context_offsets[end][1], score)
  return best


def _trimmed(context: str, start: int, end: int, score: float) -> Answer:
  text = context[start:end]
  stripped = text.lstrip()
  return Answer(stripped.rstrip(), start + len(text) - len(stripped), score)


def predict_answers(examples: Sequence[QAExample], all_windows: Sequence[QAWindow],
                    start_logits: Sequence[np.ndarray], end_logits: Sequence[np.ndarray],
                    n_best: int = N_BEST, max_answer_tokens: int = MAX_ANSWER_TOKENS
                    ) -> dict[str, Answer]:
  """Example id -> best answer, from the logits of `all_windows` (same order, any grouping)."""
  if not len(all_windows) == len(start_logits) == len(end_logits):
    raise ValueError(f'{len(all_windows)} windows but {len(start_logits)} start and '
                     f'{len(end_logits)} end logits.')
  by_example = collections.defaultdict(list)
  for index, window in enumerate(all_windows):
    by_example[window.example_id].append(index)
  answers = {}
  for example in examples:
    indices = by_example.get(example.id, [])
    answers[example.id] = best_answer(
        example.context, [all_windows[index] for index in indices],
        [start_logits[index] for index in indices], [end_logits[index] for index in indices],
        n_best, max_answer_tokens)
  return answers
