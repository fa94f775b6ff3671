"""The discriminator's side of the adversary: its own optimiser, its k updates per encoder step,
and the running per-language means, all part of the train state.

D trains on detached features: its update never reaches the encoder, and the encoder's update
(against a frozen D) never reaches D. k updates run as a `scan` inside the one jitted step.
"""

import flax.nnx as nnx
import jax
import jax.numpy as jnp

from unibert_jax.model import adversary
from unibert_jax.train import mean_matching


class AdversaryState(nnx.Module):
  """D's optimizer state (with its own step count) and the running per-language means."""

  def __init__(self, discriminator: adversary.LanguageDiscriminator, tx, num_languages: int,
               width: int):
    self.optimizer = nnx.Optimizer(discriminator, tx, wrt=nnx.Param)
    self.means = mean_matching.LanguageStatistic(
        jnp.zeros((num_languages, width), jnp.float32), out_sharding=('languages', None))
    self.seen = mean_matching.LanguageStatistic(
        jnp.zeros((num_languages,), jnp.float32), out_sharding=('languages',))


def update(discriminator: adversary.LanguageDiscriminator, optimizer: nnx.Optimizer, features,
           language, weights, keys):
  """len(keys) updates of D on `features` (stop-gradient), in place; one dropout key each.

  Returns each update's (loss, accuracy, entropy) before it, stacked [k].
  """
  features = jax.lax.stop_gradient(features)
  d_graphdef, d_state = nnx.split(discriminator)
  o_graphdef, o_state = nnx.split(optimizer)

  def loss_of(disc, key):
    loss, accuracy, entropy = adversary.discriminator_loss(disc(features, key), language, weights)
    return loss, (accuracy, entropy)

  def one_update(carry, key):
    disc, opt = nnx.merge(d_graphdef, carry[0]), nnx.merge(o_graphdef, carry[1])
    (loss, (accuracy, entropy)), grads = nnx.value_and_grad(loss_of, has_aux=True)(disc, key)
    opt.update(disc, grads)
    return (nnx.state(disc), nnx.state(opt)), (loss, accuracy, entropy)

  (d_state, o_state), history = jax.lax.scan(one_update, (d_state, o_state), keys)
  nnx.update(discriminator, d_state)
  nnx.update(optimizer, o_state)
  return history
