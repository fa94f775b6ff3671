"""The teacher's top-k MLM predictions for every training example, computed once and cached.

build_cache runs an XLM-R-family teacher (a Hugging Face directory, imported by hf_io) in JAX
over exactly the statically masked sequences the student will see (stream positions
[0, train.steps * data.batch_size), from input_pipeline.iterate_examples), and stores for each
real prediction slot the teacher's k largest log-probabilities (kd.logits_dtype) and their
vocabulary ids (int32), with the example index and input_pipeline.example_hash of the example.

Values are log-probabilities, log_softmax(logits)[top k]: the logits shifted by a per-slot
constant, which the distillation loss (a softmax over the k values) does not see, and which keeps
the teacher's top-k mass (sum of exp) and bf16/fp16 precision near the top.

Layout under kd.cache_dir (default <workdir>/teacher_cache):

    manifest.json                                  what the cache was built from (see _identity)
    shard-00000-process-000-of-001.array_record    examples [0, S) of this process's rows
    shard-00000-process-000-of-001.json            its statistics; written before the shard
    ...

A shard holds a fixed number S of examples (kd.examples_per_shard, a multiple of kd.batch_size),
is written to a .tmp file and renamed when complete: a resumed build skips the complete shards
and redoes the rest, and produces the same files as an uninterrupted one. With several
processes (a shared filesystem), process p writes the rows p*b/n..(p+1)*b/n of every teacher
batch of b = kd.batch_size rows into its own file per shard.

One record per example: a little-endian header (example_index int64, hash int64, slots int32)
then values [slots, k] (bfloat16 or float16) and indices [slots, k] int32, for the `slots`
real prediction slots (the masking puts them first). zstd-compressed ArrayRecord, group size 1
for random access.

TeacherCache reads it: it validates the manifest against the run config (a mismatch names the
field and says to rebuild) and serves lookup(example_indices) for the input pipeline, which
checks each example's hash as a backstop.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
import threading
import time
from typing import Any, Callable, Iterable, Iterator

from array_record.python import array_record_module
import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections
import ml_dtypes
import numpy as np

from unibert_jax.export import hf_format as hf_io
from unibert_jax.train import losses
from unibert_jax import sharding

FORMAT_VERSION = 1
MANIFEST = 'manifest.json'
DEFAULT_SUBDIR = 'teacher_cache'
VALUES = 'log_probs'
DTYPES = {'bfloat16': ml_dtypes.bfloat16, 'float16': np.float16}
_HEADER = np.dtype([('example_index', '<i8'), ('hash', '<i8'), ('slots', '<i4')])
_WRITER_OPTIONS = 'group_size:1,zstd:1'
_READER_OPTIONS = 'readahead_buffer_size:0,max_parallelism:0'  # random access
_DEFAULT_SHARD_TARGET = 4096  # examples per shard, rounded up to a multiple of kd.batch_size

# Manifest key -> the config field it must equal for the cache to fit a run.
CONFIG_FIELDS = {
    'seed': 'seed',
    'vocab_size': 'data.vocab_size',
    'max_len': 'data.max_len',
    'max_predictions': 'data.max_predictions',
    'mask_seed': 'data.mask_seed',
    'mask_rate': 'data.mask_rate',
    'mask_token_fraction': 'data.mask_token_fraction',
    'random_token_fraction': 'data.random_token_fraction',
    'sampling_alpha': 'data.sampling_alpha',
    'batch_size': 'data.batch_size',
    'top_k': 'kd.top_k',
}
_STATS_FIELDS = ('masked_tokens', 'bytes', 'complete')


class TeacherCacheError(ValueError):
  """A teacher cache that does not fit the run (other settings, data or tokenizer)."""


def _get(config: ml_collections.ConfigDict, dotted: str) -> Any:
  value = config
  for part in dotted.split('.'):
    value = value[part]
  return value


def cache_dir(config: ml_collections.ConfigDict, workdir: str) -> str:
  return config.kd.cache_dir or os.path.join(workdir, DEFAULT_SUBDIR)


def num_examples(config: ml_collections.ConfigDict) -> int:
  """The stream positions the student trains on: train.steps * data.batch_size."""
  return int(config.train.steps) * int(config.data.batch_size)


def examples_per_shard(config: ml_collections.ConfigDict) -> int:
  batch = int(config.kd.batch_size)
  wanted = int(config.kd.get('examples_per_shard', 0) or _DEFAULT_SHARD_TARGET)
  return -(-wanted // batch) * batch


def _shard_name(shard: int, process: int, process_count: int) -> str:
  return f'shard-{shard:05d}-process-{process:03d}-of-{process_count:03d}'


# --- fingerprints ------------------------------------------------------------------------------

def _hash_files(paths: Iterable[str]) -> str:
  digest = hashlib.blake2b(digest_size=16)
  for path in paths:
    digest.update(os.path.basename(path).encode() + b'\0')
    with open(path, 'rb') as f:
      digest.update(hashlib.file_digest(f, 'blake2b').digest())
  return digest.hexdigest()


def teacher_fingerprint(teacher_dir: str) -> str:
  """A hash of the teacher's config.json and weights (not of its path)."""
  weights = sorted(glob.glob(os.path.join(teacher_dir, '*.safetensors')))
  return _hash_files([os.path.join(teacher_dir, hf_io.CONFIG_FILE)] + weights)


def tokenizer_fingerprint(tokenizer_dir: str) -> str:
  from unibert_jax.data import packing  # pylint: disable=g-import-not-at-top
  from unibert_jax.data import tokenizer as tokenizer_lib
  return packing.tokenizer_fingerprint(tokenizer_lib.load_tokenizer(tokenizer_dir))


def data_fingerprint(packed_dir: str | None, data_dir: str) -> str:
  """A hash of the packed training split's description and the corpus statistics.

  Cheap on any corpus size: the per-example hashes catch what this misses.
  """
  from unibert_jax.data import corpus  # pylint: disable=g-import-not-at-top
  parts: dict[str, Any] = {}
  if packed_dir and os.path.exists(os.path.join(packed_dir, 'meta.json')):
    with open(os.path.join(packed_dir, 'meta.json')) as f:
      parts['packed'] = json.load(f)
  try:
    parts['corpus'] = corpus.corpus_stats(data_dir)
  except (FileNotFoundError, OSError, ValueError, KeyError):
    parts['corpus'] = None  # packed sequences given directly (no corpus manifest)
  text = json.dumps(parts, sort_keys=True, default=str)
  return hashlib.blake2b(text.encode(), digest_size=16).hexdigest()


def _data_identity(config: ml_collections.ConfigDict, data_dir: str,
                   tokenizer_dir: str) -> dict[str, str]:
  from unibert_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top
  packed, _ = input_pipeline.load_split(config, data_dir, tokenizer_dir, 'train')
  return dict(tokenizer_fingerprint=tokenizer_fingerprint(tokenizer_dir),
              data_fingerprint=data_fingerprint(packed.path, data_dir))


# --- the manifest ----------------------------------------------------------------------------

def _identity(config: ml_collections.ConfigDict, teacher_dir: str, data_identity: dict,
              process_count: int) -> dict[str, Any]:
  """Everything the cached values depend on; a resumed build must match it exactly."""
  identity = {key: _get(config, field) for key, field in CONFIG_FIELDS.items()}
  identity.update(
      format_version=FORMAT_VERSION,
      values=VALUES,
      logits_dtype=str(config.kd.logits_dtype),
      teacher_fingerprint=teacher_fingerprint(teacher_dir),
      examples=num_examples(config),
      examples_per_shard=examples_per_shard(config),
      kd_batch_size=int(config.kd.batch_size),
      process_count=int(process_count),
      **data_identity,
  )
  return identity


def read_manifest(cache_dir: str) -> dict[str, Any] | None:
  path = os.path.join(cache_dir, MANIFEST)
  if not os.path.exists(path):
    return None
  with open(path) as f:
    return json.load(f)


def _write_json(path: str, content: dict) -> None:
  with open(path + '.tmp', 'w') as f:
    json.dump(content, f, indent=1, sort_keys=True)
  os.replace(path + '.tmp', path)


# --- the teacher -----------------------------------------------------------------------------

def _check_vocabulary(teacher_cfg: ml_collections.ConfigDict, teacher_dir: str,
                      config: ml_collections.ConfigDict, tokenizer_dir: str) -> None:
  """Logit distillation compares distributions over one vocabulary: the tokenizers must agree."""
  if int(teacher_cfg.vocab_size) != int(config.data.vocab_size):
    raise TeacherCacheError(
        f'The teacher in {teacher_dir} has a {teacher_cfg.vocab_size}-token vocabulary but the '
        f'student {config.data.vocab_size} (data.vocab_size). Distillation from logits needs one '
        f'shared tokenizer: train the student with the teacher\'s tokenizer '
        f'(--config.data.tokenizer_dir={teacher_dir} '
        f'--config.data.vocab_size={teacher_cfg.vocab_size}).')
  teacher_tokenizer = os.path.join(teacher_dir, 'tokenizer.json')
  if os.path.exists(teacher_tokenizer):
    from unibert_jax.data import tokenizer as tokenizer_lib  # pylint: disable=g-import-not-at-top
    if (tokenizer_lib.load_tokenizer(teacher_dir).get_vocab()
        != tokenizer_lib.load_tokenizer(tokenizer_dir).get_vocab()):
      raise TeacherCacheError(
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
  values_dtype = jnp.dtype(DTYPES[config.kd.logits_dtype])

  def top_k(state, input_ids, attention_mask, mlm_positions):
    teacher = nnx.merge(graphdef, state)
    hidden = teacher(input_ids, attention_mask)
    logits = teacher.mlm_logits(losses.gather_positions(hidden, mlm_positions))
    values, indices = jax.lax.top_k(jax.nn.log_softmax(logits, axis=-1), k)
    return values.astype(values_dtype), indices.astype(jnp.int32)

  return state, jax.jit(top_k, in_shardings=(state_sh, batch_sh, batch_sh, batch_sh),
                        out_shardings=(batch_sh, batch_sh))


def _encode_records(values: np.ndarray, indices: np.ndarray, weights: np.ndarray,
                    example_index: np.ndarray, hashes: np.ndarray) -> tuple[list[bytes], int]:
  """One record per row; returns the records and the number of real slots written."""
  slots = weights.astype(bool)
  counts = slots.sum(axis=1)
  # The masking puts the real slots first; a gap would need a slot list per record.
  if not np.array_equal(slots, np.arange(slots.shape[1])[None, :] < counts[:, None]):
    raise ValueError('mlm_weights has unused slots before real ones; the teacher cache stores '
                     'the real slots as a prefix of the prediction slots.')
  records = []
  for row in range(len(values)):
    header = np.array([(example_index[row], hashes[row], counts[row])], _HEADER)
    n = counts[row]
    records.append(header.tobytes() + values[row, :n].tobytes()
                   + np.ascontiguousarray(indices[row, :n], '<i4').tobytes())
  return records, int(counts.sum())


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
  from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
  return np.asarray(multihost_utils.global_array_to_host_local_array(
      array, mesh, jax.sharding.PartitionSpec(sharding.BATCH_AXES)))


def _padded(batch: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
  """The last, short batch filled up with copies of its first row (one compiled shape)."""
  missing = size - len(batch['input_ids'])
  if not missing:
    return batch
  return {k: np.concatenate([v, np.repeat(v[:1], missing, axis=0)]) for k, v in batch.items()}


def _resolve_data(config: ml_collections.ConfigDict, workdir: str, data_dir: str | None,
                  tokenizer_dir: str | None) -> tuple[str, str]:
  """Explicit directories, else the config's (set once the data is prepared), else prepare."""
  data_dir = data_dir or config.data.data_dir
  tokenizer_dir = tokenizer_dir or config.data.tokenizer_dir
  if data_dir and tokenizer_dir:
    return data_dir, tokenizer_dir
  from unibert_jax.data import prepare as data_preparation  # pylint: disable=g-import-not-at-top
  prepared = data_preparation.prepare_data(config, workdir)
  return data_dir or prepared['data_dir'], tokenizer_dir or prepared['tokenizer_dir']


def build_cache(config: ml_collections.ConfigDict, teacher_dir: str, workdir: str, *,
                data_dir: str | None = None, tokenizer_dir: str | None = None,
                max_shards: int | None = None,
                log: Callable[[str], None] = print) -> dict[str, Any]:
  """Writes (or completes) the teacher cache for this config; returns its statistics.

  Args:
    config: the student's run config (data, kd, train.steps, mesh).
    teacher_dir: a Hugging Face XLM-R-family directory sharing the student's tokenizer.
    workdir: the run's workdir (default data and cache locations).
    data_dir, tokenizer_dir: the prepared data; default: data_preparation.prepare_data.
    max_shards: stop after computing this many shards (a chunked job); None = all.
    log: receives one progress line per shard (process 0).

  Returns:
    dict(cache_dir, examples, complete, shards, computed_examples, masked_tokens, bytes,
    bytes_per_masked_token, sequences_per_sec, wall_seconds). sequences_per_sec counts the
    examples computed by this call after the first batch (compilation excluded).
  """
  from unibert_jax.data import input_pipeline  # pylint: disable=g-import-not-at-top
  started = time.perf_counter()
  if config.kd.logits_dtype not in DTYPES:
    raise ValueError(f'kd.logits_dtype must be one of {sorted(DTYPES)}, got '
                     f'{config.kd.logits_dtype!r}.')
  if not os.path.isdir(teacher_dir):
    raise FileNotFoundError(f'The teacher directory {teacher_dir} does not exist; pass a Hugging '
                            'Face XLM-R-family model directory (--teacher / kd.teacher_dir).')
  data_dir, tokenizer_dir = _resolve_data(config, workdir, data_dir, tokenizer_dir)
  directory = cache_dir(config, workdir)
  mesh = sharding.make_mesh(config.mesh.shape)
  batch_size = int(config.kd.batch_size)
  data_parallel = mesh.shape['data'] * mesh.shape['fsdp']
  if batch_size % data_parallel or batch_size % jax.process_count():
    raise ValueError(f'kd.batch_size ({batch_size}) must be a multiple of the data-parallel '
                     f'mesh size ({data_parallel}) and of the number of processes '
                     f'({jax.process_count()}).')

  teacher_cfg = hf_io.model_config_from_hf(hf_io.read_hf_config(teacher_dir))
  _check_vocabulary(teacher_cfg, teacher_dir, config, tokenizer_dir)
  identity = _identity(config, teacher_dir, _data_identity(config, data_dir, tokenizer_dir),
                       jax.process_count())
  os.makedirs(directory, exist_ok=True)
  existing = read_manifest(directory)
  if existing is not None:
    changed = sorted(k for k in identity if existing.get(k) != identity[k])
    if changed:
      details = ', '.join(f'{k}: cached {existing.get(k)!r}, now {identity[k]!r}'
                          for k in changed)
      raise TeacherCacheError(
          f'{directory} holds a teacher cache built from other settings ({details}). Delete it '
          f'to rebuild, or set kd.cache_dir to another directory.')
  if jax.process_index() == 0:
    _write_json(os.path.join(directory, MANIFEST), dict(identity, complete=False))

  examples, shard_size = identity['examples'], identity['examples_per_shard']
  num_shards = -(-examples // shard_size)
  process, process_count = jax.process_index(), jax.process_count()

  def shard_path(shard: int, process: int, ext: str) -> str:
    return os.path.join(directory, _shard_name(shard, process, process_count) + ext)

  def complete(shard: int) -> bool:  # on every process's file: all processes agree
    return all(os.path.exists(shard_path(shard, p, '.array_record'))
               and os.path.exists(shard_path(shard, p, '.json')) for p in range(process_count))

  todo = [s for s in range(num_shards) if not complete(s)]
  if max_shards is not None:
    todo = todo[:max_shards]
  for leftover in glob.glob(os.path.join(directory, f'*process-{process:03d}-*.tmp')):
    os.remove(leftover)  # a killed build's partial shard

  computed, steady_examples, steady_started = 0, 0, None
  if todo:
    encoder, _ = hf_io.load_hf_encoder(
        teacher_dir, dtype=config.kd.get('teacher_dtype', '') or config.model.dtype)
    state, top_k = _topk_program(encoder, config, mesh)
    del encoder
    progress = _Progress(num_shards, log)
    local = _local_rows(batch_size)
    batch_sh = sharding.batch_sharding(mesh)
    for count, shard in enumerate(todo):
      first, stop = shard * shard_size, min((shard + 1) * shard_size, examples)
      tmp_path = shard_path(shard, process, '.array_record.tmp')
      writer = array_record_module.ArrayRecordWriter(tmp_path, _WRITER_OPTIONS)
      masked = 0
      pending = None

      def write(pending) -> int:
        (values, indices), batch = pending
        values, indices = _fetch(values, mesh), _fetch(indices, mesh)
        rows = batch['real'][local]
        hashes = input_pipeline.example_hash(batch['input_ids'][local],
                                             batch['mlm_positions'][local])
        records, slots = _encode_records(
            values[rows], indices[rows], batch['mlm_weights'][local][rows],
            batch['example_index'][local][rows], hashes[rows])
        for record in records:
          writer.write(record)
        return slots

      for batch in input_pipeline.iterate_examples(config, data_dir, tokenizer_dir, first, stop,
                                                   batch_size=batch_size):
        real = len(batch['input_ids'])
        batch = _padded(batch, batch_size)
        batch['real'] = np.arange(batch_size) < real
        # Dispatch this batch before writing the previous one: the device never waits on disk.
        result = top_k(state, *(_put(batch[name], batch_sh)
                                for name in ('input_ids', 'attention_mask', 'mlm_positions')))
        if pending is not None:
          masked += write(pending)
        pending = (result, batch)
        if steady_started is None:
          jax.block_until_ready(result)
          steady_started = time.perf_counter()
        else:
          steady_examples += real
      if pending is not None:
        masked += write(pending)
      writer.close()
      final_path = shard_path(shard, process, '.array_record')
      _write_json(shard_path(shard, process, '.json'),
                  dict(examples=stop - first, masked_tokens=masked,
                       bytes=os.path.getsize(tmp_path)))
      os.replace(tmp_path, final_path)
      computed += stop - first
      progress.shard_done(shard, stop - first, len(todo) - count - 1)

  _sync('unibert_teacher_cache_written')
  done = all(complete(s) for s in range(num_shards))
  masked_tokens, total_bytes = 0, 0
  for shard in range(num_shards):
    for p in range(process_count):
      if os.path.exists(shard_path(shard, p, '.json')):
        with open(shard_path(shard, p, '.json')) as f:
          stats = json.load(f)
        masked_tokens += stats['masked_tokens']
        total_bytes += stats['bytes']
  if jax.process_index() == 0:
    _write_json(os.path.join(directory, MANIFEST),
                dict(identity, complete=done, masked_tokens=masked_tokens, bytes=total_bytes))
  steady_seconds = time.perf_counter() - steady_started if steady_started else 0.0
  return dict(
      cache_dir=directory, examples=examples, complete=done, shards=num_shards,
      computed_examples=computed, masked_tokens=masked_tokens, bytes=total_bytes,
      bytes_per_masked_token=total_bytes / max(masked_tokens, 1),
      sequences_per_sec=steady_examples / steady_seconds if steady_seconds > 0 else 0.0,
      wall_seconds=time.perf_counter() - started)


def _sync(name: str) -> None:
  if jax.process_count() > 1:
    from jax.experimental import multihost_utils  # pylint: disable=g-import-not-at-top
    multihost_utils.sync_global_devices(name)


# --- reading ---------------------------------------------------------------------------------

class TeacherCache:
  """Random access to a built teacher cache, validated against a run config.

  lookup(example_indices) -> (values float32 [n, P, K], indices int32 [n, P, K], hashes int64
  [n]); unused prediction slots hold zeros. Picklable (grain workers reopen the files) and
  safe to call from several threads.
  """

  def __init__(self, cache_dir: str, config: ml_collections.ConfigDict, *,
               data_dir: str | None = None, tokenizer_dir: str | None = None,
               teacher_dir: str | None = None, require_examples: int | None = None):
    """Raises FileNotFoundError (no cache) or TeacherCacheError (naming what does not fit).

    data_dir + tokenizer_dir, when given, are compared through their fingerprints;
    teacher_dir (default kd.teacher_dir, when it exists) through the teacher's weights.
    require_examples defaults to train.steps * data.batch_size.
    """
    self.directory = cache_dir
    manifest = read_manifest(cache_dir)
    if manifest is None:
      raise FileNotFoundError(
          f'No teacher cache in {cache_dir} ({MANIFEST} is missing). Build it with '
          f'`python launch/cache_teacher.py --config=<the run config> --teacher=<HF dir> '
          f'--workdir=<workdir>`.')
    rebuild = ('Rebuild the cache for this config with launch/cache_teacher.py, or point '
               'kd.cache_dir at a cache built for it.')
    if manifest.get('format_version') != FORMAT_VERSION or manifest.get('values') != VALUES:
      raise TeacherCacheError(f'The teacher cache in {cache_dir} has format '
                              f'{manifest.get("format_version")} ({manifest.get("values")}); '
                              f'this code reads format {FORMAT_VERSION} ({VALUES}). {rebuild}')
    if not manifest.get('complete'):
      raise TeacherCacheError(
          f'The teacher cache in {cache_dir} is unfinished; run launch/cache_teacher.py again '
          f'with the same arguments to complete it (it resumes).')
    mismatches = [f'{field}={manifest.get(key)!r} (this run: {_get(config, field)!r})'
                  for key, field in CONFIG_FIELDS.items()
                  if manifest.get(key) != _get(config, field)]
    if mismatches:
      raise TeacherCacheError(f'The teacher cache in {cache_dir} was built with '
                              f'{", ".join(mismatches)}. {rebuild}')
    needed = num_examples(config) if require_examples is None else require_examples
    if manifest['examples'] < needed:
      raise TeacherCacheError(
          f'The teacher cache in {cache_dir} covers {manifest["examples"]} examples but this run '
          f'needs {needed} (train.steps * data.batch_size). {rebuild}')
    if data_dir and tokenizer_dir:
      actual = _data_identity(config, data_dir, tokenizer_dir)
      for key, what in (('tokenizer_fingerprint', f'the tokenizer in {tokenizer_dir}'),
                        ('data_fingerprint', f'the data in {data_dir}')):
        if manifest.get(key) != actual[key]:
          raise TeacherCacheError(f'The teacher cache in {cache_dir} was built for other data: '
                                  f'{what} differs from the one it was built with ({key}). '
                                  f'{rebuild}')
    teacher_dir = teacher_dir or config.kd.get('teacher_dir', '')
    if teacher_dir and os.path.isdir(teacher_dir):
      if manifest['teacher_fingerprint'] != teacher_fingerprint(teacher_dir):
        raise TeacherCacheError(f'The teacher cache in {cache_dir} was built from another '
                                f'teacher than {teacher_dir} (its weights or config differ). '
                                f'{rebuild}')
    self.manifest = manifest
    self.examples = int(manifest['examples'])
    self.top_k = int(manifest['top_k'])
    self.max_predictions = int(manifest['max_predictions'])
    self._shard_size = int(manifest['examples_per_shard'])
    self._batch = int(manifest['kd_batch_size'])
    self._process_count = int(manifest['process_count'])
    self._values_dtype = np.dtype(DTYPES[manifest['logits_dtype']])
    self._readers: dict[str, Any] = {}
    self._lock = threading.Lock()

  def __getstate__(self):
    state = dict(self.__dict__)
    state['_readers'], state['_lock'] = {}, None
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._lock = threading.Lock()

  def _location(self, example_index: np.ndarray) -> tuple[np.ndarray, ...]:
    """(shard, process, record) of each example (see the module docstring for the layout)."""
    shard, offset = np.divmod(example_index, self._shard_size)
    batch, row = np.divmod(offset, self._batch)
    per_process = self._batch // self._process_count
    process, local_row = np.divmod(row, per_process)
    return shard, process, batch * per_process + local_row

  def _reader(self, shard: int, process: int):
    path = os.path.join(self.directory,
                        _shard_name(shard, process, self._process_count) + '.array_record')
    reader = self._readers.get(path)
    if reader is None:
      if not os.path.exists(path):
        raise FileNotFoundError(f'The teacher cache file {path} is missing; rebuild the cache '
                                'with launch/cache_teacher.py (it resumes).')
      reader = array_record_module.ArrayRecordReader(path, _READER_OPTIONS)
      self._readers[path] = reader
    return reader

  def lookup(self, example_indices) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    example_indices = np.asarray(example_indices, np.int64).reshape(-1)
    n, slots, k = len(example_indices), self.max_predictions, self.top_k
    if n and (example_indices.min() < 0 or example_indices.max() >= self.examples):
      raise IndexError(
          f'Example index {int(example_indices.max())} is outside the {self.examples} examples '
          f'of the teacher cache in {self.directory} (it covers train.steps * data.batch_size '
          f'of the run it was built for).')
    values = np.zeros((n, slots, k), np.float32)
    indices = np.zeros((n, slots, k), np.int32)
    hashes = np.zeros((n,), np.int64)
    shard, process, record = self._location(example_indices)
    value_bytes = k * self._values_dtype.itemsize
    with self._lock:
      for key in sorted(set(zip(shard.tolist(), process.tolist()))):
        rows = np.flatnonzero((shard == key[0]) & (process == key[1]))
        raw = self._reader(*key).read(record[rows].tolist())
        for row, data in zip(rows, raw):
          header = np.frombuffer(data, _HEADER, count=1)[0]
          if header['example_index'] != example_indices[row]:
            raise TeacherCacheError(
                f'The teacher cache in {self.directory} is damaged: the record for example '
                f'{example_indices[row]} holds example {header["example_index"]}. Rebuild it.')
          m = int(header['slots'])
          start = _HEADER.itemsize
          values[row, :m] = np.frombuffer(data, self._values_dtype, m * k, start).reshape(m, k)
          start += m * value_bytes
          indices[row, :m] = np.frombuffer(data, '<i4', m * k, start).reshape(m, k)
          hashes[row] = header['hash']
    return values, indices, hashes

  def close(self) -> None:
    with self._lock:
      for reader in self._readers.values():
        reader.close()
      self._readers.clear()


def open_cache(config: ml_collections.ConfigDict, workdir: str, **kwargs) -> TeacherCache:
  """The run's teacher cache (kd.cache_dir or <workdir>/teacher_cache), validated."""
  return TeacherCache(cache_dir(config, workdir), config, **kwargs)


def iterate_records(cache_dir: str) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
  """(example_index, hash, values [slots, k] float32, indices [slots, k]) of every record, in file
  order; for inspection and tests."""
  manifest = read_manifest(cache_dir)
  if manifest is None:
    raise FileNotFoundError(f'No teacher cache in {cache_dir}.')
  dtype, k = np.dtype(DTYPES[manifest['logits_dtype']]), int(manifest['top_k'])
  for path in sorted(glob.glob(os.path.join(cache_dir, 'shard-*.array_record'))):
    reader = array_record_module.ArrayRecordReader(path)
    try:
      for data in reader.read_all():
        header = np.frombuffer(data, _HEADER, count=1)[0]
        m = int(header['slots'])
        values = np.frombuffer(data, dtype, m * k, _HEADER.itemsize).reshape(m, k)
        indices = np.frombuffer(data, '<i4', m * k,
                                _HEADER.itemsize + m * k * dtype.itemsize).reshape(m, k)
        yield int(header['example_index']), int(header['hash']), values.astype(np.float32), indices
    finally:
      reader.close()

