"""Gradient-reversal layer and the schedules of its strength lambda.

The GRL is the identity going forward and multiplies the gradient by -lambda going back, so
the discriminator learns to tell languages apart while the encoder learns to make that
impossible (Ganin & Lempitsky, 2015). Lambda is a traced array: a schedule never recompiles.
"""

import jax
import jax.numpy as jnp

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


def grl_lambda(step, *, schedule: str, total_steps: int, lambda_max: float = 1.0,
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
