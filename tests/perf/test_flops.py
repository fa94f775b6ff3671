"""The analytic FLOPs formula against XLA's cost analysis of compiled steps.

XLA's `flops` counts every HLO op (elementwise, reductions, the optimizer
update) while the model-FLOPs convention counts matmuls only, so the configs
here are sized so that matmuls dominate (width >= 256, short sequences, a
small vocabulary) and the check is a 15 % band, not equality.
"""


import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from configs import base
from unibert_jax.perf import flops
from unibert_jax.perf.bench import benchmark

NUM_LANGUAGES = 8


def small_config(adv_weight=0.1, layers=2, hidden=256, heads=4, ffn=1024,
                 vocab=512, batch=4, seq=64, predictions=10):
  c = base.get_config('demo')
  c.model.num_layers, c.model.hidden_size = layers, hidden
  c.model.num_heads, c.model.intermediate_size = heads, ffn
  c.model.dtype = 'float32'
  c.model.hidden_dropout = c.model.attention_dropout = 0.0
  c.adversary.dropout = 0.0
  c.data.vocab_size, c.data.max_len = vocab, seq
  c.data.batch_size, c.data.max_predictions = batch, predictions
  c.adversary.hidden_size = 128
  c.loss.adv_weight = adv_weight
  return c


def xla_flops(compiled) -> float:
  analysis = compiled.cost_analysis()
  if isinstance(analysis, (list, tuple)):  # older jax returned one dict per device
    analysis = analysis[0]
  return float(analysis['flops'])


# A plain-JAX encoder written here so the formula is checked independently of
# unibert_jax.model: same matmuls as the convention describes, nothing shared.
def init_params(c, key):
  m, a = c.model, c.adversary
  d, f, v = m.hidden_size, m.intermediate_size, m.vocab_size
  keys = iter(jax.random.split(key, 64))
  normal = lambda *shape: 0.02 * jax.random.normal(next(keys), shape)
  layers = [dict(qkv=normal(d, 3 * d), out=normal(d, d), ln1=jnp.ones(d),
                 ff1=normal(d, f), ff2=normal(f, d), ln2=jnp.ones(d))
            for _ in range(m.num_layers)]
  disc = [normal(i, o) for i, o in flops.discriminator_layer_dims(a, d, NUM_LANGUAGES)]
  return dict(tok=normal(v, d), pos=normal(c.data.max_len, d), layers=layers,
              head=normal(d, d), head_bias=jnp.zeros(v), disc=disc)


def layer_norm(x, scale):
  x = x - x.mean(-1, keepdims=True)
  return x * jax.lax.rsqrt((x * x).mean(-1, keepdims=True) + 1e-5) * scale


def loss_fn(params, batch, c):
  heads = c.model.num_heads
  x = params['tok'][batch['input_ids']] + params['pos'][None]
  b, s, d = x.shape
  for p in params['layers']:
    q, k, v = jnp.split(x @ p['qkv'], 3, axis=-1)
    split = lambda t: t.reshape(b, s, heads, d // heads)
    attn = jax.nn.dot_product_attention(split(q), split(k), split(v))
    x = layer_norm(x + attn.reshape(b, s, d) @ p['out'], p['ln1'])
    x = layer_norm(x + jax.nn.gelu(x @ p['ff1']) @ p['ff2'], p['ln2'])
  gathered = jnp.take_along_axis(x, batch['mlm_positions'][..., None], axis=1)
  logits = jax.nn.gelu(gathered @ params['head']) @ params['tok'].T + params['head_bias']
  loss = optax.softmax_cross_entropy_with_integer_labels(logits, batch['mlm_targets']).mean()
  if c.loss.adv_weight > 0:
    h = x.mean(axis=1)
    for w in params['disc'][:-1]:
      h = jax.nn.relu(h @ w)
    lang_logits = h @ params['disc'][-1]
    loss += c.loss.adv_weight * optax.softmax_cross_entropy_with_integer_labels(
        lang_logits, batch['language_id']).mean()
  return loss


def random_batch(c, seed=0):
  rng = np.random.default_rng(seed)
  b, s, p = c.data.batch_size, c.data.max_len, c.data.max_predictions
  return dict(
      input_ids=rng.integers(0, c.data.vocab_size, (b, s), dtype=np.int32),
      mlm_positions=rng.integers(0, s, (b, p), dtype=np.int32),
      mlm_targets=rng.integers(0, c.data.vocab_size, (b, p), dtype=np.int32),
      language_id=rng.integers(0, NUM_LANGUAGES, (b,), dtype=np.int32))


def compiled_reference_step(c):
  params = init_params(c, jax.random.key(0))
  tx = optax.adamw(1e-3)

  def step(params, opt_state, batch):
    loss, grads = jax.value_and_grad(loss_fn)(params, batch, c)
    updates, opt_state = tx.update(grads, opt_state, params)
    return optax.apply_updates(params, updates), opt_state, loss

  return jax.jit(step).lower(params, tx.init(params), random_batch(c)).compile()


def test_breakdown_parts_follow_the_convention():
  c = small_config()
  d, f, v, L = 256, 1024, 512, 2
  b, s, p = 4, 64, 10
  got = flops.train_step_flops(c, NUM_LANGUAGES)
  assert got.tokens == flops.tokens_per_step(c) == b * s
  assert got.breakdown['encoder_matmuls'] == 6 * L * (4 * d * d + 2 * d * f) * b * s
  assert got.breakdown['attention'] == 12 * L * s * d * b * s
  assert got.breakdown['mlm_head'] == 6 * (d * d + d * v) * b * p
  # A frozen D for the encoder (2 passes) and one update of D (3 passes).
  assert got.breakdown['discriminator'] == 10 * b * (d * 128 + 128 * 128 + 128 * 8)
  c.adversary.steps_per_update = 4
  assert flops.train_step_flops(c, NUM_LANGUAGES).breakdown['discriminator'] == (
      28 * b * (d * 128 + 128 * 128 + 128 * 8))
  c.adversary.steps_per_update = 1
  assert got.total == pytest.approx(sum(got.breakdown.values()))
  assert got.per_token == pytest.approx(got.total / (b * s))
  assert flops.train_step_flops(small_config(adv_weight=0.0), NUM_LANGUAGES).breakdown['discriminator'] == 0
  # A forward pass is a third of the train step's encoder and head work.
  fwd = flops.forward_flops(c.model, b, s, p)
  for part in ('encoder_matmuls', 'attention', 'mlm_head'):
    assert fwd.breakdown[part] * 3 == got.breakdown[part]
  # Full-sequence logits cost s/p times the gathered head.
  assert flops.forward_flops(c.model, b, s).breakdown['mlm_head'] == fwd.breakdown['mlm_head'] * s / p


@pytest.mark.parametrize('adv_weight', [0.0, 0.1])
def test_formula_matches_xla_cost_of_a_plain_jax_step(adv_weight):
  c = small_config(adv_weight=adv_weight)
  analytic = flops.train_step_flops(c, NUM_LANGUAGES).total
  measured = xla_flops(compiled_reference_step(c))
  # XLA >= model FLOPs (it adds elementwise work); the rest must be matmuls.
  assert measured >= analytic * 0.99
  assert measured == pytest.approx(analytic, rel=0.15)


def test_formula_scales_like_xla_when_the_sequence_grows():
  # Attention grows with s^2 per sequence: compare the *difference* of two
  # sequence lengths, which cancels the per-parameter optimizer work.
  short, long = small_config(seq=32), small_config(seq=128)
  analytic = (flops.train_step_flops(long, NUM_LANGUAGES).total
              - flops.train_step_flops(short, NUM_LANGUAGES).total)
  measured = (xla_flops(compiled_reference_step(long))
              - xla_flops(compiled_reference_step(short)))
  assert measured == pytest.approx(analytic, rel=0.15)


def test_formula_matches_xla_cost_of_the_real_train_step():
  # All three objectives on: every part of the formula is exercised (the objective
  # switches themselves are checked in test_benchmarking.py).
  c = benchmark.objective_config(small_config(), 'mlm_adv_kd')
  program = benchmark.build_program(c)
  compiled = program.compile_step()
  analytic = flops.train_step_flops(c, program.num_languages).total
  measured = xla_flops(compiled)
  assert measured >= analytic * 0.99
  assert measured == pytest.approx(analytic, rel=0.15)
