"""XLM-R-compatible encoder in Flax NNX: embeddings, transformer layers, tied MLM head.

The parameter layout maps one to one onto Hugging Face `XLMRobertaForMaskedLM`
(export/hf_format.py): learned positions offset by pad_id + 1, a one-row token-type table, exact
erf GELU, LayerNorm eps from the config, and an MLM head (dense, GELU, LayerNorm, decoder tied
to the word embeddings, bias). One `Encoder` class serves teacher and student.

`model.position_scheme` 'bert' numbers the slots 0..L-1 instead, as BERT-family checkpoints
(mBERT, multilingual MiniLM, multilingual-e5-small) do; `model.pad_token_id` is the pad id the
'xlm-r' scheme skips. Both are set by the Hugging Face import only; configs without them are
XLM-R's.

`model.norm_placement`: 'post' (BERT, XLM-R: LayerNorm after each residual sum and after the
embeddings) or 'pre' (LayerNorm before each sublayer, none after the embeddings, one after the
last layer), which is `XLMRobertaXLForMaskedLM`'s layout. Pre-LN leaves the residual stream
unnormalised, so the gradient reaches the lower layers undamped and higher learning rates are
stable.

`model.position_init` and `model.attention_init` choose the start. With 'sinusoidal' positions
and 'neighbour' heads (neighbour_kernels), a small model uses word order from its first steps;
from the random start it sits on the unigram plateau of MLM training (README, "What the demo
models learn").

Dropout takes an explicit key instead of an `nnx.Rngs` stream, so the model state holds
parameters only (checkpoints and exports stay plain arrays) and layers can be scanned.
"""

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from unibert_jax import special_tokens
from unibert_jax.model import layers
from unibert_jax.model import precision


def gather_positions(hidden, positions):
  """hidden [B, L, d], positions [B, P] -> [B, P, d]: the states at the masked slots."""
  return jnp.take_along_axis(hidden, positions[..., None], axis=1)


class SelfAttention(nnx.Module):

  def __init__(self, cfg, *, rngs: nnx.Rngs):
    d = cfg.hidden_size
    self.num_heads = cfg.num_heads
    self.dropout_rate = cfg.attention_dropout
    self.impl = cfg.attention_impl
    self.query = layers.Dense(cfg, d, d, ('embed', 'heads'), rngs=rngs)
    self.key = layers.Dense(cfg, d, d, ('embed', 'heads'), rngs=rngs)
    self.value = layers.Dense(cfg, d, d, ('embed', 'heads'), rngs=rngs)
    self.output = layers.Dense(cfg, d, d, ('heads', 'embed'), rngs=rngs)
    attention_init = cfg.get('attention_init', 'random')
    if attention_init == 'mimetic':
      # W_q W_k^T = W_q W_q^T starts positive semi-definite: a token attends to similar states
      # (Trockman & Kolter, ICML 2023).
      self.key.kernel.set_value(self.query.kernel.get_value())
    elif attention_init == 'neighbour':
      query, key = neighbour_kernels(self.query.kernel.get_value(),
                                     self.key.kernel.get_value(), cfg.num_heads, rngs.params())
      self.query.kernel.set_value(query)
      self.key.kernel.set_value(key)

  def __call__(self, x, attention_mask, dropout_key):
    batch, length, d = x.shape
    split = lambda t: t.reshape(batch, length, self.num_heads, d // self.num_heads)
    q, k, v = split(self.query(x)), split(self.key(x)), split(self.value(x))
    if dropout_key is not None and self.dropout_rate > 0:
      # dot_product_attention has no dropout: spell attention out when it is on.
      scores = jnp.einsum('bqhd,bkhd->bhqk', q, k) / jnp.sqrt(q.shape[-1]).astype(q.dtype)
      scores = jnp.where(attention_mask[:, None, None, :] > 0, scores, jnp.finfo(scores.dtype).min)
      probs = jax.nn.softmax(scores.astype(jnp.float32), axis=-1).astype(q.dtype)
      probs = layers.dropout(probs, self.dropout_rate, dropout_key)
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


NORM_PLACEMENTS = ('post', 'pre')


def norm_placement(cfg) -> str:
  # Configs saved before the field existed are post-LN.
  return cfg.get('norm_placement', 'post')


class TransformerLayer(nnx.Module):
  """Post-LN: x = LN(x + Attn(x)); x = LN(x + FFN(x)), as BERT and XLM-R.

  Pre-LN: x = x + Attn(LN(x)); x = x + FFN(LN(x)), as XLM-R XL (same parameters).
  """

  def __init__(self, cfg, *, rngs: nnx.Rngs):
    d, ff = cfg.hidden_size, cfg.intermediate_size
    self.dropout_rate = cfg.hidden_dropout
    self.pre_norm = norm_placement(cfg) == 'pre'
    self.attention = SelfAttention(cfg, rngs=rngs)
    self.attention_norm = layers.LayerNorm(cfg, d, rngs=rngs)
    self.intermediate = layers.Dense(cfg, d, ff, ('embed', 'mlp'), rngs=rngs)
    self.output = layers.Dense(cfg, ff, d, ('mlp', 'embed'), rngs=rngs)
    self.output_norm = layers.LayerNorm(cfg, d, rngs=rngs)

  def __call__(self, x, attention_mask, dropout_key=None):
    keys = [None] * 3 if dropout_key is None else list(jax.random.split(dropout_key, 3))
    if self.pre_norm:
      x = x + layers.dropout(self.attention(self.attention_norm(x), attention_mask, keys[0]),
                             self.dropout_rate, keys[1])
      ffn = self.output(layers.gelu(self.intermediate(self.output_norm(x))))
      return x + layers.dropout(ffn, self.dropout_rate, keys[2])
    attended = self.attention(x, attention_mask, keys[0])
    x = self.attention_norm(x + layers.dropout(attended, self.dropout_rate, keys[1]))
    ffn = self.output(layers.gelu(self.intermediate(x)))
    return self.output_norm(x + layers.dropout(ffn, self.dropout_rate, keys[2]))


_REMAT_POLICIES = {
    'full': None,  # save nothing, recompute the layer in the backward pass
    'dots': jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
}
REMATS = ('none', *_REMAT_POLICIES)
ATTENTION_IMPLS = ('auto', 'xla', 'cudnn')   # 'auto': cuDNN flash attention on GPU
POSITION_INITS = ('normal', 'sinusoidal')
ATTENTION_INITS = ('random', 'mimetic', 'neighbour')   # 'neighbour': see neighbour_kernels
# XLM-R's own start: the defaults, and what the tests and the PyTorch peer compare against.
XLM_R_START = dict(norm_placement='post', initializer_range=0.02, position_init='normal',
                   attention_init='random')


def sinusoid_frequencies(d: int) -> np.ndarray:
  """d/2 angular frequencies evenly spread over (0, pi).

  Unlike the Transformer's geometric ladder (mostly slow waves, so neighbours look alike), these
  make distinct positions nearly orthogonal (a Dirichlet kernel), which lets one rotation pick
  out exactly the next or previous position.
  """
  return np.pi * (np.arange(d // 2) + 0.5) / (d // 2)


def sinusoidal_table(rows: int, d: int, scale: float) -> jax.Array:
  """(sin, cos) pairs of every position, root-mean-square `scale` (the normal init's)."""
  angles = np.arange(rows)[:, None] * sinusoid_frequencies(d)[None]
  table = np.stack([np.sin(angles), np.cos(angles)], axis=-1).reshape(rows, d)
  return jnp.asarray(table * (scale * np.sqrt(2.0)), jnp.float32)


def shift_rotation(d: int, delta: int) -> np.ndarray:
  """R with R @ row(p) = row(p + delta) for every row of sinusoidal_table (pairwise rotations)."""
  rotation = np.zeros((d, d))
  for k, angle in enumerate(sinusoid_frequencies(d) * delta):
    # (sin a, cos a) -> (sin(a + angle), cos(a + angle))
    rotation[2 * k:2 * k + 2, 2 * k:2 * k + 2] = [[np.cos(angle), np.sin(angle)],
                                                  [-np.sin(angle), np.cos(angle)]]
  return rotation


NEIGHBOUR_GAIN = 3.0   # about 70 % of a neighbour head's attention on its neighbour at the start


def neighbour_kernels(query: jax.Array, key: jax.Array, num_heads: int,
                      rng: jax.Array) -> tuple[jax.Array, jax.Array]:
  """The query and key kernels with head 0 on the previous and head 1 on the next position.

  Head h: W_q = G, W_k = R^T G with G random (d x d/H), so q_i . k_j = x_i G G^T R x_j, which
  with sinusoidal positions peaks where position j + delta = i. The token parts of x add noise
  only: R's trace is about zero, so the head does not start out attending to itself. Other
  heads keep their random start (free to read the whole sequence).
  """
  d = query.shape[0]
  head_dim = d // num_heads
  for head, delta in list(enumerate((1, -1)))[:num_heads]:
    g = jax.random.normal(jax.random.fold_in(rng, head), (d, head_dim)) * (
        NEIGHBOUR_GAIN / np.sqrt(d))
    columns = slice(head * head_dim, (head + 1) * head_dim)
    query = query.at[:, columns].set(g.astype(query.dtype))
    key = key.at[:, columns].set(
        (jnp.asarray(shift_rotation(d, delta).T, jnp.float32) @ g).astype(key.dtype))
  return query, key


POSITION_SCHEMES = ('xlm-r', 'bert')


def position_scheme(cfg) -> str:
  # Configs saved before the field existed number positions as XLM-R does.
  scheme = cfg.get('position_scheme', 'xlm-r')
  if scheme not in POSITION_SCHEMES:
    raise ValueError(f'model.position_scheme={scheme!r} must be one of {POSITION_SCHEMES}.')
  return scheme


def pad_token_id(cfg) -> int:
  return cfg.get('pad_token_id', special_tokens.PAD_ID)


def first_position(cfg) -> int:
  """The position row of a sequence's first token (max_position_embeddings minus it: the most
  tokens a sequence holds)."""
  return 0 if position_scheme(cfg) == 'bert' else pad_token_id(cfg) + 1


def position_ids(input_ids, cfg):
  """[B, L] rows of the position table."""
  if position_scheme(cfg) == 'bert':
    # Every slot counts, padding included: right padding leaves the tokens at 0..n-1.
    return jnp.broadcast_to(jnp.arange(input_ids.shape[1]), input_ids.shape)
  # XLM-R positions count real tokens from pad_id + 1; padding sits on row pad_id.
  pad_id = pad_token_id(cfg)
  not_pad = (input_ids != pad_id).astype(jnp.int32)
  return jnp.cumsum(not_pad, axis=1) * not_pad + pad_id


# The MLM head's parameters; a checkpoint without a head leaves them at their initialisation.
HEAD_PARAMS = ('head_dense', 'head_norm', 'head_bias')


class Encoder(nnx.Module):
  """Embeddings, transformer layers and the tied MLM head.

  `embedding_norm` follows the embeddings (post-LN) or the last layer (pre-LN).
  """

  def __init__(self, cfg: ml_collections.ConfigDict, *, rngs: nnx.Rngs):
    d = cfg.hidden_size
    init = jax.nn.initializers.normal(cfg.initializer_range)
    param_dtype = jnp.dtype(cfg.param_dtype)
    self.cfg = cfg
    self.compute_dtype = jnp.dtype(cfg.dtype)
    self.word_embeddings = nnx.Param(init(rngs.params(), (cfg.vocab_size, d), param_dtype),
                                     out_sharding=('vocab', 'embed'))
    positions_shape = (cfg.max_position_embeddings, d)
    if cfg.get('position_init', 'normal') == 'sinusoidal':
      positions = sinusoidal_table(*positions_shape, cfg.initializer_range).astype(param_dtype)
    else:
      positions = init(rngs.params(), positions_shape, param_dtype)
    self.position_embeddings = nnx.Param(positions, out_sharding=(None, 'embed'))
    self.token_type_embeddings = nnx.Param(init(rngs.params(), (1, d), param_dtype),
                                           out_sharding=(None, 'embed'))
    self.embedding_norm = layers.LayerNorm(cfg, d, rngs=rngs)
    self.layers = nnx.List([TransformerLayer(cfg, rngs=rngs) for _ in range(cfg.num_layers)])
    self.head_dense = layers.Dense(cfg, d, d, ('embed', 'embed_out'), rngs=rngs)
    self.head_norm = layers.LayerNorm(cfg, d, rngs=rngs)
    self.head_bias = nnx.Param(jnp.zeros((cfg.vocab_size,), param_dtype), out_sharding=('vocab',))

  def embed(self, input_ids, dropout_key=None):
    positions = position_ids(input_ids, self.cfg)
    x = (self.word_embeddings[...][input_ids] + self.position_embeddings[...][positions]
         + self.token_type_embeddings[...][0]).astype(self.compute_dtype)
    if norm_placement(self.cfg) == 'post':
      x = self.embedding_norm(x)
    return layers.dropout(x, self.cfg.hidden_dropout, dropout_key)

  def __call__(self, input_ids, attention_mask, *, dropout_key=None, also_layer=None):
    """Final hidden states [batch, length, hidden] in the compute dtype.

    dropout_key=None is deterministic (evaluation); a key turns dropout on. also_layer=i also
    returns the state after layer i (0: the embeddings; -1 or num_layers: the final states), as
    `all_hidden_states` numbers them: (final, that state).
    """
    num_layers = self.cfg.num_layers
    keep = None if also_layer is None or also_layer in (-1, num_layers) else also_layer
    keys = (None,) * (num_layers + 1) if dropout_key is None else tuple(
        jax.random.split(dropout_key, num_layers + 1))
    x = self.embed(input_ids, keys[0])
    kept = x
    if self.cfg.scan_layers and keep:
      x, outputs = self._scan_layers(x, attention_mask, dropout_key, keys[1:], collect=True)
      kept = outputs[keep - 1]
    elif self.cfg.scan_layers:
      x = self._scan_layers(x, attention_mask, dropout_key, keys[1:])
    else:
      for index, (layer, key) in enumerate(zip(self.layers, keys[1:]), start=1):
        x = self._apply_layer(layer, x, attention_mask, key)
        if index == keep:
          kept = x
    final = self.embedding_norm(x) if norm_placement(self.cfg) == 'pre' else x
    if also_layer is None:
      return final
    return final, (final if keep is None else kept)

  def all_hidden_states(self, input_ids, attention_mask) -> list[jax.Array]:
    """num_layers + 1 states [batch, length, hidden], deterministic: the embedding output,
    then each layer's output; the last is `__call__`'s (final LayerNorm included if pre-LN).

    As transformers' `output_hidden_states`, pre-LN's XLMRobertaXL included.
    """
    states = [self.embed(input_ids)]
    if self.cfg.scan_layers:
      _, stacked = self._scan_layers(states[0], attention_mask, None, (), collect=True)
      states += [stacked[i] for i in range(self.cfg.num_layers)]
    else:
      for layer in self.layers:
        states.append(self._apply_layer(layer, states[-1], attention_mask, None))
    if norm_placement(self.cfg) == 'pre':
      states[-1] = self.embedding_norm(states[-1])
    return states

  def _apply_layer(self, layer, x, attention_mask, key):
    if self.cfg.remat == 'none':
      return layer(x, attention_mask, key)
    graphdef, state = nnx.split(layer)
    run = lambda s, h: nnx.merge(graphdef, s)(h, attention_mask, key)
    return jax.checkpoint(run, policy=_REMAT_POLICIES[self.cfg.remat])(state, x)

  def _scan_layers(self, x, attention_mask, dropout_key, keys, collect=False):
    # The layers stay separate parameters (exports and checkpoints do not change); they are
    # stacked here so XLA compiles one layer body instead of num_layers copies. collect=True
    # also returns every layer's output, stacked [num_layers, ...].
    graphdef, _ = nnx.split(self.layers[0])
    stacked = jax.tree.map(lambda *xs: jnp.stack(xs),
                           *[nnx.state(layer) for layer in self.layers])
    layer_keys = None if dropout_key is None else jnp.stack(keys)

    def body(h, scanned):
      state, key = scanned
      run = lambda s, h: nnx.merge(graphdef, s)(h, attention_mask, key)
      if self.cfg.remat != 'none':
        run = jax.checkpoint(run, policy=_REMAT_POLICIES[self.cfg.remat])
      h = run(state, h)
      return h, (h if collect else None)

    x, outputs = jax.lax.scan(body, x, (stacked, layer_keys))
    return (x, outputs) if collect else x

  def mlm_logits(self, hidden):
    """Vocabulary logits (float32) for hidden states of any leading shape.

    Call it on the gathered masked positions only: the vocabulary projection dominates
    the FLOPs when applied to every token.
    """
    h = self.head_norm(layers.gelu(self.head_dense(hidden)))
    logits = precision.matmul(h, self.word_embeddings[...], precision.matmul_dtype(self.cfg),
                              layout='oi')
    return logits + self.head_bias[...]
