"""The tiny distillation set-up shared by tests/test_teacher_cache.py and its subprocesses.

The real UDHR corpus in five languages, a tokenizer trained on it, a randomly initialised
teacher (wider than the student) exported to Hugging Face format, and a student config.
"""

import os

import flax.nnx as nnx
import jax
import numpy as np

from configs import demo
from unibert_jax.data import corpus
from unibert_jax.data import prepare
from unibert_jax.data import tokenizer as tokenizer_lib
from unibert_jax.export import hf_format
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.teacher import build_cache
from unibert_jax.teacher import cache_format

LANGUAGES = 'de,en,fr,ru,zh'
LANGUAGE_CODES = tuple(LANGUAGES.split(','))


def config():
  """The student's run config: 200 steps of 16 sequences of 64 tokens, top-8 distillation."""
  c = demo.get_config('tiny')
  c.data.languages = LANGUAGES
  c.data.vocab_size = 1000  # five languages of UDHR text are too few for 2000
  c.model.update(num_layers=2, hidden_size=64, num_heads=4, intermediate_size=128)
  c.adversary.dropout = 0.0
  c.train.steps = 200
  c.train.warmup_steps = 20
  c.train.learning_rate = 3e-3
  c.kd.top_k = 8
  c.kd.batch_size = 64
  c.kd.examples_per_shard = 640  # 3200 examples -> 5 shards
  c.mesh.shape = (1, 1, 1)
  return c


def prepare_data(data_dir: str) -> str:
  """Builds the corpus into data_dir and trains the tokenizer; returns the tokenizer dir."""
  c = config()
  corpus.prepare_corpus(c.data, data_dir, prepare.cache_dir_of(c))
  return train_tokenizer(os.path.join(data_dir, 'tokenizer'))


def train_tokenizer(out_dir: str, alpha: float | None = None) -> str:
  c = config()
  return tokenizer_lib.train_tokenizer(
      corpus.texts_by_language(c.data, prepare.cache_dir_of(c), 'train'), c.data.vocab_size,
      out_dir,
      c.data.sampling_alpha if alpha is None else alpha, seed=0, model_max_length=c.data.max_len)


def teacher_model_config():
  model_cfg = config().model.copy_and_resolve_references()
  model_cfg.update(num_layers=2, hidden_size=128, num_heads=4, intermediate_size=256,
                   dtype='float32')
  return model_cfg


def export_random_teacher(tokenizer_dir: str, out_dir: str, seed: int = 0) -> str:
  """A random wider encoder: its MLM distributions depend on the input and are far from flat."""
  model_cfg = teacher_model_config()
  with nnx.use_eager_sharding(False):
    abstract = nnx.eval_shape(lambda: encoder_lib.Encoder(model_cfg, rngs=nnx.Rngs(0)))
  rng = np.random.default_rng(seed)

  def draw(path, leaf):
    name = jax.tree_util.keystr(path)
    if name.endswith("['scale']"):
      return np.ones(leaf.shape, np.float32)
    if name.endswith("['bias']"):
      return np.zeros(leaf.shape, np.float32)
    fan_in = leaf.shape[0] if 'kernel' in name else 1
    return (rng.standard_normal(leaf.shape) / np.sqrt(fan_in)).astype(np.float32)

  params = jax.tree_util.tree_map_with_path(draw, nnx.to_pure_dict(nnx.state(abstract)))
  return hf_format.export_encoder(params, model_cfg, tokenizer_dir, out_dir)


def cache_dir(workdir: str) -> str:
  return cache_format.cache_dir(config(), workdir)


def build(config, data_dir, tokenizer_dir, teacher_dir, workdir, **kwargs) -> dict:
  """Builds (or completes) the teacher cache of `config` for the run in `workdir`."""
  return build_cache.build_cache(config, teacher_dir,
                                 prepare.PreparedData.read(data_dir, tokenizer_dir),
                                 cache_format.cache_dir(config, workdir), **kwargs)
