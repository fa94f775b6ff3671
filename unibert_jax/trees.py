"""Nested dicts of arrays: flattening to key paths and re-keying like a template.

Checkpoints and exports store trees with string keys (layer numbers as strings, stable across
flax versions and readable by any tool); NNX states use integer keys for list indices.
"""

from typing import Any, Callable


def flatten(tree: Any, prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
  """{(key, key, ...): leaf} with every key as a string."""
  if isinstance(tree, dict):
    flat = {}
    for key, value in tree.items():
      flat.update(flatten(value, prefix + (str(key),)))
    return flat
  return {prefix: tree}


def unflatten(flat: dict[tuple[str, ...], Any]) -> dict:
  """The inverse of flatten."""
  tree: dict = {}
  for path, value in flat.items():
    node = tree
    for key in path[:-1]:
      node = node.setdefault(key, {})
    node[path[-1]] = value
  return tree


def stringify_keys(tree: Any) -> Any:
  """The same tree with every dict key a string."""
  if isinstance(tree, dict):
    return {str(k): stringify_keys(v) for k, v in tree.items()}
  return tree


def keys_like(template: Any, tree: Any,
              leaf: Callable[[Any, Any], Any] = lambda template, value: value) -> Any:
  """`tree` (string keys) re-keyed like `template` (any keys); leaf(template_leaf, value)."""
  if isinstance(template, dict):
    return {k: keys_like(v, tree[str(k)], leaf) for k, v in template.items()}
  return leaf(template, tree)
