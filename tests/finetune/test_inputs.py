"""Task inputs: rows framed as transformers frames them, tag targets on first pieces, batches.

The framing is checked against transformers' own tokenizer (real transformers, CPU) for our
SentencePiece tokenizer (<s> a </s></s> b </s>) and for a BERT-style WordPiece one
([CLS] a [SEP] b [SEP]).
"""

import math

import numpy as np
import pytest
import tokenizers
import transformers

from tests.helpers import multilingual_text
from unibert_jax.data import tokenizer as tokenizer_lib
from unibert_jax.evaluation import layer_features
from unibert_jax.finetune import inputs
from unibert_jax.tasks import examples as examples_lib

PAD_ID = 1
PAIRS = (
    ('All human beings are born free and equal in dignity and rights.',
     'Alle Menschen sind frei und gleich an Würde und Rechten geboren.'),
    ('人人生而自由', 'Все люди рождаются свободными и равными в своем достоинстве и правах.'),
    ('Όλοι οι άνθρωποι', 'يولد جميع الناس أحرارًا'),
    ('They are endowed with reason and conscience.', None),
)
TAGGED = (
    (('All', 'human', 'beings', 'are', 'born', 'free'), ('O', 'B-PER', 'I-PER', 'O', 'O', 'O')),
    (('Все', 'люди', 'рождаются', 'свободными', 'и', 'равными', 'в', 'своем', 'достоинстве'),
     ('B-LOC', 'I-LOC', 'O', 'O', 'O', 'B-PER', 'O', 'O', 'B-LOC')),
    (('Όλοι', 'οι', 'άνθρωποι', 'γεννιούνται', 'ελεύθεροι', 'και', 'ίσοι', 'στην',
      'αξιοπρέπεια'), ('O', 'O', 'B-PER', 'I-PER', 'I-PER', 'O', 'O', 'O', 'B-LOC')),
    (('人人生而自由',), ('B-LOC',)),
)
TAG_NAMES = ('O', 'B-LOC', 'I-LOC', 'B-PER', 'I-PER')


def _bert_tokenizer_file(directory) -> str:
  """A WordPiece tokenizer with BERT's [CLS] a [SEP] b [SEP] post-processor."""
  tokenizer = tokenizers.Tokenizer(tokenizers.models.WordPiece(unk_token='[UNK]'))
  tokenizer.normalizer = tokenizers.normalizers.BertNormalizer(lowercase=False)
  tokenizer.pre_tokenizer = tokenizers.pre_tokenizers.BertPreTokenizer()
  texts = [text for texts in multilingual_text.shuffled_texts(per_language=20).values()
           for text in texts]
  tokenizer.train_from_iterator(texts, tokenizers.trainers.WordPieceTrainer(
      vocab_size=300, special_tokens=['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']))
  tokenizer.post_processor = tokenizers.processors.TemplateProcessing(
      single='[CLS] $A [SEP]', pair='[CLS] $A [SEP] $B:1 [SEP]:1',
      special_tokens=[('[CLS]', 2), ('[SEP]', 3)])
  path = str(directory / 'tokenizer.json')
  tokenizer.save(path)
  return path


@pytest.fixture(scope='module', params=['xlm-r', 'bert'])
def tokenizer_pair(request, multilingual_tokenizer, tmp_path_factory):
  """(our tokenizers.Tokenizer, transformers' tokenizer of the same file, family)."""
  if request.param == 'xlm-r':
    return (tokenizer_lib.load_tokenizer(multilingual_tokenizer),
            transformers.AutoTokenizer.from_pretrained(multilingual_tokenizer), 'xlm-r')
  path = _bert_tokenizer_file(tmp_path_factory.mktemp('bert'))
  return (tokenizers.Tokenizer.from_file(path),
          transformers.PreTrainedTokenizerFast(tokenizer_file=path), 'bert')


def _classification(pairs):
  return [examples_lib.ClassificationExample(a, b, label=i % 3, language='xx', id=str(i))
          for i, (a, b) in enumerate(pairs)]


def _hf_ids(hf_tokenizer, a, b, max_length=None) -> list[int]:
  options = {} if max_length is None else dict(truncation=True, max_length=max_length)
  return hf_tokenizer(a, b, **options)['input_ids']


@pytest.mark.parametrize('max_length', [128, 16, 9])
def test_classification_rows_are_framed_and_truncated_as_transformers_does(tokenizer_pair,
                                                                           max_length):
  tokenizer, hf_tokenizer, family = tokenizer_pair
  examples = _classification(PAIRS)
  encoded = inputs.encode(examples_lib.CLASSIFICATION, examples, tokenizer,
                          inputs.Framing(max_length))
  assert encoded.targets == [e.label for e in examples]
  first, last = (0, 2) if family == 'xlm-r' else (2, 3)
  for row, (a, b) in zip(encoded.ids, PAIRS):
    assert row.dtype == np.int32
    assert list(row) == _hf_ids(hf_tokenizer, a, b, max_length)
    assert len(row) <= max_length and row[0] == first and row[-1] == last
  untruncated = [len(_hf_ids(hf_tokenizer, a, b)) for a, b in PAIRS]
  assert [len(row) for row in encoded.ids] == [min(n, max_length) for n in untruncated]
  assert any(n > max_length for n in untruncated) == (max_length < 128)
  if max_length == 128:   # the pair framing itself: a, separator(s), b
    a, b = PAIRS[0]
    body_a = hf_tokenizer(a, add_special_tokens=False)['input_ids']
    body_b = hf_tokenizer(b, add_special_tokens=False)['input_ids']
    separator = [2, 2] if family == 'xlm-r' else [3]
    assert list(encoded.ids[0]) == [first, *body_a, *separator, *body_b, last]
  # The tokenizer is left without truncation for whoever uses it next.
  assert tokenizer.truncation is None and tokenizer.padding is None


def test_regression_rows_carry_their_scores(tokenizer_pair):
  tokenizer, hf_tokenizer, _ = tokenizer_pair
  examples = [examples_lib.RegressionExample(a, b or a, score=0.5 * i, language='xx', id=str(i))
              for i, (a, b) in enumerate(PAIRS)]
  encoded = inputs.encode(examples_lib.REGRESSION, examples, tokenizer, inputs.Framing(32))
  assert encoded.targets == [0.0, 0.5, 1.0, 1.5]
  assert [list(row) for row in encoded.ids] == [
      _hf_ids(hf_tokenizer, e.text_a, e.text_b, 32) for e in examples]


def _tagged(rows=TAGGED):
  return [examples_lib.TokenClassificationExample(words, tags, language='xx', id=str(i))
          for i, (words, tags) in enumerate(rows)]


@pytest.mark.parametrize('max_length', [128, 12])
def test_tag_targets_sit_on_the_first_piece_of_each_word(tokenizer_pair, max_length):
  tokenizer, hf_tokenizer, _ = tokenizer_pair
  encoded = inputs.encode(examples_lib.TOKEN_CLASSIFICATION, _tagged(), tokenizer,
                          inputs.Framing(max_length), TAG_NAMES)
  cut_words = 0
  for (words, tags), ids, target, starts in zip(TAGGED, encoded.ids, encoded.targets,
                                                 encoded.word_starts):
    hf = hf_tokenizer(list(words), is_split_into_words=True, truncation=True,
                      max_length=max_length)
    assert list(ids) == hf['input_ids']
    word_ids = hf.word_ids()
    assert len(starts) == len(words) and len(target) == len(ids)
    for word, tag in enumerate(tags):
      if word in word_ids:
        assert starts[word] == word_ids.index(word)
        assert target[starts[word]] == TAG_NAMES.index(tag)
      else:   # cut off by max_length
        assert starts[word] == -1
        cut_words += 1
    labelled = np.flatnonzero(target != inputs.IGNORED)
    np.testing.assert_array_equal(labelled, starts[starts >= 0])
  multi_piece = sum(len(ids) - 2 > len(words) for (words, _), ids in zip(TAGGED, encoded.ids))
  assert multi_piece > 0   # some words have more than one piece, so IGNORED is exercised
  assert (cut_words > 0) == (max_length == 12)
  assert tokenizer.truncation is None


def test_tags_outside_the_task_are_rejected(multilingual_tokenizer):
  tokenizer = tokenizer_lib.load_tokenizer(multilingual_tokenizer)
  with pytest.raises(ValueError, match=r"Example 0 has tags \['B-ORG'\]"):
    inputs.encode(examples_lib.TOKEN_CLASSIFICATION, _tagged([(('a', 'b'), ('B-ORG', 'O'))]),
                  tokenizer, inputs.Framing(32), TAG_NAMES)


# ----------------------------------------------------------------------------- batches

MAX_LENGTH = 48   # not a bucket: rows of 33-48 tokens share a 48-wide bucket


def _random_rows(kind: str, n: int = 150, seed: int = 0) -> inputs.Encoded:
  rng = np.random.default_rng(seed)
  lengths = rng.integers(3, MAX_LENGTH + 1, size=n)
  ids = [rng.integers(5, 500, size=length).astype(np.int32) for length in lengths]
  if kind == examples_lib.CLASSIFICATION:
    targets = [int(rng.integers(3)) for _ in ids]
  elif kind == examples_lib.REGRESSION:
    targets = [float(rng.random()) for _ in ids]
  elif kind == examples_lib.TOKEN_CLASSIFICATION:
    targets = [np.where(rng.random(len(row)) < 0.6, rng.integers(5, size=len(row)),
                        inputs.IGNORED).astype(np.int32) for row in ids]
  else:
    targets = [tuple(sorted(rng.integers(len(row), size=2).tolist())) for row in ids]
  return inputs.Encoded(kind, ids, targets)


def _smallest_bucket_holding(length: int) -> int:
  return min([b for b in layer_features.BUCKET_LENGTHS if b >= length] + [MAX_LENGTH])


@pytest.mark.parametrize('kind', examples_lib.KINDS)
@pytest.mark.parametrize('devices,batch_size', [(1, 16), (8, 12), (4, None)])
def test_batches_hold_every_row_once_in_its_bucket(kind, devices, batch_size):
  encoded = _random_rows(kind)
  batches = list(inputs.batches(encoded, MAX_LENGTH, PAD_ID, devices, batch_size,
                                shuffle_seed=None if batch_size is None else 3))
  seen, short_batches = [], []
  for batch in batches:
    rows, length = batch['input_ids'].shape
    assert rows % devices == 0
    if batch_size is None:   # prediction: about TOKENS_PER_BATCH tokens
      assert rows == devices * math.ceil(layer_features.TOKENS_PER_BATCH // length / devices)
    else:
      assert rows == devices * math.ceil(batch_size / devices)
    assert length in layer_features.BUCKET_LENGTHS + (MAX_LENGTH,) and length <= MAX_LENGTH
    assert batch['attention_mask'].shape == (rows, length)
    assert batch['weights'].shape == batch['index'].shape == (rows,)
    for row, index in enumerate(batch['index']):
      if index < 0:   # filler
        assert batch['weights'][row] == 0
        assert not batch['attention_mask'][row].any()
        assert (batch['input_ids'][row] == PAD_ID).all()
        continue
      seen.append(int(index))
      ids, target = encoded.ids[index], encoded.targets[index]
      assert batch['weights'][row] == 1
      assert _smallest_bucket_holding(len(ids)) == length
      np.testing.assert_array_equal(batch['input_ids'][row, :len(ids)], ids)
      assert (batch['input_ids'][row, len(ids):] == PAD_ID).all()
      np.testing.assert_array_equal(batch['attention_mask'][row], np.arange(length) < len(ids))
      if kind == examples_lib.TOKEN_CLASSIFICATION:
        np.testing.assert_array_equal(batch['targets'][row, :len(ids)], target)
        assert (batch['targets'][row, len(ids):] == inputs.IGNORED).all()
      else:
        np.testing.assert_allclose(batch['targets'][row], target, rtol=1e-6)
    assert (batch['weights'] > 0).any()
    if (batch['weights'] == 0).any():
      short_batches.append(length)
  assert sorted(seen) == list(range(len(encoded)))
  target_dtype = {examples_lib.REGRESSION: np.float32}.get(kind, np.int32)
  assert all(batch['targets'].dtype == target_dtype for batch in batches)
  if batch_size is not None:
    assert inputs.steps_per_epoch(encoded, MAX_LENGTH, batch_size, devices) == len(batches)
  # At most one short batch per bucket, and these set-ups have some (filler is exercised).
  assert len(short_batches) == len(set(short_batches)) > 0


def test_prediction_batches_go_in_bucket_order():
  encoded = _random_rows(examples_lib.CLASSIFICATION)
  batches = list(inputs.batches(encoded, MAX_LENGTH, PAD_ID, 2))
  assert [b['input_ids'].shape[1] for b in batches] == [16, 32, 48]
  for batch in batches:
    real = batch['index'][batch['index'] >= 0]
    assert list(real) == sorted(real)


def test_shuffling_changes_the_order_not_the_content():
  encoded = _random_rows(examples_lib.TOKEN_CLASSIFICATION, n=300)

  def order(seed):
    return [[int(i) for i in batch['index']]
            for batch in inputs.batches(encoded, MAX_LENGTH, PAD_ID, 2, 8, shuffle_seed=seed)]

  first, again, other, unshuffled = order(1), order(1), order(2), order(None)
  assert first == again
  assert first != other
  assert len(first) == len(other) == len(unshuffled)
  for batches in (first, other, unshuffled):
    assert sorted(i for batch in batches for i in batch if i >= 0) == list(range(len(encoded)))
  # Unshuffled: bucket by bucket, rows in order; shuffled: the buckets are interleaved.
  bucket = lambda batch: _smallest_bucket_holding(len(encoded.ids[batch[0]]))
  assert [bucket(b) for b in unshuffled] == sorted(bucket(b) for b in unshuffled)
  assert [bucket(b) for b in first] != sorted(bucket(b) for b in first)
  assert all([i for i in b if i >= 0] == sorted(i for i in b if i >= 0) for b in unshuffled)
  assert [i for batch in first for i in batch if i >= 0] != [
      i for batch in unshuffled for i in batch if i >= 0]
