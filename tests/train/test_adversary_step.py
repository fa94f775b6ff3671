"""Inside the fused step: the encoder and the discriminator never update each other."""

import flax.nnx as nnx
import jax
import numpy as np

from tests.helpers import sharded_steps
from unibert_jax import sharding
from unibert_jax.train import discriminator
from unibert_jax.train import state as state_lib


def _program(**adversary):
  config = sharded_steps.small_config()   # confusion, k = 2, mean matching, constant lambda
  config.adversary.update(adversary)
  return sharded_steps.build_program(config, sharding.make_mesh((1, 1, 1), jax.devices()[:1]),
                                     distill=False)


def _named_leaves(tree) -> dict:
  return {jax.tree_util.keystr(p): np.asarray(x) for p, x in
          jax.tree_util.tree_leaves_with_path(tree)}


def _part(state, part):
  """The named arrays of one model part ('encoder', 'discriminator') of a train state."""
  return _named_leaves(state_lib.to_checkpoint(state)['model'][part])


def _one_step(program, state, seed=0):
  return program.step(state, program.put_batch(sharded_steps.synthetic_batch(program, seed)))[0]


def test_the_discriminator_s_training_never_reaches_the_encoder():
  # Same encoder objective and batch; D trains 1 or 4 times, at 1x or 10x the learning rate.
  states = {}
  for k, multiplier in ((1, 1.0), (4, 10.0)):
    program = _program(steps_per_update=k, lr_multiplier=multiplier)
    states[k] = _one_step(program, program.init())
  encoder_1, encoder_4 = _part(states[1], 'encoder'), _part(states[4], 'encoder')
  for name, value in encoder_1.items():
    np.testing.assert_array_equal(encoder_4[name], value, err_msg=name)
  disc_1, disc_4 = _part(states[1], 'discriminator'), _part(states[4], 'discriminator')
  assert any(not np.array_equal(disc_1[n], disc_4[n]) for n in disc_1)


def test_the_encoder_s_objective_never_reaches_the_discriminator():
  program = _program(objective='grl', steps_per_update=3)
  state = program.init()
  batch = sharded_steps.synthetic_batch(program, 0)
  # D alone, on the features of the encoder before the step, with a fresh copy of its optimizer.
  model, _, adversary_state = nnx.merge(program.graphdef, jax.tree.map(np.array, state))
  _, features, language, weights = model.encode(batch['input_ids'], batch['attention_mask'],
                                                batch['language_id'])
  discriminator.update(model.discriminator, adversary_state.optimizer, features, language,
                       weights, jax.random.split(jax.random.key(0), 3))
  alone = _named_leaves(nnx.to_pure_dict(nnx.state(model.discriminator)))
  stepped = _part(_one_step(program, state), 'discriminator')
  assert len(alone) == len(stepped)
  for (name, value), (_, expected) in zip(sorted(stepped.items()), sorted(alone.items())):
    # D's dropout is off in the small config, so its keys do not matter.
    np.testing.assert_allclose(value, expected, rtol=1e-5, atol=1e-6, err_msg=name)


def test_the_discriminator_has_its_own_optimizer_state_and_step_count():
  program = _program(steps_per_update=3)
  state = _one_step(program, _one_step(program, program.init()), seed=1)
  saved = state_lib.to_checkpoint(state)
  optimizer, adversary = saved['optimizer'], saved['adversary']
  assert int(optimizer['step']) == 2 and int(adversary['optimizer']['step']) == 6
  assert not any('discriminator' in name for name in _named_leaves(optimizer))
  assert float(np.asarray(adversary['seen']).sum()) == sharded_steps.NUM_LANGUAGES
