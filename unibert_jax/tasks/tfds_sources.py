"""The real XTREME-style benchmarks from prepared TFDS data (ArrayRecord, read without
TensorFlow), as TaskData for English-trained, every-language-tested transfer (crosslingual.md §4).

Prepare them once on a machine with internet (TFDS downloads need tensorflow-cpu there):
  tfds build <name> ... --file_format=array_record --data_dir=D
and pass D as `data_dir`. Missing data raises DataMissing with the exact command.

  xnli   train multi_nli/train (English MNLI), dev xnli/validation en; test xnli/test in its 15
         languages; target_dev xnli/validation per language. Accuracy.
  panx   wikiann/<l> (PAN-X, Rahimi et al. splits): train/dev wikiann/en, test wikiann/<l>/test
         for XTREME's 40 languages, target_dev wikiann/<l>/validation. seqeval F1.
  xquad  train squad/v1.1 train; dev squad/v1.1 validation without the XQuAD questions (XQuAD
         is 240 paragraphs of it); test xquad/<l> (11 languages, no dev). SQuAD EM/F1.
  mlqa   train squad/v1.1 train; dev mlqa/en validation; test mlqa/<l> (context and question
         in the same language, 7 languages); target_dev mlqa/<l>/validation. MLQA EM/F1.
  sts    TFDS 4.9.10 has no multilingual STS builder (only glue/stsb, English, test unlabelled).
         A prepared copy of stsb_multi_mt (STS-B translated into 9 languages, PhilipMay/
         stsb_multi_mt on the Hugging Face hub) is read from JSON lines instead:
           <sts_dir>/<language>/{train,dev,test}.jsonl, rows {"sentence1": str,
           "sentence2": str, "similarity_score": float 0-5}
         e.g. written with `datasets.load_dataset('PhilipMay/stsb_multi_mt', name=l,
         split=s).to_json(f'{sts_dir}/{l}/{s}.jsonl', force_ascii=False)`. Train/dev English,
         test every language, target_dev each language's dev. Spearman.
"""

from collections.abc import Iterator, Sequence
import json
import os

import numpy as np
import tensorflow_datasets as tfds

from unibert_jax.tasks.examples import ClassificationExample
from unibert_jax.tasks.examples import CLASSIFICATION
from unibert_jax.tasks.examples import EXTRACTIVE_QA
from unibert_jax.tasks.examples import QAExample
from unibert_jax.tasks.examples import REGRESSION
from unibert_jax.tasks.examples import RegressionExample
from unibert_jax.tasks.examples import TaskData
from unibert_jax.tasks.examples import TOKEN_CLASSIFICATION
from unibert_jax.tasks.examples import TokenClassificationExample

XNLI_LANGUAGES = ('ar', 'bg', 'de', 'el', 'en', 'es', 'fr', 'hi', 'ru', 'sw', 'th', 'tr', 'ur',
                  'vi', 'zh')
NLI_LABELS = ('entailment', 'neutral', 'contradiction')
# XTREME's 40 PAN-X languages (the TFDS wikiann configs of the same names).
PANX_LANGUAGES = ('af', 'ar', 'bg', 'bn', 'de', 'el', 'en', 'es', 'et', 'eu', 'fa', 'fi', 'fr',
                  'he', 'hi', 'hu', 'id', 'it', 'ja', 'jv', 'ka', 'kk', 'ko', 'ml', 'mr', 'ms',
                  'my', 'nl', 'pt', 'ru', 'sw', 'ta', 'te', 'th', 'tl', 'tr', 'ur', 'vi', 'yo',
                  'zh')
PANX_LABELS = ('PER', 'ORG', 'LOC')
XQUAD_LANGUAGES = ('ar', 'de', 'el', 'en', 'es', 'hi', 'ru', 'th', 'tr', 'vi', 'zh')
MLQA_LANGUAGES = ('ar', 'de', 'en', 'es', 'hi', 'vi', 'zh')
STS_LANGUAGES = ('de', 'en', 'es', 'fr', 'it', 'nl', 'pl', 'pt', 'ru', 'zh')
SQUAD = 'squad/v1.1'
_READ_BATCH = 1024


class DataMissing(FileNotFoundError):
  """A benchmark is not prepared; the message holds the command that prepares it."""


def _build_command(names: Sequence[str], data_dir: str | None) -> str:
  return (f'tfds build {" ".join(names)} --file_format=array_record '
          f'--data_dir={data_dir or "<data_dir>"}')


def _builders(names: Sequence[str], data_dir: str | None, task: str) -> dict:
  """The prepared ArrayRecord builder of each TFDS name; one DataMissing for all that lack."""
  builders, missing, not_array_record = {}, [], []
  for name in dict.fromkeys(names):
    try:
      builder = tfds.builder(name, data_dir=data_dir or None)
    except tfds.core.registered.DatasetNotFoundError:
      # Without TensorFlow the builder code is not registered: only prepared files are found.
      missing.append(name)
      continue
    if not builder.is_prepared():
      missing.append(name)
    elif builder.info.file_format != tfds.core.FileFormat.ARRAY_RECORD:
      not_array_record.append(f'{builder.data_dir} ({builder.info.file_format.value})')
    else:
      builders[name] = builder
  where = data_dir or 'the TFDS default data dir'
  if missing:
    raise DataMissing(
        f'Task {task} needs TFDS {", ".join(missing)}, not prepared in {where}. On a machine '
        f'with internet and tensorflow-cpu run `{_build_command(missing, data_dir)}`, then '
        f'copy that data dir here and pass it as the TFDS data dir.')
  if not_array_record:
    raise DataMissing(
        f'Task {task} reads ArrayRecord files without TensorFlow, but '
        f'{", ".join(not_array_record)} hold another format. Convert each with `tfds '
        f'convert_format --dataset_version_dir=<dir> --out_file_format=array_record '
        f'--out_dir=<new dir>` or rebuild with `{_build_command(names, data_dir)}`.')
  return builders


def _records(builder, split: str) -> Iterator[dict]:
  if split not in builder.info.splits:
    raise DataMissing(f'{builder.data_dir} has no split {split!r} (it has '
                      f'{", ".join(builder.info.splits)}); rebuild it with TFDS 4.9.10.')
  source = builder.as_data_source(split=split)
  for start in range(0, len(source), _READ_BATCH):
    yield from source.__getitems__(range(start, min(start + _READ_BATCH, len(source))))


def _text(value) -> str:
  return value.decode('utf-8') if isinstance(value, (bytes, np.bytes_)) else str(value)


def _check_labels(builder, feature: str, expected: Sequence[str]) -> None:
  names = tuple(builder.info.features[feature].names)
  if names != tuple(expected):
    raise ValueError(f'{builder.data_dir}: {feature} classes are {names}, expected {expected}; '
                     f'it was built by another TFDS version.')


def _check_languages(languages: Sequence[str], known: Sequence[str], task: str) -> None:
  unknown = sorted(set(languages) - set(known))
  if unknown:
    raise ValueError(f'Task {task} has no language(s) {", ".join(unknown)}; it has '
                     f'{", ".join(known)}.')


# ----------------------------------------------------------------------------- XNLI


def _xnli_examples(builder, split: str, languages: Sequence[str]) -> dict[str, list]:
  examples = {language: [] for language in languages}
  for index, record in enumerate(_records(builder, split)):
    hypotheses = dict(zip(map(_text, record['hypothesis']['language']),
                          map(_text, record['hypothesis']['translation'])))
    for language in languages:
      if language in hypotheses:
        examples[language].append(ClassificationExample(
            _text(record['premise'][language]), hypotheses[language], int(record['label']),
            language, f'xnli/{split}/{index}'))
  return examples


def xnli(data_dir: str | None, languages: Sequence[str] = XNLI_LANGUAGES) -> TaskData:
  _check_languages(languages, XNLI_LANGUAGES, 'xnli')
  builders = _builders(['multi_nli', 'xnli'], data_dir, 'xnli')
  for builder in builders.values():
    _check_labels(builder, 'label', NLI_LABELS)
  train = tuple(
      ClassificationExample(_text(record['premise']), _text(record['hypothesis']),
                            int(record['label']), 'en', f'multi_nli/train/{index}')
      for index, record in enumerate(_records(builders['multi_nli'], 'train')))
  validation = _xnli_examples(builders['xnli'], 'validation', sorted({'en', *languages}))
  test = _xnli_examples(builders['xnli'], 'test', languages)
  return TaskData(
      name='xnli', kind=CLASSIFICATION, label_names=NLI_LABELS, train=train,
      dev=tuple(validation['en']), test={language: tuple(test[language]) for language in languages},
      target_dev={language: tuple(validation[language]) for language in languages
                  if language != 'en'},
      headline_metric='accuracy',
      description='XNLI: train MNLI (multi_nli/train), dev xnli/validation en, test xnli/test.')


# ----------------------------------------------------------------------------- PAN-X


def _panx_examples(builder, split: str, language: str) -> list[TokenClassificationExample]:
  tag_names = builder.info.features['tags'].feature.names
  return [TokenClassificationExample(tuple(map(_text, record['tokens'])),
                                     tuple(tag_names[int(tag)] for tag in record['tags']),
                                     language, f'wikiann/{language}/{split}/{index}')
          for index, record in enumerate(_records(builder, split))]


def panx(data_dir: str | None, languages: Sequence[str] = PANX_LANGUAGES) -> TaskData:
  builders = _builders([f'wikiann/{language}' for language in sorted({'en', *languages})],
                       data_dir, 'panx')
  test, target_dev = {}, {}
  for language in languages:
    builder = builders[f'wikiann/{language}']
    test[language] = tuple(_panx_examples(builder, 'test', language))
    if not any(tag != 'O' for example in test[language] for tag in example.tags):
      # TFDS's wikiann writes 'O' for a line without a label: a label-less test split.
      raise ValueError(f'{builder.data_dir}: the test split has no entity tags at all; its '
                       f'labels are missing (TFDS wikiann writes "O" for unlabelled lines).')
    if language != 'en':
      target_dev[language] = tuple(_panx_examples(builder, 'validation', language))
  english = builders['wikiann/en']
  return TaskData(
      name='panx', kind=TOKEN_CLASSIFICATION, label_names=PANX_LABELS,
      train=tuple(_panx_examples(english, 'train', 'en')),
      dev=tuple(_panx_examples(english, 'validation', 'en')), test=test, target_dev=target_dev,
      headline_metric='f1',
      description='PAN-X: wikiann/en train/validation, wikiann/<language> test.')


# ----------------------------------------------------------------------------- QA


def _qa_examples(builder, split: str, language: str) -> list[QAExample]:
  return [QAExample(_text(record['question']), _text(record['context']),
                    tuple(zip(map(_text, record['answers']['text']),
                              map(int, record['answers']['answer_start']))),
                    language, _text(record['id']))
          for record in _records(builder, split)]


def xquad(data_dir: str | None, languages: Sequence[str] = XQUAD_LANGUAGES) -> TaskData:
  _check_languages(languages, XQUAD_LANGUAGES, 'xquad')
  names = [SQUAD, *(f'xquad/{language}' for language in sorted({'en', *languages}))]
  builders = _builders(names, data_dir, 'xquad')
  test = {language: tuple(_qa_examples(builders[f'xquad/{language}'], 'test', language))
          for language in sorted({'en', *languages})}
  xquad_ids = {example.id for example in test['en']}
  dev = tuple(example for example in _qa_examples(builders[SQUAD], 'validation', 'en')
              if example.id not in xquad_ids)
  return TaskData(
      name='xquad', kind=EXTRACTIVE_QA, label_names=(),
      train=tuple(_qa_examples(builders[SQUAD], 'train', 'en')), dev=dev,
      test={language: test[language] for language in languages}, headline_metric='f1',
      score_options={'normalization': 'squad'},
      description=('XQuAD: train squad/v1.1 train, dev squad/v1.1 validation without the '
                   'XQuAD questions, test xquad/<language>.'))


def mlqa(data_dir: str | None, languages: Sequence[str] = MLQA_LANGUAGES) -> TaskData:
  _check_languages(languages, MLQA_LANGUAGES, 'mlqa')
  names = [SQUAD, *(f'mlqa/{language}' for language in sorted({'en', *languages}))]
  builders = _builders(names, data_dir, 'mlqa')
  return TaskData(
      name='mlqa', kind=EXTRACTIVE_QA, label_names=(),
      train=tuple(_qa_examples(builders[SQUAD], 'train', 'en')),
      dev=tuple(_qa_examples(builders['mlqa/en'], 'validation', 'en')),
      test={language: tuple(_qa_examples(builders[f'mlqa/{language}'], 'test', language))
            for language in languages},
      target_dev={language: tuple(_qa_examples(builders[f'mlqa/{language}'], 'validation',
                                               language))
                  for language in languages if language != 'en'},
      headline_metric='f1', score_options={'normalization': 'mlqa'},
      description='MLQA: train squad/v1.1 train, dev mlqa/en validation, test mlqa/<language>.')


# ----------------------------------------------------------------------------- STS


def _sts_examples(sts_dir: str, language: str, split: str) -> list[RegressionExample]:
  path = os.path.join(sts_dir, language, f'{split}.jsonl')
  if not os.path.exists(path):
    raise DataMissing(
        f'Task sts needs {path}: a JSON-lines copy of stsb_multi_mt ({language}, {split}) with '
        f'rows {{"sentence1", "sentence2", "similarity_score"}}. Write it on a machine with '
        f'internet: `datasets.load_dataset("PhilipMay/stsb_multi_mt", name="{language}", '
        f'split="{split}").to_json("{path}", force_ascii=False)`.')
  examples = []
  with open(path, encoding='utf-8') as f:
    for line_number, line in enumerate(f, 1):
      if not line.strip():
        continue
      try:
        row = json.loads(line)
        examples.append(RegressionExample(row['sentence1'], row['sentence2'],
                                          float(row['similarity_score']), language,
                                          f'stsb_multi_mt/{language}/{split}/{line_number}'))
      except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f'{path}:{line_number}: not a row with sentence1, sentence2 and '
                         f'similarity_score ({error!r}); rewrite the file.') from None
  return examples


def sts(sts_dir: str, languages: Sequence[str] = STS_LANGUAGES) -> TaskData:
  if not sts_dir:
    raise DataMissing('Task sts needs the directory of a JSON-lines copy of stsb_multi_mt '
                      '(see unibert_jax/tasks/tfds_sources.py); pass it as sts_dir.')
  _check_languages(languages, STS_LANGUAGES, 'sts')
  return TaskData(
      name='sts', kind=REGRESSION, label_names=(),
      train=tuple(_sts_examples(sts_dir, 'en', 'train')),
      dev=tuple(_sts_examples(sts_dir, 'en', 'dev')),
      test={language: tuple(_sts_examples(sts_dir, language, 'test')) for language in languages},
      target_dev={language: tuple(_sts_examples(sts_dir, language, 'dev'))
                  for language in languages if language != 'en'},
      headline_metric='spearman',
      description=f'STS: stsb_multi_mt (JSON lines in {sts_dir}); train/dev en, test each.')
