"""XLM-R-compatible post-LN encoder in Flax NNX, and its language discriminator.

The parameter layout maps one to one onto Hugging Face `XLMRobertaForMaskedLM` (see hf_io.py):
learned positions offset by pad_id + 1, a one-row token-type table, exact erf GELU, LayerNorm
eps from the config, and an MLM head (dense, GELU, LayerNorm, decoder tied to the word
embeddings, bias). One `Encoder` class serves teacher and student.

Dropout takes an explicit key instead of an `nnx.Rngs` stream, so the model state holds
parameters only (checkpoints and exports stay plain arrays) and layers can be scanned.
Every parameter carries logical axis names; `sharding.py` maps them onto mesh axes.
"""

import functools

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from unibert_jax.model import adversary as grl

PAD_ID = 1


def _partitioned(init, *names):
  return nnx.with_partitioning(init, names)


def _dropout(x, rate: float, key):
  if key is None or rate == 0.0:
    return x
  keep = jax.random.bernoulli(key, 1.0 - rate, x.shape)
  return jnp.where(keep, x / (1.0 - rate), 0).astype(x.dtype)


def _gelu(x):
  # Exact GELU in PyTorch's (and HF "gelu"'s) form; jax.nn.gelu(approximate=False) goes
  # through erfc, which costs XLA:CPU a piecewise polynomial with selects (a few % of a step).
  return x * 0.5 * (1.0 + jax.lax.erf(x * np.sqrt(0.5).astype(x.dtype)))


def matmul_dtype(cfg) -> jnp.dtype:
  """The operand dtype of the encoder's matmuls: model.matmul_dtype, or the compute dtype."""
  return jnp.dtype(cfg.get('matmul_dtype', '') or cfg.dtype)


# Kernel layouts: 'io' is an NNX kernel [in, out]; 'oi' is [out, in], e.g. the word embeddings
# [vocab, hidden] as the tied decoder. Spelled per layout so that every product, the kernel
# gradient included, comes out in the kernel's own layout with no transpose in between.
_PRODUCTS = {  # layout: (forward, input gradient, kernel gradient)
    'io': ('...i,io->...o', '...o,io->...i', '...i,...o->io'),
    'oi': ('...i,oi->...o', '...o,oi->...i', '...i,...o->oi'),
}


@functools.partial(jax.custom_vjp, nondiff_argnums=(2, 3, 4, 5))
def _low_precision_matmul(x, kernel, layout, operand_dtype, x_dtype, kernel_dtype):
  del x_dtype, kernel_dtype
  return jnp.einsum(_PRODUCTS[layout][0], x.astype(operand_dtype), kernel.astype(operand_dtype),
                    preferred_element_type=jnp.float32)


def _low_precision_matmul_fwd(x, kernel, layout, operand_dtype, x_dtype, kernel_dtype):
  x, kernel = x.astype(operand_dtype), kernel.astype(operand_dtype)
  y = _low_precision_matmul(x, kernel, layout, operand_dtype, x_dtype, kernel_dtype)
  return y, (x, kernel)


def _low_precision_matmul_bwd(layout, operand_dtype, x_dtype, kernel_dtype, residuals, grad):
  # Both backward products with low-precision operands too: JAX's own transpose would meet the
  # float32 cotangent and run them in float32, at half the speed.
  x, kernel = residuals
  grad = grad.astype(operand_dtype)
  _, input_grad, kernel_grad = _PRODUCTS[layout]
  dx = jnp.einsum(input_grad, grad, kernel, preferred_element_type=jnp.float32)
  dkernel = jnp.einsum(kernel_grad, x, grad, preferred_element_type=jnp.float32)
  return dx.astype(x_dtype), dkernel.astype(kernel_dtype)


_low_precision_matmul.defvjp(_low_precision_matmul_fwd, _low_precision_matmul_bwd)


def matmul(x, kernel, operand_dtype, layout: str = 'io') -> jax.Array:
  """x [..., i] @ kernel ([i, o] for layout 'io', [o, i] for 'oi'), accumulated in float32.

  The result is float32. With bfloat16 operands the forward and both backward products take
  bfloat16 inputs: the fast path of accelerators, and of CPUs with AVX512-BF16 (about 1.8x
  float32 there).
  """
  operand_dtype = jnp.dtype(operand_dtype)
  if operand_dtype == jnp.float32:
    return jnp.einsum(_PRODUCTS[layout][0], x.astype(jnp.float32), kernel.astype(jnp.float32))
  return _low_precision_matmul(x, kernel, layout, operand_dtype, jnp.dtype(x.dtype),
                               jnp.dtype(kernel.dtype))


class _Dense(nnx.Linear):
  """nnx.Linear with logical axis names on kernel and bias, and the encoder's matmul dtype."""

  def __init__(self, cfg, din: int, dout: int, axes: tuple[str, str], *, rngs: nnx.Rngs):
    init = jax.nn.initializers.normal(cfg.initializer_range)
    super().__init__(
        din, dout, dtype=jnp.dtype(cfg.dtype), param_dtype=jnp.dtype(cfg.param_dtype),
        kernel_init=_partitioned(init, *axes),
        bias_init=_partitioned(jax.nn.initializers.zeros, axes[1]), rngs=rngs)
    self.operand_dtype = matmul_dtype(cfg)

  def __call__(self, x):
    y = matmul(x, self.kernel[...], self.operand_dtype) + self.bias[...]
    return y.astype(self.dtype)


class _LayerNorm(nnx.LayerNorm):

  def __init__(self, cfg, dim: int, *, rngs: nnx.Rngs):
    super().__init__(
        dim, epsilon=cfg.layer_norm_eps, dtype=jnp.dtype(cfg.dtype),
        param_dtype=jnp.dtype(cfg.param_dtype),
        scale_init=_partitioned(jax.nn.initializers.ones, 'embed'),
        bias_init=_partitioned(jax.nn.initializers.zeros, 'embed'), rngs=rngs)


class SelfAttention(nnx.Module):

  def __init__(self, cfg, *, rngs: nnx.Rngs):
    d = cfg.hidden_size
    self.num_heads = cfg.num_heads
    self.dropout_rate = cfg.attention_dropout
    self.impl = cfg.attention_impl
    self.query = _Dense(cfg, d, d, ('embed', 'heads'), rngs=rngs)
    self.key = _Dense(cfg, d, d, ('embed', 'heads'), rngs=rngs)
    self.value = _Dense(cfg, d, d, ('embed', 'heads'), rngs=rngs)
    self.output = _Dense(cfg, d, d, ('heads', 'embed'), rngs=rngs)

  def __call__(self, x, attention_mask, dropout_key):
    batch, length, d = x.shape
    split = lambda t: t.reshape(batch, length, self.num_heads, d // self.num_heads)
    q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
    if dropout_key is not None and self.dropout_rate > 0:
      # dot_product_attention has no dropout: spell attention out when it is on.
      scores = jnp.einsum('bqhd,bkhd->bhqk', q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
      scores = jnp.where(attention_mask[:, None, None, :] > 0, scores, jnp.finfo(scores.dtype).min)
      probs = _dropout(jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(q.dtype),
                       self.dropout_rate, dropout_key)
      context = jnp.einsum('bhqk,bkhd->bqhd', probs, v)
    elif self.impl == 'xla':
      context = jax.nn.dot_product_attention(
          q, k, v, mask=(attention_mask > 0)[:, None, None, :], implementation='xla')
    else:
      # Right-padded sequences: lengths let cuDNN's flash attention skip the padding.
      lengths = attention_mask.sum(-1).astype(jnp.int32)
      implementation = None if self.impl == 'auto' else self.impl
      context = jax.nn.dot_product_attention(
          q, k, v, key_value_seq_lengths=lengths, implementation=implementation)
    return self.output(context.reshape(batch, length, d))


class TransformerLayer(nnx.Module):
  """Post-LN layer: x = LN(x + Attn(x)); x = LN(x + FFN(x)), as BERT and XLM-R."""

  def __init__(self, cfg, *, rngs: nnx.Rngs):
    d, ff = cfg.hidden_size, cfg.intermediate_size
    self.dropout_rate = cfg.hidden_dropout
    self.attention = SelfAttention(cfg, rngs=rngs)
    self.attention_norm = _LayerNorm(cfg, d, rngs=rngs)
    self.intermediate = _Dense(cfg, d, ff, ('embed', 'mlp'), rngs=rngs)
    self.output = _Dense(cfg, ff, d, ('mlp', 'embed'), rngs=rngs)
    self.output_norm = _LayerNorm(cfg, d, rngs=rngs)

  def __call__(self, x, attention_mask, dropout_key=None):
    keys = [None] * 3 if dropout_key is None else list(jax.random.split(dropout_key, 3))
    attended = _dropout(self.attention(x, attention_mask, keys[0]), self.dropout_rate, keys[1])
    x = self.attention_norm(x + attended)
    ffn = _dropout(self.output(_gelu(self.intermediate(x))), self.dropout_rate, keys[2])
    return self.output_norm(x + ffn)


_REMAT_POLICIES = {
    'full': None,  # save nothing, recompute the layer in the backward pass
    'dots': jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}


class Encoder(nnx.Module):
  """Embeddings, post-LN transformer layers and the tied MLM head."""

  def __init__(self, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    d = cfg.hidden_size
    init = jax.nn.initializers.normal(cfg.initializer_range)
    param_dtype = jnp.dtype(cfg.param_dtype)
    self.cfg = cfg
    self.compute_dtype = jnp.dtype(cfg.dtype)
    self.word_embeddings = nnx.Param(init(rngs.params(), (cfg.vocab_size, d), param_dtype),
                                     out_sharding=('vocab', 'embed'))
    self.position_embeddings = nnx.Param(
        init(rngs.params(), (cfg.max_position_embeddings, d), param_dtype),
        out_sharding=(None, 'embed'))
    self.token_type_embeddings = nnx.Param(init(rngs.params(), (1, d), param_dtype),
                                           out_sharding=(None, 'embed'))
    self.embedding_norm = _LayerNorm(cfg, d, rngs=rngs)
    self.layers = nnx.List([TransformerLayer(cfg, rngs=rngs) for _ in range(cfg.num_layers)])
    self.head_dense = _Dense(cfg, d, d, ('embed', 'embed_out'), rngs=rngs)
    self.head_norm = _LayerNorm(cfg, d, rngs=rngs)
    self.head_bias = nnx.Param(jnp.zeros((cfg.vocab_size,), param_dtype), out_sharding=('vocab',))

  def embed(self, input_ids, dropout_key=None):
    # XLM-R positions count real tokens from pad_id + 1; padding sits on row pad_id.
    not_pad = (input_ids != PAD_ID).astype(jnp.int32)
    positions = jnp.cumsum(not_pad, axis=1) * not_pad + PAD_ID
    x = (self.word_embeddings[...][input_ids] + self.position_embeddings[...][positions]
         + self.token_type_embeddings[...][0])
    x = self.embedding_norm(x.astype(self.compute_dtype))
    return _dropout(x, self.cfg.hidden_dropout, dropout_key)

  def __call__(self, input_ids, attention_mask, *, dropout_key=None):
    """Final hidden states [batch, length, hidden] in the compute dtype.

    dropout_key=None is deterministic (evaluation); a key turns dropout on.
    """
    keys = (None,) * (self.cfg.num_layers + 1) if dropout_key is None else tuple(
        jax.random.split(dropout_key, self.cfg.num_layers + 1))
    x = self.embed(input_ids, keys[0])
    if self.cfg.scan_layers:
      return self._scan_layers(x, attention_mask, dropout_key, keys[1:])
    for layer, key in zip(self.layers, keys[1:]):
      x = self._apply_layer(layer, x, attention_mask, key)
    return x

  def _apply_layer(self, layer, x, attention_mask, key):
    if self.cfg.remat == 'none':
      return layer(x, attention_mask, key)
    graphdef, state = nnx.split(layer)
    run = lambda s, h: nnx.merge(graphdef, s)(h, attention_mask, key)
    return jax.checkpoint(run, policy=_REMAT_POLICIES[self.cfg.remat])(state, x)

  def _scan_layers(self, x, attention_mask, dropout_key, keys):
    # The layers stay separate parameters (exports and checkpoints do not change); they are
    # stacked here so XLA compiles one layer body instead of num_layers copies.
    graphdef, _ = nnx.split(self.layers[0])
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs),
                           *[nnx.state(layer) for layer in self.layers])
    layer_keys = None if dropout_key is None else jnp.stack(keys)

    def body(h, scanned):
      state, key = scanned
      run = lambda s, h: nnx.merge(graphdef, s)(h, attention_mask, key)
      if self.cfg.remat != 'none':
        run = jax.checkpoint(run, policy=_REMAT_POLICIES[self.cfg.remat])
      return run(state, h), None

    x, _ = jax.lax.scan(body, x, (stacked, layer_keys))
    return x

  def mlm_logits(self, hidden):
    """Vocabulary logits (float32) for hidden states of any leading shape.

    Call it on the gathered masked positions only: the vocabulary projection dominates
    the FLOPs when applied to every token.
    """
    h = self.head_norm(_gelu(self.head_dense(hidden)))
    logits = matmul(h, self.word_embeddings[...], matmul_dtype(self.cfg), layout='oi')
    return logits + self.head_bias[...]


def pool(hidden, attention_mask, mode: str):
  """Sequence representation [batch, hidden] in float32: masked mean or the <s> state."""
  hidden = hidden.astype(jnp.float32)
  if mode == 'first':
    return hidden[:, 0]
  if mode == 'mean':
    weights = attention_mask.astype(jnp.float32)[..., None]
    return (hidden * weights).sum(1) / jnp.maximum(weights.sum(1), 1.0)
  raise ValueError(f'adversary.pooling must be "mean" or "first", got {mode!r}.')


class LanguageDiscriminator(nnx.Module):
  """MLP that predicts the language of a pooled sequence representation."""

  def __init__(self, cfg: ml_collections.ConfigDict, input_size: int, initializer_range: float,
               *, rngs: nnx.Rngs):
    init = jax.nn.initializers.normal(initializer_range)
    sizes = [input_size] + [cfg.hidden_size] * cfg.num_layers
    self.dropout_rate = cfg.dropout
    self.hidden = nnx.List([
        nnx.Linear(i, o, kernel_init=_partitioned(init, 'embed', 'disc_hidden'),
                   bias_init=_partitioned(jax.nn.initializers.zeros, 'disc_hidden'), rngs=rngs)
        for i, o in zip(sizes[:-1], sizes[1:])])
    self.classifier = nnx.Linear(
        sizes[-1], cfg.num_languages, kernel_init=_partitioned(init, 'disc_hidden', 'languages'),
        bias_init=_partitioned(jax.nn.initializers.zeros, 'languages'), rngs=rngs)

  def __call__(self, pooled, dropout_key=None):
    keys = [None] * len(self.hidden) if dropout_key is None else list(
        jax.random.split(dropout_key, len(self.hidden)))
    x = pooled
    for layer, key in zip(self.hidden, keys):
      x = _dropout(_gelu(layer(x)), self.dropout_rate, key)
    return self.classifier(x)


class UniBert(nnx.Module):
  """The student: encoder plus the adversarial language discriminator behind the GRL."""

  def __init__(self, config: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    self.encoder = Encoder(config.model, rngs=rngs)
    self.discriminator = LanguageDiscriminator(
        config.adversary, config.model.hidden_size, config.model.initializer_range, rngs=rngs)
    self.pooling = config.adversary.pooling

  def language_logits(self, hidden, attention_mask, grl_lambda, dropout_key=None):
    pooled = grl.gradient_reversal(pool(hidden, attention_mask, self.pooling), grl_lambda)
    return self.discriminator(pooled, dropout_key)

