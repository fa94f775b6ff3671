"""Writes the teacher cache: the teacher's top-k log-probabilities for every training example.

build_cache runs an XLM-R-family teacher (a Hugging Face directory, imported by
export/hf_format.py) in JAX over exactly the statically masked sequences the student will see
(stream positions [0, train.steps * data.batch_size), from input_pipeline.iterate_examples), and
stores for each real prediction slot the teacher's k largest log-probabilities and their ids
(the format: cache_format.py).

A shard is written to a .tmp file and renamed when complete, after its statistics and checksum:
a resumed build skips the complete shards and redoes the rest, and produces the same files as an
uninterrupted one.
"""

from __future__ import annotations

import glob
import os
import time
from typing import Any, Callable

from array_record.python import array_record_module
import flax.nnx as nnx
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import ml_collections
import numpy as np

from unibert_jax import sharding
from unibert_jax.data import input_pipeline
from unibert_jax.data import prepare
from unibert_jax.data import tokenizer as tokenizer_lib
from unibert_jax.export import hf_format
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.perf import flops
from unibert_jax.teacher import cache_format as fmt


def check_teacher_head(teacher_cfg: ml_collections.ConfigDict, teacher_dir: str) -> None:
  """Distillation reads the teacher's MLM logits: a body without its MLM head has none."""
  if not teacher_cfg.get('has_mlm_head', True) or teacher_cfg.get('hf_family',
                                                                    'xlm-roberta') != 'xlm-roberta':
    raise fmt.TeacherCacheError(
        f'The teacher in {teacher_dir} is not an XLM-R-family masked LM with its MLM head '
        f'(family {teacher_cfg.get("hf_family")!r}, MLM head: '
        f'{teacher_cfg.get("has_mlm_head")}); distillation needs its logits. Pass a '
        '...ForMaskedLM checkpoint as kd.teacher_dir.')


def check_vocabulary(teacher_cfg: ml_collections.ConfigDict, teacher_dir: str,
                     config: ml_collections.ConfigDict, tokenizer_dir: str) -> None:
  """Logit distillation compares distributions over one vocabulary: the tokenizers must agree."""
  if int(teacher_cfg.vocab_size) != int(config.data.vocab_size):
    raise fmt.TeacherCacheError(
        f'The teacher in {teacher_dir} has a {teacher_cfg.vocab_size}-token vocabulary but the '
        f'student {config.data.vocab_size} (data.vocab_size). Distillation from logits needs one '
        f'shared tokenizer: train the student with the teacher\'s tokenizer '
        f'(--config.data.tokenizer_dir={teacher_dir} '
        f'--config.data.vocab_size={teacher_cfg.vocab_size}).')
  teacher_tokenizer = os.path.join(teacher_dir, tokenizer_lib.TOKENIZER_FILE)
  if os.path.exists(teacher_tokenizer) and (
      tokenizer_lib.load_tokenizer(teacher_dir).get_vocab()
      != tokenizer_lib.load_tokenizer(tokenizer_dir).get_vocab()):
    raise fmt.TeacherCacheError(
        f'The teacher\'s tokenizer ({teacher_tokenizer}) and the student\'s ({tokenizer_dir}) '
        f'map tokens to different ids, so their logits cannot be compared. Train the student '
        f'with the teacher\'s tokenizer (--config.data.tokenizer_dir={teacher_dir}).')


def _topk_program(encoder, config: ml_collections.ConfigDict, mesh: jax.sharding.Mesh):
  """(teacher state on the mesh, jitted (state, ids, mask, positions) -> (values, indices))."""
  graphdef, state = nnx.split(encoder)
  state_sh = sharding.state_shardings(state, mesh, config.mesh.rules)
  state = jax.device_put(state, state_sh)
  batch_sh = sharding.batch_sharding(mesh)
  k = int(config.kd.top_k)
  values_dtype = jnp.dtype(fmt.LOGITS_DTYPES[config.kd.logits_dtype])

  def top_k(state, input_ids, attention_mask, mlm_positions):
    teacher = nnx.merge(graphdef, state)
    hidden = teacher(input_ids, attention_mask)
    logits = teacher.mlm_logits(encoder_lib.gather_positions(hidden, mlm_positions))
    values, indices = jax.lax.top_k(jax.nn.log_softmax(logits, axis=-1), k)
    return values.astype(values_dtype), indices.astype(jnp.int32)

  return state, jax.jit(top_k, in_shardings=(state_sh, batch_sh, batch_sh, batch_sh),
                        out_shardings=(batch_sh, batch_sh))


class _Progress:
  """One line per shard on process 0: examples done, rate, ETA."""

  def __init__(self, total_shards: int, log: Callable[[str], None]):
    self.total_shards = total_shards
    self.log = log if jax.process_index() == 0 else (lambda _: None)
    self.started = time.perf_counter()
    self.done_examples = 0

  def shard_done(self, shard: int, examples: int, remaining_shards: int) -> None:
    self.done_examples += examples
    elapsed = time.perf_counter() - self.started
    rate = self.done_examples / max(elapsed, 1e-9)
    eta = remaining_shards * examples / max(rate, 1e-9)
    self.log(f'teacher cache: shard {shard + 1}/{self.total_shards} written ({examples} '
             f'examples, {rate:.1f} sequences/s, about {eta:.0f} s left)')


def _local_rows(batch_size: int) -> slice:
  per_process = batch_size // jax.process_count()
  return slice(jax.process_index() * per_process, (jax.process_index() + 1) * per_process)


def _put(array: np.ndarray, batch_sh) -> jax.Array:
  if jax.process_count() == 1:
    return jax.device_put(array, batch_sh)
  return jax.make_array_from_process_local_data(batch_sh, array[_local_rows(len(array))])


def _fetch(array: jax.Array, mesh) -> np.ndarray:
  """This process's rows of a batch-sharded result."""
  if jax.process_count() == 1:
    return np.asarray(array)
  return np.asarray(multihost_utils.global_array_to_host_local_array(
      array, mesh, jax.sharding.PartitionSpec(sharding.BATCH_AXES)))


def _padded(batch: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
  """The last, short batch filled up with copies of its first row (one compiled shape)."""
  missing = size - len(batch['input_ids'])
  if not missing:
    return batch
  return {k: np.concatenate([v, np.repeat(v[:1], missing, axis=0)]) for k, v in batch.items()}


def _sync(name: str) -> None:
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


class _ShardWriter:
  """Computes the teacher's top-k for one shard's examples and writes this process's rows."""

  def __init__(self, config, data: prepare.PreparedData, state, top_k, mesh):
    self.config, self.data, self.state, self.top_k, self.mesh = config, data, state, top_k, mesh
    self.batch_size = int(config.kd.batch_size)
    self.local = _local_rows(self.batch_size)
    self.batch_sharding = sharding.batch_sharding(mesh)
    self.steady_examples, self.steady_started = 0, None

  def _write(self, writer, pending) -> int:
    (values, indices), batch = pending
    values, indices = _fetch(values, self.mesh), _fetch(indices, self.mesh)
    rows = batch['real'][self.local]
    hashes = fmt.example_hash(batch['input_ids'][self.local], batch['mlm_positions'][self.local])
    records, slots = fmt.encode_records(
        values[rows], indices[rows], batch['mlm_weights'][self.local][rows],
        batch['example_index'][self.local][rows], hashes[rows])
    for record in records:
      writer.write(record)
    return slots

  def write(self, first: int, stop: int, path: str) -> int:
    """Examples [first, stop) into `path`; returns the real slots written."""
    writer = array_record_module.ArrayRecordWriter(path, fmt.WRITER_OPTIONS)
    masked, pending = 0, None
    for batch in input_pipeline.iterate_examples(self.config, self.data.data_dir,
                                                 self.data.tokenizer_dir, first, stop,
                                                 batch_size=self.batch_size):
      real = len(batch['input_ids'])
      batch = _padded(batch, self.batch_size)
      batch['real'] = np.arange(self.batch_size) < real
      # Dispatch this batch before writing the previous one: the device never waits on disk.
      result = self.top_k(self.state, *(_put(batch[name], self.batch_sharding)
                                        for name in ('input_ids', 'attention_mask',
                                                     'mlm_positions')))
      if pending is not None:
        masked += self._write(writer, pending)
      pending = (result, batch)
      if self.steady_started is None:
        jax.block_until_ready(result)
        self.steady_started = time.perf_counter()
      else:
        self.steady_examples += real
    if pending is not None:
      masked += self._write(writer, pending)
    writer.close()
    return masked

  def sequences_per_sec(self) -> float:
    seconds = time.perf_counter() - self.steady_started if self.steady_started else 0.0
    return self.steady_examples / seconds if seconds > 0 else 0.0


def _check_settings(config: ml_collections.ConfigDict, teacher_dir: str, mesh) -> None:
  if config.kd.logits_dtype not in fmt.LOGITS_DTYPES:
    raise ValueError(f'kd.logits_dtype must be one of {sorted(fmt.LOGITS_DTYPES)}, got '
                     f'{config.kd.logits_dtype!r}.')
  if not os.path.isdir(teacher_dir):
    raise FileNotFoundError(f'The teacher directory {teacher_dir} does not exist; pass a Hugging '
                            'Face XLM-R-family model directory (--teacher / kd.teacher_dir).')
  batch_size = int(config.kd.batch_size)
  data_parallel = mesh.shape['data'] * mesh.shape['fsdp']
  if batch_size % data_parallel or batch_size % jax.process_count():
    raise ValueError(f'kd.batch_size ({batch_size}) must be a multiple of the data-parallel '
                     f'mesh size ({data_parallel}) and of the number of processes '
                     f'({jax.process_count()}).')


def _open_manifest(directory: str, identity: dict[str, Any]) -> None:
  """Refuses a cache built from other settings; marks this build as unfinished."""
  os.makedirs(directory, exist_ok=True)
  existing = fmt.read_manifest(directory)
  if existing is not None:
    changed = fmt.differences(existing, identity)
    if changed:
      raise fmt.TeacherCacheError(
          f'{directory} holds a teacher cache built from other settings ({", ".join(changed)}). '
          f'Delete it to rebuild, or set kd.cache_dir to another directory.')
  if jax.process_index() == 0:
    fmt.write_json(os.path.join(directory, fmt.MANIFEST), dict(identity, complete=False))


def _summarize(directory: str, identity: dict[str, Any]) -> dict[str, Any]:
  """Totals over every shard's statistics; the manifest records whether all are complete."""
  process_count = identity['process_count']
  num_shards = -(-identity['examples'] // identity['examples_per_shard'])
  masked_tokens, total_bytes, done = 0, 0, True
  for shard in range(num_shards):
    for process in range(process_count):
      stats_path = fmt.shard_path(directory, shard, process, process_count, '.json')
      complete = os.path.exists(stats_path) and os.path.exists(
          fmt.shard_path(directory, shard, process, process_count, '.array_record'))
      done = done and complete
      if os.path.exists(stats_path):
        stats = fmt.read_json(stats_path)
        masked_tokens += stats['masked_tokens']
        total_bytes += stats['bytes']
  if jax.process_index() == 0:
    fmt.write_json(os.path.join(directory, fmt.MANIFEST),
                   dict(identity, complete=done, masked_tokens=masked_tokens, bytes=total_bytes))
  return dict(complete=done, shards=num_shards, masked_tokens=masked_tokens, bytes=total_bytes)


def build_cache(config: ml_collections.ConfigDict, teacher_dir: str,
                data: prepare.PreparedData, directory: str, *, max_shards: int | None = None,
                log: Callable[[str], None] = print) -> dict[str, Any]:
  """Writes (or completes) the teacher cache for this config; returns its statistics.

  Args:
    config: the student's run config (data, kd, train.steps, mesh).
    teacher_dir: a Hugging Face XLM-R-family directory sharing the student's tokenizer.
    data: the prepared corpus and tokenizer.
    directory: where the cache goes (cache_format.cache_dir).
    max_shards: stop after computing this many shards (a chunked job); None = all.
    log: receives one progress line per shard (process 0).

  Returns:
    dict(cache_dir, examples, complete, shards, computed_examples, masked_tokens, bytes,
    bytes_per_masked_token, sequences_per_sec, wall_seconds). sequences_per_sec counts the
    examples computed by this call after the first batch (compilation excluded).
  """
  started = time.perf_counter()
  mesh = sharding.make_mesh(config.mesh.shape)
  _check_settings(config, teacher_dir, mesh)
  teacher_cfg = hf_format.model_config_from_hf(hf_format.read_hf_config(teacher_dir))
  check_teacher_head(teacher_cfg, teacher_dir)
  check_vocabulary(teacher_cfg, teacher_dir, config, data.tokenizer_dir)
  identity = fmt.identity(config, teacher_dir,
                          fmt.data_identity(config, data.data_dir, data.tokenizer_dir),
                          jax.process_count())
  _open_manifest(directory, identity)

  examples, shard_size = identity['examples'], identity['examples_per_shard']
  num_shards = -(-examples // shard_size)
  process, process_count = jax.process_index(), jax.process_count()

  def complete(shard: int) -> bool:  # on every process's file: all processes agree
    return all(os.path.exists(fmt.shard_path(directory, shard, p, process_count, ext))
               for p in range(process_count) for ext in ('.array_record', '.json'))

  todo = [s for s in range(num_shards) if not complete(s)][:max_shards]
  for leftover in glob.glob(os.path.join(directory, f'*process-{process:03d}-*.tmp')):
    os.remove(leftover)  # a killed build's partial shard

  computed, writer = 0, None
  if todo:
    encoder, _ = hf_format.load_hf_encoder(
        teacher_dir, dtype=config.kd.teacher_dtype or config.model.dtype)
    state, top_k = _topk_program(encoder, config, mesh)
    del encoder
    progress = _Progress(num_shards, log)
    writer = _ShardWriter(config, data, state, top_k, mesh)
    for count, shard in enumerate(todo):
      first, stop = shard * shard_size, min((shard + 1) * shard_size, examples)
      final_path = fmt.shard_path(directory, shard, process, process_count, '.array_record')
      tmp_path = final_path + '.tmp'
      masked = writer.write(first, stop, tmp_path)
      fmt.write_json(fmt.shard_path(directory, shard, process, process_count, '.json'),
                     dict(examples=stop - first, masked_tokens=masked,
                          bytes=os.path.getsize(tmp_path),
                          blake2b=fmt.content_digest(tmp_path)))
      os.replace(tmp_path, final_path)
      computed += stop - first
      progress.shard_done(shard, stop - first, len(todo) - count - 1)

  _sync('unibert_teacher_cache_written')
  totals = _summarize(directory, identity)
  sequences_per_sec = writer.sequences_per_sec() if writer else 0.0
  flops_per_sequence = flops.forward_flops(teacher_cfg, 1, config.data.max_len,
                                           config.data.max_predictions).total
  return dict(
      cache_dir=directory, examples=examples, computed_examples=computed, **totals,
      bytes_per_masked_token=totals['bytes'] / max(totals['masked_tokens'], 1),
      sequences_per_sec=sequences_per_sec,
      teacher_tflops_per_sec_per_device=(sequences_per_sec * flops_per_sequence / 1e12
                                         / jax.device_count()),
      wall_seconds=time.perf_counter() - started)
