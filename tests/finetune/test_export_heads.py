"""Task heads exported to transformers: real AutoModelFor... and pipeline on CPU, same logits."""

import itertools
import json
import os

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch
import transformers

from tests.helpers import multilingual_text
from tests.helpers import sharded_steps
from tests.helpers.hf_checks import assert_clean_loading
from unibert_jax.finetune import export
from unibert_jax.finetune import heads
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.tasks import examples

transformers.utils.logging.disable_progress_bar()

CLASSES = ('entailment', 'neutral', 'contradiction')
TAGS = ('O', 'B-PER', 'I-PER', 'B-LOC', 'I-LOC')
# kind -> (label names, head outputs, transformers Auto class, pipeline task)
KINDS = {
    examples.CLASSIFICATION: (CLASSES, 3, transformers.AutoModelForSequenceClassification,
                              'text-classification'),
    examples.REGRESSION: ((), 1, transformers.AutoModelForSequenceClassification,
                          'text-classification'),
    examples.TOKEN_CLASSIFICATION: (TAGS, 5, transformers.AutoModelForTokenClassification, 'ner'),
    # transformers 5 has no question-answering pipeline.
    examples.EXTRACTIVE_QA: ((), 2, transformers.AutoModelForQuestionAnswering, None),
}
CLASS_SUFFIX = {examples.CLASSIFICATION: 'ForSequenceClassification',
                examples.REGRESSION: 'ForSequenceClassification',
                examples.TOKEN_CLASSIFICATION: 'ForTokenClassification',
                examples.EXTRACTIVE_QA: 'ForQuestionAnswering'}
SENTENCES = multilingual_text.SENTENCES[:3]  # three lengths: a padded batch
CONTEXT = 'All human beings are born free.'  # with the question, 26 of the 32 tokens
MAX_LEN = 32  # the tokenizer's and sharded_steps.small_config's


def tiny_model(kind: str, placement: str, seed: int) -> nnx.Module:
  """A head on a 2-layer, hidden-32 encoder, every parameter drawn far from its initialisation
  (non-zero biases, LayerNorm scales off 1), so no misplaced tensor hides. Drawn in numpy on an
  abstract model: eager initialisation would compile every op."""
  model_cfg = sharded_steps.small_config().model.copy_and_resolve_references()
  model_cfg.update(hidden_size=32, num_heads=4, intermediate_size=64, norm_placement=placement)
  with nnx.use_eager_sharding(False):
    abstract = nnx.eval_shape(lambda: heads.build(
        kind, encoder_lib.Encoder(model_cfg, rngs=nnx.Rngs(0)), KINDS[kind][1], seed=0))
  graphdef, state = nnx.split(abstract)
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    if jax.tree_util.keystr(path).endswith("['scale']"):
      return jnp.asarray(1 + 0.2 * rng.standard_normal(leaf.shape), jnp.float32)
    fan_in = leaf.shape[0] if len(leaf.shape) == 2 else 4
    return jnp.asarray(rng.standard_normal(leaf.shape) / np.sqrt(fan_in), jnp.float32)

  nnx.replace_by_pure_dict(state, jax.tree_util.tree_map_with_path(draw,
                                                                   nnx.to_pure_dict(state)))
  return nnx.merge(graphdef, state)


def tokenize(out_dir, texts, pairs=None) -> dict:
  """Rows padded to MAX_LEN x 3: one shape throughout, so eager JAX compiles each op once."""
  rows = list(texts) + [''] * (3 - len(texts))
  if pairs is not None:
    pairs = list(pairs) + [''] * (3 - len(pairs))
  tokenizer = transformers.AutoTokenizer.from_pretrained(out_dir)
  return dict(tokenizer(rows, pairs, padding='max_length', max_length=MAX_LEN,
                        return_tensors='np'))


def ours(model, batch) -> np.ndarray:
  return np.asarray(model(jnp.asarray(batch['input_ids']), jnp.asarray(batch['attention_mask'])))


def theirs(hf_model, kind: str, batch) -> np.ndarray:
  with torch.no_grad():
    output = hf_model(input_ids=torch.as_tensor(batch['input_ids']),
                      attention_mask=torch.as_tensor(batch['attention_mask']))
  if kind == examples.EXTRACTIVE_QA:
    return torch.stack([output.start_logits, output.end_logits], -1).numpy()
  return output.logits.numpy()


@pytest.fixture(scope='module')
def exported(multilingual_tokenizer, tmp_path_factory):
  """(kind, placement) -> (our model, export dir)."""
  models = {}
  for seed, (kind, placement) in enumerate(itertools.product(KINDS, ('post', 'pre'))):
    model = tiny_model(kind, placement, seed)
    out_dir = str(tmp_path_factory.mktemp(f'{kind}-{placement}'))
    models[kind, placement] = model, export.export_head(
        model, kind, KINDS[kind][0], multilingual_tokenizer, out_dir,
        card=dict(name='tiny', metrics={'f1': 0.5}))
  return models


@pytest.mark.parametrize('placement', ['post', 'pre'])
@pytest.mark.parametrize('kind', list(KINDS))
def test_export_loads_in_transformers_with_our_logits(kind, placement, exported):
  label_names, _, auto_class, _ = KINDS[kind]
  model, out_dir = exported[kind, placement]
  hf_model, info = auto_class.from_pretrained(out_dir, output_loading_info=True)
  assert_clean_loading(info)
  hf_model.eval()
  prefix = 'XLMRobertaXL' if placement == 'pre' else 'XLMRoberta'
  assert type(hf_model).__name__ == prefix + CLASS_SUFFIX[kind]
  with open(os.path.join(out_dir, 'config.json')) as f:
    config = json.load(f)
  if kind == examples.REGRESSION:
    assert (hf_model.config.num_labels, config['problem_type']) == (1, 'regression')
  elif label_names:
    assert [config['id2label'][str(i)] for i in range(len(label_names))] == list(label_names)

  batch = tokenize(out_dir, SENTENCES)
  assert len(set(batch['attention_mask'].sum(1))) == 3, 'rows of different lengths'
  expected, actual = ours(model, batch), theirs(hf_model, kind, batch)
  assert expected.shape == actual.shape
  assert np.abs(expected).max() > 0.1  # non-trivial logits
  print(f'{kind} {placement}: max |diff| {np.abs(expected - actual).max():.2e}')
  np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


def pipeline(kind, out_dir):
  return transformers.pipeline(KINDS[kind][3], model=out_dir, tokenizer=out_dir, device='cpu')


def test_text_classification_pipeline_answers_our_argmax_label(exported):
  model, out_dir = exported[examples.CLASSIFICATION, 'post']
  text = SENTENCES[0]
  [answer] = pipeline(examples.CLASSIFICATION, out_dir)([text])
  logits = ours(model, tokenize(out_dir, [text]))[0]
  assert answer['label'] == CLASSES[int(np.argmax(logits))]
  probabilities = np.exp(logits - logits.max()) / np.exp(logits - logits.max()).sum()
  assert answer['score'] == pytest.approx(float(probabilities.max()), abs=1e-4)


def test_regression_pipeline_gives_our_raw_score(exported):
  model, out_dir = exported[examples.REGRESSION, 'post']
  first, second = SENTENCES[0], SENTENCES[2]
  [answer] = pipeline(examples.REGRESSION, out_dir)([dict(text=first, text_pair=second)],
                                                    function_to_apply='none')
  assert answer['label'] == 'score'
  expected = ours(model, tokenize(out_dir, [first], [second]))[0, 0]
  assert answer['score'] == pytest.approx(float(expected), abs=1e-4)


def test_ner_pipeline_tags_every_token_with_our_tags(exported):
  model, out_dir = exported[examples.TOKEN_CLASSIFICATION, 'post']
  text = SENTENCES[0]
  entities = pipeline(examples.TOKEN_CLASSIFICATION, out_dir)(text, ignore_labels=[])
  batch = tokenize(out_dir, [text])
  length = int(batch['attention_mask'][0].sum())
  assert [e['index'] for e in entities] == list(range(1, length - 1))  # all but <s> and </s>
  predicted = np.argmax(ours(model, batch)[0, 1:length - 1], -1)
  assert [e['entity'] for e in entities] == [TAGS[i] for i in predicted]


def best_span(logits: np.ndarray, context_tokens: list[int], max_tokens: int = 15):
  """The (start, end) token pair of context tokens with the highest start + end logit."""
  return max(((s, e) for s in context_tokens for e in context_tokens if 0 <= e - s < max_tokens),
             key=lambda span: logits[span[0], 0] + logits[span[1], 1])


def test_question_answering_span_maps_to_a_substring_of_the_context(exported):
  # transformers 5 removed the question-answering pipeline; this is its decoding, by hand.
  model, out_dir = exported[examples.EXTRACTIVE_QA, 'post']
  question = 'Who is free?'
  tokenizer = transformers.AutoTokenizer.from_pretrained(out_dir)
  encoding = tokenizer(question, CONTEXT, return_offsets_mapping=True)
  context_tokens = [i for i, sequence in enumerate(encoding.sequence_ids()) if sequence == 1]
  hf_model = transformers.AutoModelForQuestionAnswering.from_pretrained(out_dir).eval()
  batch = dict(input_ids=np.array([encoding['input_ids']]),
               attention_mask=np.array([encoding['attention_mask']]))
  start, end = best_span(theirs(hf_model, examples.EXTRACTIVE_QA, batch)[0], context_tokens)
  first, last = encoding['offset_mapping'][start][0], encoding['offset_mapping'][end][1]
  assert 0 <= first < last <= len(CONTEXT)  # offsets into the context, not the question
  assert CONTEXT[first:last].strip()
  padded = tokenize(out_dir, [question], [CONTEXT])
  assert padded['input_ids'][0, :len(encoding['input_ids'])].tolist() == encoding['input_ids']
  assert best_span(ours(model, padded)[0], context_tokens) == (start, end)


def test_refuses_mismatched_labels_and_non_xlmr_positions(exported, multilingual_tokenizer,
                                                          tmp_path):
  model, _ = exported[examples.TOKEN_CLASSIFICATION, 'post']
  with pytest.raises(ValueError, match=r'bio_tags'):
    export.export_head(model, examples.TOKEN_CLASSIFICATION, ('PER', 'LOC'),
                       multilingual_tokenizer, str(tmp_path / 'a'))
  with pytest.raises(ValueError, match='SpanExtractor'):
    export.export_head(model, examples.EXTRACTIVE_QA, (), multilingual_tokenizer,
                       str(tmp_path / 'b'))
  bert_like = tiny_model(examples.CLASSIFICATION, 'post', seed=0)
  bert_like.encoder.cfg.update(position_scheme='bert', pad_token_id=0)
  with pytest.raises(ValueError, match='position_scheme'):
    export.export_head(bert_like, examples.CLASSIFICATION, CLASSES, multilingual_tokenizer,
                       str(tmp_path / 'c'))
  assert not os.path.exists(tmp_path / 'c')
