"""The fine-tuning step: AdamW with warm-up and linear decay, one loss per task kind, jitted on
the pre-training mesh code with the batch split over the data axes (data parallel).

The model is split into its trainable parameters (everything but the encoder's MLM head; see
heads.is_trainable) and the rest, which rides along unchanged. Parameters and optimizer state
are replicated; gradients are averaged over the data shards by GSPMD.
"""

import dataclasses
import functools

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import optax

from unibert_jax import sharding
from unibert_jax.finetune import heads
from unibert_jax.finetune import inputs
from unibert_jax.tasks import examples as examples_lib
from unibert_jax.train import step as train_step


@dataclasses.dataclass(frozen=True)
class Hyper:
  """Fine-tuning hyper-parameters; `for_kind` gives XTREME's (google-research/xtreme scripts)."""
  learning_rate: float = 2e-5
  epochs: int = 5
  batch_size: int = 32
  max_length: int = 128
  warmup_fraction: float = 0.1
  weight_decay: float = 0.0
  grad_clip_norm: float = 1.0
  dropout: float | None = None     # None: the encoder's own hidden dropout

  @classmethod
  def for_kind(cls, kind: str, **overrides) -> 'Hyper':
    """XTREME's defaults: lr 2e-5, 5 epochs (10 for NER), batch 32, length 128; QA: lr 3e-5,
    3 epochs, length 384, weight decay 1e-4."""
    defaults = {examples_lib.TOKEN_CLASSIFICATION: dict(epochs=10),
                examples_lib.EXTRACTIVE_QA: dict(learning_rate=3e-5, epochs=3, max_length=384,
                                                 weight_decay=1e-4)}.get(kind, {})
    return cls(**(defaults | {k: v for k, v in overrides.items() if v is not None}))


def make_optimizer(hyper: Hyper, total_steps: int) -> optax.GradientTransformation:
  """Pre-training's optimizer (train/step.py: clipping, AdamW without decay on 1-D parameters,
  linear warm-up then decay) with the fine-tuning settings, decaying to 0 as transformers does."""
  return train_step.make_optimizer(ml_collections.ConfigDict(dict(
      learning_rate=hyper.learning_rate, steps=total_steps,
      warmup_steps=max(1, int(round(hyper.warmup_fraction * total_steps))),
      final_lr_fraction=0.0, grad_clip_norm=hyper.grad_clip_norm, b1=0.9, b2=0.999, eps=1e-8,
      weight_decay=hyper.weight_decay)))


def _weighted_mean(values, weights):
  return jnp.sum(values * weights) / jnp.maximum(jnp.sum(weights), 1.0)


def _cross_entropy(logits, labels):
  """Per-position cross-entropy; labels IGNORED give 0."""
  safe = jnp.where(labels == inputs.IGNORED, 0, labels)
  losses = optax.softmax_cross_entropy_with_integer_labels(logits, safe)
  return jnp.where(labels == inputs.IGNORED, 0.0, losses)


def loss_of(kind: str, logits, batch) -> jax.Array:
  """The task loss, a mean over real rows (tokens for tagging, as transformers' heads do)."""
  targets, weights = batch['targets'], batch['weights']
  if kind == examples_lib.CLASSIFICATION:
    return _weighted_mean(_cross_entropy(logits, targets), weights)
  if kind == examples_lib.REGRESSION:
    return _weighted_mean(jnp.square(logits[:, 0] - targets), weights)
  if kind == examples_lib.TOKEN_CLASSIFICATION:
    counted = (targets != inputs.IGNORED) * weights[:, None]
    return _weighted_mean(_cross_entropy(logits, targets), counted)
  if kind == examples_lib.EXTRACTIVE_QA:
    start = _cross_entropy(logits[..., 0], targets[:, 0])
    end = _cross_entropy(logits[..., 1], targets[:, 1])
    return _weighted_mean((start + end) / 2, weights)
  raise ValueError(f'kind={kind!r} is not one of {examples_lib.KINDS}.')


def _train_step(graphdef, kind, optimizer, rest, state, batch, dropout_key):
  def loss_fn(params):
    model = nnx.merge(graphdef, params, rest)
    logits = model(batch['input_ids'], batch['attention_mask'], dropout_key=dropout_key)
    return loss_of(kind, logits, batch)

  loss, grads = jax.value_and_grad(loss_fn)(state['params'])
  updates, opt_state = optimizer.update(grads, state['opt_state'], state['params'])
  params = optax.apply_updates(state['params'], updates)
  return ({'params': params, 'opt_state': opt_state, 'step': state['step'] + 1},
          {'loss': loss, 'grad_norm': optax.tree.norm(grads)})


def _logits(graphdef, rest, params, batch):
  return nnx.merge(graphdef, params, rest)(batch['input_ids'], batch['attention_mask'])


class Program:
  """A head's jitted train and predict functions on `mesh`, and its state.

  state: {'params': trainable parameters (nnx.State), 'opt_state', 'step'}; `rest` holds the
  parameters that are not trained.
  """

  def __init__(self, model: nnx.Module, kind: str, hyper: Hyper, total_steps: int,
               mesh: jax.sharding.Mesh, pad_id: int, seed: int = 0):
    self.kind, self.hyper, self.mesh, self.pad_id = kind, hyper, mesh, pad_id
    self.graphdef, params, rest = nnx.split(model, heads.is_trainable, ...)
    self.optimizer = make_optimizer(hyper, total_steps)
    replicated = sharding.replicated(mesh)
    self._batch_sharding = sharding.batch_sharding(mesh)
    self.rest = jax.device_put(rest, replicated)
    # Copies: the step donates its state, and the source encoder's arrays must outlive this
    # program (the next seed starts from them).
    params = jax.device_put(jax.tree.map(jnp.copy, params), replicated)
    self.state = {'params': params,
                  'opt_state': jax.jit(self.optimizer.init, out_shardings=replicated)(params),
                  'step': jax.device_put(jnp.zeros((), jnp.int32), replicated)}
    self._dropout_key = jax.random.key(seed)
    self._steps_taken = 0   # on the host: reading state['step'] would wait for every step
    self._train = jax.jit(functools.partial(_train_step, self.graphdef, kind, self.optimizer),
                          out_shardings=(replicated, replicated), donate_argnums=(1,))
    self._predict = jax.jit(functools.partial(_logits, self.graphdef),
                            out_shardings=self._batch_sharding)

  @property
  def devices(self) -> int:
    return self.mesh.devices.size

  def _on_mesh(self, batch: dict) -> dict:
    return {name: jax.device_put(value, self._batch_sharding) for name, value in batch.items()
            if name != 'index'}

  def train_step(self, batch: dict) -> dict:
    """One optimizer step; returns its metrics (device arrays: read them late)."""
    key = jax.random.fold_in(self._dropout_key, self._steps_taken)
    self.state, metrics = self._train(self.rest, self.state, self._on_mesh(batch), key)
    self._steps_taken += 1
    return metrics

  def predict(self, encoded: inputs.Encoded, params=None) -> list[np.ndarray]:
    """Logits per row of `encoded`, unpadded: [classes], [length, tags] or [length, 2]."""
    params = self.state['params'] if params is None else params
    rows: list[np.ndarray | None] = [None] * len(encoded)
    for batch in inputs.batches(encoded, self.hyper.max_length, self.pad_id, self.devices):
      logits = np.asarray(jax.device_get(self._predict(self.rest, params, self._on_mesh(batch))))
      for row, index in enumerate(batch['index']):
        if index >= 0:
          rows[index] = (logits[row] if logits.ndim == 2
                         else logits[row, :len(encoded.ids[index])])
    return rows

  def model(self, params=None) -> nnx.Module:
    """The head model holding `params` (default: the current ones), on the host."""
    params = self.state['params'] if params is None else params
    return nnx.merge(self.graphdef, jax.device_get(params), jax.device_get(self.rest))
