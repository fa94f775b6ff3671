"""Named encoder shapes: the variants of configs/base.py and the demo teacher's `teacher.shape`.

The ladder scales XLM-R base's widths down; every size but `base` is our assumption (the UniBERT
paper does not publish its sizes to us).
"""

from typing import NamedTuple


class Shape(NamedTuple):
  num_layers: int
  hidden_size: int
  num_heads: int
  intermediate_size: int


SHAPES = {
    'base': Shape(12, 768, 12, 3072),      # XLM-R base body, 85M parameters without embeddings
    'small': Shape(12, 512, 8, 2048),      # 38M
    'xsmall': Shape(12, 384, 6, 1536),     # 21M, the multilingual-e5-small / MiniLM shape
    'xxsmall': Shape(6, 256, 4, 1024),     # 4.7M
    'demo': Shape(4, 128, 2, 512),         # 0.8M, the CPU demo's student
    'demo_teacher': Shape(4, 192, 3, 768),  # the CPU demo's teacher
}


def get(name: str, field: str = 'the shape') -> Shape:
  """The shape called `name`; `field` names the config field in the error."""
  if name not in SHAPES:
    raise ValueError(f'{field}={name!r} is not a known model shape; choose one of '
                     f'{", ".join(sorted(SHAPES))}.')
  return SHAPES[name]
