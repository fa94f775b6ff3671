"""Mean matching: pull each language's running-mean state toward the mean over languages.

Equal per-language means are exactly the condition under which no linear probe beats a constant
guess (LEACE, Belrose et al. 2023); per-language centering at evaluation time is the post-hoc
version of the same idea. The means are running averages over the batches (a batch holds a few
rows of each language), kept in the train state; the penalty is taken on the running mean after
this batch, so its gradient flows through this batch's share of it, (1 - momentum) times the
batch's per-language means, toward the centre: a low-variance direction from few rows.
"""

import flax.nnx as nnx
import jax
import jax.numpy as jnp


class LanguageStatistic(nnx.Variable):
  """Running per-language statistics of the placed features: state, not parameters."""


def language_sums(features, language, weights, num_languages: int):
  """Per-language weighted sums [L, hidden] and weights [L] of one batch's features."""
  sums = jax.ops.segment_sum(features * weights[:, None], language, num_languages)
  return sums, jax.ops.segment_sum(weights, language, num_languages)


def running_means(means, seen, sums, counts, momentum: float):
  """(means after this batch [L, hidden], seen [L] as 0/1).

  A language's first batch sets its mean (no pull toward the zero start); a language absent
  from the batch keeps its mean. Gradients flow through `sums`, never into the old means.
  """
  present = counts > 0
  batch_mean = sums / jnp.maximum(counts, 1e-8)[:, None]
  prior = jax.lax.stop_gradient(means)
  blended = jnp.where(seen[:, None] > 0, momentum * prior + (1 - momentum) * batch_mean,
                      batch_mean)
  return (jnp.where(present[:, None], blended, prior),
          jnp.maximum(seen, present.astype(seen.dtype)))


def centre(means, seen):
  """The mean over the languages seen so far [hidden]."""
  return (means * seen[:, None]).sum(0) / jnp.maximum(seen.sum(), 1.0)


def penalty(means, seen, sums, counts, momentum: float):
  """Mean over the batch's languages of ||running mean - centre||^2; the centre is a constant."""
  current, now_seen = running_means(means, seen, sums, counts, momentum)
  target = jax.lax.stop_gradient(centre(current, now_seen))
  present = (counts > 0).astype(jnp.float32)
  squared = ((current - target) ** 2).sum(-1)
  return (squared * present).sum() / jnp.maximum(present.sum(), 1.0)


def spread(means, seen):
  """Root mean square distance of the seen languages' means from their centre (health)."""
  squared = ((means - centre(means, seen)) ** 2).sum(-1)
  return jnp.sqrt((squared * seen).sum() / jnp.maximum(seen.sum(), 1.0))
