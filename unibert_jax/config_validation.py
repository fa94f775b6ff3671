"""Checks the whole run config before anything expensive happens.

Every problem found is reported, one line per bad field naming the field, the value and the
fix, in a single ConfigError, so a user fixes the config once rather than once per compile.
"""

import ml_collections

from unibert_jax import sharding
from unibert_jax.data import languages
from unibert_jax.data import sampling
from unibert_jax.model import adversary
from unibert_jax.model import encoder
from unibert_jax.teacher import cache_format
from unibert_jax.train import losses


class ConfigError(ValueError):
  """Raised with one line per bad config field."""


_CHOICES = {
    'data.corpus': ('udhr', 'wikipedia'),
    'model.dtype': ('float32', 'bfloat16', 'float16'),
    'model.matmul_dtype': ('', 'float32', 'bfloat16'),
    'model.param_dtype': ('float32', 'bfloat16'),
    'model.remat': encoder.REMATS,
    'model.attention_impl': encoder.ATTENTION_IMPLS,
    'adversary.pooling': adversary.POOLINGS,
    'adversary.schedule': adversary.SCHEDULES,
    'kd.normalization': losses.KD_NORMALIZATIONS,
    'kd.logits_dtype': tuple(cache_format.LOGITS_DTYPES),
    'train.nan_policy': ('stop', 'skip'),
}


def problems(config: ml_collections.ConfigDict, num_devices: int | None = None,
             process_count: int = 1) -> list[str]:
  """All problems of `config`, as sentences naming the field (empty when it is valid)."""
  found = []

  def check(ok: bool, message: str):
    if not ok:
      found.append(message)

  for field, choices in _CHOICES.items():
    value = cache_format.config_value(config, field)
    check(value in choices, f'{field}={value!r}: choose one of {", ".join(map(repr, choices))}.')

  m, d, t = config.model, config.data, config.train
  check(m.num_heads > 0 and m.hidden_size % m.num_heads == 0,
        f'model.num_heads={m.num_heads} does not divide model.hidden_size={m.hidden_size}; '
        'pick a head count that divides the hidden size.')
  for field in ('model.num_layers', 'model.hidden_size', 'model.intermediate_size',
                'data.batch_size', 'data.max_predictions', 'train.steps',
                'train.grad_accum_steps', 'kd.top_k'):
    value = cache_format.config_value(config, field)
    check(isinstance(value, int) and value > 0, f'{field}={value!r} must be a positive integer.')
  check(m.vocab_size > 5, f'model.vocab_size={m.vocab_size} is too small for the 5 special tokens.')
  check(m.max_position_embeddings >= d.max_len + 2,
        f'model.max_position_embeddings={m.max_position_embeddings} must be at least '
        f'data.max_len + 2 = {d.max_len + 2} (XLM-R positions start at pad_id + 1).')
  check(0 < d.max_predictions <= max(d.max_len - 2, 0),
        f'data.max_predictions={d.max_predictions} must be between 1 and data.max_len - 2 '
        f'= {d.max_len - 2}.')
  check(0.0 < d.mask_rate < 1.0, f'data.mask_rate={d.mask_rate} must lie in (0, 1).')
  check(d.mask_token_fraction >= 0 and d.random_token_fraction >= 0
        and d.mask_token_fraction + d.random_token_fraction <= 1.0,
        f'data.mask_token_fraction + data.random_token_fraction = '
        f'{d.mask_token_fraction + d.random_token_fraction} must be within [0, 1].')
  alpha_problem = sampling.alpha_problem(d.sampling_alpha)
  check(alpha_problem is None, alpha_problem)
  check(0 <= m.hidden_dropout < 1 and 0 <= m.attention_dropout < 1,
        'model.hidden_dropout and model.attention_dropout must lie in [0, 1).')
  check(t.learning_rate > 0, f'train.learning_rate={t.learning_rate} must be positive.')
  check(0 <= t.warmup_steps < max(t.steps, 1),
        f'train.warmup_steps={t.warmup_steps} must be >= 0 and below train.steps={t.steps}.')
  check(t.grad_clip_norm > 0, f'train.grad_clip_norm={t.grad_clip_norm} must be positive.')
  for field in ('train.log_every', 'train.eval_every', 'train.checkpoint_every',
                'train.keep_checkpoints'):
    value = cache_format.config_value(config, field)
    check(isinstance(value, int) and value > 0, f'{field}={value!r} must be a positive integer.')
  for field in ('loss.mlm_weight', 'loss.adv_weight', 'loss.kd_weight'):
    check(cache_format.config_value(config, field) >= 0, f'{field}={cache_format.config_value(config, field)} must not be negative.')
  check(config.kd.temperature > 0, f'kd.temperature={config.kd.temperature} must be positive.')
  check(config.kd.top_k <= m.vocab_size,
        f'kd.top_k={config.kd.top_k} exceeds model.vocab_size={m.vocab_size}.')
  check(config.adversary.num_layers >= 0 and config.adversary.hidden_size > 0,
        'adversary.num_layers must be >= 0 and adversary.hidden_size positive.')
  check(config.adversary.delay_steps >= 0,
        f'adversary.delay_steps={config.adversary.delay_steps} must not be negative.')
  if config.profile.start_step >= 0:
    check(config.profile.num_steps > 0,
          f'profile.num_steps={config.profile.num_steps} must be positive when profiling.')

  accum = t.grad_accum_steps if isinstance(t.grad_accum_steps, int) and t.grad_accum_steps > 0 else 1
  check(d.batch_size % accum == 0,
        f'data.batch_size={d.batch_size} is not divisible by train.grad_accum_steps={accum}.')
  check(d.batch_size % process_count == 0,
        f'data.batch_size={d.batch_size} is not divisible by the {process_count} processes.')
  if num_devices is not None:
    try:
      data, fsdp, tensor = sharding.resolve_mesh_shape(config.mesh.shape, num_devices)
    except ValueError as e:
      found.append(str(e))
    else:
      check((d.batch_size // accum) % (data * fsdp) == 0,
            f'data.batch_size={d.batch_size} (/ {accum} micro-batches) is not divisible by the '
            f'data x fsdp mesh size {data * fsdp}; change data.batch_size or mesh.shape.')
      check(m.num_heads % tensor == 0,
            f'mesh.shape tensor={tensor} does not divide model.num_heads={m.num_heads}.')
      found.extend(_uneven_parameter_shardings(
          config, dict(zip(sharding.MESH_AXES, (data, fsdp, tensor)))))
  return found


def _uneven_parameter_shardings(config, mesh_sizes: dict[str, int]) -> list[str]:
  """Parameter dimensions that mesh.rules split over mesh axes they do not divide.

  jit refuses such shardings with an error naming neither the field nor the fix, e.g. a
  250002-token XLM-R vocabulary on tensor=4.
  """
  m, a = config.model, config.adversary
  # Logical axis -> the config field that sizes it ('heads' is checked by head count above).
  sized_by = {'vocab': ('model.vocab_size', m.vocab_size),
              'embed': ('model.hidden_size', m.hidden_size),
              'embed_out': ('model.hidden_size', m.hidden_size),
              'mlp': ('model.intermediate_size', m.intermediate_size),
              'layers': ('model.num_layers', m.num_layers),
              'disc_hidden': ('adversary.hidden_size', a.hidden_size),
              'languages': ('data.languages',
                            len(languages.resolve_languages(config.data.languages)))}
  found = []
  for logical, mesh_axes in config.mesh.rules:
    if logical not in sized_by or not mesh_axes:
      continue
    axes = (mesh_axes,) if isinstance(mesh_axes, str) else tuple(mesh_axes)
    split = 1
    for axis in axes:
      split *= mesh_sizes.get(axis, 1)
    field, size = sized_by[logical]
    if isinstance(size, int) and size > 0 and size % split:
      found.append(f'{field}={size} is not divisible by {split}, the devices of mesh axes '
                   f'{"x".join(axes)} that mesh.rules splits {logical!r} over; change '
                   f'mesh.shape, or map {logical!r} to None in mesh.rules.')
  return found


def validate(config: ml_collections.ConfigDict, num_devices: int | None = None,
             process_count: int = 1) -> None:
  """Raises ConfigError listing every bad field; call before any compilation."""
  found = problems(config, num_devices, process_count)
  if found:
    raise ConfigError('Invalid config:\n  - ' + '\n  - '.join(found))

