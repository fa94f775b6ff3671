r"""Throughput of the fused train step (against the PyTorch peer, the device peak, the data) and of
the fine-tuning step (against its PyTorch peer).

Our step against Hugging Face `XLMRobertaForMaskedLM` + torch AdamW, same shapes, one process
(about 8 minutes for both shapes and both matmul dtypes on 2 CPU cores):

  python launch/benchmark.py                       # --shapes=demo,mid

prints a table and one JSON line per shape and matmul dtype with ours_tokens_per_sec,
peer_tokens_per_sec, ratio (ours / peer, MLM only), mfu_vs_measured_peak (model FLOPs / the
matmul peak in our operand dtype, measured in the same run) and adv_kd_overhead (step time
with adversary + distillation over MLM only, minus 1). Our step runs with float32 and with
bfloat16 matmul operands (float32 accumulation and activations); the peer is float32, what
transformers trains in by default, and beside our bf16 rows also under torch bf16 autocast
(peer_amp_tokens_per_sec, ratio_vs_peer_amp). The CPUs are shared here: compare only numbers
from one run.

The input pipeline's batches/s next to the demo train step's consumption (needs a prepared
corpus, e.g. from `launch/train.py --config=configs/demo.py --workdir=/tmp/unibert_demo`; the
run's teacher cache, when there is one, is joined to every batch as the student's is):

  python launch/benchmark.py --section=data --workdir=/tmp/unibert_demo

Our fine-tuning step (a SequenceClassifier head, finetune/step.py's Program on one device)
against transformers' `XLMRobertaForSequenceClassification` + torch AdamW with gradient clipping,
batch 32 x 128 of full-length random ids, dropout 0.1 on both sides, float32, one process
(about 8 minutes for both shapes on 2 busy CPU cores):

  python launch/benchmark.py --section=finetune    # --shapes=demo,mid

prints a table and one JSON line per shape and head with ours_tokens_per_sec,
peer_tokens_per_sec and ratio (ours / peer, within each round, median over rounds).
`--finetune_kinds=classification,token_classification` adds the token tagger
(`XLMRobertaForTokenClassification`); --shapes also takes the names of model/shapes.py.

One accelerator node, configs/base.py at sequence 512 in bf16 with all three objectives:
tokens/s, TFLOP/s per device and MFU against the device's datasheet peak:

  python launch/benchmark.py --preset=gpu [--gpu_batch_size=64]

(`--gpu_variant=demo --gpu_seq=32 --gpu_batch_size=2` runs the same path on a CPU.)
"""

import json

from absl import app
from absl import flags

from configs import base as base_config
from configs import demo as demo_config
from unibert_jax import cli
from unibert_jax import run_dir
from unibert_jax.data import prepare
from unibert_jax.perf.bench import benchmark
from unibert_jax.perf.bench import finetune_bench
from unibert_jax.teacher import cache_format

_SECTION = flags.DEFINE_enum('section', 'train', ['train', 'data', 'finetune'],
                             'train: ours vs the peer; data: input pipeline vs train step; '
                             'finetune: our fine-tuning step vs the transformers peer.')
_PRESET = flags.DEFINE_enum('preset', None, ['gpu'], 'gpu: base config, seq 512, bf16, MFU.')
_SHAPES = flags.DEFINE_list('shapes', list(benchmark.SHAPES),
                            'Shapes for --section=train (and finetune, which also takes the '
                            'names of model/shapes.py).')
_MATMUL_DTYPES = flags.DEFINE_list(
    'matmul_dtypes', ['float32', 'bfloat16'],
    'model.matmul_dtype of our step for --section=train (bfloat16 adds a bf16-autocast peer).')
_ROUNDS = flags.DEFINE_integer(
    'rounds', 3, 'Interleaved rounds of (matmul peak, our three mixes, the peer).')
_STEPS = flags.DEFINE_integer('steps', 3, 'Timed steps per mix and round (gpu: timed steps).')
_WARMUP = flags.DEFINE_integer('warmup', 2, 'Untimed steps after compiling.')
_PEER_STEPS = flags.DEFINE_integer('peer_steps', 2, 'Timed peer steps per round.')
_NO_PEER = flags.DEFINE_bool('no_peer', False, 'Skip the PyTorch peer.')
_WORKDIR = flags.DEFINE_string('workdir', '/tmp/unibert_demo', 'Run whose data --section=data reads.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Prepared corpus (default <workdir>/data).')
_TOKENIZER_DIR = flags.DEFINE_string('tokenizer_dir', None,
                                     'Tokenizer (default <data_dir>/tokenizer).')
_SECONDS = flags.DEFINE_float('seconds', 5.0, 'How long --section=data pulls batches.')
_FINETUNE_KINDS = flags.DEFINE_list('finetune_kinds', ['classification'],
                                   f'Heads for --section=finetune: {finetune_bench.KINDS}.')
_FINETUNE_BATCH = flags.DEFINE_integer('finetune_batch_size', 32, 'Rows per fine-tuning step.')
_FINETUNE_LENGTH = flags.DEFINE_integer(
    'finetune_max_length', 128, 'Tokens per row (fewer where the position table is shorter).')
_FINETUNE_DROPOUT = flags.DEFINE_float('finetune_dropout', 0.1,
                                       'Hidden and attention dropout of both sides.')
_GPU_VARIANT = flags.DEFINE_string('gpu_variant', 'base', 'configs/base.py variant for --preset=gpu.')
_GPU_SEQ = flags.DEFINE_integer('gpu_seq', 512, 'Sequence length for --preset=gpu.')
_GPU_BATCH = flags.DEFINE_integer('gpu_batch_size', None,
                                  'Global batch for --preset=gpu (default: the config\'s).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if _PRESET.value == 'gpu':
    config = benchmark.gpu_config(base_config.get_config(_GPU_VARIANT.value), _GPU_SEQ.value,
                                  _GPU_BATCH.value)
    result = benchmark.gpu_benchmark(config, steps=_STEPS.value, warmup=_WARMUP.value)
    print(f"{result['device_kind']} x{result['num_devices']}: "
          f"{result['tokens_per_sec']:.0f} tokens/s, "
          f"{result['tflops_per_sec_per_device']:.1f} TFLOP/s per device, MFU {result['mfu']:.1%}")
    print(json.dumps(result))
    return
  if _SECTION.value == 'data':
    config = demo_config.get_config()
    run = run_dir.RunDir(_WORKDIR.value)
    data_dir = _DATA_DIR.value or config.data.data_dir or run.data
    tokenizer_dir = _TOKENIZER_DIR.value or prepare.tokenizer_dir_of(config, run.root)
    cache_dir = cache_format.cache_dir(config, run.root)
    has_cache = cache_format.read_manifest(cache_dir) is not None
    result = benchmark.data_benchmark(config, data_dir, tokenizer_dir, _SECONDS.value,
                                         teacher_cache_dir=cache_dir if has_cache else None)
    print(f"pipeline {result['pipeline']['batches_per_sec']:.1f} batches/s, train step "
          f"{result['train_steps_per_sec']:.2f} steps/s: headroom {result['headroom']:.1f}x")
    print(json.dumps(result))
    return
  if _SECTION.value == 'finetune':
    rows = [finetune_bench.benchmark_shape(
        shape, finetune_bench.model_config(demo_config.get_config(), shape,
                                           _FINETUNE_DROPOUT.value),
        kind=kind, batch_size=_FINETUNE_BATCH.value, max_length=_FINETUNE_LENGTH.value,
        rounds=_ROUNDS.value, steps_per_round=_STEPS.value, warmup=_WARMUP.value,
        peer_steps=_PEER_STEPS.value) for shape in _SHAPES.value for kind in _FINETUNE_KINDS.value]
    print(finetune_bench.format_table(rows))
    for row in rows:
      print(json.dumps(row))
    return
  rows = []
  for shape in _SHAPES.value:
    for matmul_dtype in _MATMUL_DTYPES.value:
      rows.append(benchmark.benchmark_shape(
          shape, rounds=_ROUNDS.value, steps_per_round=_STEPS.value, warmup=_WARMUP.value,
          peer_steps=_PEER_STEPS.value, run_peer=not _NO_PEER.value,
          config=benchmark.shape_config(demo_config.get_config(), shape, matmul_dtype)))
  print(benchmark.format_table(rows))
  for row in rows:
    print(json.dumps(row))


if __name__ == '__main__':
  cli.run(main)
