"""P1's lexical hard negatives: near-duplicate English strings of the same file (offline_eval §5).

The negative of an item i is another item j of the same group (Firefox file, LibreOffice .mo
domain) whose English word set has Jaccard >= 0.5 with i's and whose normalised English
differs ("Skia is currently disabled." / "... enabled."). Per group, the word-set
intersections of all pairs are one sparse matrix product.
"""

from collections.abc import Mapping
import collections
import re

import numpy as np
from scipy import sparse

from unibert_jax.evaluation.parallel_text import filters

MIN_JACCARD = 0.5
_WORD = re.compile(r'\w+')


def group_of(key: str) -> str:
  """'ftl:<path>' or 'prop:<path>' for Firefox keys, the .mo domain for LibreOffice keys."""
  if key.startswith(('ftl:', 'prop:')):
    return key.split('#', 1)[0]
  return key.split('|', 1)[0]


def word_set(text: str) -> frozenset[str]:
  return frozenset(_WORD.findall(text.lower()))


def find(english_by_key: Mapping[str, str], min_jaccard: float = MIN_JACCARD
         ) -> dict[str, list[tuple[float, str]]]:
  """Key -> its hard negatives as (Jaccard, key), best first (ties: smaller key first); keys
  without a negative are left out."""
  groups = collections.defaultdict(list)
  for key in sorted(english_by_key):
    groups[group_of(key)].append(key)
  negatives = {}
  for keys in groups.values():
    if len(keys) < 2:
      continue
    words = [word_set(english_by_key[key]) for key in keys]
    vocabulary = {word: index for index, word in enumerate(sorted(set().union(*words)))}
    rows = [row for row, item_words in enumerate(words) for _ in item_words]
    columns = [vocabulary[word] for item_words in words for word in item_words]
    matrix = sparse.csr_matrix((np.ones(len(rows), np.int32), (rows, columns)),
                               shape=(len(keys), len(vocabulary)))
    intersections = sparse.triu(matrix @ matrix.T, k=1).tocoo()
    sizes = np.asarray([len(item_words) for item_words in words])
    unions = sizes[intersections.row] + sizes[intersections.col] - intersections.data
    jaccard = intersections.data / np.maximum(unions, 1)
    normalised = [filters.normalise(english_by_key[key]) for key in keys]
    for first, second, score in zip(intersections.row, intersections.col, jaccard):
      if score >= min_jaccard and normalised[first] != normalised[second]:
        negatives.setdefault(keys[first], []).append((float(score), keys[second]))
        negatives.setdefault(keys[second], []).append((float(score), keys[first]))
  for candidates in negatives.values():
    candidates.sort(key=lambda candidate: (-candidate[0], candidate[1]))
  return negatives
