"""Packing tokenized paragraphs into single-language `<s> ... </s> <pad>` sequences."""

import pickle

import numpy as np
import pytest
import tokenizers
from tokenizers import models, pre_tokenizers

from unibert_jax.data import packing
from unibert_jax.data import tokenizer as tokenizer_lib

NAMES = ['de', 'en', 'sw']
MAX_LEN = 16
CONTENT = MAX_LEN - 2


def language_streams(sizes):
  """Token streams whose ids tell the language (1000 * (language + 1) + position % 1000)."""
  return [1000 * (language + 1) + np.arange(size) % 1000 for language, size in enumerate(sizes)]


def content_of(packed, row):
  return packed.input_ids[row, 1:packed.length[row] - 1]


def test_layout_and_one_language_per_sequence():
  packed = packing.pack_token_streams(language_streams([100, 45, 3]), NAMES, MAX_LEN)
  assert packed.input_ids.dtype == np.int32 and packed.input_ids.shape[1] == MAX_LEN
  for row in range(len(packed)):
    ids, length = packed.input_ids[row], packed.length[row]
    assert ids[0] == tokenizer_lib.BOS_ID
    assert ids[length - 1] == tokenizer_lib.EOS_ID
    assert (ids[length:] == tokenizer_lib.PAD_ID).all()
    content = content_of(packed, row)
    assert not np.isin(content, [0, 1, 2]).any()
    # Every content token comes from the sequence's own language.
    assert (content // 1000 == packed.language_id[row] + 1).all()
  # Grouped by language, in label order.
  assert (np.diff(packed.language_id) >= 0).all()
  assert packed.language_names == NAMES


def test_no_token_is_lost_or_reordered():
  sizes = [100, 45, 3]
  streams = language_streams(sizes)
  min_tail = 2
  packed = packing.pack_token_streams(streams, NAMES, MAX_LEN, min_tail_tokens=min_tail)
  for language, stream in enumerate(streams):
    rows = np.flatnonzero(packed.language_id == language)
    joined = np.concatenate([content_of(packed, row) for row in rows])
    # 100 = 7 * 14 + 2 (tail kept), 45 = 3 * 14 + 3, 3 < 14 (the only sequence).
    np.testing.assert_array_equal(joined, stream)
    assert len(rows) == -(-len(stream) // CONTENT)


def test_short_tails_are_dropped_unless_a_language_has_nothing_else():
  streams = language_streams([2 * CONTENT + 3, CONTENT + 1, 2])
  packed = packing.pack_token_streams(streams, NAMES, MAX_LEN, min_tail_tokens=4)
  counts = packed.language_counts()
  np.testing.assert_array_equal(counts, [2, 1, 1])
  rows = np.flatnonzero(packed.language_id == 0)
  joined = np.concatenate([content_of(packed, row) for row in rows])
  np.testing.assert_array_equal(joined, streams[0][:2 * CONTENT])
  assert packed.length[packed.language_id == 2][0] == 4  # <s> a b </s>
  assert packing.default_min_tail_tokens(MAX_LEN) >= 1


def test_a_language_without_text_raises_naming_it():
  with pytest.raises(ValueError, match="'en'.*'validation' split"):
    packing.pack_token_streams(language_streams([30, 0, 5]), NAMES, MAX_LEN, split='validation')


def word_tokenizer(words):
  vocab = {tok: i for i, tok in enumerate(['<s>', '<pad>', '</s>', '<unk>'] + words + ['<mask>'])}
  tokenizer = tokenizers.Tokenizer(models.WordLevel(vocab, unk_token='<unk>'))
  tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
  return tokenizer


def test_tokenize_by_language_keeps_source_order_and_splits_by_label():
  words = ['hallo', 'welt', 'hello', 'world', 'jambo']
  tokenizer = word_tokenizer(words)
  source = [{'text': 'hallo welt', 'language': 0}, {'text': 'hello', 'language': 1},
            {'text': b'welt welt hallo', 'language': 0},  # TFDS text may come as bytes
            {'text': 'jambo nonsense', 'language': 2}, {'text': 'world hello', 'language': 1}]
  streams = packing.tokenize_by_language(source, tokenizer, 3)
  expected = [[4, 5, 5, 5, 4], [6, 7, 6], [8, 3]]
  for stream, ids in zip(streams, expected):
    assert stream.dtype == np.int32
    np.testing.assert_array_equal(stream, ids)
  with pytest.raises(ValueError, match='language id 5'):
    packing.tokenize_by_language([{'text': 'hello', 'language': 5}], tokenizer, 3)


def test_fingerprint_tells_tokenizers_apart():
  a, b = word_tokenizer(['x', 'y']), word_tokenizer(['x', 'z'])
  same_as_a = word_tokenizer(['x', 'y'])
  assert packing.tokenizer_fingerprint(a) == packing.tokenizer_fingerprint(same_as_a)
  assert packing.tokenizer_fingerprint(a) != packing.tokenizer_fingerprint(b)


def test_cache_round_trip_is_memory_mapped_and_pickles_by_path(tmp_path):
  packed = packing.pack_token_streams(language_streams([100, 45, 3]), NAMES, MAX_LEN)
  packing._save(packed, str(tmp_path), {})  # pylint: disable=protected-access
  loaded = packing.load_packed(str(tmp_path))
  assert isinstance(loaded.input_ids, np.memmap)
  for name in ('input_ids', 'length', 'language_id'):
    np.testing.assert_array_equal(getattr(loaded, name), getattr(packed, name))
  assert loaded.language_names == NAMES
  restored = pickle.loads(pickle.dumps(loaded))
  assert restored.path == str(tmp_path) and isinstance(restored.input_ids, np.memmap)
  assert len(pickle.dumps(loaded)) < 1000  # the path travels, not the arrays
