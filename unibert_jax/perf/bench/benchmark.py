"""Throughput of our fused train step, against the PyTorch peer and the device peak.

Everything one comparison needs is measured in ONE process, interleaved where
possible, because the CPUs here are shared and absolute numbers drift: the
matmul peak (before and after), our step with three objective mixes (MLM only;
MLM + adversary; MLM + adversary + distillation with random teacher top-k
arrays), and the Hugging Face peer (`torch_baseline.py`). Ratios within one run
are the result; absolute tokens/s are context.

Shapes (from a base config, configs/demo.py's in launch/benchmark.py):
  demo  the demo student (4 x 128, vocabulary 8000, batch 32 x 128).
  mid   6 layers, width 512, 8 heads, FFN 2048, vocabulary 32000, batch 16 x 128,
        20 prediction slots; otherwise the demo config (float32, no dropout).
The GPU preset is configs/base.py (12 x 768, bf16) at sequence 512, for one
accelerator node; it reports tokens/s, TFLOP/s per device and MFU.
"""

import copy
import statistics
import time
from typing import Any, Callable

import jax
import ml_collections

from unibert_jax import sharding
from unibert_jax.data import batch as batch_lib
from unibert_jax.data import input_pipeline
from unibert_jax.data import languages
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.model import precision
from unibert_jax.model import shapes
from unibert_jax.perf import flops
from unibert_jax.perf import mfu
from unibert_jax.perf.bench import torch_baseline
from unibert_jax.teacher import cache as teacher_cache
from unibert_jax.train import step as step_lib

MODES = ('mlm', 'mlm_adv', 'mlm_adv_kd')
SHAPES = ('demo', 'mid')


def shape_config(demo_config: ml_collections.ConfigDict, name: str,
                 matmul_dtype: str = '') -> ml_collections.ConfigDict:
  """The student config of a benchmark shape (see the module docstring), from the demo's.

  matmul_dtype: '' keeps the demo config's (float32); 'bfloat16' runs the matmuls on
  bfloat16 operands with float32 accumulation and activations.
  """
  if name not in SHAPES:
    raise ValueError(f'Unknown benchmark shape {name!r}; choose one of {SHAPES}.')
  config = copy.deepcopy(demo_config)
  config.model.matmul_dtype = matmul_dtype
  # The benchmark's own shape (its README table), whatever the demo trains on; the peer is a
  # post-LN XLMRobertaForMaskedLM, so ours is too.
  config.model.update(encoder_lib.XLM_R_START, num_heads=shapes.get('demo').num_heads)
  config.data.vocab_size, config.data.batch_size = 8000, 32
  config.data.max_len, config.data.max_predictions = 128, 20
  if name == 'mid':
    m = config.model
    m.num_layers, m.hidden_size, m.num_heads, m.intermediate_size = 6, 512, 8, 2048
    config.data.vocab_size = 32000
    config.data.batch_size, config.data.max_len, config.data.max_predictions = 16, 128, 20
  return config


def gpu_config(base_config: ml_collections.ConfigDict, seq: int = 512,
               batch_size: int | None = None,
               max_predictions: int | None = None) -> ml_collections.ConfigDict:
  """A configs/base.py config at sequence `seq`, bf16 (its default compute dtype)."""
  config = copy.deepcopy(base_config)
  config.data.max_len = seq
  config.data.max_predictions = (max(1, round(0.15 * seq)) if max_predictions is None
                                 else max_predictions)
  if batch_size is not None:
    config.data.batch_size = batch_size
  return config


def objective_config(config: ml_collections.ConfigDict, mode: str) -> ml_collections.ConfigDict:
  """A copy of `config` with the loss weights of `mode` (others 0).

  mlm_adv keeps the config's adversarial weight (0.1 if it was 0); mlm_adv_kd also
  weighs distillation (0.5 if it was 0), which the step runs on random top-k arrays.
  """
  if mode not in MODES:
    raise ValueError(f'Unknown benchmark mode {mode!r}; choose one of {MODES}.')
  config = copy.deepcopy(config)
  adv_weight = float(config.loss.adv_weight) or 0.1
  kd_weight = float(config.loss.kd_weight) or 0.5
  config.loss.adv_weight = adv_weight if mode != 'mlm' else 0.0
  config.loss.kd_weight = kd_weight if mode == 'mlm_adv_kd' else 0.0
  return config


def num_languages(config: ml_collections.ConfigDict) -> int:
  """The discriminator's size: the config's languages (no data is read here)."""
  return len(languages.resolve_languages(config.data.languages))


def build_program(config: ml_collections.ConfigDict, mesh=None) -> step_lib.TrainProgram:
  """The train program of `config`; distilling when loss.kd_weight > 0."""
  mesh = sharding.make_mesh(config.mesh.shape) if mesh is None else mesh
  return step_lib.build_train_program(config, mesh, num_languages=num_languages(config),
                                      distill=config.loss.kd_weight > 0)


def full_batch(program: step_lib.TrainProgram, seed: int = 0) -> dict:
  """A full-length random batch (every position real, every slot used) of the program."""
  return batch_lib.random_batch(program.batch_spec(), vocab_size=program.config.data.vocab_size,
                                num_languages=program.num_languages, seed=seed,
                                full_length=True)


class StepRunner:
  """One compiled train step, its state and a fixed device batch, ready to time."""

  def __init__(self, config: ml_collections.ConfigDict, mesh=None, seed: int = 0):
    self.config = config
    program = build_program(config, mesh)
    self.mesh = program.mesh
    started = time.perf_counter()
    self.compiled = program.compile_step()
    self.compile_seconds = time.perf_counter() - started
    self.state = program.init()
    self.batch = program.put_batch(full_batch(program, seed))
    self.step_seconds: list[float] = []
    self.losses: list[float] = []
    self.flops = flops.train_step_flops(config, program.num_languages)

  def run(self, steps: int, record: bool = True) -> None:
    for _ in range(steps):
      started = time.perf_counter()
      self.state, metrics = self.compiled(self.state, self.batch)
      jax.block_until_ready(metrics)
      elapsed = time.perf_counter() - started
      if record:
        self.step_seconds.append(elapsed)
        self.losses.append(float(metrics['loss']))

  def summary(self) -> dict[str, Any]:
    median = statistics.median(self.step_seconds)
    return dict(step_seconds=median, tokens_per_sec=self.flops.tokens / median,
                flops_per_step=self.flops.total, flops_per_sec=self.flops.total / median,
                compile_seconds=self.compile_seconds, steps=len(self.step_seconds),
                last_loss=self.losses[-1] if self.losses else float('nan'))


def _median(values):
  return statistics.median(values) if values else None


def benchmark_shape(name: str, *, rounds: int = 3, steps_per_round: int = 3, warmup: int = 2,
                    peer_steps: int = 2, peer_warmup: int = 1, run_peer: bool = True,
                    config: ml_collections.ConfigDict, peak_repeats: int = 4,
                    log: Callable[[str], None] = print) -> dict[str, Any]:
  """Every measurement of one shape, interleaved round by round; the JSON-able row.

  Each round measures the matmul peak, then each objective mix of ours, then the
  peer, so a neighbour's load falls on all of them alike. Ratios (ours / peer,
  overheads, MFU) are taken within each round and their median over rounds is
  reported; the tokens/s are medians over all timed steps. When our matmuls are
  bf16, the peer also runs under bf16 autocast (`peer_amp_*`, `ratio_vs_peer_amp`):
  mixed precision on both sides.
  """
  dtype = str(precision.matmul_dtype(config.model))  # the operands' dtype sets the peak
  log(f'[{name}] compiling our train step: {", ".join(MODES)}')
  runners = {mode: StepRunner(objective_config(config, mode)) for mode in MODES}
  for runner in runners.values():
    runner.run(warmup, record=False)
  peers = {}
  if run_peer:
    autocasts = {'peer': None}
    if dtype == 'bfloat16':
      autocasts['peer_amp'] = 'bfloat16'
    for key, autocast in autocasts.items():
      peers[key] = torch_baseline.PeerRunner(config.model.to_dict(), int(config.data.batch_size),
                                             int(config.data.max_len), autocast=autocast)
      peers[key].run(peer_warmup, record=False)
  peer = peers.get('peer')
  per_round = []
  for r in range(rounds):
    log(f'[{name}] round {r + 1}/{rounds}')
    peak = mfu.measure_matmul_peak(dtype, repeats=peak_repeats)
    seconds = {}
    for mode, runner in runners.items():
      runner.run(steps_per_round)
      seconds[mode] = statistics.median(runner.step_seconds[-steps_per_round:])
    for key, runner in peers.items():
      runner.run(peer_steps)
      seconds[key] = statistics.median(runner.step_seconds[-peer_steps:])
    per_round.append(dict(peak=peak, seconds=seconds))

  ours = {mode: runner.summary() for mode, runner in runners.items()}
  mlm_flops = ours['mlm']['flops_per_step']
  tokens = flops.tokens_per_step(config)
  peaks = [r['peak'] for r in per_round]
  within = lambda fn: _median([fn(r) for r in per_round])
  peer_summary = peer.summary() if peer is not None else None
  amp = peers['peer_amp'].summary() if 'peer_amp' in peers else None
  return dict(
      shape=name,
      dtype=str(config.model.dtype),
      matmul_dtype=dtype,
      tokens_per_step=tokens,
      flops_per_token_mlm=mlm_flops / tokens,
      ours_tokens_per_sec=ours['mlm']['tokens_per_sec'],
      ours_adv_tokens_per_sec=ours['mlm_adv']['tokens_per_sec'],
      ours_adv_kd_tokens_per_sec=ours['mlm_adv_kd']['tokens_per_sec'],
      peer_tokens_per_sec=peer_summary['tokens_per_sec'] if peer else None,
      ratio=within(lambda r: r['seconds']['peer'] / r['seconds']['mlm']) if peer else None,
      peer_amp_tokens_per_sec=amp['tokens_per_sec'] if amp else None,
      ratio_vs_peer_amp=(within(lambda r: r['seconds']['peer_amp'] / r['seconds']['mlm'])
                         if amp else None),
      ours_flops_per_sec=ours['mlm']['flops_per_sec'],
      measured_peak_flops=_median(peaks),
      peak_spread=(max(peaks) - min(peaks)) / max(peaks),
      mfu_vs_measured_peak=within(lambda r: mlm_flops / r['seconds']['mlm'] / r['peak']),
      adv_overhead=within(lambda r: r['seconds']['mlm_adv'] / r['seconds']['mlm'] - 1.0),
      adv_kd_overhead=within(lambda r: r['seconds']['mlm_adv_kd'] / r['seconds']['mlm'] - 1.0),
      # The peer's throughput in our model-FLOPs convention (it really does more: its
      # vocabulary projection runs at every position, not only at the masked ones).
      peer_model_flops_per_sec=(mlm_flops / peer_summary['step_seconds']) if peer else None,
      peer_threads=peer_summary['num_threads'] if peer else None,
      peer_attn_implementation=peer_summary['attn_implementation'] if peer else None,
      peer_losses=peer_summary['losses'] if peer else None,
      step_seconds={m: r['step_seconds'] for m, r in ours.items()},
      peer_step_seconds=peer_summary['step_seconds'] if peer else None,
      compile_seconds={m: r['compile_seconds'] for m, r in ours.items()},
      rounds=per_round,
  )


def format_table(rows: list[dict[str, Any]]) -> str:
  header = ('shape', 'matmul dtype', 'ours tok/s', 'peer tok/s', 'ratio', 'amp peer t/s',
            'amp ratio', 'GFLOP/s', 'peak GFLOP/s', 'MFU', '+adv', '+adv+kd')
  lines = ['  '.join(f'{h:>12}' for h in header)]
  for r in rows:
    fmt = lambda v, spec: '-' if v is None else format(v, spec)
    lines.append('  '.join(f'{c:>12}' for c in (
        r['shape'], r['matmul_dtype'], fmt(r['ours_tokens_per_sec'], '.0f'),
        fmt(r['peer_tokens_per_sec'], '.0f'),
        fmt(r['ratio'], '.2f'), fmt(r['peer_amp_tokens_per_sec'], '.0f'),
        fmt(r['ratio_vs_peer_amp'], '.2f'), fmt(r['ours_flops_per_sec'] / 1e9, '.1f'),
        fmt(r['measured_peak_flops'] / 1e9, '.1f'), fmt(r['mfu_vs_measured_peak'], '.1%'),
        fmt(r['adv_overhead'], '+.1%'), fmt(r['adv_kd_overhead'], '+.1%'))))
  return '\n'.join(lines)


def gpu_benchmark(config: ml_collections.ConfigDict, *, steps: int = 10, warmup: int = 3,
                  mode: str = 'mlm_adv_kd') -> dict[str, Any]:
  """Tokens/s, TFLOP/s per device and MFU of the full train step on all local devices.

  The peak is the device table's (or config.train.peak_flops_per_device); on CPU a
  matmul probe in the model's dtype stands in, so the preset also runs here.
  """
  config = objective_config(config, mode)
  runner = StepRunner(config)
  runner.run(warmup, record=False)
  runner.run(steps)
  summary = runner.summary()
  devices = runner.mesh.devices.size
  peak = mfu.peak_flops_per_device(config)
  return dict(
      preset='gpu', mode=mode, device_kind=jax.devices()[0].device_kind, num_devices=devices,
      batch_size=int(config.data.batch_size), seq=int(config.data.max_len),
      dtype=str(config.model.dtype), tokens_per_sec=summary['tokens_per_sec'],
      tokens_per_sec_per_device=summary['tokens_per_sec'] / devices,
      tflops_per_sec_per_device=summary['flops_per_sec'] / devices / 1e12,
      peak_flops_per_device=peak,
      mfu=mfu.mfu(summary['flops_per_step'], summary['step_seconds'], devices, peak),
      step_seconds=summary['step_seconds'], compile_seconds=summary['compile_seconds'],
      flops_per_token=runner.flops.per_token, last_loss=summary['last_loss'])


def pipeline_benchmark(config: ml_collections.ConfigDict, data_dir: str, tokenizer_dir: str,
                       seconds: float = 5.0,
                       cache: teacher_cache.TeacherCache | None = None) -> dict[str, float]:
  """Training batches per second of this process's pipeline (packing cache already built).

  With `cache`, every batch is joined to the cached teacher top-k, as a distilling
  student's is. tokens_per_sec counts every position (B x L); real_tokens_per_sec only
  attended ones.
  """
  started = time.perf_counter()
  iterator = input_pipeline.make_train_iterator(config, data_dir, tokenizer_dir,
                                                join=cache.join if cache else None)
  try:
    first = next(iterator)
    first_batch_seconds = time.perf_counter() - started
    batches, real_tokens = 0, 0
    # A cache holds the run's train.steps batches and no more.
    max_batches = (cache.examples // first['input_ids'].shape[0] - 1
                   if cache is not None else float('inf'))
    started = time.perf_counter()
    while time.perf_counter() - started < seconds and batches < max_batches:
      batch = next(iterator)
      batches += 1
      real_tokens += int(batch['attention_mask'].sum())
    elapsed = time.perf_counter() - started
  finally:
    iterator.close()
  batch_tokens = first['input_ids'].size
  return dict(batches_per_sec=batches / elapsed,
              tokens_per_sec=batches * batch_tokens / elapsed,
              real_tokens_per_sec=real_tokens / elapsed,
              first_batch_seconds=first_batch_seconds,
              batch_size=int(first['input_ids'].shape[0]),
              max_len=int(first['input_ids'].shape[1]),
              worker_count=int(config.data.worker_count),
              with_teacher_cache=cache is not None)


def data_benchmark(config: ml_collections.ConfigDict, data_dir: str, tokenizer_dir: str,
                   seconds: float = 5.0, train_steps: int = 5,
                   teacher_cache_dir: str | None = None) -> dict[str, Any]:
  """The input pipeline's batches/s next to the demo train step's consumption.

  teacher_cache_dir: a teacher cache built for `config` (e.g. the demo run's), joined to
  every batch as in the distilling student's pipeline.
  """
  cache = (teacher_cache.TeacherCache(teacher_cache_dir, config) if teacher_cache_dir
           else None)
  pipeline = pipeline_benchmark(config, data_dir, tokenizer_dir, seconds, cache)
  runner = StepRunner(objective_config(config, 'mlm_adv_kd'))  # the demo's real mix
  runner.run(2, record=False)
  runner.run(train_steps)
  step = runner.summary()
  consumed = 1.0 / step['step_seconds']
  return dict(section='data', pipeline=pipeline, train_steps_per_sec=consumed,
              train_tokens_per_sec=step['tokens_per_sec'],
              headroom=pipeline['batches_per_sec'] / consumed)
