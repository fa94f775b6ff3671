"""The language adversary: what the encoder is asked to do to the discriminator, and the discriminator.

The discriminator D learns to tell languages apart from detached features, with its own optimiser
(train/discriminator.py). The encoder sees D frozen and gets one of three objectives:
  grl:       maximise D's cross-entropy (what a gradient-reversal layer does; Ganin & Lempitsky,
             2015). Unbounded: the encoder can make D confidently wrong, a relabelling of the
             languages that a fresh probe undoes.
  confusion: KL(uniform || D(h)), minimal when D cannot tell (MAN-MoE's `bs`); bounded.
  flip:      D's cross-entropy toward a random other language (UNMT, GAN label flipping).
Lambda is a traced array: a schedule never recompiles.
"""

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections

from unibert_jax.model import layers

OBJECTIVES = ('grl', 'confusion', 'flip')
POOLINGS = ('mean', 'first', 'token')
SCHEDULES = ('constant', 'dann')


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
  raise ValueError(f'pooling must be one of mean, first; got {mode!r}.')


def placed_features(hidden, attention_mask, language_id, mode: str):
  """What the adversary and the mean matching see: (features [N, hidden] float32, language [N],
  weight [N]). One row per sequence ('mean', 'first'), or per real token ('token')."""
  if mode == 'token':
    batch, length, width = hidden.shape
    return (hidden.astype(jnp.float32).reshape(batch * length, width),
            jnp.repeat(language_id, length),
            attention_mask.astype(jnp.float32).reshape(batch * length))
  if mode not in POOLINGS:
    raise ValueError(f'adversary.pooling must be one of {POOLINGS}, got {mode!r}.')
  return (pool(hidden, attention_mask, mode), language_id,
          jnp.ones(language_id.shape, jnp.float32))


def _weighted_mean(values, weights):
  return (values * weights).sum() / jnp.maximum(weights.sum(), 1e-8)


def discriminator_loss(language_logits, language, weights):
  """D's cross-entropy, accuracy and mean predictive entropy (nats) over weighted rows."""
  log_probs = jax.nn.log_softmax(language_logits.astype(jnp.float32), axis=-1)
  nll = -jnp.take_along_axis(log_probs, language[:, None], axis=-1)[:, 0]
  correct = (jnp.argmax(language_logits, axis=-1) == language).astype(jnp.float32)
  entropy = -(jnp.exp(log_probs) * log_probs).sum(-1)
  return (_weighted_mean(nll, weights), _weighted_mean(correct, weights),
          _weighted_mean(entropy, weights))


def encoder_objective(language_logits, language, weights, objective: str, key=None):
  """The encoder's adversarial loss against a frozen D (to be minimised)."""
  log_probs = jax.nn.log_softmax(language_logits.astype(jnp.float32), axis=-1)
  num_languages = log_probs.shape[-1]
  if objective == 'grl':
    nll = -jnp.take_along_axis(log_probs, language[:, None], axis=-1)[:, 0]
    return -_weighted_mean(nll, weights)
  if objective == 'confusion':
    # KL(U || p) = -log K - mean_j log p_j: its gradient in the logits is p - 1/K.
    kl = -jnp.log(num_languages) - log_probs.mean(-1)
    return _weighted_mean(kl, weights)
  if objective == 'flip':
    shift = jax.random.randint(key, language.shape, 1, max(num_languages, 2))
    other = (language + shift) % num_languages
    nll = -jnp.take_along_axis(log_probs, other[:, None], axis=-1)[:, 0]
    return _weighted_mean(nll, weights)
  raise ValueError(f'adversary.objective must be one of {OBJECTIVES}, got {objective!r}.')


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
