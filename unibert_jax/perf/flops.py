"""Analytic model FLOPs of a train step and of a teacher forward pass.

Convention (MaxText / PaLM appendix B "model FLOPs"; state it next to any MFU):

* Only matrix multiplications count, 2 FLOPs per multiply-add. Elementwise work
  (GELU, softmax, LayerNorm, losses, the optimizer update) and embedding
  gathers/scatters count 0. Rematerialised recomputation counts 0 (model FLOPs,
  not hardware FLOPs).
* A train step costs 3x the forward matmuls: forward, gradient w.r.t. the
  activations, gradient w.r.t. the weights. A forward pass (teacher cache)
  costs 1x.
* Encoder body, per token and layer: QKV (3 d^2), attention output (d^2) and FFN
  (2 d f) weights, i.e. 6 * N_body per token for training.
* Attention scores QK^T and the weighted sum AV: 2 * 2 * s * d per token and
  layer forward, 12 * L * s * d for training. The encoder is bidirectional, so
  this is NOT halved as it is for causal decoders. Padding tokens count: shapes
  are static and the hardware does the work.
* MLM head (dense d x d transform + tied decoder d x V) only at the gathered
  prediction slots, `data.max_predictions` per sequence, all slots (unused
  slots are computed and weighted 0).
* Language discriminator: its MLP on one pooled vector per sequence, when the
  adversarial loss weight is > 0 (otherwise the train step need not build it).
* Distillation adds no matmul: the student logits at the prediction slots
  already exist for MLM; the sparse KL over the teacher's top-k is elementwise.

Tokens per step are `data.batch_size * data.max_len` (global, padding included).
"""

import dataclasses

FWD_PASSES = 1
TRAIN_PASSES = 3  # forward + two backward matmuls per forward matmul


@dataclasses.dataclass(frozen=True)
class StepFlops:
  """FLOPs of one step: total, per (sequence-position) token, and by part."""
  total: float
  per_token: float
  tokens: int
  breakdown: dict[str, float]


def tokens_per_step(config) -> int:
  """Global tokens of one train step (padding included, static shapes)."""
  return int(config.data.batch_size) * int(config.data.max_len)


def encoder_body_matmul_params(model) -> int:
  """Weights of the encoder layers that take part in per-token matmuls."""
  d, f = int(model.hidden_size), int(model.intermediate_size)
  return int(model.num_layers) * (4 * d * d + 2 * d * f)


def discriminator_layer_dims(adversary, hidden_size: int,
                             num_languages: int) -> list[tuple[int, int]]:
  """(in, out) of each dense layer of the language discriminator MLP.

  `adversary.num_layers` hidden layers of `adversary.hidden_size`, then the
  projection to `num_languages` logits.
  """
  widths = [int(hidden_size)] + [int(adversary.hidden_size)] * int(
      adversary.num_layers) + [int(num_languages)]
  return list(zip(widths[:-1], widths[1:]))


def _encoder_flops(model, num_sequences: int, seq_len: int,
                   predictions_per_sequence: int, passes: int) -> dict[str, float]:
  d, vocab = int(model.hidden_size), int(model.vocab_size)
  tokens = num_sequences * seq_len
  slots = num_sequences * predictions_per_sequence
  return {
      'encoder_matmuls': 2.0 * passes * encoder_body_matmul_params(model) * tokens,
      'attention': 2.0 * passes * 2 * int(model.num_layers) * seq_len * d * tokens,
      'mlm_head': 2.0 * passes * (d * d + d * vocab) * slots,
      'embeddings': 0.0,
  }


def _finish(breakdown: dict[str, float], tokens: int) -> StepFlops:
  total = float(sum(breakdown.values()))
  return StepFlops(total=total, per_token=total / tokens, tokens=tokens,
                   breakdown=breakdown)


def train_step_flops(config, num_languages: int) -> StepFlops:
  """Model FLOPs of one train step on the global batch of `config`."""
  batch, seq = int(config.data.batch_size), int(config.data.max_len)
  breakdown = _encoder_flops(config.model, batch, seq,
                             int(config.data.max_predictions), TRAIN_PASSES)
  adv_flops = 0.0
  if float(config.loss.adv_weight) > 0:
    dims = discriminator_layer_dims(config.adversary, config.model.hidden_size, num_languages)
    rows = batch * seq if config.adversary.get('pooling') == 'token' else batch
    # The encoder reads a frozen D (forward, backward to its input: 2 passes), then D takes
    # steps_per_update updates of its own (3 passes each).
    passes = 2 + TRAIN_PASSES * int(config.adversary.get('steps_per_update', 1))
    adv_flops = 2.0 * passes * rows * sum(i * o for i, o in dims)
  breakdown['discriminator'] = adv_flops
  breakdown['distillation'] = 0.0
  return _finish(breakdown, batch * seq)


def forward_flops(model, num_sequences: int, seq_len: int,
                  predictions_per_sequence: int | None = None) -> StepFlops:
  """Model FLOPs of one forward pass (e.g. the teacher filling the KD cache).

  `predictions_per_sequence` is the number of gathered positions the MLM head
  runs on; None means every position (full-sequence logits).
  """
  if predictions_per_sequence is None:
    predictions_per_sequence = seq_len
  breakdown = _encoder_flops(model, num_sequences, seq_len,
                             predictions_per_sequence, FWD_PASSES)
  return _finish(breakdown, num_sequences * seq_len)
