"""The language adversary: gradient reversal, its lambda schedules, pooling and the discriminator.

The GRL is the identity going forward and multiplies the gradient by -lambda going back, so
the discriminator learns to tell languages apart while the encoder learns to make that
impossible (Ganin & Lempitsky, 2015). Lambda is a traced array: a schedule never recompiles.
The discriminator is a small MLP on the pooled sequence representation.
"""

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections

from unibert_jax.model import layers

POOLINGS = ('mean', 'first')
SCHEDULES = ('constant', 'dann')


@jax.custom_vjp
def gradient_reversal(x, grl_lambda):
  del grl_lambda
  return x


def _forward(x, grl_lambda):
  return x, grl_lambda


def _backward(grl_lambda, g):
  return -grl_lambda.astype(g.dtype) * g, jnp.zeros_like(grl_lambda)


gradient_reversal.defvjp(_forward, _backward)


def lambda_schedule(step, *, schedule: str, total_steps: int, lambda_max: float = 1.0,
                    gamma: float = 10.0, delay_steps: int = 0):
  """Lambda at `step` (an int or a traced scalar), as float32.

  'constant': lambda_max after the delay. 'dann': lambda_max * (2 / (1 + exp(-gamma p)) - 1)
  with p the fraction of training done after the delay (Ganin et al., JMLR 2016).
  Before delay_steps lambda is 0, so the discriminator can learn first.
  """
  step = jnp.asarray(step, jnp.float32)
  after_delay = step >= delay_steps
  if schedule == 'constant':
    value = jnp.float32(lambda_max)
  elif schedule == 'dann':
    progress = jnp.clip((step - delay_steps) / max(total_steps - delay_steps, 1), 0.0, 1.0)
    value = lambda_max * (2.0 / (1.0 + jnp.exp(-gamma * progress)) - 1.0)
  else:
    raise ValueError(f'adversary.schedule must be one of {SCHEDULES}, got {schedule!r}.')
  return jnp.where(after_delay, value, 0.0).astype(jnp.float32)


def pool(hidden, attention_mask, mode: str):
  """Sequence representation [batch, hidden] in float32: masked mean or the <s> state."""
  hidden = hidden.astype(jnp.float32)
  if mode == 'first':
    return hidden[:, 0]
  if mode == 'mean':
    weights = attention_mask.astype(jnp.float32)[..., None]
    return (hidden * weights).sum(1) / jnp.maximum(weights.sum(1), 1.0)
  raise ValueError(f'adversary.pooling must be one of {POOLINGS}, got {mode!r}.')


class LanguageDiscriminator(nnx.Module):
  """MLP that predicts the language of a pooled sequence representation."""

  def __init__(self, cfg: ml_collections.ConfigDict, input_size: int, num_languages: int,
               initializer_range: float, *, rngs: nnx.Rngs):
    init = jax.nn.initializers.normal(initializer_range)
    sizes = [input_size] + [cfg.hidden_size] * cfg.num_layers
    self.dropout_rate = cfg.dropout
    self.hidden = nnx.List([
        nnx.Linear(i, o, kernel_init=layers.partitioned(init, 'embed', 'disc_hidden'),
                   bias_init=layers.partitioned(jax.nn.initializers.zeros, 'disc_hidden'),
                   rngs=rngs)
        for i, o in zip(sizes[:-1], sizes[1:])])
    self.classifier = nnx.Linear(
        sizes[-1], num_languages,
        kernel_init=layers.partitioned(init, 'disc_hidden', 'languages'),
        bias_init=layers.partitioned(jax.nn.initializers.zeros, 'languages'), rngs=rngs)

  def __call__(self, pooled, dropout_key=None):
    keys = [None] * len(self.hidden) if dropout_key is None else list(
        jax.random.split(dropout_key, len(self.hidden)))
    x = pooled
    for layer, key in zip(self.hidden, keys):
      x = layers.dropout(layers.gelu(layer(x)), self.dropout_rate, key)
    return self.classifier(x)
