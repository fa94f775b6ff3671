"""The encoder a fine-tuning starts from: one of our training runs, or a Hugging Face directory.

`--model` names either a workdir of launch/train.py (its newest checkpoint; the tokenizer the
run trained with) or any directory the evaluation's import reads (XLM-R or BERT family, with its
tokenizer.json): an export of ours, or a third-party encoder.
"""

import dataclasses
import os

import ml_collections
import tokenizers

from unibert_jax import run_dir
from unibert_jax.data import tokenizer as tokenizer_lib
from unibert_jax.evaluation import layer_features
from unibert_jax.export import from_run
from unibert_jax.export import hf_format
from unibert_jax.model import encoder as encoder_lib


@dataclasses.dataclass
class Source:
  """A loaded encoder and what fine-tuning needs to know about it."""
  name: str
  encoder: encoder_lib.Encoder
  model_cfg: ml_collections.ConfigDict
  tokenizer: tokenizers.Tokenizer
  tokenizer_dir: str
  special: layer_features.SpecialIds

  @property
  def max_length(self) -> int:
    """The most tokens one row may hold (the position table's rows)."""
    return int(self.model_cfg.max_position_embeddings) - encoder_lib.first_position(self.model_cfg)


def is_run(path: str) -> bool:
  return os.path.isdir(run_dir.RunDir(path).checkpoints)


def load(model: str, dropout: float | None = None, step: int | None = None) -> Source:
  """The encoder of a run workdir or a Hugging Face directory; `dropout` replaces its hidden
  dropout (None keeps the model's own)."""
  if os.path.isfile(os.path.join(model, hf_format.CONFIG_FILE)):
    encoder, model_cfg = hf_format.load_hf_encoder(model)
    tokenizer_dir = model
  elif is_run(model):
    encoder, config, facts = from_run.load_checkpoint_encoder(model, step)
    model_cfg, tokenizer_dir = config.model, facts.tokenizer_dir
  else:
    raise FileNotFoundError(
        f'--model={model} is neither a training run (no {run_dir.RunDir(model).checkpoints}) nor '
        f'a Hugging Face directory (no {hf_format.CONFIG_FILE}); pass the workdir of '
        f'launch/train.py or a directory launch/export_hf.py wrote.')
  if dropout is not None and dropout != model_cfg.hidden_dropout:
    model_cfg = ml_collections.ConfigDict(model_cfg.to_dict())
    model_cfg.hidden_dropout = dropout
    encoder = hf_format.build_encoder(model_cfg, hf_format.encoder_params(encoder))
  tokenizer = tokenizer_lib.load_tokenizer(tokenizer_dir)
  return Source(model, encoder, model_cfg, tokenizer, tokenizer_dir,
                layer_features.special_ids(tokenizer))
