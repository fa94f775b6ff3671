"""The UniBERT model: the encoder and the adversarial language discriminator behind the GRL."""

import flax.nnx as nnx
import ml_collections

from unibert_jax.model import adversary
from unibert_jax.model import encoder as encoder_lib


class UniBert(nnx.Module):
  """The encoder plus a discriminator over `num_languages` languages."""

  def __init__(self, config: ml_collections.ConfigDict, num_languages: int, *, rngs: nnx.Rngs):
    self.encoder = encoder_lib.Encoder(config.model, rngs=rngs)
    self.discriminator = adversary.LanguageDiscriminator(
        config.adversary, config.model.hidden_size, num_languages,
        config.model.initializer_range, rngs=rngs)
    self.pooling = config.adversary.pooling

  def language_logits(self, hidden, attention_mask, grl_lambda, dropout_key=None):
    pooled = adversary.gradient_reversal(adversary.pool(hidden, attention_mask, self.pooling),
                                         grl_lambda)
    return self.discriminator(pooled, dropout_key)
