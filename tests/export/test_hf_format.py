"""Hugging Face export and import: real transformers + torch on CPU, real Orbax checkpoints."""

import json
import os

import flax.nnx as nnx
import jax
import ml_collections
import numpy as np
import pytest
import safetensors.numpy
import tokenizers
import torch
import transformers

from tests.helpers import multilingual_text
from tests.helpers import sharded_steps
from tests.helpers.hf_checks import assert_clean_loading, load_hf, tokenize_with, torch_logits
from unibert_jax.export import hf_format as hf_io
from unibert_jax.model import encoder as encoder_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
MAX_LEN = 32  # data.max_len of sharded_steps.small_config
transformers.utils.logging.disable_progress_bar()


def model_config(num_layers: int = 2) -> ml_collections.ConfigDict:
  config = sharded_steps.small_config()  # vocab 512, max_len 32, hidden 64, 8 heads
  config.model.num_layers = num_layers
  config.model.dtype = 'float32'
  return config.model.copy_and_resolve_references()


def random_params(model_cfg, seed: int) -> dict:
  """Parameters far from the initialisation (biases, LayerNorms), so no mapping error hides."""
  with nnx.use_eager_sharding(False):
    abstract = nnx.eval_shape(lambda: encoder_lib.Encoder(model_cfg, rngs=nnx.Rngs(0)))
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name = jax.tree_util.keystr(path)
    if name.endswith("['scale']"):
      return (1 + 0.2 * rng.standard_normal(leaf.shape)).astype(np.float32)
    fan_in = leaf.shape[0] if len(leaf.shape) == 2 and 'kernel' in name else 4
    return (rng.standard_normal(leaf.shape) / np.sqrt(fan_in)).astype(np.float32)

  return jax.tree_util.tree_map_with_path(draw, nnx.to_pure_dict(nnx.state(abstract)))


@nnx.jit
def _logits(encoder, input_ids, attention_mask):
  return encoder.mlm_logits(encoder(input_ids, attention_mask))


def jax_logits(encoder, batch) -> np.ndarray:
  return np.asarray(_logits(encoder, np.asarray(batch['input_ids']),
                            np.asarray(batch['attention_mask'])))








def tokenize(directory) -> dict:
  tokenizer = transformers.AutoTokenizer.from_pretrained(directory)
  return dict(tokenizer(list(multilingual_text.SENTENCES), padding=True, return_tensors='np'))


def flat(tree) -> dict:
  return {jax.tree_util.keystr(p): np.asarray(x) for p, x in jax.tree_util.tree_leaves_with_path(
      hf_io.encoder_params(tree))}


@pytest.fixture(scope='module')
def tokenizer_dir(multilingual_tokenizer):
  return multilingual_tokenizer


@pytest.fixture(scope='module')
def exported(tokenizer_dir, tmp_path_factory):
  """(out_dir, model config, params) of an export of random weights."""
  model_cfg = model_config()
  params = random_params(model_cfg, seed=0)
  out_dir = str(tmp_path_factory.mktemp('export'))
  card = dict(name='tiny', languages=list(multilingual_text.ARTICLE_1), steps=7,
              metrics={'mlm_accuracy': 0.25}, config={'model': model_cfg.to_dict()})
  hf_io.export_encoder(params, model_cfg, tokenizer_dir, out_dir, card)
  return out_dir, model_cfg, params


def test_export_loads_into_transformers_and_matches_jax_logits(exported):
  out_dir, model_cfg, params = exported
  model, info = load_hf(out_dir)
  assert_clean_loading(info)
  assert type(model).__name__ == 'XLMRobertaForMaskedLM'
  # The decoder is tied to the embeddings, and its bias to lm_head.bias (both omitted on disk).
  embeddings = model.roberta.embeddings.word_embeddings.weight
  assert model.lm_head.decoder.weight.data_ptr() == embeddings.data_ptr()
  np.testing.assert_array_equal(model.lm_head.decoder.bias.detach().numpy(), params['head_bias'])
  names = set(safetensors.numpy.load_file(os.path.join(out_dir, hf_io.WEIGHTS_FILE)))
  assert not any(n.startswith('lm_head.decoder') for n in names)
  with open(os.path.join(out_dir, 'config.json')) as f:
    config = json.load(f)
  assert (config['layer_norm_eps'], config['hidden_act'], config['max_position_embeddings']) == (
      model_cfg.layer_norm_eps, 'gelu', MAX_LEN + 2)

  batch = tokenize(out_dir)
  assert (batch['attention_mask'] == 0).any(), 'the inputs must include padding'
  encoder = hf_io.build_encoder(model_cfg, params)
  expected = jax_logits(encoder, batch)
  actual = torch_logits(model, batch)
  assert np.abs(expected).max() > 1.0  # non-trivial logits
  np.testing.assert_allclose(actual, expected, atol=1e-4, rtol=0)


def test_pre_ln_exports_as_xlm_roberta_xl_with_the_same_logits(tokenizer_dir, tmp_path):
  model_cfg = model_config()
  model_cfg.norm_placement = 'pre'
  params = random_params(model_cfg, seed=1)
  out_dir = hf_io.export_encoder(params, model_cfg, tokenizer_dir, str(tmp_path / 'xl'))
  model, info = load_hf(out_dir)
  assert_clean_loading(info)
  assert type(model).__name__ == 'XLMRobertaXLForMaskedLM'
  batch = tokenize(out_dir)
  expected = jax_logits(hf_io.build_encoder(model_cfg, params), batch)
  # The same weights read as post-LN give other logits: the placement is not a no-op.
  post_cfg = model_config()
  assert np.abs(jax_logits(hf_io.build_encoder(post_cfg, params), batch) - expected).max() > 0.1
  np.testing.assert_allclose(torch_logits(model, batch), expected, atol=1e-4, rtol=0)
  encoder, imported_cfg = hf_io.load_hf_encoder(out_dir)
  assert imported_cfg.norm_placement == 'pre'
  imported = flat(encoder)
  for name, value in flat(params).items():
    np.testing.assert_array_equal(imported[name], value, err_msg=name)


def test_exported_tokenizer_gives_the_training_ids(exported, tokenizer_dir):
  out_dir, _, _ = exported
  ours = tokenizers.Tokenizer.from_file(os.path.join(tokenizer_dir, 'tokenizer.json'))
  theirs = transformers.AutoTokenizer.from_pretrained(out_dir)
  for sentence in multilingual_text.SENTENCES:
    assert theirs(sentence)['input_ids'] == ours.encode(sentence).ids
  assert theirs.mask_token_id == ours.get_vocab_size() - 1
  assert theirs.model_max_length == MAX_LEN


def test_import_of_export_is_the_identity(exported):
  out_dir, model_cfg, params = exported
  encoder, imported_cfg = hf_io.load_hf_encoder(out_dir)
  for field in ('num_layers', 'hidden_size', 'num_heads', 'intermediate_size', 'vocab_size',
                'max_position_embeddings', 'layer_norm_eps'):
    assert imported_cfg[field] == model_cfg[field], field
  expected, actual = flat(params), flat(encoder)
  assert expected.keys() == actual.keys()
  for name in expected:
    np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def test_fill_mask_pipeline_runs_on_the_export(exported):
  out_dir, _, _ = exported
  fill = transformers.pipeline('fill-mask', model=out_dir)
  predictions = fill('They are endowed with <mask> and conscience.', top_k=3)
  assert len(predictions) == 3
  assert all('<mask>' not in p['sequence'] for p in predictions)
  scores = [p['score'] for p in predictions]
  assert scores == sorted(scores, reverse=True) and 0 < sum(scores) <= 1


def test_model_card_names_languages_steps_metrics_and_loading(exported):
  out_dir, _, _ = exported
  with open(os.path.join(out_dir, 'README.md')) as f:
    card = f.read()
  assert card.startswith('---\n') and 'pipeline_tag: fill-mask' in card
  assert '- "zh"' in card and 'Training steps: 7.' in card
  assert '| mlm_accuracy | 0.25 |' in card
  assert 'AutoModelForMaskedLM.from_pretrained' in card


def test_import_reads_checkpoints_saved_by_transformers(tmp_path, tokenizer_dir):
  """A torch-initialised XLMRobertaForMaskedLM saved by transformers: the real-teacher path."""
  model_cfg = model_config()
  config = transformers.XLMRobertaConfig(**{
      k: v for k, v in hf_io.hf_config(model_cfg).items() if k not in ('architectures',)})
  torch.manual_seed(0)
  model = transformers.XLMRobertaForMaskedLM(config).eval()
  with torch.no_grad():  # non-zero biases and LayerNorms, as in a trained model
    for parameter in model.parameters():
      parameter.add_(0.05 * torch.randn_like(parameter))
  model.save_pretrained(str(tmp_path))
  encoder, _ = hf_io.load_hf_encoder(str(tmp_path))
  batch = tokenize_with(tokenizer_dir)
  np.testing.assert_allclose(jax_logits(encoder, batch), torch_logits(model, batch), atol=1e-4,
                             rtol=0)




def test_import_accepts_other_spellings_of_the_same_weights(exported, tmp_path):
  out_dir, _, params = exported
  tensors = safetensors.numpy.load_file(os.path.join(out_dir, hf_io.WEIGHTS_FILE))
  variant = {('xlm_roberta.' + n[len('roberta.'):] if n.startswith('roberta.') else n): v
             for n, v in tensors.items()}
  variant['lm_head.decoder.weight'] = tensors['roberta.embeddings.word_embeddings.weight']
  variant['lm_head.decoder.bias'] = variant.pop('lm_head.bias')  # the older spelling
  variant['xlm_roberta.pooler.dense.weight'] = np.zeros((64, 64), np.float32)  # not used
  token_types = tensors['roberta.embeddings.token_type_embeddings.weight']
  variant['xlm_roberta.embeddings.token_type_embeddings.weight'] = np.concatenate(
      [token_types, token_types + 1])  # type_vocab_size 2: only type 0 is ever used
  safetensors.numpy.save_file(variant, str(tmp_path / hf_io.WEIGHTS_FILE))
  with open(os.path.join(out_dir, 'config.json')) as f, open(tmp_path / 'config.json', 'w') as g:
    g.write(f.read())
  encoder, _ = hf_io.load_hf_encoder(str(tmp_path))
  expected, actual = flat(params), flat(encoder)
  for name in expected:
    np.testing.assert_array_equal(actual[name], expected[name], err_msg=name)


def test_import_refuses_what_the_encoder_cannot_reproduce(exported, tmp_path):
  out_dir, _, _ = exported
  tensors = safetensors.numpy.load_file(os.path.join(out_dir, hf_io.WEIGHTS_FILE))
  untied = dict(tensors, **{'lm_head.decoder.weight':
                            tensors['roberta.embeddings.word_embeddings.weight'] + 1})
  with pytest.raises(ValueError, match='lm_head.decoder.weight'):
    hf_io.from_hf_tensors(untied, num_layers=2)
  with open(os.path.join(out_dir, 'config.json')) as f:
    config = json.load(f)
  with pytest.raises(ValueError, match='hidden_act'):
    hf_io.model_config_from_hf(dict(config, hidden_act='relu'))
  with open(tmp_path / 'config.json', 'w') as f:
    json.dump(config, f)
  with pytest.raises(FileNotFoundError, match='model.safetensors'):
    hf_io.load_hf_encoder(str(tmp_path))


def test_export_refuses_mismatched_inputs(exported, tokenizer_dir, tmp_path):
  _, model_cfg, params = exported
  with pytest.raises(ValueError, match='num_layers'):
    hf_io.export_encoder(params, model_config(num_layers=3), tokenizer_dir, str(tmp_path / 'a'))
  with pytest.raises(FileNotFoundError, match='tokenizer.json'):
    hf_io.export_encoder(params, model_cfg, str(tmp_path), str(tmp_path / 'b'))


