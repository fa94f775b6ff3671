"""The teacher cache on disk: its layout, record codec, manifest and the identity it is keyed by.

Under kd.cache_dir (default <workdir>/teacher_cache):

    manifest.json                                  what the cache was built from (`identity`)
    shard-00000-process-000-of-001.array_record    examples [0, S) of this process's rows
    shard-00000-process-000-of-001.json            its statistics; written before the shard
    ...

A shard holds a fixed number S of examples (kd.examples_per_shard, rounded up to a multiple of
kd.batch_size). With several processes (a shared filesystem), process p writes the rows
p*b/n..(p+1)*b/n of every teacher batch of b = kd.batch_size rows into its own file per shard.

One record per example: a little-endian header (example_index int64, hash int64, slots int32)
then values [slots, k] (bfloat16 or float16) and indices [slots, k] int32, for the `slots` real
prediction slots (the masking puts them first). zstd-compressed ArrayRecord, group size 1 for
random access. Values are log-probabilities, log_softmax(logits)[top k]: the logits shifted by a
per-slot constant, which the distillation loss (a softmax over the k values) does not see, and
which keeps the teacher's top-k mass and bf16/fp16 precision near the top.
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from typing import Any, Iterable

import ml_collections
import ml_dtypes
import numpy as np

from unibert_jax import run_dir
from unibert_jax.data import corpus
from unibert_jax.data import input_pipeline
from unibert_jax.data import packing
from unibert_jax.data import tokenizer as tokenizer_lib
from unibert_jax.export import hf_format

FORMAT_VERSION = 1
MANIFEST = 'manifest.json'
CACHED_VALUE_KIND = 'log_probs'
LOGITS_DTYPES = {'bfloat16': ml_dtypes.bfloat16, 'float16': np.float16}
HEADER = np.dtype([('example_index', '<i8'), ('hash', '<i8'), ('slots', '<i4')])
WRITER_OPTIONS = 'group_size:1,zstd:1'
READER_OPTIONS = 'readahead_buffer_size:0,max_parallelism:0'  # random access

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


class TeacherCacheError(ValueError):
  """A teacher cache that does not fit the run (other settings, data or tokenizer), or damage."""


def config_value(config: ml_collections.ConfigDict, dotted: str) -> Any:
  value = config
  for part in dotted.split('.'):
    value = value[part]
  return value


def cache_dir(config: ml_collections.ConfigDict, workdir: str) -> str:
  return config.kd.cache_dir or run_dir.RunDir(workdir).teacher_cache


def num_examples(config: ml_collections.ConfigDict) -> int:
  """The stream positions the student trains on: train.steps * data.batch_size."""
  return int(config.train.steps) * int(config.data.batch_size)


def examples_per_shard(config: ml_collections.ConfigDict) -> int:
  batch = int(config.kd.batch_size)
  return -(-int(config.kd.examples_per_shard) // batch) * batch


def shard_name(shard: int, process: int, process_count: int) -> str:
  return f'shard-{shard:05d}-process-{process:03d}-of-{process_count:03d}'


def shard_path(directory: str, shard: int, process: int, process_count: int, ext: str) -> str:
  return os.path.join(directory, shard_name(shard, process, process_count) + ext)


# --- records -----------------------------------------------------------------------------------

def example_hash(input_ids: np.ndarray, mlm_positions: np.ndarray) -> np.ndarray:
  """int64 [n]: 8 bytes of blake2b over each row's masked int32 input_ids and mlm_positions.

  The cache stores it per example; it changes with the data, the tokenizer and the masking
  seed, so a cache built for other inputs is caught at the first batch.
  """
  ids = np.ascontiguousarray(input_ids, '<i4')
  positions = np.ascontiguousarray(mlm_positions, '<i4')
  digests = b''.join(
      hashlib.blake2b(row_ids.tobytes() + row_positions.tobytes(), digest_size=8).digest()
      for row_ids, row_positions in zip(ids, positions))
  return np.frombuffer(digests, '<i8').astype(np.int64)


def encode_records(values: np.ndarray, indices: np.ndarray, weights: np.ndarray,
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
    header = np.array([(example_index[row], hashes[row], counts[row])], HEADER)
    n = counts[row]
    records.append(header.tobytes() + values[row, :n].tobytes()
                   + np.ascontiguousarray(indices[row, :n], '<i4').tobytes())
  return records, int(counts.sum())


def decode_record(data: bytes, values_dtype: np.dtype,
                  k: int) -> tuple[int, int, np.ndarray, np.ndarray]:
  """(example_index, hash, values [slots, k], indices [slots, k]) of one record."""
  header = np.frombuffer(data, HEADER, count=1)[0]
  m = int(header['slots'])
  start = HEADER.itemsize
  values = np.frombuffer(data, values_dtype, m * k, start).reshape(m, k)
  start += m * k * values_dtype.itemsize
  indices = np.frombuffer(data, '<i4', m * k, start).reshape(m, k)
  return int(header['example_index']), int(header['hash']), values, indices


# --- fingerprints and the manifest -------------------------------------------------------------

def content_digest(path: str) -> str:
  """blake2b of a file's bytes (a shard's checksum, recorded when it is written)."""
  with open(path, 'rb') as f:
    return hashlib.file_digest(f, 'blake2b').hexdigest()


def files_digest(paths: Iterable[str]) -> str:
  """One hash over several files' names and contents."""
  digest = hashlib.blake2b(digest_size=16)
  for path in paths:
    digest.update(os.path.basename(path).encode() + b'\0')
    with open(path, 'rb') as f:
      digest.update(hashlib.file_digest(f, 'blake2b').digest())
  return digest.hexdigest()


def teacher_fingerprint(teacher_dir: str) -> str:
  """A hash of the teacher's config.json and weights (not of its path)."""
  weights = sorted(glob.glob(os.path.join(teacher_dir, '*.safetensors')))
  return files_digest([os.path.join(teacher_dir, hf_format.CONFIG_FILE)] + weights)


def data_fingerprint(packed_dir: str | None, data_dir: str) -> str:
  """A hash of the packed training split's description and the corpus statistics.

  Cheap on any corpus size: the per-example hashes catch what this misses.
  """
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


def data_identity(config: ml_collections.ConfigDict, data_dir: str,
                  tokenizer_dir: str) -> dict[str, str]:
  """The fingerprints of the tokenizer and the packed training data a cache is built for."""
  packed, _ = input_pipeline.load_split(config, data_dir, tokenizer_dir, 'train')
  return dict(
      tokenizer_fingerprint=packing.tokenizer_fingerprint(
          tokenizer_lib.load_tokenizer(tokenizer_dir)),
      data_fingerprint=data_fingerprint(packed.path, data_dir))


def identity(config: ml_collections.ConfigDict, teacher_dir: str, data_ids: dict,
             process_count: int) -> dict[str, Any]:
  """Everything the cached values depend on; a resumed build must match it exactly."""
  return dict(
      {key: config_value(config, field) for key, field in CONFIG_FIELDS.items()},
      format_version=FORMAT_VERSION,
      values=CACHED_VALUE_KIND,
      logits_dtype=str(config.kd.logits_dtype),
      teacher_fingerprint=teacher_fingerprint(teacher_dir),
      examples=num_examples(config),
      examples_per_shard=examples_per_shard(config),
      kd_batch_size=int(config.kd.batch_size),
      process_count=int(process_count),
      **data_ids,
  )


def differences(manifest: dict[str, Any], expected: dict[str, Any]) -> list[str]:
  """'key: cached X, now Y' for every key of `expected` the manifest disagrees with."""
  return [f'{key}: cached {manifest.get(key)!r}, now {value!r}'
          for key, value in sorted(expected.items()) if manifest.get(key) != value]


def read_manifest(directory: str) -> dict[str, Any] | None:
  """The manifest, None where there is none; a damaged one raises TeacherCacheError."""
  path = os.path.join(directory, MANIFEST)
  if not os.path.exists(path):
    return None
  try:
    with open(path) as f:
      return json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise TeacherCacheError(f'{path} is damaged ({error}); delete {directory} to rebuild the '
                            'teacher cache.') from error


def read_json(path: str) -> dict[str, Any]:
  try:
    with open(path) as f:
      return json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise TeacherCacheError(f'{path} is damaged ({error}); delete it and the shard beside it, '
                            'then rerun to rebuild that shard.') from error


def write_json(path: str, content: dict) -> None:
  """Written aside and renamed: a reader never sees half a file."""
  with open(path + '.tmp', 'w') as f:
    json.dump(content, f, indent=1, sort_keys=True)
  os.replace(path + '.tmp', path)
