"""Task heads on the encoder, laid out as transformers' XLM-R task classes so they export as is.

- `SequenceClassifier` (NLI, C1, P1; STS with one output): XLMRobertaClassificationHead on the
  first token: dropout, dense, tanh, dropout, out_proj.
- `TokenClassifier` (NER, T1): dropout, then one linear layer per token (`classifier`).
- `SpanExtractor` (extractive QA): one linear layer to (start, end) logits (`qa_outputs`).

Every model maps (input_ids, attention_mask) -> float32 logits and takes an explicit dropout key
(None: deterministic), as the encoder does. Head dropout is the encoder's hidden dropout
(transformers' default when classifier_dropout is unset).
"""

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from unibert_jax.model import encoder as encoder_lib
from unibert_jax.model import layers
from unibert_jax.tasks import examples

# How many keys one call splits its dropout key into: encoder, then the head's dropouts.
_KEYS = 3


def _split(dropout_key):
  return (None,) * _KEYS if dropout_key is None else tuple(jax.random.split(dropout_key, _KEYS))


class SequenceClassifier(nnx.Module):
  """Logits [batch, num_labels] from the first (<s> / [CLS]) token."""

  def __init__(self, encoder: encoder_lib.Encoder, num_labels: int, *, rngs: nnx.Rngs):
    cfg = encoder.cfg
    self.encoder = encoder
    self.dense = layers.Dense(cfg, cfg.hidden_size, cfg.hidden_size, ('embed', 'embed_out'),
                              rngs=rngs)
    self.out_proj = layers.Dense(cfg, cfg.hidden_size, num_labels, ('embed', None), rngs=rngs)
    self.rate = float(cfg.hidden_dropout)

  def __call__(self, input_ids, attention_mask, *, dropout_key=None):
    encoder_key, key_1, key_2 = _split(dropout_key)
    h = self.encoder(input_ids, attention_mask, dropout_key=encoder_key)[:, 0]
    h = jnp.tanh(self.dense(layers.dropout(h, self.rate, key_1)))
    return self.out_proj(layers.dropout(h, self.rate, key_2)).astype(jnp.float32)


class TokenClassifier(nnx.Module):
  """Logits [batch, length, num_labels], one row per token."""

  def __init__(self, encoder: encoder_lib.Encoder, num_labels: int, *, rngs: nnx.Rngs):
    cfg = encoder.cfg
    self.encoder = encoder
    self.classifier = layers.Dense(cfg, cfg.hidden_size, num_labels, ('embed', None), rngs=rngs)
    self.rate = float(cfg.hidden_dropout)

  def __call__(self, input_ids, attention_mask, *, dropout_key=None):
    encoder_key, key, _ = _split(dropout_key)
    h = self.encoder(input_ids, attention_mask, dropout_key=encoder_key)
    return self.classifier(layers.dropout(h, self.rate, key)).astype(jnp.float32)


class SpanExtractor(nnx.Module):
  """Logits [batch, length, 2]: answer start ([..., 0]) and end ([..., 1]) per token."""

  def __init__(self, encoder: encoder_lib.Encoder, num_labels: int = 2, *, rngs: nnx.Rngs):
    del num_labels  # always (start, end)
    cfg = encoder.cfg
    self.encoder = encoder
    self.qa_outputs = layers.Dense(cfg, cfg.hidden_size, 2, ('embed', None), rngs=rngs)

  def __call__(self, input_ids, attention_mask, *, dropout_key=None):
    h = self.encoder(input_ids, attention_mask, dropout_key=_split(dropout_key)[0])
    return self.qa_outputs(h).astype(jnp.float32)


HEADS = {examples.CLASSIFICATION: SequenceClassifier, examples.REGRESSION: SequenceClassifier,
         examples.TOKEN_CLASSIFICATION: TokenClassifier, examples.EXTRACTIVE_QA: SpanExtractor}


def num_outputs(task: examples.TaskData) -> int:
  """The head's output width: classes, BIO tags, (start, end), or one score."""
  if task.kind == examples.CLASSIFICATION:
    return len(task.label_names)
  if task.kind == examples.TOKEN_CLASSIFICATION:
    return len(task.bio_tags())
  return 2 if task.kind == examples.EXTRACTIVE_QA else 1


def build(kind: str, encoder: encoder_lib.Encoder, num_labels: int, seed: int) -> nnx.Module:
  """The head of `kind` on `encoder` (whose parameters it takes over, not copies), unsharded
  (the fine-tuning program places it on its mesh)."""
  with nnx.use_eager_sharding(False):
    return HEADS[kind](encoder, num_labels, rngs=nnx.Rngs(seed))


def is_trainable(path, value) -> bool:
  """nnx filter: every parameter but the encoder's MLM head, which fine-tuning never uses
  (it stays as loaded: no gradient, no weight decay, no optimizer state)."""
  return (isinstance(value, nnx.Param)
          and not (len(path) > 1 and path[0] == 'encoder' and path[1] in encoder_lib.HEAD_PARAMS))

