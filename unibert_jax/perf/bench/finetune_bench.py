"""Throughput of our fine-tuning step against a transformers PyTorch fine-tuning step.

Ours: a task head (finetune/heads.py) on an Encoder, trained by finetune/step.py's Program
(AdamW, gradient clipping, warm-up and linear decay) on a (1, 1, 1) mesh. The peer: what a
user of transformers writes for the same job, `XLMRobertaForSequenceClassification` (or
`...ForTokenClassification`; the `XLMRobertaXL...` classes when our encoder is pre-LN) with
the same layers, width, heads, FFN, vocabulary and positions, float32, eager PyTorch in train
mode with the same dropout, and per step `loss.backward()`, `clip_grad_norm_`,
`torch.optim.AdamW.step()` and a linear warm-up schedule's step.

Both sides train on one fixed batch of random token ids at full length (`<s> ... </s>`, no
padding), so they do identical work. As in benchmark.py, everything is measured in one process
and interleaved round by round (the CPUs here are shared); the result is the ratio ours / peer
of tokens per second, taken within each round (median over rounds). Absolute tokens/s are
context only.

Shapes: benchmark.py's 'demo' and 'mid' (the same encoders as the pre-training rows), or any
name of model/shapes.py (vocabulary 32000, the base config's).
"""

import os
import statistics
import time
from typing import Any, Callable

import flax.nnx as nnx
import jax
import ml_collections
import numpy as np

from unibert_jax import sharding
from unibert_jax import special_tokens
from unibert_jax.export import hf_format
from unibert_jax.finetune import heads
from unibert_jax.finetune import step as step_lib
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.model import shapes
from unibert_jax.perf.bench import benchmark
from unibert_jax.tasks import examples

KINDS = (examples.CLASSIFICATION, examples.TOKEN_CLASSIFICATION)
# XNLI's three classes; PAN-X's seven BIO tags (B-/I- of PER, ORG, LOC, and O).
NUM_LABELS = {examples.CLASSIFICATION: 3, examples.TOKEN_CLASSIFICATION: 7}
# The transformers class of each head, after the architecture's prefix (XLMRoberta / ...XL).
PEER_HEADS = {examples.CLASSIFICATION: 'ForSequenceClassification',
              examples.TOKEN_CLASSIFICATION: 'ForTokenClassification'}
SHAPES_VOCAB_SIZE = 32000   # configs/base.py's, for the model/shapes.py names
# Long enough that the warm-up is short and the learning rate is not 0 while we time.
SCHEDULE_STEPS = 1000


def model_config(demo_config: ml_collections.ConfigDict, name: str,
                 dropout: float = 0.1) -> ml_collections.ConfigDict:
  """The encoder config of shape `name`, float32, with hidden and attention dropout `dropout`.

  benchmark.py's shapes come from its shape_config (the pre-training rows' encoders); a
  model/shapes.py name is that shape on the demo benchmark's config with a 32000 vocabulary.
  """
  if name in benchmark.SHAPES:
    model = benchmark.shape_config(demo_config, name).model
  elif name in shapes.SHAPES:
    config = benchmark.shape_config(demo_config, 'demo')
    config.model.update(shapes.get(name)._asdict())
    config.data.vocab_size = SHAPES_VOCAB_SIZE
    model = config.model
  else:
    raise ValueError(f'Unknown fine-tuning benchmark shape {name!r}; choose one of '
                     f'{", ".join(benchmark.SHAPES + tuple(sorted(shapes.SHAPES)))}.')
  # A plain copy: the demo config's field references (vocabulary, positions) resolved.
  model = ml_collections.ConfigDict(model.to_dict())
  model.hidden_dropout = model.attention_dropout = float(dropout)
  return model


def sequence_length(model_cfg: ml_collections.ConfigDict, max_length: int = 128) -> int:
  """`max_length`, or fewer when the position table holds fewer tokens."""
  available = int(model_cfg.max_position_embeddings) - encoder_lib.first_position(model_cfg)
  return min(int(max_length), available)


def random_batch(kind: str, vocab_size: int, batch_size: int, length: int, num_labels: int,
                 seed: int = 0) -> dict[str, np.ndarray]:
  """Full-length rows `<s> ... </s>` of random regular tokens and random labels.

  targets: a class per row, or a tag per token (every token labelled, as both losses then
  cover the same positions).
  """
  rng = np.random.default_rng(seed)
  ids = rng.integers(special_tokens.UNK_ID, special_tokens.mask_id(vocab_size),
                     (batch_size, length), dtype=np.int32)
  ids[:, 0], ids[:, -1] = special_tokens.BOS_ID, special_tokens.EOS_ID
  target_shape = (batch_size,) if kind == examples.CLASSIFICATION else (batch_size, length)
  return dict(input_ids=ids, attention_mask=np.ones_like(ids),
              targets=rng.integers(0, num_labels, target_shape, dtype=np.int32),
              weights=np.ones((batch_size,), np.float32))


class OursRunner:
  """Our head, its fine-tuning Program on a one-device mesh and a fixed device batch.

  Compiles on construction (the first step, timed as compile_seconds); `run` then times
  whole steps, each waited for with block_until_ready.
  """

  def __init__(self, model_cfg: ml_collections.ConfigDict, kind: str, batch: dict,
               hyper: step_lib.Hyper, num_labels: int, seed: int = 0):
    mesh = sharding.make_mesh((1, 1, 1), jax.devices()[:1])
    with nnx.use_eager_sharding(False):
      encoder = encoder_lib.Encoder(model_cfg, rngs=nnx.Rngs(seed))
    model = heads.build(kind, encoder, num_labels, seed)
    self.program = step_lib.Program(model, kind, hyper, SCHEDULE_STEPS, mesh,
                                    special_tokens.PAD_ID, seed)
    self.tokens = int(batch['input_ids'].size)
    # Placed once, as the peer's tensors are: the step's own transfer is then a no-op.
    self.batch = jax.device_put(batch, sharding.batch_sharding(mesh))
    self.parameters = sum(int(np.prod(x.shape))
                          for x in jax.tree.leaves(self.program.state['params']))
    self.step_seconds: list[float] = []
    self.losses: list[float] = []
    started = time.perf_counter()
    self.run(1, record=False)
    self.compile_seconds = time.perf_counter() - started

  def run(self, steps: int, record: bool = True) -> None:
    for _ in range(steps):
      started = time.perf_counter()
      metrics = self.program.train_step(self.batch)
      jax.block_until_ready((metrics, self.program.state))  # the update too, not only the loss
      elapsed = time.perf_counter() - started
      self.losses.append(float(metrics['loss']))
      if record:
        self.step_seconds.append(elapsed)

  def summary(self) -> dict[str, Any]:
    median = statistics.median(self.step_seconds)
    return dict(tokens_per_sec=self.tokens / median, step_seconds=median,
                compile_seconds=self.compile_seconds, parameters=self.parameters,
                losses=list(self.losses))


def peer_model(model_cfg: ml_collections.ConfigDict, kind: str, num_labels: int):
  """The transformers task model of our encoder's architecture (XL if pre-LN), float32."""
  import transformers  # pylint: disable=g-import-not-at-top  # torch is heavy, import on use
  config = dict(hf_format.hf_config(model_cfg))  # the export's config.json: same architecture
  masked_lm = config.pop('architectures')[0]
  hf_config = transformers.AutoConfig.for_model(config.pop('model_type'), **config,
                                                num_labels=num_labels)
  model_class = getattr(transformers, masked_lm.replace('ForMaskedLM', PEER_HEADS[kind]))
  return model_class(hf_config)


class PeerRunner:
  """The peer model, torch AdamW with a linear warm-up schedule and one fixed batch."""

  def __init__(self, model_cfg: ml_collections.ConfigDict, kind: str, batch: dict,
               hyper: step_lib.Hyper, num_labels: int, seed: int = 0,
               num_threads: int | None = None):
    import torch  # pylint: disable=g-import-not-at-top
    import transformers  # pylint: disable=g-import-not-at-top
    self.num_threads = num_threads or os.cpu_count() or 1  # all cores, as torch_baseline
    torch.set_num_threads(self.num_threads)
    torch.manual_seed(seed)
    self.hyper = hyper
    self.model = peer_model(model_cfg, kind, num_labels)
    self.model.train()
    self.optimizer = torch.optim.AdamW(self.model.parameters(), lr=hyper.learning_rate,
                                       betas=(0.9, 0.999), eps=1e-8,
                                       weight_decay=hyper.weight_decay)
    self.schedule = transformers.get_linear_schedule_with_warmup(
        self.optimizer, max(1, round(hyper.warmup_fraction * SCHEDULE_STEPS)), SCHEDULE_STEPS)
    self.inputs = dict(input_ids=torch.from_numpy(batch['input_ids'].astype(np.int64)),
                       attention_mask=torch.from_numpy(batch['attention_mask'].astype(np.int64)),
                       labels=torch.from_numpy(batch['targets'].astype(np.int64)))
    self.tokens = int(batch['input_ids'].size)
    self.parameters = sum(p.numel() for p in self.model.parameters() if p.requires_grad)
    self.step_seconds: list[float] = []
    self.losses: list[float] = []

  def run(self, steps: int, record: bool = True) -> None:
    import torch  # pylint: disable=g-import-not-at-top
    for _ in range(steps):
      started = time.perf_counter()
      self.optimizer.zero_grad(set_to_none=True)
      loss = self.model(**self.inputs).loss
      loss.backward()
      torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.hyper.grad_clip_norm)
      self.optimizer.step()
      self.schedule.step()
      loss_value = float(loss.detach())  # eager CPU torch is synchronous
      elapsed = time.perf_counter() - started
      self.losses.append(loss_value)
      if record:
        self.step_seconds.append(elapsed)

  def summary(self) -> dict[str, Any]:
    median = statistics.median(self.step_seconds)
    return dict(tokens_per_sec=self.tokens / median, step_seconds=median,
                parameters=self.parameters, losses=list(self.losses),
                num_threads=self.num_threads, model_class=type(self.model).__name__,
                attn_implementation=getattr(self.model.config, '_attn_implementation', None))


def benchmark_shape(name: str, model_cfg: ml_collections.ConfigDict, *,
                    kind: str = examples.CLASSIFICATION, batch_size: int = 32,
                    max_length: int = 128, rounds: int = 3, steps_per_round: int = 3,
                    warmup: int = 2, peer_steps: int = 2, peer_warmup: int = 1, seed: int = 0,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
  """Our fine-tuning step and the peer's on shape `name`, interleaved; the JSON-able row.

  ratio: ours / peer tokens per second, the median over rounds of the ratio within each.
  The tokens/s of each side are over the median of all its timed steps.
  """
  if kind not in KINDS:
    raise ValueError(f'kind={kind!r}: the fine-tuning benchmark runs one of {KINDS}.')
  length = sequence_length(model_cfg, max_length)
  hyper = step_lib.Hyper(batch_size=batch_size, max_length=length)
  num_labels = NUM_LABELS[kind]
  batch = random_batch(kind, int(model_cfg.vocab_size), batch_size, length, num_labels, seed)
  log(f'[{name} {kind}] compiling our fine-tuning step ({batch_size} x {length})')
  ours = OursRunner(model_cfg, kind, batch, hyper, num_labels, seed)
  ours.run(warmup, record=False)
  peer = PeerRunner(model_cfg, kind, batch, hyper, num_labels, seed)
  peer.run(peer_warmup, record=False)
  per_round = []
  for r in range(rounds):
    log(f'[{name} {kind}] round {r + 1}/{rounds}')
    ours.run(steps_per_round)
    peer.run(peer_steps)
    per_round.append(dict(ours=statistics.median(ours.step_seconds[-steps_per_round:]),
                          peer=statistics.median(peer.step_seconds[-peer_steps:])))
  ours_summary, peer_summary = ours.summary(), peer.summary()
  return dict(
      section='finetune', shape=name, kind=kind, num_labels=num_labels,
      norm_placement=encoder_lib.norm_placement(model_cfg),
      num_layers=int(model_cfg.num_layers), hidden_size=int(model_cfg.hidden_size),
      vocab_size=int(model_cfg.vocab_size), dropout=float(model_cfg.hidden_dropout),
      dtype=str(model_cfg.dtype), batch_size=batch_size, length=length,
      tokens_per_step=batch_size * length,
      ours_tokens_per_sec=ours_summary['tokens_per_sec'],
      peer_tokens_per_sec=peer_summary['tokens_per_sec'],
      ratio=statistics.median([r['peer'] / r['ours'] for r in per_round]),
      ours_step_seconds=ours_summary['step_seconds'],
      peer_step_seconds=peer_summary['step_seconds'],
      compile_seconds=ours_summary['compile_seconds'],
      ours_parameters=ours_summary['parameters'], peer_parameters=peer_summary['parameters'],
      ours_losses=ours_summary['losses'], peer_losses=peer_summary['losses'],
      peer_class=peer_summary['model_class'], peer_threads=peer_summary['num_threads'],
      peer_attn_implementation=peer_summary['attn_implementation'],
      rounds=per_round,
  )


def format_table(rows: list[dict[str, Any]]) -> str:
  header = ('shape', 'kind', 'batch x len', 'ours tok/s', 'peer tok/s', 'ratio')
  lines = ['  '.join(f'{h:>20}' for h in header)]
  for r in rows:
    lines.append('  '.join(f'{c:>20}' for c in (
        r['shape'], r['kind'], f"{r['batch_size']} x {r['length']}",
        f"{r['ours_tokens_per_sec']:.0f}", f"{r['peer_tokens_per_sec']:.0f}",
        f"{r['ratio']:.2f}")))
  return '\n'.join(lines)
