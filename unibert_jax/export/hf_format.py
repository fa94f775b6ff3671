"""Hugging Face `XLMRobertaForMaskedLM` export and import of the encoder.

The conversion is one table of parameter names (ours -> Hugging Face) with a transform hook per
entry: torch `Linear.weight` is [out, in], the transpose of an NNX kernel [in, out]; everything
else is copied. The MLM decoder is tied to the word embeddings on both sides, so the export
omits `lm_head.decoder.weight` (and `lm_head.decoder.bias`, which transformers ties to
`lm_head.bias`), and the import accepts either spelling.

export_encoder writes config.json, model.safetensors (numpy, no torch involved), the tokenizer
files and a README.md model card; `AutoModelForMaskedLM.from_pretrained(dir)` then loads with no
missing or unexpected weights. load_hf_encoder reads any XLM-R-family directory (ours,
xlm-roberta-base/-large, RoBERTa-style checkpoints with absolute positions) into this project's
Encoder: that is how a real teacher enters. export_checkpoint exports a training run's
checkpoint from any mesh on one device.
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
import tokenizers

from unibert_jax.model import encoder as model_lib

CONFIG_FILE = 'config.json'
WEIGHTS_FILE = 'model.safetensors'
WEIGHTS_INDEX_FILE = 'model.safetensors.index.json'
TOKENIZER_FILES = ('tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json',
                   'sentencepiece.bpe.model')
BOS_ID, PAD_ID, EOS_ID = 0, model_lib.PAD_ID, 2
# Checkpoints in the wild name the encoder body with one of these prefixes (or none).
_BODY_PREFIXES = ('roberta.', 'xlm_roberta.', 'xlmroberta.', '')


# --- the name table --------------------------------------------------------------------------

def _identity(x: np.ndarray) -> np.ndarray:
  return x


def _transpose(x: np.ndarray) -> np.ndarray:
  return np.ascontiguousarray(x.T)


@dataclasses.dataclass(frozen=True)
class Mapping:
  """One parameter: our path (tuple of keys), its HF name and the hook in each direction."""
  path: tuple[str, ...]
  hf_name: str
  to_hf: Callable[[np.ndarray], np.ndarray] = _identity
  from_hf: Callable[[np.ndarray], np.ndarray] = _identity


def _dense(path: tuple[str, ...], hf: str) -> list[Mapping]:
  return [Mapping(path + ('kernel',), f'{hf}.weight', _transpose, _transpose),
          Mapping(path + ('bias',), f'{hf}.bias')]


def _norm(path: tuple[str, ...], hf: str) -> list[Mapping]:
  return [Mapping(path + ('scale',), f'{hf}.weight'), Mapping(path + ('bias',), f'{hf}.bias')]


def _layer_table(i: int) -> list[Mapping]:
  ours, hf = ('layers', str(i)), f'roberta.encoder.layer.{i}'
  return [
      *_dense(ours + ('attention', 'query'), f'{hf}.attention.self.query'),
      *_dense(ours + ('attention', 'key'), f'{hf}.attention.self.key'),
      *_dense(ours + ('attention', 'value'), f'{hf}.attention.self.value'),
      *_dense(ours + ('attention', 'output'), f'{hf}.attention.output.dense'),
      *_norm(ours + ('attention_norm',), f'{hf}.attention.output.LayerNorm'),
      *_dense(ours + ('intermediate',), f'{hf}.intermediate.dense'),
      *_dense(ours + ('output',), f'{hf}.output.dense'),
      *_norm(ours + ('output_norm',), f'{hf}.output.LayerNorm'),
  ]


def name_table(num_layers: int) -> list[Mapping]:
  """Every encoder parameter with its `XLMRobertaForMaskedLM` name (decoder tied, so absent)."""
  return [
      Mapping(('word_embeddings',), 'roberta.embeddings.word_embeddings.weight'),
      Mapping(('position_embeddings',), 'roberta.embeddings.position_embeddings.weight'),
      Mapping(('token_type_embeddings',), 'roberta.embeddings.token_type_embeddings.weight'),
      *_norm(('embedding_norm',), 'roberta.embeddings.LayerNorm'),
      *[m for i in range(num_layers) for m in _layer_table(i)],
      *_dense(('head_dense',), 'lm_head.dense'),
      *_norm(('head_norm',), 'lm_head.layer_norm'),
      Mapping(('head_bias',), 'lm_head.bias'),
  ]


# --- parameters <-> HF tensors ---------------------------------------------------------------

def _flatten(tree: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
  if isinstance(tree, dict):
    flat = {}
    for key, value in tree.items():
      flat.update(_flatten(value, prefix + (str(key),)))
    return flat
  return {prefix: tree}


def _unflatten(flat: dict[tuple[str, ...], Any]) -> dict:
  tree: dict = {}
  for path, value in flat.items():
    node = tree
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = value
  return tree


def encoder_params(encoder_or_params: Any) -> dict:
  """Nested dict of numpy arrays (string keys) from an Encoder, an nnx.State or a pure dict.

  A pure dict may come from `nnx.to_pure_dict` (integer layer keys) or from a checkpoint tree
  (`train_step.to_checkpoint(state)['model']['encoder']`, string keys).
  """
  tree = encoder_or_params
  if isinstance(tree, nnx.Module):
    tree = nnx.state(tree, nnx.Param)
  if isinstance(tree, nnx.State):
    tree = nnx.to_pure_dict(tree)
  flat = _flatten(tree)
  return _unflatten({path: np.asarray(jax.device_get(value)) for path, value in flat.items()})


def to_hf_tensors(params: dict, num_layers: int) -> dict[str, np.ndarray]:
  """Our encoder parameters -> {HF name: float32 array}; every parameter must be mapped."""
  flat = _flatten(params)
  table = name_table(num_layers)
  unmapped = sorted('/'.join(p) for p in set(flat) - {m.path for m in table})
  missing = sorted('/'.join(m.path) for m in table if m.path not in flat)
  if unmapped or missing:
    raise ValueError(
        f'The encoder parameters do not match the {num_layers}-layer export table (unmapped: '
        f'{unmapped[:5]}, missing: {missing[:5]}); check model.num_layers, or add the new '
        f'parameters to hf_io.name_table.')
  return {m.hf_name: np.ascontiguousarray(m.to_hf(np.asarray(flat[m.path], np.float32)))
          for m in table}


def _body_prefix(names: set[str], where: str) -> str:
  for prefix in _BODY_PREFIXES:
    if f'{prefix}embeddings.word_embeddings.weight' in names:
      return prefix
  raise ValueError(f'{where} holds no XLM-R/RoBERTa word embeddings (looked for '
                   f'"roberta.embeddings.word_embeddings.weight" and similar names); it is not '
                   f'an XLM-R-family masked-LM checkpoint.')


def _legacy_alias(name: str) -> str:
  # Old BERT-era checkpoints call LayerNorm parameters gamma/beta.
  return name.replace('LayerNorm.gamma', 'LayerNorm.weight').replace('LayerNorm.beta',
                                                                     'LayerNorm.bias')


def from_hf_tensors(tensors: dict[str, np.ndarray], num_layers: int, where: str = 'the checkpoint',
                    dtype: Any = np.float32) -> dict:
  """{HF name: array} -> our encoder parameters (nested dict with string keys)."""
  tensors = {_legacy_alias(name): value for name, value in tensors.items()}
  prefix = _body_prefix(set(tensors), where)
  renamed = {}
  for name, value in tensors.items():
    if name.startswith('lm_head.'):
      renamed[name] = value
    elif name.startswith(prefix):
      renamed['roberta.' + name[len(prefix):]] = value
  # transformers ties lm_head.decoder.bias to lm_head.bias; checkpoints store either.
  if 'lm_head.bias' not in renamed and 'lm_head.decoder.bias' in renamed:
    renamed['lm_head.bias'] = renamed['lm_head.decoder.bias']
  decoder = renamed.get('lm_head.decoder.weight')
  embeddings = renamed['roberta.embeddings.word_embeddings.weight']
  if decoder is not None and not np.array_equal(np.asarray(decoder), np.asarray(embeddings)):
    raise ValueError(f'{where} has an MLM decoder (lm_head.decoder.weight) that differs from its '
                     'word embeddings; this encoder ties them, so it cannot be imported '
                     'faithfully.')
  token_types = renamed.get('roberta.embeddings.token_type_embeddings.weight')
  if token_types is not None and token_types.shape[0] > 1:
    # Inputs never carry token_type_ids here, so only type 0 is ever used.
    renamed['roberta.embeddings.token_type_embeddings.weight'] = token_types[:1]
  flat = {}
  for m in name_table(num_layers):
    if m.hf_name not in renamed:
      raise ValueError(f'{where} has no tensor {m.hf_name!r} (with body prefix {prefix!r}); it '
                       'is not a complete XLM-R-family masked-LM checkpoint.')
    flat[m.path] = np.asarray(m.from_hf(np.asarray(renamed[m.hf_name])), dtype)
  return _unflatten(flat)


# --- config.json <-> model config ------------------------------------------------------------

def hf_config(model_cfg: ml_collections.ConfigDict) -> dict[str, Any]:
  """The `config.json` of XLMRobertaForMaskedLM for our model config."""
  return {
      'architectures': ['XLMRobertaForMaskedLM'],
      'model_type': 'xlm-roberta',
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
      'pad_token_id': PAD_ID,
      'bos_token_id': BOS_ID,
      'eos_token_id': EOS_ID,
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
  if config.get('hidden_act', 'gelu') != 'gelu':
    problems.append(f'hidden_act is {config["hidden_act"]!r} (this encoder uses exact "gelu")')
  if config.get('position_embedding_type', 'absolute') != 'absolute':
    problems.append(f'position_embedding_type is {config["position_embedding_type"]!r} (only '
                    '"absolute" is supported)')
  if config.get('pad_token_id', PAD_ID) != PAD_ID:
    problems.append(f'pad_token_id is {config["pad_token_id"]} (XLM-R positions need pad id '
                    f'{PAD_ID})')
  if config.get('is_decoder', False):
    problems.append('is_decoder is true (this is a bidirectional encoder)')
  if problems:
    raise ValueError(f'{where} describes a model this encoder cannot reproduce: '
                     f'{"; ".join(problems)}.')
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
        layer_norm_eps=float(config.get('layer_norm_eps', 1e-5)),
        initializer_range=float(config.get('initializer_range', 0.02)),
        dtype=dtype,
        param_dtype=param_dtype,
        remat='none',
        scan_layers=False,
        attention_impl='auto',
    ))
  except KeyError as error:
    raise ValueError(f'{where} lacks the field {error.args[0]!r}; it is not an XLM-R-family '
                     'model config.') from error


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
  defaults = dict(tokenizer_class='XLMRobertaTokenizer', bos_token='<s>', eos_token='</s>',
                  sep_token='</s>', cls_token='<s>', unk_token='<unk>', pad_token='<pad>',
                  mask_token='<mask>',
                  # Longer inputs would run past the learned position table.
                  model_max_length=int(model_cfg.max_position_embeddings) - PAD_ID - 1)
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
  size = tokenizers.Tokenizer.from_file(path).get_vocab_size()
  if size > vocab_size:
    raise ValueError(f'The tokenizer in {tokenizer_dir} has {size} tokens but the model only '
                     f'{vocab_size} embedding rows (model.vocab_size); export with the '
                     'tokenizer the model was trained with.')


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
  from unibert_jax.export import model_card  # pylint: disable=g-import-not-at-top

  tensors = to_hf_tensors(encoder_params(encoder_or_params), int(model_cfg.num_layers))
  expected = (int(model_cfg.vocab_size), int(model_cfg.hidden_size))
  if tensors['roberta.embeddings.word_embeddings.weight'].shape != expected:
    raise ValueError(f'The word embeddings have shape '
                     f'{tensors["roberta.embeddings.word_embeddings.weight"].shape} but the model '
                     f'config says {expected}; pass the config the parameters were built with.')
  _check_tokenizer_fits(tokenizer_dir, int(model_cfg.vocab_size))
  config = hf_config(model_cfg)
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
      f.write(model_card.render(card or {}, config))
    for name in os.listdir(staging):
      os.replace(os.path.join(staging, name), os.path.join(out_dir, name))
    stale_index = os.path.join(out_dir, WEIGHTS_INDEX_FILE)
    if os.path.exists(stale_index):
      os.remove(stale_index)
  finally:
    shutil.rmtree(staging, ignore_errors=True)
  return out_dir


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


def build_encoder(model_cfg: ml_collections.ConfigDict, params: dict) -> model_lib.Encoder:
  """An unsharded Encoder holding `params` (nested dict with string or integer layer keys)."""
  with nnx.use_eager_sharding(False):
    abstract = nnx.eval_shape(lambda: model_lib.Encoder(model_cfg, rngs=nnx.Rngs(0)))
  graphdef, state = nnx.split(abstract)
  like = nnx.to_pure_dict(state)

  def keyed_like(template, tree):
    if isinstance(template, dict):
      return {k: keyed_like(v, tree[str(k)]) for k, v in template.items()}
    if tuple(template.shape) != tuple(np.shape(tree)):
      raise ValueError(f'A parameter has shape {np.shape(tree)}, expected {template.shape}.')
    return jax.numpy.asarray(tree, template.dtype)

  nnx.replace_by_pure_dict(state, keyed_like(like, encoder_params(params)))
  return nnx.merge(graphdef, state)


def load_hf_encoder(
    hf_dir: str, dtype: str = 'float32',
    param_dtype: str = 'float32') -> tuple[model_lib.Encoder, ml_collections.ConfigDict]:
  """An XLM-R-family Hugging Face directory -> (Encoder, model config).

  dtype is the compute dtype, param_dtype the parameters' (float32 keeps import(export(x)) == x).
  """
  model_cfg = model_config_from_hf(read_hf_config(hf_dir), dtype, param_dtype,
                                   where=os.path.join(hf_dir, CONFIG_FILE))
  params = from_hf_tensors(read_hf_tensors(hf_dir), model_cfg.num_layers, where=hf_dir,
                           dtype=np.dtype(jax.numpy.dtype(param_dtype)))
  return build_encoder(model_cfg, params), model_cfg


# --- a training checkpoint -> HF ------------------------------------------------------------

def restore_run(workdir: str, step: int | None = None):
  """(encoder parameters, run config, checkpointing.Restored) of a run's checkpoint, on 1 device.

  The run config is read from the checkpoint; the program is rebuilt on a (1, 1, 1) mesh over
  the first device and the checkpoint (saved on any mesh) restored onto those shardings.
  """
  from unibert_jax.train import checkpointing  # pylint: disable=g-import-not-at-top
  from unibert_jax import sharding
  from unibert_jax.train import step as train_step

  checkpoint_dir = os.path.join(workdir, 'checkpoints')
  config = ml_collections.ConfigDict(checkpointing.read_config(checkpoint_dir, step))
  config.mesh.shape = (1, 1, 1)
  mesh = sharding.make_mesh((1, 1, 1), jax.devices()[:1])
  program = train_step.build_train_program(config, mesh)
  with checkpointing.Checkpointer(checkpoint_dir, read_only=True) as checkpointer:
    restored = checkpointer.restore(train_step.abstract_checkpoint(program), step)
  return restored.state['model']['encoder'], config, restored


def load_checkpoint_encoder(workdir: str,
                            step: int | None = None) -> tuple[model_lib.Encoder,
                                                              ml_collections.ConfigDict]:
  """(Encoder, run config) of a run's checkpoint (the newest by default), on one device."""
  params, config, _ = restore_run(workdir, step)
  return build_encoder(config.model, params), config


def export_checkpoint(workdir: str, out_dir: str, step: int | None = None,
                      tokenizer_dir: str | None = None,
                      extra_card: dict | None = None) -> dict[str, Any]:
  """Exports a run's checkpoint (saved on any mesh) from one device; returns a summary.

  The card holds the run's languages, config, step and the metrics saved with the checkpoint;
  extra_card adds or overrides card fields (e.g. {'evaluation': {...}} becomes metrics).
  """
  params, config, restored = restore_run(workdir, step)
  tokenizer_dir = tokenizer_dir or resolve_tokenizer_dir(config, workdir)
  metrics = dict(restored.meta.get('metrics') or {})
  card = dict(name=os.path.basename(os.path.normpath(out_dir)), steps=restored.step,
              config=config.to_dict(), languages=_languages_of(config, workdir),
              teacher=config.kd.get('teacher_dir', '') or None)
  for key, value in (extra_card or {}).items():
    if isinstance(value, dict) and key != 'config':
      metrics.update({f'{key}/{name}': v for name, v in value.items()})
    else:
      card[key] = value
  card['metrics'] = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
  export_encoder(params, config.model, tokenizer_dir, out_dir, card)
  return dict(out_dir=out_dir, step=restored.step, tokenizer_dir=tokenizer_dir,
              num_parameters=int(sum(np.size(x) for x in jax.tree.leaves(params))))


def resolve_data_dir(config: ml_collections.ConfigDict, workdir: str) -> str:
  from unibert_jax.data import prepare as data_preparation  # pylint: disable=g-import-not-at-top
  return data_preparation.data_dir_of(config, workdir)


def resolve_tokenizer_dir(config: ml_collections.ConfigDict, workdir: str) -> str:
  from unibert_jax.data import prepare as data_preparation  # pylint: disable=g-import-not-at-top
  return data_preparation.tokenizer_dir_of(config, workdir)


def _languages_of(config: ml_collections.ConfigDict, workdir: str) -> list[str]:
  """The run's language codes: from the prepared corpus when present, else the config."""
  from unibert_jax.data import corpus  # pylint: disable=g-import-not-at-top
  from unibert_jax.data import languages

  try:
    return list(corpus.language_names(resolve_data_dir(config, workdir)))
  except (FileNotFoundError, ValueError, OSError):  # no prepared corpus here: use the config
    return list(languages.resolve_languages(config.data.languages))
