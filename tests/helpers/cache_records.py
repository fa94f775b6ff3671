"""What a teacher-cache build wrote: every record in file order, and the files' bytes."""

import glob
import os
from typing import Iterator

from array_record.python import array_record_module
import numpy as np

from unibert_jax.teacher import cache_format as fmt


def iterate_records(cache_dir: str) -> Iterator[tuple[int, int, np.ndarray, np.ndarray]]:
  """(example_index, hash, values [slots, k] float32, indices [slots, k]) of every record."""
  manifest = fmt.read_manifest(cache_dir)
  if manifest is None:
    raise FileNotFoundError(f'No teacher cache in {cache_dir}.')
  dtype, k = np.dtype(fmt.LOGITS_DTYPES[manifest['logits_dtype']]), int(manifest['top_k'])
  for path in sorted(glob.glob(os.path.join(cache_dir, 'shard-*.array_record'))):
    reader = array_record_module.ArrayRecordReader(path)
    try:
      for data in reader.read_all():
        example, hash_, values, indices = fmt.decode_record(data, dtype, k)
        yield example, hash_, values.astype(np.float32), indices
    finally:
      reader.close()


def cache_files(directory) -> dict[str, bytes]:
  return {name: open(os.path.join(directory, name), 'rb').read()
          for name in sorted(os.listdir(directory))}
