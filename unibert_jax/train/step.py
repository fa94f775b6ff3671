"""The fused UniBERT train step: MLM + language adversary + mean matching + distillation.

One `jax.jit` with explicit in/out shardings and a donated state, built from shapes alone so
it can be lowered and compiled before any data or parameters exist. The state is the pure
`nnx.State` of (model, encoder optimizer, adversary state: D's optimizer and the running
language means); the step is a pure function (state, batch) -> (state, metrics). Within it the
encoder updates against a frozen discriminator, then the discriminator takes
`adversary.steps_per_update` updates on the batch's detached features. Non-finite losses never
reach the parameters: such an update is dropped on device and flagged in the metrics, and the
training loop decides whether to stop or go on.
"""

import dataclasses
import functools
from typing import Any, Callable

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections
import optax
from jax.sharding import NamedSharding, PartitionSpec as P

from unibert_jax import sharding
from unibert_jax import special_tokens
from unibert_jax.data import batch as batch_lib
from unibert_jax.model import adversary
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.model import unibert
from unibert_jax.train import discriminator
from unibert_jax.train import losses
from unibert_jax.train import mean_matching
from unibert_jax.train import vocab_parallel

# What the encoder's optimizer updates: everything but the discriminator, which has its own.
ENCODER_PARAMS = nnx.All(nnx.Param, nnx.PathContains('encoder'))


def uses_adversary(config: ml_collections.ConfigDict) -> bool:
  return config.loss.adv_weight > 0


def uses_mean_matching(config: ml_collections.ConfigDict) -> bool:
  return config.adversary.get('mean_matching_weight', 0.0) > 0


def make_discriminator_optimizer(train_cfg: ml_collections.ConfigDict,
                                 lr_multiplier: float) -> optax.GradientTransformation:
  """The encoder's AdamW recipe and schedule, at `lr_multiplier` times its learning rate."""
  scaled = ml_collections.ConfigDict(train_cfg.to_dict())
  scaled.learning_rate = train_cfg.learning_rate * lr_multiplier
  return make_optimizer(scaled)


def learning_rate_schedule(train_cfg: ml_collections.ConfigDict) -> optax.Schedule:
  """Linear warm-up to the peak, then linear decay to `final_lr_fraction` of it at the last step.

  Short budgets should not decay to zero: the last steps would barely move the model.
  """
  warmup = max(int(train_cfg.warmup_steps), 1)
  decay = max(int(train_cfg.steps) - warmup, 1)
  final = train_cfg.learning_rate * train_cfg.get('final_lr_fraction', 0.0)
  return optax.join_schedules(
      [optax.linear_schedule(0.0, train_cfg.learning_rate, warmup),
       optax.linear_schedule(train_cfg.learning_rate, final, decay)], [warmup])


def make_optimizer(train_cfg: ml_collections.ConfigDict) -> optax.GradientTransformation:
  # No weight decay on biases and LayerNorm parameters: exactly the 1-D ones.
  decay_mask = lambda params: jax.tree.map(lambda p: p.ndim > 1, params)
  return optax.chain(
      optax.clip_by_global_norm(train_cfg.grad_clip_norm),
      optax.adamw(learning_rate_schedule(train_cfg), b1=train_cfg.b1, b2=train_cfg.b2,
                  eps=train_cfg.eps, weight_decay=train_cfg.weight_decay, mask=decay_mask))


def _slot_statistics(logits, batch, config, mesh) -> vocab_parallel.SlotStatistics:
  """Per-slot vocabulary statistics; on the vocabulary shards when 'tensor' splits them."""
  teacher_indices = batch.get('teacher_topk_indices')
  if vocab_parallel.uses_vocab_parallel(mesh, config.mesh.rules):
    return vocab_parallel.slot_statistics(logits, batch['mlm_targets'], teacher_indices, mesh,
                                          temperature=config.kd.temperature)
  return vocab_parallel.dense_slot_statistics(logits, batch['mlm_targets'], teacher_indices,
                                              config.kd.temperature)


def loss_and_metrics(model: unibert.UniBert, means, batch: dict, grl_lambda, dropout_key,
                     config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh | None = None):
  """(total loss, (metrics, adversary inputs)) for one (micro-)batch.

  `means` is (running language means, seen) from the state. The discriminator is read, never
  trained, here. A batch with the teacher's top-k distils.
  """
  keys = (None, None) if dropout_key is None else tuple(jax.random.split(dropout_key))
  hidden, features, language, feature_weights = model.encode(
      batch['input_ids'], batch['attention_mask'], batch['language_id'], dropout_key=keys[0])
  # Gather before the vocabulary projection: only the masked slots pay for the head.
  logits = model.encoder.mlm_logits(encoder_lib.gather_positions(hidden, batch['mlm_positions']))
  statistics = _slot_statistics(logits, batch, config, mesh)
  weights = batch['mlm_weights']
  mlm, mlm_accuracy = losses.mlm_loss_from_statistics(statistics, weights)
  kinds = losses.slot_kinds(batch['input_ids'], batch['mlm_positions'], batch['mlm_targets'],
                            special_tokens.mask_id(config.model.vocab_size))
  mask_weights = weights * (kinds == losses.MASK_SLOT)
  _, mask_accuracy = losses.mlm_loss_from_statistics(statistics, mask_weights)
  total = config.loss.mlm_weight * mlm
  zero = jnp.zeros((), jnp.float32)
  adv, disc_accuracy, disc_entropy, objective, kd, matching = (zero,) * 6
  if uses_adversary(config):
    language_logits = model.discriminator(features)
    adv, disc_accuracy, disc_entropy = adversary.discriminator_loss(language_logits, language,
                                                                    feature_weights)
    objective = adversary.encoder_objective(language_logits, language, feature_weights,
                                            config.adversary.get('objective', 'grl'), keys[1])
    total = total + config.loss.adv_weight * grl_lambda * objective
  sums, counts = mean_matching.language_sums(features, language, feature_weights,
                                             means[0].shape[0])
  if uses_mean_matching(config):
    matching = mean_matching.penalty(*means, sums, counts, config.adversary.mean_momentum)
    total = total + config.adversary.mean_matching_weight * matching
  if 'teacher_topk_values' in batch:
    kd = losses.distillation_loss_from_statistics(
        statistics, batch['teacher_topk_values'], weights, temperature=config.kd.temperature,
        normalization=config.kd.normalization)
    total = total + config.loss.kd_weight * kd
  metrics = dict(loss=total, mlm_loss=mlm, adv_loss=adv, kd_loss=kd, mlm_accuracy=mlm_accuracy,
                 mask_accuracy=mask_accuracy, disc_accuracy=disc_accuracy,
                 disc_entropy=disc_entropy, adv_objective=objective,
                 mean_matching_loss=matching)
  inputs = dict(features=jax.lax.stop_gradient(features), language=language,
                weights=feature_weights, sums=jax.lax.stop_gradient(sums), counts=counts)
  return total, (metrics, inputs)


def _split_micro_batches(batch: dict, steps: int, mesh) -> dict:
  micro_sharding = NamedSharding(mesh, P(None, sharding.BATCH_AXES))

  def split(x):
    micro = x.reshape(steps, x.shape[0] // steps, *x.shape[1:])
    return jax.lax.with_sharding_constraint(micro, micro_sharding)
  return jax.tree.map(split, batch)


def _gradients(model, means, batch, grl_lambda, dropout_key, config, mesh):
  """Mean loss metrics, the encoder's gradients and the adversary's inputs, accumulated over
  config.train.grad_accum_steps (features of every micro-batch, language sums added)."""
  graphdef, params, rest = nnx.split(model, ENCODER_PARAMS, ...)

  def loss_of(params, micro_batch, key):
    return loss_and_metrics(nnx.merge(graphdef, params, rest), means, micro_batch, grl_lambda,
                            key, config, mesh)

  grad_fn = jax.value_and_grad(loss_of, has_aux=True)
  steps = config.train.grad_accum_steps
  if steps == 1:
    (_, (metrics, inputs)), grads = grad_fn(params, batch, dropout_key)
    return metrics, grads, inputs

  def accumulate(carry, scanned):
    micro_batch, index = scanned
    (_, (metrics, inputs)), grads = grad_fn(params, micro_batch,
                                            jax.random.fold_in(dropout_key, index))
    sums = (inputs.pop('sums'), inputs.pop('counts'))
    return jax.tree.map(jnp.add, carry, (metrics, grads, sums)), inputs

  (_, (metrics, inputs)), grads = jax.eval_shape(grad_fn, params, batch, dropout_key)
  zeros = jax.tree.map(jnp.zeros_like, (metrics, grads, (inputs['sums'], inputs['counts'])))
  (metrics, grads, (sums, counts)), stacked = jax.lax.scan(
      accumulate, zeros, (_split_micro_batches(batch, steps, mesh), jnp.arange(steps)))
  metrics, grads = jax.tree.map(lambda x: x / steps, (metrics, grads))
  inputs = jax.tree.map(lambda x: x.reshape(-1, *x.shape[2:]), stacked)
  return metrics, grads, dict(inputs, sums=sums, counts=counts)


def train_step(graphdef, config: ml_collections.ConfigDict, num_languages: int, mesh, state,
               batch):
  """(state, batch) -> (state, metrics); pure, jitted by build_train_program."""
  # Leaves taken before merge: the optimizer update below mutates the merged Variables.
  previous_leaves, treedef = jax.tree.flatten(state)
  model, optimizer, adversary_state = nnx.merge(graphdef, state)
  step = optimizer.step[...]
  adv = config.adversary
  grl_lambda = adversary.lambda_schedule(step, schedule=adv.schedule,
                                         total_steps=config.train.steps,
                                         lambda_max=adv.lambda_max, gamma=adv.gamma,
                                         delay_steps=adv.delay_steps)
  dropout_key = jax.random.fold_in(jax.random.key(config.seed), step)
  means = (adversary_state.means[...], adversary_state.seen[...])
  metrics, grads, inputs = _gradients(model, means, batch, grl_lambda, dropout_key, config, mesh)
  grad_norm = optax.tree.norm(grads)
  optimizer.update(model, grads)
  if uses_adversary(config):
    # Own keys: D's dropout must not repeat the encoder's.
    keys = jax.random.split(jax.random.fold_in(dropout_key, 1), adv.get('steps_per_update', 1))
    discriminator.update(model.discriminator, adversary_state.optimizer, inputs['features'],
                         inputs['language'], inputs['weights'], keys)
  # Tracked with the penalty off too: their spread is a health figure of every run.
  new_means, new_seen = mean_matching.running_means(*means, inputs['sums'], inputs['counts'],
                                                    adv.get('mean_momentum', 0.9))
  adversary_state.means[...] = new_means
  adversary_state.seen[...] = new_seen
  params_finite = jnp.all(jnp.stack(
      [jnp.isfinite(p).all() for p in jax.tree.leaves(nnx.state(model, nnx.Param))]))
  finite = jnp.isfinite(metrics['loss']) & jnp.isfinite(grad_norm) & params_finite
  # A non-finite update is dropped on device, so no NaN or Inf ever reaches the parameters.
  new_leaves = jax.tree.leaves(nnx.state((model, optimizer, adversary_state)))
  new_state = jax.tree.unflatten(treedef, [jnp.where(finite, new, old) for new, old in
                                           zip(new_leaves, previous_leaves)])
  metrics.update(
      grad_norm=grad_norm, finite=finite.astype(jnp.float32),
      params_finite=params_finite.astype(jnp.float32),
      learning_rate=learning_rate_schedule(config.train)(step), grl_lambda=grl_lambda,
      disc_chance=jnp.float32(1.0 / num_languages),
      language_mean_spread=mean_matching.spread(adversary_state.means[...],
                                                adversary_state.seen[...]))
  return new_state, metrics


def eval_step(graphdef, num_languages: int, mask_id: int, state, batch):
  """Held-out sums per language and slot kind ([num_languages, 3]), reduced on device, and the
  rows' pooled placed states for the held-out probe (`probe_*`, gathered on every process).

  Summing on device keeps the result independent of how rows are spread over processes.
  Rows with is_real = 0 (padding of the last batch) count nowhere.
  """
  model, _, _ = nnx.merge(graphdef, state)
  hidden, placed = model.encoder(batch['input_ids'], batch['attention_mask'],
                                 also_layer=model.layer)
  logits = model.encoder.mlm_logits(encoder_lib.gather_positions(hidden, batch['mlm_positions']))
  real = batch['is_real'].astype(jnp.float32)
  kinds = jax.nn.one_hot(losses.slot_kinds(batch['input_ids'], batch['mlm_positions'],
                                           batch['mlm_targets'], mask_id),
                         len(losses.SLOT_KINDS))
  weights = (batch['mlm_weights'] * real[:, None])[..., None] * kinds   # [B, P, kinds]
  nll, correct = losses.mlm_slot_values(
      vocab_parallel.dense_slot_statistics(logits, batch['mlm_targets']))
  features, language, feature_weights = adversary.placed_features(
      placed, batch['attention_mask'], batch['language_id'], model.pooling)
  feature_weights = feature_weights * jnp.repeat(real, features.shape[0] // real.shape[0])
  disc_correct = (jnp.argmax(model.discriminator(features), -1) == language) * feature_weights
  per_language = functools.partial(jax.ops.segment_sum, num_segments=num_languages)
  return dict(
      slot_correct=per_language((correct[..., None] * weights).sum(1), batch['language_id']),
      slot_count=per_language(weights.sum(1), batch['language_id']),
      slot_nll=per_language((nll[..., None] * weights).sum(1), batch['language_id']),
      disc_correct=per_language(disc_correct, language),
      disc_rows=per_language(feature_weights, language),
      probe_features=adversary.pool(placed, batch['attention_mask'],
                                    'first' if model.pooling == 'first' else 'mean'),
      probe_language=batch['language_id'], probe_real=real)


@dataclasses.dataclass(frozen=True)
class TrainProgram:
  """Everything compiled for one config on one mesh.

  num_languages sizes the discriminator (the prepared data's languages); distill says whether
  the batches carry the teacher's top-k (and the loss its distillation term).
  """
  config: ml_collections.ConfigDict
  num_languages: int
  distill: bool
  mesh: jax.sharding.Mesh
  graphdef: Any
  abstract_state: Any          # nnx.State of ShapeDtypeStructs with shardings
  state_shardings: Any
  batch_sharding: NamedSharding  # every batch array: leading axis over data x fsdp
  init: Callable[[], Any]      # jitted: () -> state, created directly sharded
  step: Callable[[Any, dict], tuple[Any, dict]]
  evaluate: Callable[[Any, dict], dict]

  def batch_spec(self, kind: str = batch_lib.TRAIN) -> dict[str, batch_lib.Field]:
    top_k = self.config.kd.top_k if self.distill and kind == batch_lib.TRAIN else 0
    return batch_lib.config_spec(self.config.data, kind, top_k=top_k)

  def abstract_batch(self) -> dict:
    return {name: jax.ShapeDtypeStruct(field.shape, field.dtype, sharding=self.batch_sharding)
            for name, field in self.batch_spec().items()}

  def compile_step(self):
    """Lowers and compiles the train step from shapes alone (no parameters allocated)."""
    return self.step.lower(self.abstract_state, self.abstract_batch()).compile()

  def put_batch(self, batch: dict, kind: str = batch_lib.TRAIN) -> dict:
    """Places a host batch: the global batch on one process, this process's rows on several."""
    keys = self.batch_spec(kind)
    if jax.process_count() == 1:
      return {k: jax.device_put(batch[k], self.batch_sharding) for k in keys}
    return {k: jax.make_array_from_process_local_data(self.batch_sharding, batch[k]) for k in keys}


def build_train_program(config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh, *,
                        num_languages: int, distill: bool = False) -> TrainProgram:
  tx = make_optimizer(config.train)
  disc_tx = make_discriminator_optimizer(config.train, config.adversary.get('lr_multiplier', 1.0))

  def parts(model):
    return (model, nnx.Optimizer(model, tx, wrt=ENCODER_PARAMS),
            discriminator.AdversaryState(model.discriminator, disc_tx, num_languages,
                                         config.model.hidden_size))

  def init():
    return nnx.state(parts(unibert.UniBert(config, num_languages, rngs=nnx.Rngs(config.seed))))

  with nnx.use_eager_sharding(False):
    abstract_model = nnx.eval_shape(
        lambda: unibert.UniBert(config, num_languages, rngs=nnx.Rngs(0)))
    graphdef, _ = nnx.split(parts(abstract_model))
    shapes = jax.eval_shape(init)
  state_sh = sharding.state_shardings(shapes, mesh, config.mesh.rules)
  abstract_state = jax.tree.map(
      lambda s, sh: jax.ShapeDtypeStruct(s.shape, s.dtype, sharding=sh), shapes, state_sh)
  batch_sh = sharding.batch_sharding(mesh)
  replicated = sharding.replicated(mesh)

  def init_sharded():
    with nnx.use_eager_sharding(False):
      return init()

  return TrainProgram(
      config=config, num_languages=num_languages, distill=distill, mesh=mesh,
      graphdef=graphdef, abstract_state=abstract_state,
      state_shardings=state_sh, batch_sharding=batch_sh,
      init=jax.jit(init_sharded, out_shardings=state_sh),
      step=jax.jit(functools.partial(train_step, graphdef, config, num_languages, mesh),
                   in_shardings=(state_sh, batch_sh), out_shardings=(state_sh, replicated),
                   donate_argnums=0),
      evaluate=jax.jit(functools.partial(eval_step, graphdef, num_languages,
                                         special_tokens.mask_id(config.model.vocab_size)),
                       in_shardings=(state_sh, batch_sh), out_shardings=replicated))
