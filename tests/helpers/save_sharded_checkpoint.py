"""Trains a few steps on a (2, 2, 2) mesh of 8 devices, checkpoints, and saves MLM logits.

  XLA_FLAGS=--xla_force_host_platform_device_count=8 \
      python -m tests.helpers.save_sharded_checkpoint WORKDIR TOKENIZER_DIR INPUTS.npz

INPUTS.npz holds input_ids and attention_mask; the encoder's logits on them, computed from the
sharded in-memory state, go to WORKDIR/reference_logits.npy. Used by tests/test_hf_io.py to
check that an export made on one device reproduces them.
"""

import os
import sys

import flax.nnx as nnx
import jax
import numpy as np

from tests.helpers import sharded_steps
from unibert_jax import sharding
from unibert_jax.train import checkpointing
from unibert_jax.train import state as state_lib

MESH = (2, 2, 2)
STEPS = 3


def main():
  workdir, tokenizer_dir, inputs_path = sys.argv[1:]
  assert jax.device_count() == 8, jax.devices()
  config = sharded_steps.small_config()
  config.mesh.shape = MESH
  config.train.learning_rate = 1e-2  # move the weights well away from their initialisation
  program = sharded_steps.build_program(config, sharding.make_mesh(MESH))
  state = program.init()
  for step in range(STEPS):
    state, metrics = program.step(state, program.put_batch(sharded_steps.synthetic_batch(program,
                                                                                         step)))
  facts = state_lib.RunFacts(os.path.join(workdir, 'data'), tokenizer_dir,
                             ('de', 'el', 'en', 'fr', 'ru'))
  with checkpointing.Checkpointer(os.path.join(workdir, 'checkpoints')) as checkpointer:
    checkpointer.save(STEPS, state_lib.to_checkpoint(state), {'step': STEPS}, config.to_dict(),
                      {'metrics': {'mlm_loss': float(metrics['mlm_loss'])}, **facts.to_meta()})
    checkpointer.wait()
  inputs = np.load(inputs_path)
  encoder = nnx.merge(program.graphdef, state)[0].encoder
  logits = encoder.mlm_logits(encoder(inputs['input_ids'], inputs['attention_mask']))
  np.save(os.path.join(workdir, 'reference_logits.npy'), np.asarray(logits))


if __name__ == '__main__':
  main()
