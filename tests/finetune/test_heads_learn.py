"""Each task head, trained through step.Program, learns a small synthetic task well above chance.

The rows are token ids made up directly (inputs.Encoded), so no tokenizer is involved: filler ids
with marker ids placed at random, framed as <s> ... </s>. Classification, regression and tagging
need the encoder to move information between positions (the first token must see or count the
markers; B or I depends on the previous word); QA's span ends are the markers themselves.
"""

import flax.nnx as nnx
import jax
import numpy as np
import pytest

from tests.helpers import sharded_steps
from unibert_jax import sharding
from unibert_jax import special_tokens
from unibert_jax.finetune import heads
from unibert_jax.finetune import inputs
from unibert_jax.finetune import step as step_lib
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.tasks import examples as examples_lib
from unibert_jax.tasks import metrics

MAX_LENGTH = 32          # the small config's position table (34 rows, offset 2)
FILLER = (10, 200)       # ids of ordinary tokens
CLASS_MARKERS = (200, 201, 202)
COUNTED = 210
ENTITY, ENTITY_CONTINUATION = 220, 221
ANSWER_START, ANSWER_END = 230, 231
# Rows of 17-32 tokens: one length bucket, so one compilation per head (tagging has two).
LONGEST_BODY = MAX_LENGTH - 2
TRAIN_ROWS, TEST_ROWS = 768, 256
BATCH_SIZE, STEPS = 32, 240
TAGS = ('O', 'B-X', 'I-X')


def tiny_encoder() -> encoder_lib.Encoder:
  """2 layers, hidden 64, vocabulary 512, post-LN (XLM-R layout), no dropout."""
  config = sharded_steps.small_config()
  config.model.dtype = 'float32'
  with nnx.use_eager_sharding(False):
    return encoder_lib.Encoder(config.model.copy_and_resolve_references(), rngs=nnx.Rngs(0))


def framed(body) -> np.ndarray:
  return np.asarray([special_tokens.BOS_ID, *body, special_tokens.EOS_ID], np.int32)


def filler(rng, length: int) -> list[int]:
  return list(rng.integers(*FILLER, size=length))


def classification_rows(rng, n):
  """Label: which of three marker ids the row holds (once, anywhere)."""
  ids, labels = [], []
  for _ in range(n):
    body = filler(rng, rng.integers(LONGEST_BODY // 2, LONGEST_BODY + 1))
    label = int(rng.integers(3))
    body[rng.integers(len(body))] = CLASS_MARKERS[label]
    ids.append(framed(body))
    labels.append(label)
  return inputs.Encoded(examples_lib.CLASSIFICATION, ids, labels)


def regression_rows(rng, n):
  """Score: how often the counted id occurs (0-4), scaled to [0, 1]."""
  ids, scores = [], []
  for _ in range(n):
    body = filler(rng, rng.integers(LONGEST_BODY // 2, LONGEST_BODY + 1))
    count = int(rng.integers(5))
    for position in rng.choice(len(body), count, replace=False):
      body[position] = COUNTED
    ids.append(framed(body))
    scores.append(count / 4)
  return inputs.Encoded(examples_lib.REGRESSION, ids, scores)


def tagged_rows(rng, n):
  """Words of one or two pieces; an entity is a run of 1-3 words starting with ENTITY (a
  continuation piece may follow). B on the run's first word, I on the rest: the tag of a word
  depends on the word before it."""
  ids, targets, word_starts, gold = [], [], [], []
  for _ in range(n):
    words = [[int(rng.integers(*FILLER))] for _ in range(rng.integers(5, 12))]
    entity = np.zeros(len(words), bool)
    for _ in range(rng.integers(1, 3)):
      start = int(rng.integers(len(words)))
      entity[start:start + int(rng.integers(1, 4))] = True   # runs that touch make one entity
    tags = ['O' if not inside else 'I-X' if word > 0 and entity[word - 1] else 'B-X'
            for word, inside in enumerate(entity)]
    words = [[ENTITY] + ([ENTITY_CONTINUATION] if rng.random() < 0.3 else []) if inside else w
             for w, inside in zip(words, entity)]
    # Some ordinary words have a second piece too.
    words = [w + [int(rng.integers(*FILLER))] if tag == 'O' and rng.random() < 0.3 else w
             for w, tag in zip(words, tags)]
    starts = np.cumsum([1] + [len(w) for w in words[:-1]]).astype(np.int32)
    row = framed([piece for word in words for piece in word])
    target = np.full(len(row), inputs.IGNORED, np.int32)
    target[starts] = [TAGS.index(tag) for tag in tags]
    ids.append(row)
    targets.append(target)
    word_starts.append(starts)
    gold.append(tags)
  return inputs.Encoded(examples_lib.TOKEN_CLASSIFICATION, ids, targets,
                        word_starts=word_starts), gold


def qa_rows(rng, n):
  """Answer span: from the start marker to the end marker (ids random otherwise)."""
  ids, spans = [], []
  for _ in range(n):
    body = filler(rng, rng.integers(LONGEST_BODY // 2, LONGEST_BODY + 1))
    start = int(rng.integers(len(body) - 1))
    end = int(rng.integers(start + 1, min(start + 6, len(body))))
    body[start], body[end] = ANSWER_START, ANSWER_END
    ids.append(framed(body))
    spans.append((start + 1, end + 1))   # +1: <s>
  return inputs.Encoded(examples_lib.EXTRACTIVE_QA, ids, spans)


def train(kind: str, num_labels: int, train_rows: inputs.Encoded,
          encoder: encoder_lib.Encoder | None = None) -> step_lib.Program:
  hyper = step_lib.Hyper(learning_rate=1e-3, batch_size=BATCH_SIZE, max_length=MAX_LENGTH,
                         warmup_fraction=0.05)
  model = heads.build(kind, encoder or tiny_encoder(), num_labels, seed=0)
  program = step_lib.Program(model, kind, hyper, STEPS, sharding.make_mesh((1, 1, 1)),
                             special_tokens.PAD_ID, seed=0)
  losses, epoch = [], 0
  while len(losses) < STEPS:
    for batch in inputs.batches(train_rows, MAX_LENGTH, special_tokens.PAD_ID, 1, BATCH_SIZE,
                                shuffle_seed=epoch):
      losses.append(program.train_step(batch)['loss'])
      if len(losses) == STEPS:
        break
    epoch += 1
  losses = np.asarray(losses, float)
  assert np.all(np.isfinite(losses))
  assert losses[-20:].mean() < 0.5 * losses[:5].mean(), losses[::20]
  return program


@pytest.fixture
def rng():
  return np.random.default_rng(0)


def _encoder_params(encoder) -> dict:
  return {jax.tree_util.keystr(path): np.asarray(value) for path, value in
          jax.tree_util.tree_leaves_with_path(nnx.to_pure_dict(nnx.state(encoder, nnx.Param)))}


def test_sequence_classifier_finds_the_marker(rng):
  source = tiny_encoder()
  program = train(examples_lib.CLASSIFICATION, 3, classification_rows(rng, TRAIN_ROWS), source)
  # The source encoder is left as it was (the per-seed loop starts every seed from it); the
  # trained one moved, except the MLM head, which fine-tuning does not train.
  start = _encoder_params(tiny_encoder())
  assert all(np.array_equal(value, start[name])
             for name, value in _encoder_params(source).items())
  trained = _encoder_params(program.model().encoder)
  for name, value in trained.items():
    in_mlm_head = any(f"['{head}']" in name for head in encoder_lib.HEAD_PARAMS)
    assert np.array_equal(value, start[name]) == in_mlm_head, name
  test = classification_rows(rng, TEST_ROWS)
  logits = program.predict(test)
  assert all(row.shape == (3,) for row in logits)
  accuracy = metrics.accuracy(test.targets, [int(np.argmax(row)) for row in logits])
  assert accuracy > 0.8, accuracy   # chance: 1/3


def test_regression_head_counts_the_marker(rng):
  program = train(examples_lib.REGRESSION, 1, regression_rows(rng, TRAIN_ROWS))
  test = regression_rows(rng, TEST_ROWS)
  predicted = [float(row[0]) for row in program.predict(test)]
  pearson = metrics.correlations(test.targets, predicted)['pearson']
  assert pearson > 0.8, pearson


def test_token_classifier_tags_entity_runs(rng):
  train_rows, _ = tagged_rows(rng, TRAIN_ROWS)
  program = train(examples_lib.TOKEN_CLASSIFICATION, len(TAGS), train_rows)
  test, gold = tagged_rows(rng, TEST_ROWS)
  logits = program.predict(test)
  assert [row.shape for row in logits] == [(len(ids), len(TAGS)) for ids in test.ids]
  # At each word's first piece, as transfer.predictions reads them.
  predicted = [[TAGS[int(np.argmax(row[position]))] for position in starts]
               for row, starts in zip(logits, test.word_starts)]
  f1 = metrics.span_f1(gold, predicted)['f1']
  assert f1 > 0.8, f1


def test_span_extractor_finds_start_and_end(rng):
  program = train(examples_lib.EXTRACTIVE_QA, 2, qa_rows(rng, TRAIN_ROWS))
  test = qa_rows(rng, TEST_ROWS)
  logits = program.predict(test)
  assert [row.shape for row in logits] == [(len(ids), 2) for ids in test.ids]
  gold = np.asarray(test.targets)
  start = np.mean([np.argmax(row[:, 0]) == s for row, s in zip(logits, gold[:, 0])])
  end = np.mean([np.argmax(row[:, 1]) == e for row, e in zip(logits, gold[:, 1])])
  assert start > 0.8 and end > 0.8, (start, end)   # chance: about 1/20
