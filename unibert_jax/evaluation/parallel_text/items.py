"""One aligned translation pair, the JSON-lines file of a set, and the hash of the items."""

from collections.abc import Iterable, Mapping
import dataclasses
import hashlib
import json
import os


@dataclasses.dataclass(frozen=True, order=True, slots=True)
class Item:
  """An English text and its real translation, aligned by the source's own key."""
  key: str        # alignment key, unique per (set, language), e.g. 'ftl:browser/x.ftl#msg'
  language: str   # Wikipedia code of the target language (unibert_jax.data.languages)
  english: str
  target: str


def write_jsonl(path: str, items: Iterable[Item]) -> int:
  """Writes the items sorted by (language, key), atomically; returns the file size in bytes."""
  ordered = sorted(items, key=lambda item: (item.language, item.key))
  partial = path + '.partial'
  with open(partial, 'w', encoding='utf-8') as f:
    for item in ordered:
      f.write(json.dumps({'key': item.key, 'language': item.language, 'english': item.english,
                          'target': item.target}, ensure_ascii=False) + '\n')
  os.replace(partial, path)
  return os.path.getsize(path)


def read_jsonl(path: str) -> list[Item]:
  with open(path, encoding='utf-8') as f:
    return [Item(**json.loads(line)) for line in f if line.strip()]


def items_sha256(items_by_set: Mapping[str, Iterable[Item]]) -> str:
  """sha256 over the sorted (set, key, language, english, target) tuples of all sets.

  Sorting makes the hash independent of the order the items were read or built in; any change
  to one item's text, key or language changes it.
  """
  rows = sorted((set_name, item.key, item.language, item.english, item.target)
                for set_name, items in items_by_set.items() for item in items)
  digest = hashlib.sha256()
  for row in rows:
    digest.update(json.dumps(row, ensure_ascii=False).encode('utf-8') + b'\n')
  return digest.hexdigest()
