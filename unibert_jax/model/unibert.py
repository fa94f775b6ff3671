"""The UniBERT model: the encoder and the language discriminator over its placed features."""

import flax.nnx as nnx
import ml_collections

from unibert_jax.model import adversary
from unibert_jax.model import encoder as encoder_lib


class UniBert(nnx.Module):
  """The encoder plus a discriminator over `num_languages` languages.

  The adversary (and the mean matching) see the state after `adversary.layer` (-1: the final
  one), pooled by `adversary.pooling`: the states the evaluation scores, by default.
  """

  def __init__(self, config: ml_collections.ConfigDict, num_languages: int, *, rngs: nnx.Rngs):
    self.encoder = encoder_lib.Encoder(config.model, rngs=rngs)
    self.discriminator = adversary.LanguageDiscriminator(
        config.adversary, config.model.hidden_size, num_languages,
        config.model.initializer_range, rngs=rngs)
    self.pooling = config.adversary.pooling
    self.layer = config.adversary.get('layer', -1)

  def encode(self, input_ids, attention_mask, language_id, dropout_key=None):
    """(final hidden states, placed features, their language, their weight); see
    adversary.placed_features."""
    final, placed = self.encoder(input_ids, attention_mask, dropout_key=dropout_key,
                                 also_layer=self.layer)
    return (final,) + adversary.placed_features(placed, attention_mask, language_id,
                                                self.pooling)
