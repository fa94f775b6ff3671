"""The cache's manifest.json: what was built, from which package versions, and what is missing.

{
  "format": 1, "min_items": 1000, "updated": "<UTC time>",
  "packages": {"<package>": "<version obtained>", ...},
  "sets": {"R1": {"file": "R1.jsonl", "bytes": ..., "items": ..., "sha256": ...,
                  "languages": {"<language>": <items>}, "missing_languages": {...},
                  "near_copies": {...}, "filter_stats": {...}, "seconds": {...}}, ...},
  "missing_sets": {"<set>": "<why it could not be built>"},
  "item_sha256": "<sha256 over the sorted (set, key, language, english, target) of all sets>"
}
Numbers are comparable only between builds with the same item_sha256 (Debian moves on).
"""

import datetime
import json
import os

FILE_NAME = 'manifest.json'
FORMAT = 1


def path(cache_dir: str) -> str:
  return os.path.join(cache_dir, FILE_NAME)


def set_file(set_name: str) -> str:
  return f'{set_name}.jsonl'


def empty(min_items: int) -> dict:
  return {'format': FORMAT, 'min_items': min_items, 'updated': '', 'packages': {}, 'sets': {},
          'missing_sets': {}, 'item_sha256': ''}


def read(cache_dir: str) -> dict | None:
  """The manifest in `cache_dir`, or None when there is none."""
  try:
    with open(path(cache_dir), encoding='utf-8') as f:
      return json.load(f)
  except FileNotFoundError:
    return None
  except json.JSONDecodeError as error:
    raise ValueError(f'{path(cache_dir)} is not valid JSON ({error}); delete it to rebuild the '
                     f'sets.') from None


def read_for_build(cache_dir: str, min_items: int) -> dict:
  """The manifest to build on: empty when there is none or it was built with another format or
  `min_items` (then every set is built again)."""
  manifest = read(cache_dir)
  if manifest is None or manifest.get('format') != FORMAT or manifest.get('min_items') != min_items:
    return empty(min_items)
  return manifest


def write(cache_dir: str, manifest: dict) -> None:
  manifest['updated'] = datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')
  partial = path(cache_dir) + '.partial'
  with open(partial, 'w', encoding='utf-8') as f:
    json.dump(manifest, f, ensure_ascii=False, indent=1, sort_keys=True)
    f.write('\n')
  os.replace(partial, path(cache_dir))


def is_built(manifest: dict, cache_dir: str, set_name: str) -> bool:
  """The set is in the manifest and its file is there with the recorded size."""
  entry = manifest['sets'].get(set_name)
  if not entry:
    return False
  file_path = os.path.join(cache_dir, entry['file'])
  return os.path.exists(file_path) and os.path.getsize(file_path) == entry['bytes']
