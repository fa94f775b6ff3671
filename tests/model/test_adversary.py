"""The adversary's objectives, the discriminator's own updates, and the lambda schedules."""

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import demo
from tests.helpers import models
from unibert_jax.model import adversary
from unibert_jax.train import discriminator
from unibert_jax.train import step as step_lib

NUM_LANGUAGES = 4


@pytest.fixture(scope='module')
def model_and_batch():
  config = demo.get_config('tiny')
  config.adversary.dropout = 0.0
  model = models.unibert(config, num_languages=NUM_LANGUAGES)
  rng = np.random.default_rng(0)
  batch = dict(input_ids=jnp.asarray(rng.integers(4, 100, (6, 16)), jnp.int32),
               attention_mask=jnp.ones((6, 16), jnp.int32),
               language_id=jnp.asarray(rng.integers(0, NUM_LANGUAGES, (6,)), jnp.int32))
  return model, batch


def _encoder_gradients(model, batch, objective):
  """Gradients of the encoder's objective in the encoder's parameters (D read, not trained)."""
  graphdef, params, rest = nnx.split(model, step_lib.ENCODER_PARAMS, ...)

  def loss(params):
    merged = nnx.merge(graphdef, params, rest)
    _, features, language, weights = merged.encode(batch['input_ids'], batch['attention_mask'],
                                                    batch['language_id'])
    return adversary.encoder_objective(merged.discriminator(features), language, weights,
                                       objective, jax.random.key(0))
  return jax.grad(loss)(params)


def _largest(tree) -> float:
  return max(float(jnp.abs(g).max()) for g in jax.tree.leaves(tree))


def test_discriminator_loss_accuracy_and_entropy():
  logits = jnp.array([[5.0, 0.0, 0.0], [0.0, 5.0, 0.0], [0.0, 0.0, 5.0], [0.0, 0.0, 0.0]])
  labels = jnp.array([0, 1, 0, 0])
  loss, accuracy, entropy = adversary.discriminator_loss(logits, labels,
                                                         jnp.array([1.0, 1.0, 1.0, 0.0]))
  assert float(accuracy) == pytest.approx(2 / 3)   # the weight-0 row counts nowhere
  log_p = np.asarray(jax.nn.log_softmax(logits))
  assert float(loss) == pytest.approx(-np.mean(log_p[np.arange(3), [0, 1, 0]]), rel=1e-6)
  assert float(entropy) == pytest.approx(-(np.exp(log_p[:3]) * log_p[:3]).sum(-1).mean(),
                                         rel=1e-5)
  uniform = adversary.discriminator_loss(jnp.zeros((2, 3)), labels[:2], jnp.ones(2))[2]
  assert float(uniform) == pytest.approx(np.log(3), rel=1e-6)


def test_grl_is_minus_the_discriminator_cross_entropy():
  logits = jax.random.normal(jax.random.key(1), (5, NUM_LANGUAGES))
  language, weights = jnp.array([0, 1, 2, 3, 1]), jnp.ones(5)
  cross_entropy = lambda z: adversary.discriminator_loss(z, language, weights)[0]
  grl = lambda z: adversary.encoder_objective(z, language, weights, 'grl')
  assert float(grl(logits)) == pytest.approx(-float(cross_entropy(logits)), rel=1e-6)
  np.testing.assert_allclose(jax.grad(grl)(logits), -jax.grad(cross_entropy)(logits), atol=1e-7)


def test_confusion_gives_the_encoder_zero_gradient_when_d_is_uniform(model_and_batch):
  model, batch = model_and_batch
  classifier = model.discriminator.classifier
  kernel, bias = classifier.kernel[...], classifier.bias[...]
  assert _largest(_encoder_gradients(model, batch, 'confusion')) > 0  # a trained-looking D
  try:
    classifier.kernel[...] = jnp.zeros_like(kernel)   # D says 1/K for every input
    classifier.bias[...] = jnp.full_like(bias, 0.3)
    assert _largest(_encoder_gradients(model, batch, 'confusion')) == 0.0
    assert _largest(_encoder_gradients(model, batch, 'grl')) == 0.0   # flat D: no signal at all
  finally:
    classifier.kernel[...], classifier.bias[...] = kernel, bias


def test_confusion_is_bounded_below_by_zero_at_uniform_and_pulls_toward_it():
  language, weights = jnp.array([0, 2]), jnp.ones(2)
  confusion = lambda z: adversary.encoder_objective(z, language, weights, 'confusion')
  assert float(confusion(jnp.zeros((2, NUM_LANGUAGES)))) == pytest.approx(0.0, abs=1e-7)
  confident = jnp.array([[9.0, 0, 0, 0], [0, 0, -9.0, 0]])   # right, and confidently wrong
  assert float(confusion(confident)) > 1.0
  # d/dz KL(U || softmax z) = (softmax z - 1/K) / rows: down the confident logit, up the others.
  expected = (jax.nn.softmax(confident) - 1 / NUM_LANGUAGES) / 2
  np.testing.assert_allclose(jax.grad(confusion)(confident), expected, atol=1e-6)


def test_flip_targets_another_language_than_the_true_one():
  language = jnp.tile(jnp.arange(NUM_LANGUAGES), 50)
  flip = lambda z: adversary.encoder_objective(z, language, jnp.ones(language.shape), 'flip',
                                               jax.random.key(3))
  gradient = jax.grad(flip)(jnp.zeros((language.size, NUM_LANGUAGES)))
  targets = jnp.argmin(gradient, -1)   # the target's gradient is p - 1, the only negative one
  assert not bool(jnp.any(targets == language))
  assert set(np.asarray(targets - language) % NUM_LANGUAGES) == {1, 2, 3}  # every other one


def _discriminator_and_optimizer(seed=0):
  config = demo.get_config('tiny').adversary
  with nnx.use_eager_sharding(False):
    disc = adversary.LanguageDiscriminator(config, 8, NUM_LANGUAGES, 0.5, rngs=nnx.Rngs(seed))
  return disc, nnx.Optimizer(disc, optax.adamw(1e-2), wrt=nnx.Param)


def _features():
  rng = np.random.default_rng(0)
  language = jnp.asarray(np.arange(24) % NUM_LANGUAGES, jnp.int32)
  features = jnp.asarray(rng.standard_normal((24, 8)), jnp.float32) + language[:, None] * 0.5
  return features, language, jnp.ones(24)


def _state(*objects):
  return [np.asarray(x) for x in jax.tree.leaves(nnx.state(objects))]


def test_k_discriminator_steps_equal_k_separate_updates():
  features, language, weights = _features()
  keys = jax.random.split(jax.random.key(5), 3)   # dropout on: each update has its own key
  together = _discriminator_and_optimizer()
  history = discriminator.update(*together, features, language, weights, keys)
  apart = _discriminator_and_optimizer()
  losses = [discriminator.update(*apart, features, language, weights, keys[i:i + 1])[0][0]
            for i in range(3)]
  for a, b in zip(_state(*together), _state(*apart)):
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-7)
  np.testing.assert_allclose(history[0], losses, rtol=1e-6)
  assert float(history[0][-1]) < float(history[0][0])   # D learns the offsets
  assert int(together[1].step[...]) == 3


def test_token_placement_gives_one_weighted_row_per_token():
  hidden = jnp.arange(2 * 3 * 2, dtype=jnp.float32).reshape(2, 3, 2)
  mask = jnp.array([[1, 1, 0], [1, 0, 0]])
  features, language, weights = adversary.placed_features(hidden, mask, jnp.array([4, 7]),
                                                          'token')
  assert features.shape == (6, 2)
  np.testing.assert_array_equal(language, [4, 4, 4, 7, 7, 7])
  np.testing.assert_array_equal(weights, [1, 1, 0, 1, 0, 0])
  pooled, _, row_weights = adversary.placed_features(hidden, mask, jnp.array([4, 7]), 'mean')
  np.testing.assert_allclose(pooled, [[1.0, 2.0], [6.0, 7.0]])
  np.testing.assert_array_equal(row_weights, [1, 1])


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
  def f(step):
    traces.append(1)
    return adversary.lambda_schedule(step, schedule='dann', total_steps=3)

  values = [float(f(jnp.int32(step))) for step in range(3)]
  assert values == sorted(values) and values[-1] > 0
  assert len(traces) == 1


def test_unknown_schedule_and_objective_are_refused():
  with pytest.raises(ValueError, match='adversary.schedule'):
    adversary.lambda_schedule(0, schedule='linear', total_steps=10)
  with pytest.raises(ValueError, match='adversary.objective'):
    adversary.encoder_objective(jnp.zeros((1, 2)), jnp.zeros(1, jnp.int32), jnp.ones(1), 'wgan')
