"""Checksums of the files a stage wrote, recorded beside them and verified before they are read.

A damaged data file (a flipped block, a truncation) otherwise surfaces late, deep in a reader,
as an error that names no file: e.g. ArrayRecord's "Corrupted Riegeli/records file" tens of
steps into training. `record` writes `checksums.json` (size and blake2b of each file);
`verify` re-reads them and raises DamagedFileError naming the first file that differs and the
fix. Directories written before checksums existed get them recorded on first use.
"""

import hashlib
import json
import os

CHECKSUMS_FILE = 'checksums.json'
_CHUNK = 1 << 20


class DamagedFileError(ValueError):
  """A file differs from what was written; the message names it and how to rebuild it."""


def file_digest(path: str) -> str:
  digest = hashlib.blake2b(digest_size=16)
  with open(path, 'rb') as f:
    for chunk in iter(lambda: f.read(_CHUNK), b''):
      digest.update(chunk)
  return digest.hexdigest()


def _files(directory: str) -> list[str]:
  """Every file under `directory` but the checksums themselves, relative and sorted."""
  found = []
  for root, _, names in os.walk(directory):
    for name in names:
      path = os.path.relpath(os.path.join(root, name), directory)
      if path != CHECKSUMS_FILE:
        found.append(path)
  return sorted(found)


def record(directory: str) -> dict[str, dict]:
  """Writes checksums.json for every file under `directory`; returns the record."""
  entries = {path: {'bytes': os.path.getsize(os.path.join(directory, path)),
                    'blake2b': file_digest(os.path.join(directory, path))}
             for path in _files(directory)}
  target = os.path.join(directory, CHECKSUMS_FILE)
  with open(target + '.tmp', 'w') as f:
    json.dump(entries, f, indent=1, sort_keys=True)
  os.replace(target + '.tmp', target)
  return entries


def verify(directory: str, fix: str) -> None:
  """Raises DamagedFileError unless every recorded file is there, whole and unchanged.

  fix: what to do about a damaged file (e.g. 'delete <dir> to rebuild it').
  """
  path = os.path.join(directory, CHECKSUMS_FILE)
  if not os.path.exists(path):
    record(directory)   # written before checksums were kept: trust it from now on
    return
  try:
    with open(path) as f:
      entries = json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise DamagedFileError(f'{path} is damaged ({error}); {fix}.') from error
  for name, expected in entries.items():
    file_path = os.path.join(directory, name)
    if not os.path.exists(file_path):
      raise DamagedFileError(f'{file_path} is missing; {fix}.')
    size = os.path.getsize(file_path)
    if size != expected['bytes'] or file_digest(file_path) != expected['blake2b']:
      raise DamagedFileError(f'{file_path} differs from what was written ({size} bytes, '
                             f'{expected["bytes"]} written; checksum mismatch): it is damaged; '
                             f'{fix}.')
