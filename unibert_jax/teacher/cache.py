"""Reads the teacher cache: validated against the run, joined to every training batch.

TeacherCache checks the manifest against the run config (a mismatch names the field and says to
rebuild), optionally the data and teacher fingerprints and every shard's checksum, and serves
lookup(example_indices). Its `join` adds the teacher's top-k to a batch of examples and checks
each example's hash, the backstop that catches any other mismatch at the first batch.
"""

from __future__ import annotations

import os
import threading
from typing import Any, Callable

from array_record.python import array_record_module
import ml_collections
import numpy as np

from unibert_jax.teacher import cache_format as fmt

_REBUILD = ('Rebuild the cache for this config with launch/cache_teacher.py, or point '
            'kd.cache_dir at a cache built for it.')


class TeacherCacheMismatchError(ValueError):
  """The teacher cache was built for other examples than the ones the stream produces."""


def _mismatch(where: str, example_index: int, detail: str = '') -> TeacherCacheMismatchError:
  return TeacherCacheMismatchError(
      f'teacher cache {where} does not match the data at example {example_index}: it was built '
      f'for other data, another tokenizer or another masking seed (data.mask_seed){detail}; '
      f'rebuild it with launch/cache_teacher.py')


def join_top_k(batch: dict[str, np.ndarray], lookup: Callable, where: str) -> None:
  """Adds teacher_topk_values/indices to `batch` from lookup(batch['example_index']).

  lookup returns (values [n, P, k], indices [n, P, k], hashes [n]); a hash that differs from
  the example's own raises TeacherCacheMismatchError naming the example.
  """
  example_index = batch['example_index'].astype(np.int64)
  values, indices, hashes = lookup(example_index)
  values, indices, hashes = np.asarray(values), np.asarray(indices), np.asarray(hashes)
  if hashes.dtype == np.uint64:
    hashes = hashes.view(np.int64)
  expected_shape = batch['mlm_positions'].shape
  if values.shape[:2] != expected_shape or indices.shape != values.shape:
    raise _mismatch(where, int(example_index[0]),
                    f', or for another data.max_predictions (top-k arrays of shape '
                    f'{values.shape}, {indices.shape}; expected {expected_shape} + (k,))')
  wrong = np.flatnonzero(fmt.example_hash(batch['input_ids'], batch['mlm_positions'])
                         != hashes.astype(np.int64))
  if wrong.size:
    raise _mismatch(where, int(example_index[wrong[0]]))
  batch['teacher_topk_values'] = values.astype(np.float32)
  batch['teacher_topk_indices'] = indices.astype(np.int32)


def _check_manifest(manifest: dict[str, Any] | None, directory: str,
                    config: ml_collections.ConfigDict, needed: int) -> dict[str, Any]:
  if manifest is None:
    raise FileNotFoundError(
        f'No teacher cache in {directory} ({fmt.MANIFEST} is missing). Build it with '
        f'`python launch/cache_teacher.py --config=<the run config> --teacher=<HF dir> '
        f'--workdir=<workdir>`.')
  if (manifest.get('format_version') != fmt.FORMAT_VERSION
      or manifest.get('values') != fmt.CACHED_VALUE_KIND):
    raise fmt.TeacherCacheError(
        f'The teacher cache in {directory} has format {manifest.get("format_version")} '
        f'({manifest.get("values")}); this code reads format {fmt.FORMAT_VERSION} '
        f'({fmt.CACHED_VALUE_KIND}). {_REBUILD}')
  if not manifest.get('complete'):
    raise fmt.TeacherCacheError(
        f'The teacher cache in {directory} is unfinished; run launch/cache_teacher.py again '
        f'with the same arguments to complete it (it resumes).')
  mismatches = [f'{field}={manifest.get(key)!r} (this run: {fmt.config_value(config, field)!r})'
                for key, field in fmt.CONFIG_FIELDS.items()
                if manifest.get(key) != fmt.config_value(config, field)]
  if mismatches:
    raise fmt.TeacherCacheError(f'The teacher cache in {directory} was built with '
                                f'{", ".join(mismatches)}. {_REBUILD}')
  if manifest['examples'] < needed:
    raise fmt.TeacherCacheError(
        f'The teacher cache in {directory} covers {manifest["examples"]} examples but this run '
        f'needs {needed} (train.steps * data.batch_size). {_REBUILD}')
  return manifest


def _check_fingerprints(manifest: dict[str, Any], directory: str, config,
                        data_dir: str | None, tokenizer_dir: str | None,
                        teacher_dir: str | None) -> None:
  if data_dir and tokenizer_dir:
    actual = fmt.data_identity(config, data_dir, tokenizer_dir)
    for key, what in (('tokenizer_fingerprint', f'the tokenizer in {tokenizer_dir}'),
                      ('data_fingerprint', f'the data in {data_dir}')):
      if manifest.get(key) != actual[key]:
        raise fmt.TeacherCacheError(f'The teacher cache in {directory} was built for other '
                                    f'data: {what} differs from the one it was built with '
                                    f'({key}). {_REBUILD}')
  if teacher_dir and os.path.isdir(teacher_dir):
    if manifest['teacher_fingerprint'] != fmt.teacher_fingerprint(teacher_dir):
      raise fmt.TeacherCacheError(f'The teacher cache in {directory} was built from another '
                                  f'teacher than {teacher_dir} (its weights or config differ). '
                                  f'{_REBUILD}')


def shard_files(manifest: dict[str, Any], directory: str) -> list[tuple[str, str]]:
  """(shard file, its statistics file) of every shard of a cache."""
  process_count = int(manifest['process_count'])
  num_shards = -(-int(manifest['examples']) // int(manifest['examples_per_shard']))
  return [(fmt.shard_path(directory, shard, process, process_count, '.array_record'),
           fmt.shard_path(directory, shard, process, process_count, '.json'))
          for shard in range(num_shards) for process in range(process_count)]


def verify_shards(manifest: dict[str, Any], directory: str) -> None:
  """Every shard is there and its bytes match the checksum recorded when it was written."""
  for path, stats_path in shard_files(manifest, directory):
    fix = (f'delete it and {os.path.basename(stats_path)}, then rerun: the missing shard is '
           'rebuilt (launch/cache_teacher.py, or the main job)')
    if not os.path.exists(path) or not os.path.exists(stats_path):
      raise fmt.TeacherCacheError(f'The teacher cache file {path} or its statistics are missing; '
                                  f'{fix}.')
    stats = fmt.read_json(stats_path)
    if os.path.getsize(path) != stats['bytes']:
      raise fmt.TeacherCacheError(f'The teacher cache file {path} has {os.path.getsize(path)} '
                                  f'bytes, not the {stats["bytes"]} written: it is damaged; '
                                  f'{fix}.')
    if 'blake2b' in stats and fmt.content_digest(path) != stats['blake2b']:
      raise fmt.TeacherCacheError(f'The teacher cache file {path} does not match the checksum '
                                  f'recorded when it was written: it is damaged; {fix}.')


class TeacherCache:
  """Random access to a built teacher cache, validated against a run config.

  lookup(example_indices) -> (values float32 [n, P, K], indices int32 [n, P, K], hashes int64
  [n]); unused prediction slots hold zeros. Picklable (grain workers reopen the files) and
  safe to call from several threads.
  """

  def __init__(self, directory: str, config: ml_collections.ConfigDict, *,
               data_dir: str | None = None, tokenizer_dir: str | None = None,
               teacher_dir: str | None = None, require_examples: int | None = None,
               verify: bool = False):
    """Raises FileNotFoundError (no cache) or TeacherCacheError (naming what does not fit).

    data_dir + tokenizer_dir, when given, are compared through their fingerprints; teacher_dir,
    when it exists, through the teacher's weights. require_examples defaults to train.steps *
    data.batch_size. verify: check every shard against its recorded checksum.
    """
    self.directory = directory
    needed = fmt.num_examples(config) if require_examples is None else require_examples
    manifest = _check_manifest(fmt.read_manifest(directory), directory, config, needed)
    _check_fingerprints(manifest, directory, config, data_dir, tokenizer_dir, teacher_dir)
    if verify:
      verify_shards(manifest, directory)
    self.manifest = manifest
    self.examples = int(manifest['examples'])
    self.top_k = int(manifest['top_k'])
    self.max_predictions = int(manifest['max_predictions'])
    self._shard_size = int(manifest['examples_per_shard'])
    self._batch = int(manifest['kd_batch_size'])
    self._process_count = int(manifest['process_count'])
    self._values_dtype = np.dtype(fmt.LOGITS_DTYPES[manifest['logits_dtype']])
    self._readers: dict[str, Any] = {}
    self._lock = threading.Lock()

  def __getstate__(self):
    state = dict(self.__dict__)
    state['_readers'], state['_lock'] = {}, None
    return state

  def __setstate__(self, state):
    self.__dict__.update(state)
    self._lock = threading.Lock()

  def join(self, batch: dict[str, np.ndarray]) -> None:
    """Adds the cached top-k of the batch's examples (input_pipeline's BatchJoin)."""
    join_top_k(batch, self.lookup, self.directory)

  def _location(self, example_index: np.ndarray) -> tuple[np.ndarray, ...]:
    """(shard, process, record) of each example (see cache_format for the layout)."""
    shard, offset = np.divmod(example_index, self._shard_size)
    batch, row = np.divmod(offset, self._batch)
    per_process = self._batch // self._process_count
    process, local_row = np.divmod(row, per_process)
    return shard, process, batch * per_process + local_row

  def _reader(self, shard: int, process: int):
    path = fmt.shard_path(self.directory, shard, process, self._process_count, '.array_record')
    reader = self._readers.get(path)
    if reader is None:
      if not os.path.exists(path):
        raise FileNotFoundError(f'The teacher cache file {path} is missing; rebuild the cache '
                                'with launch/cache_teacher.py (it resumes).')
      reader = array_record_module.ArrayRecordReader(path, fmt.READER_OPTIONS)
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
    with self._lock:
      for key in sorted(set(zip(shard.tolist(), process.tolist()))):
        rows = np.flatnonzero((shard == key[0]) & (process == key[1]))
        for row, data in zip(rows, self._reader(*key).read(record[rows].tolist())):
          example, hashes[row], row_values, row_indices = fmt.decode_record(
              data, self._values_dtype, k)
          if example != example_indices[row]:
            raise fmt.TeacherCacheError(
                f'The teacher cache in {self.directory} is damaged: the record for example '
                f'{example_indices[row]} holds example {example}. Rebuild it.')
          values[row, :len(row_values)] = row_values
          indices[row, :len(row_indices)] = row_indices
    return values, indices, hashes

  def close(self) -> None:
    with self._lock:
      for reader in self._readers.values():
        reader.close()
      self._readers.clear()
