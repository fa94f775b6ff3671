"""Zero-shot transfer for one seed: fine-tune on English, select, test every language.

After each epoch the model is scored on English dev and on each target language's dev set
(where the task has one), and its parameters are saved with Orbax (one step per epoch).
Selection happens before any test label is read:

- English-dev selection (XTREME's protocol): the epoch with the best English dev headline score.
  It reads no target-language label at all.
- Oracle selection (Keung et al. 2020, "Don't use English dev"): per language, the epoch with
  the best dev score in that language; reported beside the English-dev figure, never instead.

Then each selected epoch is restored and the test sets of the languages that chose it are
predicted and scored.
"""

from collections.abc import Callable, Mapping, Sequence
import dataclasses
import os
import time

import flax.nnx as nnx
import jax
import numpy as np
import tokenizers

from unibert_jax import trees
from unibert_jax.finetune import heads
from unibert_jax.finetune import inputs
from unibert_jax.finetune import step as step_lib
from unibert_jax.tasks import examples as examples_lib
from unibert_jax.tasks import metrics
from unibert_jax.tasks import qa_postprocess
from unibert_jax.train import checkpointing
from unibert_jax.train import trainer


@dataclasses.dataclass
class EncodedTask:
  """A task's splits as model rows, encoded once for every seed."""
  task: examples_lib.TaskData
  train: inputs.Encoded
  dev: inputs.Encoded
  target_dev: dict[str, inputs.Encoded]
  test: dict[str, inputs.Encoded]


def encode_task(task: examples_lib.TaskData, tokenizer: tokenizers.Tokenizer,
                framing: inputs.Framing) -> EncodedTask:
  tags = task.bio_tags() if task.kind == examples_lib.TOKEN_CLASSIFICATION else ()
  encode = lambda examples: inputs.encode(task.kind, examples, tokenizer, framing, tags)
  return EncodedTask(task, encode(task.train), encode(task.dev),
                     {language: encode(examples) for language, examples in task.target_dev.items()},
                     {language: encode(examples) for language, examples in task.test.items()})


def predictions(task: examples_lib.TaskData, examples: Sequence[examples_lib.Example],
                encoded: inputs.Encoded, logits: Sequence[np.ndarray]) -> list:
  """One prediction per example, in the form metrics.score takes."""
  if task.kind == examples_lib.CLASSIFICATION:
    return [int(np.argmax(row)) for row in logits]
  if task.kind == examples_lib.REGRESSION:
    return [float(row[0]) for row in logits]
  if task.kind == examples_lib.TOKEN_CLASSIFICATION:
    tags = task.bio_tags()
    return [[tags[int(np.argmax(row[position]))] if position >= 0 else 'O'
             for position in starts] for row, starts in zip(logits, encoded.word_starts)]
  answers = qa_postprocess.predict_answers(examples, encoded.windows,
                                           [row[:, 0] for row in logits],
                                           [row[:, 1] for row in logits])
  return [answers[example.id].text for example in examples]


def _scores(task, examples, encoded, logits) -> dict:
  scores = metrics.score_task(task, examples, predictions(task, examples, encoded, logits))
  scores.pop('per_label', None)
  return scores


def score(program: step_lib.Program, task: examples_lib.TaskData,
          examples: Sequence[examples_lib.Example], encoded: inputs.Encoded, params=None) -> dict:
  return _scores(task, examples, encoded, program.predict(encoded, params))


def score_languages(program: step_lib.Program, task: examples_lib.TaskData,
                    examples: Mapping[str, Sequence[examples_lib.Example]],
                    encoded: Mapping[str, inputs.Encoded], languages: Sequence[str],
                    params=None) -> dict[str, dict]:
  """Language -> scores, from one prediction pass over all the languages' rows (small sets
  predicted one by one would mostly compute padding rows)."""
  if not languages:
    return {}
  logits = program.predict(inputs.concatenate([encoded[l] for l in languages]), params)
  result, start = {}, 0
  for language in languages:
    rows = len(encoded[language])
    result[language] = _scores(task, examples[language], encoded[language],
                               logits[start:start + rows])
    start += rows
  return result


@dataclasses.dataclass
class SeedResult:
  """What one seed produced. epochs: per epoch {'epoch', 'loss', 'en_dev': {metric: value},
  'target_dev': {language: headline}}; test and oracle_test: language -> metrics."""
  seed: int
  epochs: list[dict]
  selected_epoch: int
  oracle_epochs: dict[str, int]
  test: dict[str, dict]
  oracle_test: dict[str, dict]
  train_seconds: float
  eval_seconds: float
  train_tokens: int
  steps: int

  def to_json(self) -> dict:
    return dataclasses.asdict(self)


def select_english(epochs: Sequence[Mapping], headline: str) -> int:
  """The epoch with the best English dev score (the earliest of ties). Reads only 'en_dev'."""
  return max(epochs, key=lambda e: (e['en_dev'][headline], -e['epoch']))['epoch']


def select_oracle(epochs: Sequence[Mapping]) -> dict[str, int]:
  """Language -> the epoch with its best target-dev score (the earliest of ties)."""
  languages = sorted({language for e in epochs for language in e['target_dev']})
  return {language: max(epochs, key=lambda e: (e['target_dev'][language], -e['epoch']))['epoch']
          for language in languages}


def _checkpoint_tree(params) -> dict:
  return trees.stringify_keys(nnx.to_pure_dict(params))


def _restore(checkpointer: checkpointing.Checkpointer, program: step_lib.Program, epoch: int):
  params = program.state['params']
  abstract = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding),
                          _checkpoint_tree(params))
  restored = checkpointer.restore(abstract, epoch).state
  params = jax.tree.map(lambda x: x, params)
  nnx.replace_by_pure_dict(params, trees.keys_like(nnx.to_pure_dict(params), restored))
  return params


def check_fresh(checkpoint_dir: str) -> None:
  """Refuses a directory with checkpoints: their epochs would be taken for this run's."""
  if os.path.isdir(checkpoint_dir) and os.listdir(checkpoint_dir):
    raise FileExistsError(f'{checkpoint_dir} already holds the checkpoints of a fine-tuning; '
                          'use a new --workdir, or delete it to start over.')


def finetune_seed(source_encoder, encoded: EncodedTask, hyper: step_lib.Hyper, seed: int,
                  mesh: jax.sharding.Mesh, pad_id: int, checkpoint_dir: str,
                  log: Callable[[str], None] = print, config_dict: dict | None = None
                  ) -> tuple[SeedResult, step_lib.Program]:
  """Fine-tunes a fresh head on `source_encoder`'s parameters (left untouched) for one seed."""
  task = encoded.task
  devices = mesh.devices.size
  steps_per_epoch = inputs.steps_per_epoch(encoded.train, hyper.max_length, hyper.batch_size,
                                           devices)
  model = heads.build(task.kind, source_encoder, heads.num_outputs(task), seed)
  program = step_lib.Program(model, task.kind, hyper, steps_per_epoch * hyper.epochs, mesh,
                             pad_id, seed)
  headline = task.headline_metric
  epochs, train_seconds, eval_seconds, train_tokens = [], 0.0, 0.0, 0
  check_fresh(checkpoint_dir)
  with checkpointing.Checkpointer(checkpoint_dir, keep=hyper.epochs) as checkpointer:
    for epoch in range(1, hyper.epochs + 1):
      start = time.perf_counter()
      losses = []
      for batch in inputs.batches(encoded.train, hyper.max_length, pad_id, devices,
                                  hyper.batch_size, shuffle_seed=seed * 1000 + epoch):
        losses.append(program.train_step(batch)['loss'])
        train_tokens += int(batch['attention_mask'].sum())
      loss = float(np.mean(jax.device_get(losses)))
      train_seconds += time.perf_counter() - start
      if not np.isfinite(loss):
        raise trainer.NonFiniteLossError(
            f'Fine-tuning {task.name} seed {seed}: the loss is {loss} in epoch {epoch}; the '
            f'earlier epochs\' checkpoints in {checkpoint_dir} are kept. Lower '
            f'--learning_rate (now {hyper.learning_rate}).')
      start = time.perf_counter()
      en_dev = score(program, task, task.dev, encoded.dev)
      target_dev = {language: scores[headline] for language, scores in score_languages(
          program, task, task.target_dev, encoded.target_dev, sorted(encoded.target_dev)).items()}
      eval_seconds += time.perf_counter() - start
      epochs.append({'epoch': epoch, 'loss': loss, 'en_dev': en_dev, 'target_dev': target_dev})
      checkpointer.save(epoch, _checkpoint_tree(program.state['params']), None,
                        config_dict or {}, {'en_dev': en_dev, 'loss': loss})
      log(f'{task.name} seed {seed} epoch {epoch}/{hyper.epochs}: loss {loss:.4f}, English dev '
          f'{headline} {en_dev[headline]:.4f}, {train_seconds:.0f} s training')
    checkpointer.wait()
    selected = select_english(epochs, headline)
    oracle = select_oracle(epochs)
    start = time.perf_counter()
    test, oracle_test = {}, {}
    for epoch in sorted({selected, *oracle.values()}):
      params = _restore(checkpointer, program, epoch)
      languages = sorted(language for language in encoded.test
                         if epoch == selected or oracle.get(language) == epoch)
      scores = score_languages(program, task, task.test, encoded.test, languages, params)
      if epoch == selected:
        test = scores
        program.state['params'] = params   # the returned program holds the selected model
      oracle_test.update({language: scores[language] for language in languages
                          if oracle.get(language) == epoch})
    eval_seconds += time.perf_counter() - start
  return SeedResult(seed, epochs, selected, oracle, test, oracle_test, train_seconds,
                    eval_seconds, train_tokens, steps_per_epoch * hyper.epochs), program
