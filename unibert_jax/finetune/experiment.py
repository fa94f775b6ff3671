"""One transfer experiment: a task, an encoder, several seeds -> the per-language table.

    options = experiment.Options(task='C1', model='/tmp/unibert_demo', workdir='/tmp/ft_c1')
    result = experiment.run(options)

Writes <workdir>/finetune.json, .md and .png (results.py), and each seed's epoch checkpoints
under <workdir>/seed_<n>/checkpoints. With `export`, the English-dev-selected model of the
first seed is exported to <workdir>/hf as the matching transformers class.
"""

from collections.abc import Callable, Sequence
import collections
import dataclasses
import hashlib
import os
import sys
import time

from unibert_jax import sharding
from unibert_jax.finetune import export
from unibert_jax.finetune import inputs
from unibert_jax.finetune import model_source
from unibert_jax.finetune import results
from unibert_jax.finetune import step as step_lib
from unibert_jax.finetune import transfer
from unibert_jax.tasks import examples as examples_lib
from unibert_jax.tasks import floors
from unibert_jax.tasks import registry


@dataclasses.dataclass(frozen=True)
class Options:
  """What launch/finetune.py's flags set. None hyper-parameters take XTREME's (step.Hyper)."""
  task: str
  model: str
  workdir: str
  seeds: tuple[int, ...] = (0,)
  languages: tuple[str, ...] | None = None
  max_train_examples: int | None = None
  max_eval_per_language: int | None = None
  learning_rate: float | None = None
  epochs: int | None = None
  batch_size: int | None = None
  max_length: int | None = None
  dropout: float | None = None
  mesh_shape: tuple[int, int, int] = (-1, 1, 1)
  parallel_text_dir: str | None = None
  tfds_data_dir: str | None = None
  sts_dir: str | None = None
  export: bool = False


def _hash(key: str) -> str:
  return hashlib.md5(key.encode()).hexdigest()


def subsample(examples: Sequence[examples_lib.Example], limit: int | None
              ) -> tuple[examples_lib.Example, ...]:
  """At most about `limit` examples, chosen by hash of their group (P1 keeps a positive with
  its negative) or id: the same items for every model and run; order kept."""
  if not limit or len(examples) <= limit:
    return tuple(examples)
  key = lambda example: getattr(example, 'group', '') or example.id
  kept, count = set(), 0
  sizes = collections.Counter(key(example) for example in examples)
  for group in sorted(sizes, key=_hash):
    if count >= limit:
      break
    kept.add(group)
    count += sizes[group]
  return tuple(example for example in examples if key(example) in kept)


def load_task(options: Options) -> examples_lib.TaskData:
  """The task, its test languages narrowed and its splits capped as the options say."""
  task = registry.load_task(options.task, parallel_text_dir=options.parallel_text_dir,
                            tfds_data_dir=options.tfds_data_dir, sts_dir=options.sts_dir,
                            languages=options.languages)
  cap = options.max_eval_per_language
  return dataclasses.replace(
      task, train=subsample(task.train, options.max_train_examples),
      test={language: subsample(examples, cap) for language, examples in task.test.items()},
      target_dev={language: subsample(examples, cap)
                  for language, examples in task.target_dev.items()})


def hyper_for(options: Options, kind: str, model_max_length: int,
              log: Callable[[str], None]) -> step_lib.Hyper:
  hyper = step_lib.Hyper.for_kind(kind, learning_rate=options.learning_rate,
                                  epochs=options.epochs, batch_size=options.batch_size,
                                  max_length=options.max_length, dropout=options.dropout)
  if hyper.max_length > model_max_length:
    log(f'max_length {hyper.max_length} -> {model_max_length}: the encoder has positions for '
        f'{model_max_length} tokens.')
    hyper = dataclasses.replace(hyper, max_length=model_max_length)
  return hyper


def _framing(hyper: step_lib.Hyper) -> inputs.Framing:
  # QA's question cap and window step scale down with a short model (XTREME: 64 and 128 of 384).
  return inputs.Framing(hyper.max_length, doc_stride=min(128, hyper.max_length // 3),
                        max_query_length=min(64, hyper.max_length // 6))


def _log(line: str) -> None:
  print(line, file=sys.stderr, flush=True)


def checkpoint_dir(workdir: str, seed: int) -> str:
  return os.path.join(workdir, f'seed_{seed}', 'checkpoints')


def run(options: Options, log: Callable[[str], None] = _log) -> dict:
  """Fine-tunes every seed, scores every language, writes the table; returns the result."""
  start = time.perf_counter()
  for seed in options.seeds:   # before minutes of loading
    transfer.check_fresh(checkpoint_dir(options.workdir, seed))
  task = load_task(options)
  source = model_source.load(options.model, options.dropout)
  hyper = hyper_for(options, task.kind, source.max_length, log)
  log(f'{task.name}: {len(task.train)} English training examples, {len(task.dev)} dev, '
      f'{len(task.languages)} test languages ({sum(map(len, task.test.values()))} examples); '
      f'{hyper}')
  encoded = transfer.encode_task(task, source.tokenizer, _framing(hyper))
  mesh = sharding.make_mesh(options.mesh_shape)
  seeds, program = [], None
  for seed in options.seeds:
    result, seed_program = transfer.finetune_seed(
        source.encoder, encoded, hyper, seed, mesh, source.special.pad,
        checkpoint_dir(options.workdir, seed), log,
        {'options': dataclasses.asdict(options), 'hyper': dataclasses.asdict(hyper)})
    seeds.append(result)
    program = program or seed_program
  floor = floors.task_floor(task, options.parallel_text_dir)
  info = {'model': options.model, 'task_description': task.description,
          'hyper': dataclasses.asdict(hyper), 'options': dataclasses.asdict(options),
          'devices': int(mesh.devices.size), 'sizes': task.sizes(),
          'wall_seconds': time.perf_counter() - start}
  result = results.aggregate(task, seeds, floor, info)
  if options.export:
    label_names = (task.bio_tags() if task.kind == examples_lib.TOKEN_CLASSIFICATION
                   else task.label_names)
    summary = result['summary']
    card = {'name': f'{task.name} fine-tuned from {options.model}', 'task': task.name,
            'description': task.description, 'languages': list(task.languages),
            'metrics': {f'{summary["headline_metric"]}/{column}': summary[column]
                        for column in ('en_dev_selected', 'oracle', 'floor', 'english_test')
                        if summary[column] is not None}}
    result['info']['export'] = export.export_head(
        program.model(), task.kind, label_names, source.tokenizer_dir,
        os.path.join(options.workdir, 'hf'), card)
  result['info']['wall_seconds'] = time.perf_counter() - start
  result['paths'] = results.write(result, options.workdir)
  return result
