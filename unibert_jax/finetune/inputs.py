"""Task examples -> token rows and targets, and length-bucketed batches of them.

Rows are framed by the tokenizer's own post-processor (`<s> a </s></s> b </s>` for XLM-R,
`[CLS] a [SEP] b [SEP]` for BERT), exactly as transformers' tokenizers and pipelines frame them,
so an exported head sees the same ids. Token classification labels the first piece of each word
and ignores the rest (-1), as XTREME does; QA rows are qa_postprocess windows.

Batches group rows of one length bucket (layer_features.BUCKET_LENGTHS, capped at max_length), so
padding stays small and each bucket compiles once. A batch's row count is fixed per bucket;
a short last batch is filled with weight-0 rows.
"""

from collections.abc import Iterator, Sequence
import dataclasses
import math

import numpy as np
import tokenizers

from unibert_jax.evaluation import layer_features
from unibert_jax.tasks import examples as examples_lib
from unibert_jax.tasks import qa_postprocess

IGNORED = -1   # token target that no loss or prediction reads


@dataclasses.dataclass
class Encoded:
  """One split of a task as model rows.

  ids: token ids per row. targets: per row a class index, a score, per-token tag indices
  (IGNORED off the first pieces) or (start, end) token positions (QA).
  word_starts: token classification, per row the first piece of each word (-1: the word was cut
  off by max_length). windows: QA, the window each row is.
  """
  kind: str
  ids: list[np.ndarray]
  targets: list
  word_starts: list[np.ndarray] | None = None
  windows: list[qa_postprocess.QAWindow] | None = None

  def __len__(self) -> int:
    return len(self.ids)


@dataclasses.dataclass(frozen=True)
class Framing:
  """How rows are cut: the longest row, and QA's window stride and question cap."""
  max_length: int
  doc_stride: int = qa_postprocess.DOC_STRIDE
  max_query_length: int = qa_postprocess.MAX_QUERY_LENGTH


def concatenate(parts: Sequence[Encoded]) -> Encoded:
  """One Encoded of all `parts`' rows in order (one prediction pass over many small sets)."""
  if not parts:
    raise ValueError('Nothing to concatenate.')
  joined = lambda field: (None if getattr(parts[0], field) is None
                          else [row for part in parts for row in getattr(part, field)])
  return Encoded(parts[0].kind, joined('ids'), joined('targets'), joined('word_starts'),
                 joined('windows'))


def _truncating(tokenizer: tokenizers.Tokenizer, max_length: int) -> tokenizers.Tokenizer:
  tokenizer.no_padding()
  tokenizer.enable_truncation(max_length, strategy='longest_first')
  return tokenizer


def _plain(tokenizer: tokenizers.Tokenizer) -> tokenizers.Tokenizer:
  tokenizer.no_padding()
  tokenizer.no_truncation()
  return tokenizer


def encode(task_kind: str, examples: Sequence[examples_lib.Example],
           tokenizer: tokenizers.Tokenizer, framing: Framing,
           tag_names: Sequence[str] = ()) -> Encoded:
  """The rows of `examples` (one language or the English training split)."""
  if task_kind in (examples_lib.CLASSIFICATION, examples_lib.REGRESSION):
    inputs = [e.text_a if e.text_b is None else (e.text_a, e.text_b) for e in examples]
    encodings = _truncating(tokenizer, framing.max_length).encode_batch(inputs)
    _plain(tokenizer)
    targets = [e.label if task_kind == examples_lib.CLASSIFICATION else e.score for e in examples]
    return Encoded(task_kind, [np.asarray(x.ids, np.int32) for x in encodings], targets)
  if task_kind == examples_lib.TOKEN_CLASSIFICATION:
    return _encode_tagged(examples, tokenizer, framing, tag_names)
  if task_kind == examples_lib.EXTRACTIVE_QA:
    windows = [window for example in examples
               for window in qa_postprocess.windows(
                   _plain(tokenizer), example, framing.max_length, framing.doc_stride,
                   framing.max_query_length)]
    return Encoded(task_kind, [np.asarray(w.input_ids, np.int32) for w in windows],
                   [(w.start_position, w.end_position) for w in windows], windows=windows)
  raise ValueError(f'kind={task_kind!r} is not one of {examples_lib.KINDS}.')


def _encode_tagged(examples, tokenizer, framing, tag_names) -> Encoded:
  tag_index = {tag: index for index, tag in enumerate(tag_names)}
  encodings = _truncating(tokenizer, framing.max_length).encode_batch(
      [list(e.tokens) for e in examples], is_pretokenized=True)
  _plain(tokenizer)
  ids, targets, word_starts = [], [], []
  for example, encoding in zip(examples, encodings):
    starts = np.full(len(example.tokens), -1, np.int32)
    previous = None
    for position, word in enumerate(encoding.word_ids):
      if word is not None and word != previous and starts[word] < 0:
        starts[word] = position
      previous = word
    unknown = set(example.tags) - set(tag_index)
    if unknown:
      raise ValueError(f'Example {example.id} has tags {sorted(unknown)} outside the task\'s '
                       f'{list(tag_names)}.')
    target = np.full(len(encoding.ids), IGNORED, np.int32)
    kept = starts >= 0
    target[starts[kept]] = [tag_index[tag] for tag, keep in zip(example.tags, kept) if keep]
    ids.append(np.asarray(encoding.ids, np.int32))
    targets.append(target)
    word_starts.append(starts)
  return Encoded(examples_lib.TOKEN_CLASSIFICATION, ids, targets, word_starts=word_starts)


def _batch(encoded: Encoded, indices: Sequence[int], rows: int, length: int, pad_id: int) -> dict:
  input_ids = np.full((rows, length), pad_id, np.int32)
  weights = np.zeros((rows,), np.float32)
  index = np.full((rows,), -1, np.int32)
  kind = encoded.kind
  if kind == examples_lib.TOKEN_CLASSIFICATION:
    targets = np.full((rows, length), IGNORED, np.int32)
  elif kind == examples_lib.EXTRACTIVE_QA:
    targets = np.zeros((rows, 2), np.int32)
  else:
    targets = np.zeros((rows,), np.float32 if kind == examples_lib.REGRESSION else np.int32)
  for row, i in enumerate(indices):
    ids = encoded.ids[i]
    input_ids[row, :len(ids)] = ids
    weights[row] = 1.0
    index[row] = i
    if kind == examples_lib.TOKEN_CLASSIFICATION:
      targets[row, :len(ids)] = encoded.targets[i]
    else:
      targets[row] = encoded.targets[i]
  lengths = np.zeros((rows, 1), np.int32)
  lengths[:len(indices), 0] = [len(encoded.ids[i]) for i in indices]
  return {'input_ids': input_ids, 'attention_mask': np.arange(length) < lengths,
          'targets': targets, 'weights': weights, 'index': index}


def batches(encoded: Encoded, max_length: int, pad_id: int, devices: int,
            batch_size: int | None = None, shuffle_seed: int | None = None) -> Iterator[dict]:
  """Padded batches by length bucket: input_ids, attention_mask, targets, weights (0 for filler
  rows) and index (the row's place in `encoded`, -1 for filler).

  batch_size None: prediction batches of about layer_features.TOKENS_PER_BATCH tokens, in bucket order.
  shuffle_seed: training order; rows are shuffled within buckets and the batches across them.
  """
  by_bucket: dict[int, list[int]] = {}
  for i, ids in enumerate(encoded.ids):
    by_bucket.setdefault(layer_features.bucket_length(len(ids), max_length), []).append(i)
  rng = None if shuffle_seed is None else np.random.default_rng(shuffle_seed)
  plan = []
  for length, indices in sorted(by_bucket.items()):
    if rng is not None:
      indices = list(rng.permutation(indices))
    rows = layer_features.rows_per_batch(length, devices, batch_size)
    plan += [(indices[start:start + rows], rows, length)
             for start in range(0, len(indices), rows)]
  if rng is not None:
    plan = [plan[i] for i in rng.permutation(len(plan))]
  for indices, rows, length in plan:
    yield _batch(encoded, indices, rows, length, pad_id)


def steps_per_epoch(encoded: Encoded, max_length: int, batch_size: int, devices: int) -> int:
  counts: dict[int, int] = {}
  for ids in encoded.ids:
    bucket = layer_features.bucket_length(len(ids), max_length)
    counts[bucket] = counts.get(bucket, 0) + 1
  return sum(math.ceil(n / layer_features.rows_per_batch(length, devices, batch_size))
             for length, n in counts.items())
