r"""Zero-shot cross-lingual transfer: fine-tune on English, test every language; one JSON line.

  python launch/finetune.py --task=C1 --model=/tmp/unibert_demo --workdir=/tmp/ft/C1
  python launch/finetune.py --task=T1 --model=/tmp/unibert_demo/hf --workdir=/tmp/ft/T1 \
      --seeds=0,1,2

--model is a workdir of launch/train.py (its newest checkpoint) or a Hugging Face directory
(our export, or any XLM-R- or BERT-family encoder with its tokenizer.json). Tasks:

- offline, built from the evaluation corpus (`python launch/build_eval_data.py --sets=R1,T1`):
  C1 (UI string -> application, 7 classes, macro-F1), P1 (translation vs a lexical hard
  negative, accuracy; trained on English-de/es/fr/zh pairs, tested on the other languages),
  T1 (typed spans of LibreOffice help, span F1 with UI as the headline);
- the XTREME benchmarks from prepared TFDS data (--tfds_data_dir; README, "Transfer
  benchmarks"): xnli, panx, xquad, mlqa; sts from a JSON-lines copy of stsb_multi_mt (--sts_dir).

Hyper-parameters default to XTREME's (lr 2e-5, 3e-5 for QA; 5 epochs, 10 for NER, 3 for QA;
batch 32; length 128, 384 for QA, capped at the encoder's positions). Each epoch is scored on
English dev and saved with Orbax; the English-dev-best epoch is tested on every language, and
per language the epoch best on that language's dev ("oracle") is reported beside it. Writes
finetune.json, finetune.md and finetune.png into --workdir, and with --export the first seed's
selected model as a transformers XLMRoberta*For{Sequence,Token}Classification /
ForQuestionAnswering directory in <workdir>/hf.

Two systems compared per task and language (differences, average relative improvement, paired
tests over languages); each side a workdir, or a directory of task workdirs, '+' pools seeds:

  python launch/finetune.py --compare=/tmp/ft_base,/tmp/ft_adv [--out_dir=...]
"""

from absl import app
from absl import flags
from absl import logging

from unibert_jax import cli
from unibert_jax.finetune import compare_runs
from unibert_jax.finetune import experiment
from unibert_jax.finetune import results
from unibert_jax.tasks import registry

_TASK = flags.DEFINE_enum('task', None, list(registry.TASKS), 'The transfer task.')
_MODEL = flags.DEFINE_string('model', None, 'A training run workdir or a Hugging Face directory.')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Where checkpoints and the tables go (new).')
_SEEDS = flags.DEFINE_list('seeds', ['0'], 'Fine-tuning seeds (head initialisation, order, '
                           'dropout).')
_LANGUAGES = flags.DEFINE_list('languages', None, 'Test languages (default: all of the task).')
_LEARNING_RATE = flags.DEFINE_float('learning_rate', None, 'Peak learning rate (XTREME default).')
_EPOCHS = flags.DEFINE_integer('epochs', None, 'Epochs (XTREME default).')
_BATCH_SIZE = flags.DEFINE_integer('batch_size', None, 'Batch size (default 32).')
_MAX_LENGTH = flags.DEFINE_integer('max_length', None, 'Tokens per row (default 128; QA 384).')
_DROPOUT = flags.DEFINE_float('dropout', None, 'Hidden dropout (default: the encoder\'s own).')
_MAX_TRAIN = flags.DEFINE_integer('max_train_examples', None,
                                  'Cap the English training examples (a fixed hashed subset).')
_MAX_EVAL = flags.DEFINE_integer('max_eval_per_language', None,
                                 'Cap the test and dev examples per language (fixed subset).')
_MESH = flags.DEFINE_list('mesh_shape', ['-1', '1', '1'], 'Mesh (data, fsdp, tensor); the '
                          'batch is split over data x fsdp.')
_EXPORT = flags.DEFINE_bool('export', False, 'Export the selected model of the first seed to '
                            '<workdir>/hf as a transformers task model.')
_PARALLEL_TEXT_DIR = flags.DEFINE_string('parallel_text_dir', None,
                                         'The evaluation corpus (default ~/.cache/unibert_jax/'
                                         'parallel_text).')
_TFDS_DATA_DIR = flags.DEFINE_string('tfds_data_dir', None, 'Prepared TFDS data (benchmarks).')
_STS_DIR = flags.DEFINE_string('sts_dir', None, 'JSON-lines copy of stsb_multi_mt (sts).')
_COMPARE = flags.DEFINE_string('compare', None, 'Compare two finished systems instead: A,B.')
_OUT_DIR = flags.DEFINE_string('out_dir', None, 'With --compare: where its files go (default .).')


def _int_list(values, flag: str) -> tuple[int, ...]:
  try:
    return tuple(int(value) for value in values)
  except ValueError:
    raise ValueError(f'--{flag}={",".join(values)}: give integers separated by commas.') from None


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  if logging.get_verbosity() == logging.INFO and not flags.FLAGS['verbosity'].present:
    logging.set_verbosity(logging.WARNING)   # Orbax logs every read and write at INFO
  if _COMPARE.value:
    cli.print_json(compare_runs.main(_COMPARE.value, _OUT_DIR.value))
    return
  missing = [name for name, flag in (('task', _TASK), ('model', _MODEL), ('workdir', _WORKDIR))
             if not flag.value]
  if missing:
    raise app.UsageError(f'Pass --{", --".join(missing)} (or --compare=A,B).')
  seeds = _int_list(_SEEDS.value, 'seeds')
  if not seeds or len(set(seeds)) != len(seeds):
    raise ValueError(f'--seeds={",".join(_SEEDS.value)}: give distinct seeds.')
  for flag in (_EPOCHS, _BATCH_SIZE, _MAX_LENGTH, _MAX_TRAIN, _MAX_EVAL):
    if flag.value is not None and flag.value < 1:
      raise ValueError(f'--{flag.name}={flag.value}: give a positive number.')
  if _LEARNING_RATE.value is not None and not _LEARNING_RATE.value > 0:
    raise ValueError(f'--learning_rate={_LEARNING_RATE.value}: give a positive rate.')
  if _DROPOUT.value is not None and not 0 <= _DROPOUT.value < 1:
    raise ValueError(f'--dropout={_DROPOUT.value}: give a rate in [0, 1).')
  options = experiment.Options(
      task=_TASK.value, model=_MODEL.value, workdir=_WORKDIR.value, seeds=seeds,
      languages=tuple(_LANGUAGES.value) if _LANGUAGES.value else None,
      max_train_examples=_MAX_TRAIN.value, max_eval_per_language=_MAX_EVAL.value,
      learning_rate=_LEARNING_RATE.value, epochs=_EPOCHS.value, batch_size=_BATCH_SIZE.value,
      max_length=_MAX_LENGTH.value, dropout=_DROPOUT.value,
      mesh_shape=_int_list(_MESH.value, 'mesh_shape'),
      parallel_text_dir=_PARALLEL_TEXT_DIR.value, tfds_data_dir=_TFDS_DATA_DIR.value,
      sts_dir=_STS_DIR.value, export=_EXPORT.value)
  result = experiment.run(options)
  cli.print_json(results.one_line(result, result['paths']))


if __name__ == '__main__':
  cli.run(main)
