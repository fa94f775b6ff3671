"""The config schema: every field has a type and range, each bad value gives one line naming it."""

import pytest

from configs import base
from configs import demo
from unibert_jax import config_schema
from unibert_jax.data import sampling


def set_field(config, path, value):
  *sections, name = path.split('.')
  node = config
  for section in sections:
    node = node[section]
  node[name] = value


def test_shipped_configs_are_valid():
  for variant in ('base', 'small', 'xsmall', 'xxsmall', 'demo'):
    config_schema.validate(base.get_config(variant), num_devices=8)
  config_schema.validate(demo.get_config(), num_devices=1)
  config_schema.validate(demo.get_config('tiny'), num_devices=1)


def test_the_schema_covers_exactly_the_fields_of_the_config():
  for config in (base.get_config(), demo.get_config(), demo.get_config('tiny')):
    assert set(config_schema.leaf_paths(config)) == set(config_schema.BY_PATH)


@pytest.mark.parametrize('field', [f for f in config_schema.FIELDS
                                   if f.invalid_value() is not None], ids=lambda f: f.path)
def test_every_out_of_range_value_gives_exactly_one_error_naming_its_field(field):
  config = demo.get_config()
  set_field(config, field.path, field.invalid_value())
  found = config_schema.problems(config, num_devices=1)
  shown = field.tied_to or field.path   # a tied field is named where the user sets it
  assert len(found) == 1 and found[0].startswith(shown), found


@pytest.mark.parametrize('field, value, fragment', [
    ('model.num_heads', 5, 'model.num_heads=5 does not divide model.hidden_size=128'),
    ('adversary.schedule', 'cosine', "adversary.schedule='cosine'"),
    ('kd.normalization', 'dense', "kd.normalization='dense'"),
    ('data.max_predictions', 500, 'data.max_predictions=500'),
    ('train.nan_policy', 'ignore', "train.nan_policy='ignore'"),
    ('model.remat', 'some', "model.remat='some'"),
    # The cases of the fault probe that were accepted silently or named the wrong field.
    ('adversary.lambda_max', -1.0, 'adversary.lambda_max=-1.0'),
    ('train.b1', 1.5, 'train.b1=1.5'),
    ('train.weight_decay', -1.0, 'train.weight_decay=-1.0'),
    ('model.layer_norm_eps', -1.0, 'model.layer_norm_eps=-1.0'),
    ('teacher.learning_rate', -0.001, 'teacher.learning_rate=-0.001'),
    ('teacher.warmup_steps', 700, 'teacher.warmup_steps=700 must be below teacher.steps=600'),
    ('teacher.shape', 'huge', "teacher.shape='huge'"),
    ('kd.batch_size', 0, 'kd.batch_size=0'),
    ('data.eval_sequences_per_language', 0, 'data.eval_sequences_per_language=0'),
    ('data.sampling_alpha', 1.5, 'data.sampling_alpha=1.5'),
    ('data.max_len', 0, 'data.max_len=0'),
])
def test_bad_values_are_named(field, value, fragment):
  config = demo.get_config()
  set_field(config, field, value)
  with pytest.raises(config_schema.ConfigError) as error:
    config_schema.validate(config, num_devices=1)
  lines = str(error.value).splitlines()[1:]
  assert len(lines) == 1 and fragment in lines[0], lines


def test_validation_agrees_with_the_sampler_on_alpha():
  for alpha in (0.0, 0.3, 1.0):   # 0 is uniform sampling, which the sampler supports
    config = demo.get_config()
    config.data.sampling_alpha = alpha
    assert config_schema.problems(config, 1) == []
    sampling.language_probabilities([3, 1], alpha)
  for alpha in (-0.1, 1.5):
    config = demo.get_config()
    config.data.sampling_alpha = alpha
    assert len(config_schema.problems(config, 1)) == 1
    with pytest.raises(ValueError, match='sampling_alpha'):
      sampling.language_probabilities([3, 1], alpha)


def test_a_field_nothing_reads_is_refused():
  config = demo.get_config()
  config.train.eval_batches = 4     # was in the config once; nothing ever read it
  assert config_schema.problems(config, 1) == [
      'train.eval_batches is not a config field of this project; remove it (configs/base.py '
      'lists every field).']


def test_every_problem_is_reported_at_once():
  config = demo.get_config()
  config.model.num_heads = 3
  config.adversary.schedule = 'step'
  config.mesh.shape = (3, 1, 1)
  found = config_schema.problems(config, num_devices=8)
  assert len(found) == 3
  assert any('needs 3 devices but 8' in p for p in found)


def test_mesh_must_match_devices_and_batch():
  config = demo.get_config()
  config.mesh.shape = (2, 2, 1)
  assert any('needs 4 devices but 8' in p for p in config_schema.problems(config, 8))
  config.mesh.shape = (-1, 1, 1)
  config.data.batch_size = 12
  assert any('not divisible by the data x fsdp mesh size 8' in p
             for p in config_schema.problems(config, 8))


def test_parameter_dimensions_must_divide_their_mesh_axes():
  config = base.get_config('small')
  config.data.vocab_size = 250002  # xlm-roberta's vocabulary: even, but not divisible by 4
  config.mesh.shape = (2, 1, 4)
  assert config.model.num_heads % 4 == 0
  found = config_schema.problems(config, num_devices=8)
  assert found == ["data.vocab_size=250002 is not divisible by 4, the devices of mesh axes "
                   "tensor that mesh.rules splits 'vocab' over; change mesh.shape, or map "
                   "'vocab' to None in mesh.rules."]
  config.mesh.shape = (4, 1, 2)  # 250002 = 2 x 125001
  assert config_schema.problems(config, num_devices=8) == []
  config.mesh.shape = (1, 8, 1)
  config.model.hidden_size, config.model.num_heads = 516, 12  # 516 = 8 x 64.5
  assert any(p.startswith('model.hidden_size=516 is not divisible by 8, the devices of mesh '
                          'axes fsdp') for p in config_schema.problems(config, 8))


def test_the_demo_teachers_shape_is_checked_against_the_mesh():
  config = demo.get_config()
  config.mesh.shape = (1, 1, 2)   # the 3-head demo teacher cannot split its heads over 2
  found = config_schema.problems(config, num_devices=2)
  assert any(p.startswith("teacher.shape='demo_teacher' has 3 heads") for p in found), found
  config.kd.teacher_dir = '/models/xlm-roberta-base'   # no demo teacher is trained then
  assert not any(p.startswith('teacher.shape') for p in config_schema.problems(config, 2))


def test_neighbour_heads_need_sinusoidal_positions():
  config = base.get_config('small')
  config.model.attention_init = 'neighbour'
  assert config_schema.problems(config, 1) == [
      "model.attention_init='neighbour' rotates sinusoidal positions, but "
      "model.position_init='normal'; set model.position_init='sinusoidal'."]
  config.model.position_init = 'sinusoidal'
  assert config_schema.problems(config, 1) == []
