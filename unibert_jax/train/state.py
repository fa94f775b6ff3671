"""What a checkpoint holds: the train state's tree format and the facts of the run.

The state is {'model': ..., 'optimizer': ..., 'adversary': ...} of arrays, nested dicts with
string keys (layer numbers as strings), stable across flax versions and readable by any Orbax
tool; `model` holds {'encoder': ..., 'discriminator': ...}, `adversary` the discriminator's own
optimizer and the running language means. Runs from before the discriminator had its own
optimizer have no `adversary` and another `optimizer`: their model still restores (export,
evaluation); their training cannot resume. The facts a run discovers (where its data and tokenizer
are, its languages, its teacher) go into every checkpoint's metadata, never into the config.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import flax.nnx as nnx
import jax
import ml_collections

from unibert_jax import trees
from unibert_jax.data import corpus
from unibert_jax.data import languages as languages_lib
from unibert_jax.data import prepare

FACTS_KEY = 'run'


@dataclasses.dataclass(frozen=True)
class RunFacts:
  """What a run trained on: recorded with each checkpoint, read back by export and evaluation."""
  data_dir: str
  tokenizer_dir: str
  languages: tuple[str, ...]
  teacher_dir: str | None = None   # the teacher distilled from; None: no distillation

  def to_meta(self) -> dict[str, Any]:
    return {FACTS_KEY: dict(dataclasses.asdict(self), languages=list(self.languages))}

  @classmethod
  def from_meta(cls, meta: dict[str, Any], config: ml_collections.ConfigDict,
                workdir: str) -> RunFacts:
    """The facts saved in `meta`; checkpoints of 31e2239 and before kept them in the config."""
    facts = meta.get(FACTS_KEY)
    if facts is not None:
      return cls(facts['data_dir'], facts['tokenizer_dir'], tuple(facts['languages']),
                 facts.get('teacher_dir'))
    data_dir = prepare.data_dir_of(config, workdir)
    try:
      languages = corpus.language_names(data_dir)
    except (FileNotFoundError, ValueError, OSError):  # the prepared corpus is gone
      languages = languages_lib.resolve_languages(config.data.languages)
    teacher_dir = config.kd.get('teacher_dir') or None
    return cls(data_dir, prepare.tokenizer_dir_of(config, workdir), tuple(languages),
               teacher_dir if config.loss.kd_weight > 0 else None)


# The parts of the train state, in the order of the nnx.State tuple: the model ({'encoder',
# 'discriminator'}), the encoder's optimizer, and the adversary's (D's optimizer, language means).
PARTS = ('model', 'optimizer', 'adversary')


def to_checkpoint(state) -> dict:
  """nnx.State of (model, optimizer, adversary) -> {'model': ..., 'optimizer': ..., ...}."""
  pure = nnx.to_pure_dict(state)
  return {name: trees.stringify_keys(pure[index]) for index, name in enumerate(PARTS)}


def from_checkpoint(abstract_state, tree: dict):
  """The inverse of to_checkpoint, onto the structure of a program's abstract state."""
  like = nnx.to_pure_dict(abstract_state)
  state = jax.tree.map(lambda x: x, abstract_state)
  nnx.replace_by_pure_dict(state, {index: trees.keys_like(like[index], tree[name])
                                   for index, name in enumerate(PARTS)})
  return state


def abstract_checkpoint(abstract_state) -> dict:
  """ShapeDtypeStructs (with the target shardings) of to_checkpoint's output."""
  return to_checkpoint(abstract_state)


def abstract_model(abstract_state) -> dict:
  """The model part alone ({'model': ...}): what export and evaluation restore, from any run."""
  return {'model': to_checkpoint(abstract_state)['model']}
