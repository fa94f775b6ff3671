"""Gradient reversal: encoder gradients flip and scale by lambda, discriminator ones do not."""

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import demo
from tests.helpers import models
from unibert_jax.model import adversary
from unibert_jax.train import losses


def _adversarial_grads(model, batch, grl_lambda, reverse=True):
  def loss(model):
    hidden = model.encoder(batch['input_ids'], batch['attention_mask'])
    if reverse:
      logits = model.language_logits(hidden, batch['attention_mask'], jnp.float32(grl_lambda))
    else:
      logits = model.discriminator(adversary.pool(hidden, batch['attention_mask'], model.pooling))
    weights = jnp.ones(batch['language_id'].shape)
    return losses.adversarial_loss(logits, batch['language_id'], weights)[0]
  return nnx.grad(loss)(model)


@pytest.fixture(scope='module')
def model_and_batch():
  config = demo.get_config('tiny')
  model = models.unibert(config, num_languages=4)
  rng = np.random.default_rng(0)
  batch = dict(input_ids=jnp.asarray(rng.integers(4, 100, (6, 16)), jnp.int32),
               attention_mask=jnp.ones((6, 16), jnp.int32),
               language_id=jnp.asarray(rng.integers(0, 4, (6,)), jnp.int32))
  return model, batch


@pytest.mark.parametrize('grl_lambda', [1.0, 0.3, 2.0])
def test_encoder_gradients_are_minus_lambda_times_plain(model_and_batch, grl_lambda):
  model, batch = model_and_batch
  plain = _adversarial_grads(model, batch, 0.0, reverse=False)
  reversed_ = _adversarial_grads(model, batch, grl_lambda)
  for p, r in zip(jax.tree.leaves(plain['encoder']), jax.tree.leaves(reversed_['encoder'])):
    np.testing.assert_allclose(r, -grl_lambda * p, rtol=1e-5, atol=1e-8)
  for p, r in zip(jax.tree.leaves(plain['discriminator']),
                  jax.tree.leaves(reversed_['discriminator'])):
    np.testing.assert_allclose(r, p, rtol=1e-6, atol=1e-9)
  assert max(float(jnp.abs(p).max()) for p in jax.tree.leaves(plain['encoder'])) > 0


def test_lambda_zero_gives_zero_encoder_gradient(model_and_batch):
  model, batch = model_and_batch
  grads = _adversarial_grads(model, batch, 0.0)
  assert all(float(jnp.abs(g).max()) == 0.0 for g in jax.tree.leaves(grads['encoder']))
  assert any(float(jnp.abs(g).max()) > 0.0 for g in jax.tree.leaves(grads['discriminator']))


def test_forward_is_identity():
  x = jnp.arange(6.0).reshape(2, 3)
  np.testing.assert_array_equal(adversary.gradient_reversal(x, jnp.float32(0.7)), x)


def test_dann_schedule_and_delay():
  kwargs = dict(schedule='dann', total_steps=110, lambda_max=1.0, gamma=10.0, delay_steps=10)
  assert float(adversary.lambda_schedule(5, **kwargs)) == 0.0
  assert float(adversary.lambda_schedule(10, **kwargs)) == pytest.approx(0.0, abs=1e-7)
  # p = 0.5 -> 2 / (1 + e^-5) - 1
  assert float(adversary.lambda_schedule(60, **kwargs)) == pytest.approx(2 / (1 + np.exp(-5)) - 1, rel=1e-5)
  assert float(adversary.lambda_schedule(110, **kwargs)) == pytest.approx(2 / (1 + np.exp(-10)) - 1, rel=1e-5)
  values = [float(adversary.lambda_schedule(s, **kwargs)) for s in range(10, 111, 10)]
  assert values == sorted(values)
  assert float(adversary.lambda_schedule(3, schedule='constant', total_steps=10, lambda_max=0.4)) == (
      pytest.approx(0.4))


def test_lambda_schedule_does_not_recompile():
  traces = []

  @jax.jit
  def f(x, lam):
    traces.append(1)
    return jax.grad(lambda x: adversary.gradient_reversal(x, lam).sum())(x)

  for step in range(3):
    lam = adversary.lambda_schedule(step, schedule='dann', total_steps=3)
    np.testing.assert_allclose(f(jnp.ones(3), lam), -float(lam) * np.ones(3), rtol=1e-6)
  assert len(traces) == 1


def test_unknown_schedule_is_refused():
  with pytest.raises(ValueError, match='adversary.schedule'):
    adversary.lambda_schedule(0, schedule='linear', total_steps=10)
