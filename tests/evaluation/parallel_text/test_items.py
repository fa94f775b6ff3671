"""Items, their JSON-lines files and the item-set hash."""

import dataclasses

from unibert_jax.evaluation.parallel_text import items as items_lib
from unibert_jax.evaluation.parallel_text.items import Item

ITEMS = [Item('k1', 'de', 'Open the file now', 'Datei jetzt öffnen'),
         Item('k2', 'de', 'Close the window now', 'Fenster jetzt schließen'),
         Item('k1', 'ja', 'Open the file now', 'ファイルを今すぐ開く')]


def test_hash_ignores_order():
  assert (items_lib.items_sha256({'R1': ITEMS}) ==
          items_lib.items_sha256({'R1': list(reversed(ITEMS))}))


def test_hash_changes_when_one_item_changes():
  changed = ITEMS[:2] + [dataclasses.replace(ITEMS[2], target='ファイルを開く')]
  assert items_lib.items_sha256({'R1': ITEMS}) != items_lib.items_sha256({'R1': changed})


def test_hash_depends_on_the_set_name():
  assert items_lib.items_sha256({'R1': ITEMS}) != items_lib.items_sha256({'R2': ITEMS})


def test_jsonl_round_trip(tmp_path):
  path = str(tmp_path / 'R1.jsonl')
  size = items_lib.write_jsonl(path, ITEMS)
  assert size == (tmp_path / 'R1.jsonl').stat().st_size
  assert sorted(items_lib.read_jsonl(path)) == sorted(ITEMS)
  assert 'ファイル' in (tmp_path / 'R1.jsonl').read_text(encoding='utf-8')
