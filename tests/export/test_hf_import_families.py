"""Importing transformers' own XLM-R- and BERT-family checkpoints, with and without an MLM head:
every layer's hidden states and the MLM logits match transformers' (torch on CPU)."""

import json
import os

import flax.nnx as nnx
import jax
import numpy as np
import pytest
import safetensors.numpy
import torch
import transformers

from tests.export import test_hf_format
from unibert_jax.export import hf_format as hf_io
from unibert_jax.model import encoder as encoder_lib

transformers.utils.logging.set_verbosity_error()
SHAPE = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
             intermediate_size=37, max_position_embeddings=40)
LENGTHS = (13, 9, 4)   # right padding: rows 1 and 2 are padded
TOLERANCE = 1e-4


# (model class, config class, hf_family, position_scheme, pad id, has_mlm_head, norm_placement)
CASES = {
    'BertModel': (transformers.BertModel, transformers.BertConfig,
                  'bert', 'bert', 0, False, 'post'),
    'BertForMaskedLM': (transformers.BertForMaskedLM, transformers.BertConfig,
                        'bert', 'bert', 0, True, 'post'),
    'XLMRobertaModel': (transformers.XLMRobertaModel, transformers.XLMRobertaConfig,
                        'xlm-roberta', 'xlm-r', 1, False, 'post'),
    'XLMRobertaForMaskedLM': (transformers.XLMRobertaForMaskedLM, transformers.XLMRobertaConfig,
                              'xlm-roberta', 'xlm-r', 1, True, 'post'),
    'XLMRobertaXLForMaskedLM': (transformers.XLMRobertaXLForMaskedLM,
                                transformers.XLMRobertaXLConfig,
                                'xlm-roberta', 'xlm-r', 1, True, 'pre'),
}


def save_random_model(name: str, directory) -> torch.nn.Module:
  """A tiny model of class `name`, its weights moved off the initialisation (zero biases and
  unit LayerNorms would hide a mapping error), saved by transformers as safetensors."""
  model_class, config_class = CASES[name][:2]
  torch.manual_seed(0)
  model = model_class(config_class(**SHAPE)).eval()
  with torch.no_grad():
    for parameter in model.parameters():
      parameter.add_(0.1 * torch.randn_like(parameter))
  model.save_pretrained(str(directory), safe_serialization=True)
  return model


def padded_batch(pad_id: int, seed: int = 0) -> dict:
  """Random ids (none of them special: 0-3 are <s>/[PAD], <pad>, </s>, <unk>), right padding."""
  rng = np.random.default_rng(seed)
  input_ids = np.full((len(LENGTHS), max(LENGTHS)), pad_id, np.int64)
  attention_mask = np.zeros_like(input_ids)
  for row, length in enumerate(LENGTHS):
    input_ids[row, :length] = rng.integers(4, SHAPE['vocab_size'], length)
    attention_mask[row, :length] = 1
  return dict(input_ids=input_ids, attention_mask=attention_mask)


def torch_outputs(model, batch) -> tuple[list[np.ndarray], np.ndarray | None]:
  """(hidden states, embedding output first; MLM logits or None)."""
  with torch.no_grad():
    out = model(input_ids=torch.as_tensor(batch['input_ids']),
                attention_mask=torch.as_tensor(batch['attention_mask']),
                output_hidden_states=True)
  logits = getattr(out, 'logits', None)
  return [h.numpy() for h in out.hidden_states], None if logits is None else logits.numpy()


@nnx.jit
def _jax_outputs(encoder, input_ids, attention_mask):
  states = encoder.all_hidden_states(input_ids, attention_mask)
  return states, encoder.mlm_logits(states[-1]), encoder(input_ids, attention_mask)


def jax_outputs(encoder, batch):
  states, logits, final = _jax_outputs(encoder, batch['input_ids'].astype(np.int32),
                                       batch['attention_mask'].astype(np.int32))
  return [np.asarray(s) for s in states], np.asarray(logits), np.asarray(final)


def max_diff_on_tokens(a: np.ndarray, b: np.ndarray, attention_mask: np.ndarray) -> float:
  """Largest |a - b| over the real (non-pad) positions."""
  return float(np.abs(a - b)[attention_mask.astype(bool)].max())


@pytest.mark.parametrize('name', list(CASES))
def test_every_hidden_state_and_the_logits_match_transformers(name, tmp_path):
  model = save_random_model(name, tmp_path)
  _, _, family, scheme, pad_id, has_head, placement = CASES[name]
  encoder, model_cfg = hf_io.load_hf_encoder(str(tmp_path))
  assert (model_cfg.hf_family, model_cfg.position_scheme, model_cfg.pad_token_id,
          model_cfg.has_mlm_head, model_cfg.norm_placement) == (
              family, scheme, pad_id, has_head, placement)
  assert model_cfg.layer_norm_eps == model.config.layer_norm_eps

  batch = padded_batch(pad_id)
  expected_states, expected_logits = torch_outputs(model, batch)
  states, logits, final = jax_outputs(encoder, batch)
  mask = batch['attention_mask']
  assert len(states) == len(expected_states) == SHAPE['num_hidden_layers'] + 1
  # Pre-LN (XLMRobertaXL) counts the same way: the embeddings (no LayerNorm there), each
  # layer's raw output, and the last layer's after the final LayerNorm (transformers ties
  # hidden_states[-1] to last_hidden_state).
  for layer, (ours, theirs) in enumerate(zip(states, expected_states)):
    assert max_diff_on_tokens(ours, theirs, mask) < TOLERANCE, f'{name} state {layer}'
  np.testing.assert_array_equal(states[-1], final)
  # The states differ from layer to layer: a skipped layer would not pass for a match.
  assert max_diff_on_tokens(states[0], states[-1], mask) > 0.1
  if has_head:
    assert np.abs(expected_logits).max() > 0.5
    assert max_diff_on_tokens(logits, expected_logits, mask) < TOLERANCE, f'{name} logits'


def test_position_schemes_differ_where_the_families_do():
  ids = np.array([[5, 6, 7, 0, 0], [1, 5, 6, 1, 1]])
  bert = dict(position_scheme='bert', pad_token_id=0)
  np.testing.assert_array_equal(encoder_lib.position_ids(ids, bert),
                                [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]])
  # XLM-R counts real tokens from pad_id + 1; padding sits on row pad_id.
  np.testing.assert_array_equal(encoder_lib.position_ids(ids, {}),
                                [[2, 3, 4, 5, 6], [1, 2, 3, 1, 1]])
  assert (encoder_lib.first_position({}), encoder_lib.first_position(bert)) == (2, 0)
  with pytest.raises(ValueError, match='position_scheme'):
    encoder_lib.position_ids(ids, dict(position_scheme='t5'))


def test_a_body_without_head_gets_a_fresh_one(tmp_path):
  save_random_model('BertModel', tmp_path)
  encoder, model_cfg = hf_io.load_hf_encoder(str(tmp_path))
  assert not model_cfg.has_mlm_head
  fresh = hf_io.fresh_head(model_cfg)
  # Freshly initialised as the Encoder's own head: a normal dense kernel, unit LayerNorm.
  np.testing.assert_array_equal(np.asarray(encoder.head_dense.kernel[...]),
                                fresh['head_dense']['kernel'])
  np.testing.assert_array_equal(np.asarray(encoder.head_norm.scale[...]), 1.0)
  np.testing.assert_array_equal(np.asarray(encoder.head_bias[...]), 0.0)
  assert 0.01 < fresh['head_dense']['kernel'].std() < 0.03   # initializer_range 0.02

  # Half a head is a broken checkpoint, not a body: it is refused.
  tensors = safetensors.numpy.load_file(str(tmp_path / hf_io.WEIGHTS_FILE))
  tensors['cls.predictions.bias'] = np.zeros(SHAPE['vocab_size'], np.float32)
  with pytest.raises(ValueError, match='MLM head'):
    hf_io.from_hf_tensors(tensors, num_layers=2, family='bert')


def test_the_import_refuses_what_the_encoder_cannot_reproduce(tmp_path):
  save_random_model('BertForMaskedLM', tmp_path)
  config = hf_io.read_hf_config(str(tmp_path))
  refused = {'hidden_act': dict(hidden_act='gelu_new'),
             'position_embedding_type': dict(position_embedding_type='relative_key'),
             'is_decoder': dict(is_decoder=True),
             'model_type': dict(model_type='gpt2')}
  for field, change in refused.items():
    with pytest.raises(ValueError, match=field):
      hf_io.model_config_from_hf(dict(config, **change))
  # A BERT checkpoint read as XLM-R finds no XLM-R names.
  tensors = hf_io.read_hf_tensors(str(tmp_path))
  with pytest.raises(ValueError, match='xlm-roberta'):
    hf_io.from_hf_tensors(tensors, num_layers=2)


def test_a_bert_import_is_not_exported_as_xlm_r(tmp_path, multilingual_tokenizer):
  save_random_model('BertForMaskedLM', tmp_path / 'bert')
  encoder, model_cfg = hf_io.load_hf_encoder(str(tmp_path / 'bert'))
  with pytest.raises(ValueError, match='position'):
    hf_io.export_encoder(encoder, model_cfg, multilingual_tokenizer, str(tmp_path / 'out'))


def test_an_xlm_r_export_imports_with_its_family_and_the_same_outputs(tmp_path,
                                                                      multilingual_tokenizer):
  model_cfg = test_hf_format.model_config()
  params = test_hf_format.random_params(model_cfg, seed=3)
  out_dir = hf_io.export_encoder(params, model_cfg, multilingual_tokenizer, str(tmp_path))
  with open(os.path.join(out_dir, hf_io.CONFIG_FILE)) as f:
    assert json.load(f)['architectures'] == ['XLMRobertaForMaskedLM']
  encoder, imported_cfg = hf_io.load_hf_encoder(out_dir)
  assert (imported_cfg.hf_family, imported_cfg.position_scheme, imported_cfg.pad_token_id,
          imported_cfg.has_mlm_head) == ('xlm-roberta', 'xlm-r', 1, True)
  # A config without the new fields (every config saved before them) runs the same model.
  batch = padded_batch(pad_id=1)
  original = hf_io.build_encoder(model_cfg, params)
  assert 'position_scheme' not in model_cfg and 'pad_token_id' not in model_cfg
  for ours, theirs in zip(jax_outputs(encoder, batch)[:2], jax_outputs(original, batch)[:2]):
    np.testing.assert_array_equal(np.asarray(ours), np.asarray(theirs))


@pytest.mark.parametrize('scan_layers, remat', [(True, 'dots'), (False, 'full')])
def test_all_hidden_states_is_the_same_with_scan_and_remat(scan_layers, remat, tmp_path):
  save_random_model('XLMRobertaXLForMaskedLM', tmp_path)
  looped, model_cfg = hf_io.load_hf_encoder(str(tmp_path))
  variant_cfg = model_cfg.copy_and_resolve_references()
  variant_cfg.update(scan_layers=scan_layers, remat=remat)
  variant = hf_io.build_encoder(variant_cfg, hf_io.encoder_params(looped))
  batch = padded_batch(pad_id=1)
  expected, _, _ = jax_outputs(looped, batch)
  states, _, final = jax_outputs(variant, batch)
  np.testing.assert_array_equal(states[-1], final)   # the last state is __call__'s
  for ours, theirs in zip(states, expected, strict=True):
    np.testing.assert_allclose(ours, theirs, atol=1e-6, rtol=0)
