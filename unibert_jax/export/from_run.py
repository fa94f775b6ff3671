"""A training run's checkpoint -> the encoder, on one device, and its Hugging Face export.

The run config and facts (tokenizer, languages, teacher) are read from the checkpoint; the
state, saved on any mesh, is restored onto a (1, 1, 1) mesh over the first device.
"""

import os
from typing import Any

import jax
import ml_collections
import numpy as np

from unibert_jax import run_dir
from unibert_jax import sharding
from unibert_jax.export import hf_format
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.train import checkpointing
from unibert_jax.train import state as state_lib
from unibert_jax.train import step as step_lib


def read_run(workdir: str, step: int | None = None) -> tuple[ml_collections.ConfigDict,
                                                               state_lib.RunFacts]:
  """(run config, run facts) of a checkpoint (the newest by default); reads no arrays."""
  checkpoint_dir = run_dir.RunDir(workdir).checkpoints
  config = ml_collections.ConfigDict(checkpointing.read_config(checkpoint_dir, step))
  meta = checkpointing.read_meta(checkpoint_dir, step)
  return config, state_lib.RunFacts.from_meta(meta, config, workdir)


def restore_run(workdir: str, step: int | None = None):
  """(encoder parameters, run config, run facts, checkpointing.Restored) on one device.

  Only the model is read, so runs whose optimizer state has another layout export too.
  """
  config, facts = read_run(workdir, step)
  config.mesh.shape = (1, 1, 1)
  mesh = sharding.make_mesh((1, 1, 1), jax.devices()[:1])
  program = step_lib.build_train_program(config, mesh, num_languages=len(facts.languages))
  with checkpointing.Checkpointer(run_dir.RunDir(workdir).checkpoints,
                                  read_only=True) as checkpointer:
    restored = checkpointer.restore(state_lib.abstract_model(program.abstract_state), step,
                                    partial=True)
  return restored.state['model']['encoder'], config, facts, restored


def load_checkpoint_encoder(
    workdir: str, step: int | None = None
) -> tuple[encoder_lib.Encoder, ml_collections.ConfigDict, state_lib.RunFacts]:
  """(Encoder, run config, run facts) of a run's checkpoint (the newest by default)."""
  params, config, facts, _ = restore_run(workdir, step)
  return hf_format.build_encoder(config.model, params), config, facts


def export_checkpoint(workdir: str, out_dir: str, step: int | None = None,
                      tokenizer_dir: str | None = None,
                      extra_card: dict | None = None) -> dict[str, Any]:
  """Exports a run's checkpoint (saved on any mesh) from one device; returns a summary.

  The card holds the run's languages, config, step and the metrics saved with the checkpoint;
  extra_card adds or overrides card fields (e.g. {'evaluation': {...}} becomes metrics).
  """
  params, config, facts, restored = restore_run(workdir, step)
  tokenizer_dir = tokenizer_dir or facts.tokenizer_dir
  metrics = dict(restored.meta.get('metrics') or {})
  card = dict(name=os.path.basename(os.path.normpath(out_dir)), steps=restored.step,
              config=config.to_dict(), languages=list(facts.languages),
              teacher=facts.teacher_dir)
  for key, value in (extra_card or {}).items():
    if isinstance(value, dict) and key != 'config':
      metrics.update({f'{key}/{name}': v for name, v in value.items()})
    else:
      card[key] = value
  card['metrics'] = {k: v for k, v in metrics.items() if isinstance(v, (int, float, str))}
  hf_format.export_encoder(params, config.model, tokenizer_dir, out_dir, card)
  return dict(out_dir=out_dir, step=restored.step, tokenizer_dir=tokenizer_dir,
              num_parameters=int(sum(np.size(x) for x in jax.tree.leaves(params))))
