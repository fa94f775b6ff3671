"""The Hugging Face `XLMRobertaForMaskedLM` format of the encoder: export and import.

A pre-LN encoder (model.norm_placement='pre') is `XLMRobertaXLForMaskedLM` instead: the same
parameters, with its three LayerNorms under other names (before attention, before the
feed-forward, after the last layer) and none after the embeddings.

The import also reads the BERT family (`model_type: bert`: mBERT, multilingual MiniLM,
multilingual-e5-small): the same layers under `bert.`, an MLM head under `cls.predictions`,
positions numbered from 0 (model.position_scheme='bert') and pad id 0. Checkpoints of the body
alone (`XLMRobertaModel`, `BertModel`) import with a freshly initialised MLM head and
`has_mlm_head=False` in the returned model config. The export writes XLM-R only.

The conversion is one table of parameter names (ours -> Hugging Face) with a transform hook per
entry: torch `Linear.weight` is [out, in], the transpose of an NNX kernel [in, out]; everything
else is copied. The MLM decoder is tied to the word embeddings on both sides, so the export
omits `lm_head.decoder.weight` (and `lm_head.decoder.bias`, which transformers ties to
`lm_head.bias`), and the import accepts either spelling.

export_encoder writes config.json, model.safetensors (numpy, no torch involved), the tokenizer
files and a README.md model card; `AutoModelForMaskedLM.from_pretrained(dir)` then loads with no
missing or unexpected weights. load_hf_encoder reads any XLM-R-family directory (ours,
xlm-roberta-base/-large, RoBERTa-style checkpoints with absolute positions) or BERT-family one
into this project's Encoder: that is how a real teacher, or a model to evaluate, enters.
Exporting a training run: from_run.py.
"""

import dataclasses
import json
import os
import shutil
import tempfile
from typing import Any, Callable

import flax.nnx as nnx
import jax
import ml_collections
import numpy as np
import safetensors.numpy

from unibert_jax import special_tokens
from unibert_jax import trees
from unibert_jax.data import tokenizer as tokenizer_lib
from unibert_jax.export import model_card
from unibert_jax.model import encoder as encoder_lib

CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'
WEIGHTS_INDEX_FILE = 'model.safetensors.index.json'
TOKENIZER_FILES = ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
                   'sentencepiece.bpe.model')


# --- the name table --------------------------------------------------------------------------

def _unchanged(x: np.ndarray) -> np.ndarray:
  return x


def _transpose(x: np.ndarray) -> np.ndarray:
  return np.ascontiguousarray(x.T)


@dataclasses.dataclass(frozen=True)
class ParamMapping:
  """One parameter: our path (tuple of keys), its HF name and the hook in each direction."""
  path: tuple[str, ...]
  hf_name: str
  to_hf: Callable[[np.ndarray], np.ndarray] = _unchanged
  from_hf: Callable[[np.ndarray], np.ndarray] = _unchanged


def _dense(path: tuple[str, ...], hf: str) -> list[ParamMapping]:
  return [ParamMapping(path + ('kernel',), f'{hf}.weight', _transpose, _transpose),
          ParamMapping(path + ('bias',), f'{hf}.bias')]


def _norm(path: tuple[str, ...], hf: str) -> list[ParamMapping]:
  return [ParamMapping(path + ('scale',), f'{hf}.weight'),
          ParamMapping(path + ('bias',), f'{hf}.bias')]


@dataclasses.dataclass(frozen=True)
class Architecture:
  """One transformers masked-LM class: its family, where its LayerNorms sit, its head's names."""
  hf_class: str
  model_type: str
  family: str           # 'xlm-roberta' | 'bert'
  norm_placement: str   # encoder.NORM_PLACEMENTS
  position_scheme: str  # encoder.POSITION_SCHEMES
  default_pad_id: int   # when config.json has no pad_token_id
  default_layer_norm_eps: float
  body: str             # the encoder body's prefix in the masked-LM checkpoint
  body_aliases: tuple[str, ...]   # the prefixes checkpoints in the wild use ('' = none)
  embedding_norm: str   # our `embedding_norm` (under body): after the embeddings or last layer
  attention_norm: str   # within layer i
  output_norm: str      # within layer i
  head: str             # the MLM head's prefix: {head}.bias, {head}.decoder (tied)
  head_dense: str       # under head
  head_norm: str        # under head


XLM_R = Architecture(
    hf_class='XLMRobertaForMaskedLM', model_type='xlm-roberta', family='xlm-roberta',
    norm_placement='post', position_scheme='xlm-r', default_pad_id=special_tokens.PAD_ID,
    default_layer_norm_eps=1e-5, body='roberta',
    body_aliases=('roberta.', 'xlm_roberta.', 'xlmroberta.', ''),
    embedding_norm='embeddings.LayerNorm', attention_norm='attention.output.LayerNorm',
    output_norm='output.LayerNorm', head='lm_head', head_dense='dense', head_norm='layer_norm')
XLM_R_XL = dataclasses.replace(
    XLM_R, hf_class='XLMRobertaXLForMaskedLM', model_type='xlm-roberta-xl', norm_placement='pre',
    embedding_norm='encoder.LayerNorm', attention_norm='attention.self_attn_layer_norm',
    output_norm='LayerNorm')
# The same layers as XLM-R under `bert.`; its MLM head is BertForMaskedLM's `cls.predictions`.
BERT = dataclasses.replace(
    XLM_R, hf_class='BertForMaskedLM', model_type='bert', family='bert', position_scheme='bert',
    default_pad_id=0, default_layer_norm_eps=1e-12, body='bert', body_aliases=('bert.', ''),
    head='cls.predictions', head_dense='transform.dense', head_norm='transform.LayerNorm')

# What the export writes, by norm placement.
ARCHITECTURES = {arch.norm_placement: arch for arch in (XLM_R, XLM_R_XL)}
# What the import reads, by config.json's model_type ('roberta' and none: XLM-R's layout).
ARCHITECTURE_OF_MODEL_TYPE = {'xlm-roberta': XLM_R, 'roberta': XLM_R, None: XLM_R,
                              'xlm-roberta-xl': XLM_R_XL, 'bert': BERT}


def architecture(family: str = 'xlm-roberta', norm_placement: str = 'post') -> Architecture:
  for arch in (XLM_R, XLM_R_XL, BERT):
    if (arch.family, arch.norm_placement) == (family, norm_placement):
      return arch
  raise ValueError(f'No Hugging Face layout holds a {norm_placement}-LN {family!r} encoder.')


def _layer_table(i: int, arch: Architecture) -> list[ParamMapping]:
  ours, hf = ('layers', str(i)), f'{arch.body}.encoder.layer.{i}'
  return [
      *_dense(ours + ('attention', 'query'), f'{hf}.attention.self.query'),
      *_dense(ours + ('attention', 'key'), f'{hf}.attention.self.key'),
      *_dense(ours + ('attention', 'value'), f'{hf}.attention.self.value'),
      *_dense(ours + ('attention', 'output'), f'{hf}.attention.output.dense'),
      *_norm(ours + ('attention_norm',), f'{hf}.{arch.attention_norm}'),
      *_dense(ours + ('intermediate',), f'{hf}.intermediate.dense'),
      *_dense(ours + ('output',), f'{hf}.output.dense'),
      *_norm(ours + ('output_norm',), f'{hf}.{arch.output_norm}'),
  ]


def name_table(num_layers: int, norm_placement: str = 'post',
               family: str = 'xlm-roberta') -> list[ParamMapping]:
  """Every encoder parameter with its Hugging Face name (decoder tied, so absent)."""
  arch = architecture(family, norm_placement)
  embeddings = f'{arch.body}.embeddings'
  return [
      ParamMapping(('word_embeddings',), f'{embeddings}.word_embeddings.weight'),
      ParamMapping(('position_embeddings',), f'{embeddings}.position_embeddings.weight'),
      ParamMapping(('token_type_embeddings',), f'{embeddings}.token_type_embeddings.weight'),
      *_norm(('embedding_norm',), f'{arch.body}.{arch.embedding_norm}'),
      *[m for i in range(num_layers) for m in _layer_table(i, arch)],
      *_dense(('head_dense',), f'{arch.head}.{arch.head_dense}'),
      *_norm(('head_norm',), f'{arch.head}.{arch.head_norm}'),
      ParamMapping(('head_bias',), f'{arch.head}.bias'),
  ]


def _is_head(mapping: ParamMapping) -> bool:
  return mapping.path[0] in encoder_lib.HEAD_PARAMS


# --- parameters <-> HF tensors ---------------------------------------------------------------

def encoder_params(encoder_or_params: Any) -> dict:
  """Nested dict of numpy arrays (string keys) from an Encoder, an nnx.State or a pure dict.

  A pure dict may come from `nnx.to_pure_dict` (integer layer keys) or from a checkpoint tree
  (`state.to_checkpoint(train_state)['model']['encoder']`, string keys).
  """
  tree = encoder_or_params
  if isinstance(tree, nnx.Module):
    tree = nnx.state(tree, nnx.Param)
  if isinstance(tree, nnx.State):
    tree = nnx.to_pure_dict(tree)
  flat = trees.flatten(tree)
  return trees.unflatten({path: np.asarray(jax.device_get(value)) for path, value in flat.items()})


def to_hf_tensors(params: dict, num_layers: int,
                  norm_placement: str = 'post') -> dict[str, np.ndarray]:
  """Our encoder parameters -> {HF name: float32 array}; every parameter must be mapped."""
  flat = trees.flatten(params)
  table = name_table(num_layers, norm_placement)
  unmapped = sorted('/'.join(p) for p in set(flat) - {m.path for m in table})
  missing = sorted('/'.join(m.path) for m in table if m.path not in flat)
  if unmapped or missing:
    raise ValueError(
        f'The encoder parameters do not match the {num_layers}-layer export table (unmapped: '
        f'{unmapped[:5]}, missing: {missing[:5]}); check model.num_layers, or add the new '
        f'parameters to hf_io.name_table.')
  return {m.hf_name: np.ascontiguousarray(m.to_hf(np.asarray(flat[m.path], np.float32)))
          for m in table}


def _body_prefix(names: set[str], where: str, arch: Architecture) -> str:
  for prefix in arch.body_aliases:
    if f'{prefix}embeddings.word_embeddings.weight' in names:
      return prefix
  raise ValueError(f'{where} holds no {arch.family} word embeddings (looked for '
                   f'"{arch.body}.embeddings.word_embeddings.weight" and similar names); it is '
                   f'not a {arch.family}-family checkpoint.')


def _legacy_alias(name: str) -> str:
  # Old BERT-era checkpoints call LayerNorm parameters gamma/beta.
  return name.replace('LayerNorm.gamma', 'LayerNorm.weight').replace('LayerNorm.beta',
                                                                     'LayerNorm.bias')


def from_hf_tensors(tensors: dict[str, np.ndarray], num_layers: int, where: str = 'the checkpoint',
                    dtype: Any = np.float32, norm_placement: str = 'post',
                    family: str = 'xlm-roberta') -> dict:
  """{HF name: array} -> our encoder parameters (nested dict with string keys).

  A checkpoint of the body alone gives no head parameters (encoder.HEAD_PARAMS are absent).
  """
  arch = architecture(family, norm_placement)
  tensors = {_legacy_alias(name): value for name, value in tensors.items()}
  prefix = _body_prefix(set(tensors), where, arch)
  head, body = f'{arch.head}.', f'{arch.body}.'
  renamed = {}
  for name, value in tensors.items():
    if name.startswith(head):
      renamed[name] = value
    elif name.startswith(prefix):
      renamed[body + name[len(prefix):]] = value
  # transformers ties {head}.decoder.bias to {head}.bias; checkpoints store either.
  if f'{head}bias' not in renamed and f'{head}decoder.bias' in renamed:
    renamed[f'{head}bias'] = renamed[f'{head}decoder.bias']
  decoder = renamed.get(f'{head}decoder.weight')
  embeddings = renamed[f'{body}embeddings.word_embeddings.weight']
  if decoder is not None and not np.array_equal(np.asarray(decoder), np.asarray(embeddings)):
    raise ValueError(f'{where} has an MLM decoder ({head}decoder.weight) that differs from its '
                     'word embeddings; this encoder ties them, so it cannot be imported '
                     'faithfully.')
  token_types = renamed.get(f'{body}embeddings.token_type_embeddings.weight')
  if token_types is not None and token_types.shape[0] > 1:
    # Inputs never carry token_type_ids here, so only type 0 is ever used.
    renamed[f'{body}embeddings.token_type_embeddings.weight'] = token_types[:1]
  table = name_table(num_layers, norm_placement, family)
  head_names = [m.hf_name for m in table if _is_head(m)]
  has_head = any(name in renamed for name in head_names)
  flat = {}
  for m in table:
    if _is_head(m) and not has_head:
      continue
    if m.hf_name not in renamed:
      part = 'MLM head' if _is_head(m) else 'encoder body'
      raise ValueError(f'{where} has no tensor {m.hf_name!r} (with body prefix {prefix!r}); its '
                       f'{part} is incomplete for a {num_layers}-layer {family}-family encoder.')
    flat[m.path] = np.asarray(m.from_hf(np.asarray(renamed[m.hf_name])), dtype)
  return trees.unflatten(flat)


# --- config.json <-> model config ------------------------------------------------------------

def hf_config(model_cfg: ml_collections.ConfigDict) -> dict[str, Any]:
  """The `config.json` of XLMRobertaForMaskedLM (XLMRobertaXLForMaskedLM if pre-LN)."""
  arch = ARCHITECTURES[encoder_lib.norm_placement(model_cfg)]
  return {
      'architectures': [arch.hf_class],
      'model_type': arch.model_type,
      'vocab_size': int(model_cfg.vocab_size),
      'hidden_size': int(model_cfg.hidden_size),
      'num_hidden_layers': int(model_cfg.num_layers),
      'num_attention_heads': int(model_cfg.num_heads),
      'intermediate_size': int(model_cfg.intermediate_size),
      'hidden_act': 'gelu',  # exact erf GELU, as model._gelu
      'hidden_dropout_prob': float(model_cfg.hidden_dropout),
      'attention_probs_dropout_prob': float(model_cfg.attention_dropout),
      'max_position_embeddings': int(model_cfg.max_position_embeddings),
      'type_vocab_size': 1,
      'initializer_range': float(model_cfg.initializer_range),
      'layer_norm_eps': float(model_cfg.layer_norm_eps),
      'pad_token_id': special_tokens.PAD_ID,
      'bos_token_id': special_tokens.BOS_ID,
      'eos_token_id': special_tokens.EOS_ID,
      'position_embedding_type': 'absolute',
      'tie_word_embeddings': True,
      'use_cache': False,
      'dtype': 'float32',
  }


def model_config_from_hf(config: dict[str, Any], dtype: str = 'float32',
                         param_dtype: str = 'float32',
                         where: str = 'config.json') -> ml_collections.ConfigDict:
  """Our model config (the fields of configs/base.py model_config) from an HF config.json."""
  problems = []
  model_type = config.get('model_type')
  arch = ARCHITECTURE_OF_MODEL_TYPE.get(model_type)
  if arch is None:
    problems.append(f'model_type is {model_type!r} (this encoder reads '
                    f'{", ".join(repr(t) for t in ARCHITECTURE_OF_MODEL_TYPE if t)})')
  if config.get('hidden_act', 'gelu') != 'gelu':
    problems.append(f'hidden_act is {config["hidden_act"]!r} (this encoder uses exact "gelu")')
  if (config.get('position_embedding_type') or 'absolute') != 'absolute':
    problems.append(f'position_embedding_type is {config["position_embedding_type"]!r} (only '
                    '"absolute" is supported)')
  if config.get('is_decoder', False):
    problems.append('is_decoder is true (this is a bidirectional encoder)')
  if problems:
    raise ValueError(f'{where} describes a model this encoder cannot reproduce: '
                     f'{"; ".join(problems)}.')
  pad_id = config.get('pad_token_id')
  architectures = config.get('architectures') or [arch.hf_class]
  try:
    return ml_collections.ConfigDict(dict(
        num_layers=int(config['num_hidden_layers']),
        hidden_size=int(config['hidden_size']),
        num_heads=int(config['num_attention_heads']),
        intermediate_size=int(config['intermediate_size']),
        vocab_size=int(config['vocab_size']),
        max_position_embeddings=int(config['max_position_embeddings']),
        hidden_dropout=float(config.get('hidden_dropout_prob', 0.1)),
        attention_dropout=float(config.get('attention_probs_dropout_prob', 0.1)),
        layer_norm_eps=float(config.get('layer_norm_eps', arch.default_layer_norm_eps)),
        initializer_range=float(config.get('initializer_range', 0.02)),
        dtype=dtype,
        param_dtype=param_dtype,
        remat='none',
        scan_layers=False,
        attention_impl='auto',
        norm_placement=arch.norm_placement,
        hf_family=arch.family,
        position_scheme=arch.position_scheme,
        pad_token_id=int(arch.default_pad_id if pad_id is None else pad_id),
        # What config.json claims; load_hf_encoder sets it from the tensors.
        has_mlm_head=any(name.endswith(('ForMaskedLM', 'ForPreTraining'))
                         for name in architectures),
    ))
  except KeyError as error:
    raise ValueError(f'{where} lacks the field {error.args[0]!r}; it is not an XLM-R- or '
                     'BERT-family model config.') from error


# --- export ----------------------------------------------------------------------------------

def _copy_tokenizer(tokenizer_dir: str, out_dir: str, model_cfg: ml_collections.ConfigDict):
  for name in TOKENIZER_FILES:
    source = os.path.join(tokenizer_dir, name)
    if os.path.exists(source):
      shutil.copyfile(source, os.path.join(out_dir, name))
  config_path = os.path.join(out_dir, 'tokenizer_config.json')
  tokenizer_config = {}
  if os.path.exists(config_path):
    with open(config_path) as f:
      tokenizer_config = json.load(f)
  defaults = dict(tokenizer_class='XLMRobertaTokenizer', bos_token=special_tokens.BOS,
                  eos_token=special_tokens.EOS, sep_token=special_tokens.EOS,
                  cls_token=special_tokens.BOS, unk_token=special_tokens.UNK,
                  pad_token=special_tokens.PAD, mask_token=special_tokens.MASK,
                  # Longer inputs would run past the learned position table.
                  model_max_length=(int(model_cfg.max_position_embeddings)
                                    - special_tokens.PAD_ID - 1))
  for key, value in defaults.items():
    tokenizer_config.setdefault(key, value)
  with open(config_path, 'w') as f:
    json.dump(tokenizer_config, f, indent=2)


def _check_tokenizer_fits(tokenizer_dir: str, vocab_size: int) -> None:
  path = os.path.join(tokenizer_dir, 'tokenizer.json')
  if not os.path.exists(path):
    raise FileNotFoundError(f'No tokenizer.json in {tokenizer_dir}; pass the tokenizer directory '
                            'the model was trained with (data.tokenizer_dir or <data_dir>/'
                            'tokenizer).')
  size = tokenizer_lib.load_tokenizer(tokenizer_dir).get_vocab_size()
  if size > vocab_size:
    raise ValueError(f'The tokenizer in {tokenizer_dir} has {size} tokens but the model only '
                     f'{vocab_size} embedding rows (model.vocab_size); export with the '
                     'tokenizer the model was trained with.')


def check_exportable(model_cfg: ml_collections.ConfigDict) -> None:
  """Refuses encoders whose positions XLM-R cannot reproduce (imports of another layout)."""
  if (encoder_lib.position_scheme(model_cfg) != 'xlm-r'
      or encoder_lib.pad_token_id(model_cfg) != special_tokens.PAD_ID):
    raise ValueError(f'The export writes XLM-R\'s positions (from pad id {special_tokens.PAD_ID} '
                     f'+ 1), but model.position_scheme is '
                     f'{encoder_lib.position_scheme(model_cfg)!r} with model.pad_token_id '
                     f'{encoder_lib.pad_token_id(model_cfg)} (an imported model of another '
                     'layout); only XLM-R-layout models are exported.')


def write_directory(out_dir: str, config: dict[str, Any], tensors: dict[str, np.ndarray],
                    model_cfg: ml_collections.ConfigDict, tokenizer_dir: str,
                    readme: str) -> str:
  """Writes config.json, model.safetensors, the tokenizer files and README.md; returns out_dir.

  out_dir is created or overwritten file by file (written aside, then moved in).
  """
  expected = (int(model_cfg.vocab_size), int(model_cfg.hidden_size))
  if tensors['roberta.embeddings.word_embeddings.weight'].shape != expected:
    raise ValueError(f'The word embeddings have shape '
                     f'{tensors["roberta.embeddings.word_embeddings.weight"].shape} but the model '
                     f'config says {expected}; pass the config the parameters were built with.')
  _check_tokenizer_fits(tokenizer_dir, int(model_cfg.vocab_size))
  if os.path.exists(out_dir) and not os.path.isdir(out_dir):
    raise ValueError(f'{out_dir} is a file; the export writes a directory there. Choose '
                     'another output directory.')
  os.makedirs(out_dir, exist_ok=True)
  # Written into a staging directory first: a crash never leaves a half-written export.
  staging = tempfile.mkdtemp(prefix='.export-', dir=out_dir)
  try:
    with open(os.path.join(staging, CONFIG_FILE), 'w') as f:
      json.dump(config, f, indent=2)
    safetensors.numpy.save_file(tensors, os.path.join(staging, WEIGHTS_FILE),
                                metadata={'format': 'pt'})
    _copy_tokenizer(tokenizer_dir, staging, model_cfg)
    with open(os.path.join(staging, 'README.md'), 'w') as f:
      f.write(readme)
    for name in os.listdir(staging):
      os.replace(os.path.join(staging, name), os.path.join(out_dir, name))
    stale_index = os.path.join(out_dir, WEIGHTS_INDEX_FILE)
    if os.path.exists(stale_index):
      os.remove(stale_index)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return out_dir


def export_encoder(encoder_or_params: Any, model_cfg: ml_collections.ConfigDict,
                   tokenizer_dir: str, out_dir: str, card: dict | None = None) -> str:
  """Writes a Hugging Face XLMRobertaForMaskedLM directory; returns out_dir.

  Args:
    encoder_or_params: an Encoder, its nnx.State, or its parameters as a nested dict.
    model_cfg: the `model` section of the run config.
    tokenizer_dir: holds the tokenizer.json the model was trained with (+ tokenizer_config.json).
    out_dir: created or overwritten file by file (written aside, then moved in).
    card: model card fields (see model_card.render); None writes a minimal card.
  """
  check_exportable(model_cfg)
  placement = encoder_lib.norm_placement(model_cfg)
  tensors = to_hf_tensors(encoder_params(encoder_or_params), int(model_cfg.num_layers), placement)
  config = hf_config(model_cfg)
  return write_directory(out_dir, config, tensors, model_cfg, tokenizer_dir,
                         model_card.render(card or {}, config, placement))


# --- import ----------------------------------------------------------------------------------

def read_hf_tensors(hf_dir: str) -> dict[str, np.ndarray]:
  """All tensors of model.safetensors (or the shards a model.safetensors.index.json lists)."""
  single = os.path.join(hf_dir, WEIGHTS_FILE)
  index = os.path.join(hf_dir, WEIGHTS_INDEX_FILE)
  if os.path.exists(single):
    files = [single]
  elif os.path.exists(index):
    with open(index) as f:
      files = [os.path.join(hf_dir, name) for name in sorted(set(json.load(f)['weight_map']
                                                                    .values()))]
  else:
    raise FileNotFoundError(
        f'No {WEIGHTS_FILE} in {hf_dir}. Only safetensors checkpoints are read; convert a '
        'pytorch_model.bin once with transformers (AutoModelForMaskedLM.from_pretrained(dir)'
        '.save_pretrained(dir)).')
  tensors = {}
  for path in files:
    tensors.update(safetensors.numpy.load_file(path))
  return tensors


def read_hf_config(hf_dir: str) -> dict[str, Any]:
  path = os.path.join(hf_dir, CONFIG_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f'No {CONFIG_FILE} in {hf_dir}; pass a Hugging Face model directory.')
  with open(path) as f:
    return json.load(f)


def fresh_head(model_cfg: ml_collections.ConfigDict, seed: int = 0) -> dict:
  """The MLM head parameters of a newly initialised Encoder (jit: the body's are never drawn)."""

  @jax.jit
  def init():
    encoder = encoder_lib.Encoder(model_cfg, rngs=nnx.Rngs(seed))
    params = nnx.to_pure_dict(nnx.state(encoder, nnx.Param))
    return {name: params[name] for name in encoder_lib.HEAD_PARAMS}

  with nnx.use_eager_sharding(False):
    return encoder_params(init())


def build_encoder(model_cfg: ml_collections.ConfigDict, params: dict) -> encoder_lib.Encoder:
  """An unsharded Encoder holding `params` (nested dict with string or integer layer keys).

  Params without the MLM head (a checkpoint of the body alone) get a fresh one (fresh_head).
  """
  with nnx.use_eager_sharding(False):
    abstract = nnx.eval_shape(lambda: encoder_lib.Encoder(model_cfg, rngs=nnx.Rngs(0)))
  graphdef, state = nnx.split(abstract)
  params = encoder_params(params)
  if not any(name in params for name in encoder_lib.HEAD_PARAMS):
    params |= fresh_head(model_cfg)

  def checked(template, value):
    if tuple(template.shape) != tuple(np.shape(value)):
      raise ValueError(f'A parameter has shape {np.shape(value)}, expected {template.shape}.')
    return jax.numpy.asarray(value, template.dtype)

  nnx.replace_by_pure_dict(
      state, trees.keys_like(nnx.to_pure_dict(state), params, checked))
  return nnx.merge(graphdef, state)


def load_hf_encoder(
    hf_dir: str, dtype: str = 'float32',
    param_dtype: str = 'float32') -> tuple[encoder_lib.Encoder, ml_collections.ConfigDict]:
  """An XLM-R- or BERT-family Hugging Face directory -> (Encoder, model config).

  dtype is the compute dtype, param_dtype the parameters' (float32 keeps import(export(x)) == x).
  The model config names the family (hf_family), its positions (position_scheme, pad_token_id)
  and whether the checkpoint has an MLM head (has_mlm_head; else the head is freshly
  initialised and its logits mean nothing).
  """
  model_cfg = model_config_from_hf(read_hf_config(hf_dir), dtype, param_dtype,
                                   where=os.path.join(hf_dir, CONFIG_FILE))
  params = from_hf_tensors(read_hf_tensors(hf_dir), model_cfg.num_layers, where=hf_dir,
                           dtype=np.dtype(jax.numpy.dtype(param_dtype)),
                           norm_placement=model_cfg.norm_placement, family=model_cfg.hf_family)
  model_cfg.has_mlm_head = all(name in params for name in encoder_lib.HEAD_PARAMS)
  return build_encoder(model_cfg, params), model_cfg
