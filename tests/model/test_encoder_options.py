"""The encoder's start and normalisation options: what each one changes, and only that."""

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from configs import demo
from unibert_jax.model import encoder as encoder_lib


def _model_cfg(**overrides):
  cfg = demo.get_config('tiny').model.copy_and_resolve_references()
  cfg.update(num_layers=2, **overrides)
  return cfg


def _encoder(cfg, seed=0):
  with nnx.use_eager_sharding(False):
    return encoder_lib.Encoder(cfg, rngs=nnx.Rngs(seed))


def _ids(cfg, length=24):
  ids = np.random.default_rng(0).integers(300, cfg.vocab_size - 1, size=(2, length))
  ids[:, 0] = 0
  return jnp.asarray(ids), jnp.ones((2, length), jnp.int32)


def test_pre_ln_normalises_before_each_sublayer_and_after_the_last():
  post, pre = _model_cfg(), _model_cfg(norm_placement='pre')
  encoder = _encoder(pre)
  ids, mask = _ids(pre)
  raw = (encoder.word_embeddings[...][ids] + encoder.position_embeddings[...][
      jnp.cumsum(mask, 1) + 1] + encoder.token_type_embeddings[...][0])
  np.testing.assert_allclose(encoder.embed(ids), raw, rtol=1e-6)   # no LayerNorm there
  hidden = np.asarray(encoder(ids, mask))
  np.testing.assert_allclose(hidden.mean(-1), 0, atol=1e-5)         # the final LayerNorm
  # The same parameters as post-LN, read another way.
  same = nnx.state(_encoder(post), nnx.Param)
  assert jax.tree.structure(same) == jax.tree.structure(nnx.state(encoder, nnx.Param))
  with pytest.raises(AssertionError):
    np.testing.assert_allclose(np.asarray(_encoder(post)(ids, mask)), hidden, atol=1e-3)


def test_sinusoidal_positions_are_orthogonal_and_a_rotation_shifts_them():
  cfg = _model_cfg(position_init='sinusoidal')
  table = np.asarray(_encoder(cfg).position_embeddings[...])
  assert np.sqrt((table ** 2).mean()) == pytest.approx(cfg.initializer_range, rel=0.05)
  unit = table / np.linalg.norm(table, axis=1, keepdims=True)
  similarity = unit @ unit.T
  assert np.abs(similarity[10, [9, 11, 30]]).max() < 0.05   # distinct positions: orthogonal
  rotation = encoder_lib.shift_rotation(cfg.hidden_size, 1)
  np.testing.assert_allclose(table[:-1] @ rotation.T, table[1:], atol=1e-5)


def _attention_at_start(cfg):
  """[heads, query, key] attention of the first layer on random tokens at initialisation."""
  encoder = _encoder(cfg)
  ids, mask = _ids(cfg, length=40)
  layer = encoder.layers[0]
  x = encoder.embed(ids)
  x = layer.attention_norm(x) if encoder_lib.norm_placement(cfg) == 'pre' else x
  split = lambda t: t.reshape(2, 40, cfg.num_heads, -1)
  q, k = split(layer.attention.query(x)), split(layer.attention.key(x))
  scores = jnp.einsum('bqhd,bkhd->bhqk', q, k) / np.sqrt(q.shape[-1])
  return np.asarray(jax.nn.softmax(scores, -1)).mean(0)


@pytest.mark.parametrize('norm_placement', ['post', 'pre'])
def test_neighbour_heads_start_on_the_previous_and_the_next_token(norm_placement):
  cfg = _model_cfg(position_init='sinusoidal', attention_init='neighbour', num_heads=2,
                   norm_placement=norm_placement)
  attention = _attention_at_start(cfg)
  i = np.arange(2, 38)
  assert attention[0, i, i - 1].mean() > 0.5 and attention[1, i, i + 1].mean() > 0.5
  assert attention[:, i, i].mean() < 0.05
  uniform = _attention_at_start(_model_cfg(position_init='sinusoidal', num_heads=2))
  assert uniform[0, i, i - 1].mean() < 0.1


def test_mimetic_attention_starts_with_equal_query_and_key():
  cfg = _model_cfg(attention_init='mimetic')
  encoder = _encoder(cfg)
  for layer in encoder.layers:
    np.testing.assert_array_equal(layer.attention.key.kernel[...],
                                  layer.attention.query.kernel[...])
    assert not np.array_equal(layer.attention.value.kernel[...],
                              layer.attention.query.kernel[...])
  plain = _encoder(_model_cfg())
  assert not np.array_equal(plain.layers[0].attention.key.kernel[...],
                            plain.layers[0].attention.query.kernel[...])
