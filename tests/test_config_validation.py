"""Bad config values give one clear error, naming the field, before any compilation."""

import os

import pytest

from configs import base
from configs import demo
from unibert_jax import config_validation

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_shipped_configs_are_valid():
  for variant in ('base', 'small', 'xsmall', 'xxsmall', 'demo'):
    config_validation.validate(base.get_config(variant), num_devices=8)
  config_validation.validate(demo.get_config(), num_devices=1)
  config_validation.validate(demo.get_config('tiny'), num_devices=1)


@pytest.mark.parametrize('field, value, fragment', [
    ('model.num_heads', 5, 'model.num_heads=5 does not divide model.hidden_size=128'),
    ('adversary.schedule', 'cosine', "adversary.schedule='cosine'"),
    ('kd.normalization', 'dense', "kd.normalization='dense'"),
    ('data.max_predictions', 500, 'data.max_predictions=500'),
    ('train.nan_policy', 'ignore', "train.nan_policy='ignore'"),
    ('model.remat', 'some', "model.remat='some'"),
])
def test_bad_values_are_named(field, value, fragment):
  config = demo.get_config()
  section, name = field.split('.')
  config[section][name] = value
  with pytest.raises(config_validation.ConfigError) as error:
    config_validation.validate(config, num_devices=1)
  assert fragment in str(error.value)


def test_every_problem_is_reported_at_once():
  config = demo.get_config()
  config.model.num_heads = 3
  config.adversary.schedule = 'step'
  config.mesh.shape = (3, 1, 1)
  found = config_validation.problems(config, num_devices=8)
  assert len(found) == 3
  assert any('needs 3 devices but 8' in p for p in found)


def test_mesh_must_match_devices_and_batch():
  config = demo.get_config()
  config.mesh.shape = (2, 2, 1)
  assert any('needs 4 devices but 8' in p for p in config_validation.problems(config, 8))
  config.mesh.shape = (-1, 1, 1)
  config.data.batch_size = 12
  assert any('not divisible by the data x fsdp mesh size 8' in p
             for p in config_validation.problems(config, 8))


def test_parameter_dimensions_must_divide_their_mesh_axes():
  config = base.get_config('small')
  config.model.vocab_size = 250002  # xlm-roberta's vocabulary: even, but not divisible by 4
  config.mesh.shape = (2, 1, 4)
  assert config.model.num_heads % 4 == 0
  found = config_validation.problems(config, num_devices=8)
  assert found == ["model.vocab_size=250002 is not divisible by 4, the devices of mesh axes "
                   "tensor that mesh.rules splits 'vocab' over; change mesh.shape, or map "
                   "'vocab' to None in mesh.rules."]
  config.mesh.shape = (4, 1, 2)  # 250002 = 2 x 125001
  assert config_validation.problems(config, num_devices=8) == []
  config.mesh.shape = (1, 8, 1)
  config.model.hidden_size, config.model.num_heads = 516, 12  # 516 = 8 x 64.5
  assert any(p.startswith('model.hidden_size=516 is not divisible by 8, the devices of mesh '
                          'axes fsdp') for p in config_validation.problems(config, 8))




