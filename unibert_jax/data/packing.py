"""Tokenized paragraphs packed into fixed-length, single-language sequences, cached on disk.

Each language's paragraphs are tokenized (without special tokens) and concatenated in source
order into one token stream, which is cut into sequences `<s> tokens </s> <pad>...` of max_len.
Long paragraphs continue in the next sequence; a language's last, partial sequence is kept when
it holds at least `min_tail_tokens` tokens (or when it is the language's only one). Sequences are
grouped by language, languages in label order.

The result is cached under `<data_dir>/packed/`, keyed by split, max_len and a fingerprint of the
tokenizer, so a training start (and every process of a multi-host job) reads it instead of
re-tokenizing. The arrays are memory-mapped, so grain workers share them through the page cache.
"""

import dataclasses
import hashlib
import json
import os
import shutil
import tempfile
from typing import Any, Sequence

import numpy as np
import tokenizers

from unibert_jax import file_checksums
from unibert_jax import special_tokens
from unibert_jax.data import corpus

_FORMAT_VERSION = 1
_READ_CHUNK = 2048  # paragraphs per tokenizer call


@dataclasses.dataclass
class PackedSequences:
  """input_ids int32 [N, L]; length int32 [N] (incl. <s> and </s>); language_id int32 [N]."""
  input_ids: np.ndarray
  length: np.ndarray
  language_id: np.ndarray
  language_names: list[str]
  path: str | None = None  # the cache directory it was read from, if any

  def __len__(self) -> int:
    return int(self.input_ids.shape[0])

  @property
  def max_len(self) -> int:
    return int(self.input_ids.shape[1])

  def language_counts(self) -> np.ndarray:
    """Number of sequences of each language, int64 [num_languages]."""
    return np.bincount(self.language_id, minlength=len(self.language_names))

  def __reduce__(self):
    # grain workers get the cache path and map the files themselves, instead of a pickled copy.
    if self.path is not None:
      return load_packed, (self.path,)
    return super().__reduce__()


def default_min_tail_tokens(max_len: int) -> int:
  """A tail shorter than an eighth of a sequence wastes more compute than its text is worth."""
  return max(1, (max_len - 2) // 8)


def tokenizer_fingerprint(tokenizer: tokenizers.Tokenizer) -> str:
  """A short hash of the whole tokenizer (vocabulary, normaliser, model); keys the cache."""
  return hashlib.blake2b(tokenizer.to_str().encode(), digest_size=8).hexdigest()


def pack_token_streams(language_tokens: Sequence[np.ndarray], language_names: Sequence[str],
                       max_len: int, min_tail_tokens: int | None = None,
                       split: str = 'train') -> PackedSequences:
  """Packs one token stream per language (index = language id) into sequences.

  Raises ValueError naming the first language whose stream is empty.
  """
  if max_len < 3:
    raise ValueError(f'data.max_len must be at least 3 (<s>, a token, </s>), got {max_len}.')
  if len(language_tokens) != len(language_names):
    raise ValueError(f'Got {len(language_tokens)} token streams for {len(language_names)} '
                     'languages.')
  if min_tail_tokens is None:
    min_tail_tokens = default_min_tail_tokens(max_len)
  content = max_len - 2
  blocks, lengths, languages = [], [], []
  for language, (name, stream) in enumerate(zip(language_names, language_tokens)):
    stream = np.asarray(stream, np.int32)
    if not stream.size:
      raise ValueError(
          f'Language {name!r} (id {language}) has no text in the {split!r} split, so it cannot '
          f'be sampled or evaluated; drop it from data.languages or add text for it.')
    num_full, tail = divmod(stream.size, content)
    keep_tail = tail > 0 and (tail >= min_tail_tokens or num_full == 0)
    rows = num_full + int(keep_tail)
    block = np.full((rows, max_len), special_tokens.PAD_ID, np.int32)
    block[:, 0] = special_tokens.BOS_ID
    block[:num_full, 1:1 + content] = stream[:num_full * content].reshape(num_full, content)
    block[:num_full, -1] = special_tokens.EOS_ID
    length = np.full(rows, max_len, np.int32)
    if keep_tail:
      block[-1, 1:1 + tail] = stream[num_full * content:]
      block[-1, 1 + tail] = special_tokens.EOS_ID
      length[-1] = tail + 2
    blocks.append(block)
    lengths.append(length)
    languages.append(np.full(rows, language, np.int32))
  return PackedSequences(input_ids=np.concatenate(blocks), length=np.concatenate(lengths),
                         language_id=np.concatenate(languages),
                         language_names=list(language_names))


def _read_chunks(source: Any):
  """Yields lists of source records, using the source's batched read where it has one."""
  total = len(source)
  for start in range(0, total, _READ_CHUNK):
    indices = range(start, min(start + _READ_CHUNK, total))
    if hasattr(source, '__getitems__'):
      yield source.__getitems__(list(indices))
    else:
      yield [source[i] for i in indices]


def _as_text(value) -> str:
  return value.decode('utf-8') if isinstance(value, bytes) else str(value)


def tokenize_by_language(source: Any, tokenizer: tokenizers.Tokenizer,
                         num_languages: int) -> list[np.ndarray]:
  """One int32 token stream per language: its paragraphs' tokens, concatenated in source order."""
  pieces: list[list[np.ndarray]] = [[] for _ in range(num_languages)]
  for records in _read_chunks(source):
    texts = [_as_text(r['text']) for r in records]
    labels = np.array([int(r['language']) for r in records], np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= num_languages):
      raise ValueError(f'A record has language id {int(labels.max())}, outside the '
                       f'{num_languages} languages of the corpus.')
    encodings = tokenizer.encode_batch_fast(texts, add_special_tokens=False)
    ids = [np.asarray(e.ids, np.int32) for e in encodings]
    for language in np.unique(labels):
      selected = np.flatnonzero(labels == language)
      pieces[language].append(np.concatenate([ids[i] for i in selected]))
  return [np.concatenate(p) if p else np.zeros((0,), np.int32) for p in pieces]


def _save(packed: PackedSequences, directory: str, meta: dict) -> None:
  for name in ('input_ids', 'length', 'language_id'):
    np.save(os.path.join(directory, f'{name}.npy'), getattr(packed, name))
  with open(os.path.join(directory, 'meta.json'), 'w') as f:
    json.dump(dict(meta, language_names=packed.language_names), f, indent=1)


def load_packed(directory: str) -> PackedSequences:
  """Reads a packed cache directory (arrays memory-mapped)."""
  with open(os.path.join(directory, 'meta.json')) as f:
    meta = json.load(f)
  arrays = {name: np.load(os.path.join(directory, f'{name}.npy'), mmap_mode='r')
            for name in ('input_ids', 'length', 'language_id')}
  return PackedSequences(**arrays, language_names=meta['language_names'], path=directory)


def packed_cache_dir(data_dir: str, split: str, max_len: int,
                     tokenizer: tokenizers.Tokenizer) -> str:
  return os.path.join(
      data_dir, 'packed',
      f'{split}-len{max_len}-tok{tokenizer_fingerprint(tokenizer)}-v{_FORMAT_VERSION}')


def load_or_pack(data_dir: str, split: str, tokenizer: tokenizers.Tokenizer, max_len: int,
                 min_tail_tokens: int | None = None) -> PackedSequences:
  """The packed sequences of one split of the corpus in data_dir, from the cache when present."""
  directory = packed_cache_dir(data_dir, split, max_len, tokenizer)
  if min_tail_tokens is not None and min_tail_tokens != default_min_tail_tokens(max_len):
    directory += f'-tail{min_tail_tokens}'
  if os.path.exists(os.path.join(directory, 'meta.json')):
    file_checksums.verify(directory, f'delete {directory}; it is packed again from the corpus')
    return load_packed(directory)
  names = corpus.language_names(data_dir)
  source = corpus.open_split(data_dir, split)
  streams = tokenize_by_language(source, tokenizer, len(names))
  packed = pack_token_streams(streams, names, max_len, min_tail_tokens, split=split)
  meta = dict(split=split, max_len=max_len, format_version=_FORMAT_VERSION,
              tokenizer_fingerprint=tokenizer_fingerprint(tokenizer),
              num_paragraphs=len(source), num_tokens=int(sum(s.size for s in streams)),
              num_sequences=len(packed))
  # Written aside and renamed, so concurrent processes never read a half-written cache.
  os.makedirs(os.path.dirname(directory), exist_ok=True)
  staging = tempfile.mkdtemp(prefix='.staging-', dir=os.path.dirname(directory))
  try:
    _save(packed, staging, meta)
    file_checksums.record(staging)
    os.rename(staging, directory)
  except OSError:
    if not os.path.exists(os.path.join(directory, 'meta.json')):
      raise
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return load_packed(directory)
