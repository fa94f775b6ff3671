"""Tiny TFDS datasets in the exact format of the real builders, written as ArrayRecord.

Each fixture subclasses the real TFDS 4.9.10 builder (its features, configs, versions and split
names) and replaces only the download: XNLI and the SQuAD-like datasets run the real example
generators on small files in the original formats (TSV, SQuAD JSON); multi_nli and wikiann
read their files through TensorFlow's gfile, so their fixtures yield what those generators
yield. The loaders then open them with `tfds.builder(name, data_dir=...)`, as real data.
"""

import json
import os

import tensorflow_datasets as tfds
from tensorflow_datasets.datasets.mlqa import mlqa_dataset_builder
from tensorflow_datasets.datasets.squad import squad_dataset_builder
from tensorflow_datasets.question_answering import xquad
from tensorflow_datasets.text import multi_nli
from tensorflow_datasets.text import xnli
from tensorflow_datasets.text.wikiann import wikiann


def _fixture_class(real_class, name: str, split_generators):
  """A subclass of `real_class` registered nowhere, named like it, whose splits come from
  `split_generators(builder) -> {split: iterator of (key, example)}`."""

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls):   # no checksums file to look up: nothing is downloaded
    return None

  def _split_generators(self, dl_manager):
    del dl_manager
    return split_generators(self)

  # Config-based builders read their README/citations next to their module: point there.
  return type(f'Fixture{real_class.__name__}', (real_class,),
              {'name': name, 'code_path': code_path, '_split_generators': _split_generators,
               '__module__': __name__, 'pkg_dir_path': real_class._get_pkg_dir_path()},
              skip_registration=True)


def _prepare(real_class, name: str, data_dir: str, split_generators, config=None) -> None:
  fixture = _fixture_class(real_class, name, split_generators)
  builder = fixture(config=config, data_dir=data_dir, file_format='array_record')
  builder.download_and_prepare()


def _write(path: str, text: str) -> str:
  os.makedirs(os.path.dirname(path), exist_ok=True)
  with open(path, 'w', encoding='utf-8') as f:
    f.write(text)
  return path


# ----------------------------------------------------------------------------- NLI

XNLI_ROWS = {   # split -> (pairID, language, sentence1, sentence2, gold_label)
    'test': [
        ('1', 'en', 'A man plays a guitar.', 'A person makes music.', 'entailment'),
        ('1', 'de', 'Ein Mann spielt Gitarre.', 'Eine Person macht Musik.', 'entailment'),
        ('1', 'sw', 'Mwanamume anapiga gitaa.', 'Mtu anafanya muziki.', 'entailment'),
        ('2', 'en', 'The shop is closed.', 'The shop is open.', 'contradiction'),
        ('2', 'de', 'Der Laden ist geschlossen.', 'Der Laden ist offen.', 'contradiction'),
        ('2', 'sw', 'Duka limefungwa.', 'Duka liko wazi.', 'contradiction'),
    ],
    'validation': [
        ('3', 'en', 'It rained all day.', 'The ground is wet.', 'neutral'),
        ('3', 'de', 'Es regnete den ganzen Tag.', 'Der Boden ist nass.', 'neutral'),
        ('3', 'sw', 'Mvua ilinyesha siku nzima.', 'Ardhi ina unyevu.', 'neutral'),
    ],
}
MULTI_NLI_TRAIN = [
    {'premise': 'Two dogs run in a park.', 'hypothesis': 'Animals are outside.',
     'label': 'entailment'},
    {'premise': 'She reads a book.', 'hypothesis': 'She is asleep.', 'label': 'contradiction'},
    {'premise': 'He bought bread.', 'hypothesis': 'He likes bread.', 'label': 'neutral'},
]


def _xnli_tsv(path: str, rows) -> str:
  """XNLI's TSV; every pair is in all 15 languages, as in the real files (the premise is a
  Translation feature of all of them): the languages the rows lack get placeholder text."""
  rows = list(rows)
  for pair in dict.fromkeys(row[0] for row in rows):
    given = {row[1] for row in rows if row[0] == pair}
    label = next(row[4] for row in rows if row[0] == pair)
    rows += [(pair, language, f'{language} premise {pair}', f'{language} hypothesis {pair}',
              label) for language in xnli._LANGUAGES if language not in given]
  header = 'language\tgold_label\tsentence1\tsentence2\tpairID\n'
  return _write(path, header + ''.join(f'{language}\t{label}\t{premise}\t{hypothesis}\t{pair}\n'
                                       for pair, language, premise, hypothesis, label in rows))


def write_nli(data_dir: str, raw_dir: str) -> None:
  files = {split: _xnli_tsv(os.path.join(raw_dir, f'xnli.{split}.tsv'), rows)
           for split, rows in XNLI_ROWS.items()}
  _prepare(xnli.Xnli, 'xnli', data_dir, lambda builder: {
      split: builder._generate_examples(path) for split, path in files.items()})
  _prepare(multi_nli.MultiNLI, 'multi_nli', data_dir, lambda builder: {
      'train': iter(enumerate(MULTI_NLI_TRAIN)),
      'validation_matched': iter(enumerate(MULTI_NLI_TRAIN[:1])),
      'validation_mismatched': iter(enumerate(MULTI_NLI_TRAIN[1:2]))})


# ----------------------------------------------------------------------------- PAN-X

PANX = {   # language -> split -> sentences of (token, tag)
    'en': {
        'train': [[('Alice', 'B-PER'), ('visited', 'O'), ('New', 'B-LOC'), ('York', 'I-LOC')],
                  [('IBM', 'B-ORG'), ('grew', 'O')]],
        'validation': [[('Bob', 'B-PER'), ('left', 'O')]],
        'test': [[('Paris', 'B-LOC'), ('is', 'O'), ('big', 'O')]],
    },
    'de': {
        'train': [[('Anna', 'B-PER')]],
        'validation': [[('Siemens', 'B-ORG'), ('wuchs', 'O')]],
        'test': [[('Angela', 'B-PER'), ('Merkel', 'I-PER'), ('besuchte', 'O'),
                  ('Berlin', 'B-LOC')]],
    },
    'ja': {   # a test split whose labels were lost (TFDS writes 'O' for unlabelled lines)
        'train': [[('東', 'B-LOC'), ('京', 'I-LOC')]],
        'validation': [[('東', 'B-LOC'), ('京', 'I-LOC')]],
        'test': [[('大', 'O'), ('阪', 'O')]],
    },
}


def _wikiann_example(sentence, language):
  tokens = [token for token, _ in sentence]
  tags = [tag for _, tag in sentence]
  return {'tokens': tokens, 'tags': tags, 'langs': [language] * len(tokens),
          'spans': wikiann.get_spans(tokens, tags)}


def write_panx(data_dir: str) -> None:
  for language, splits in PANX.items():
    _prepare(wikiann.Wikiann, 'wikiann', data_dir, lambda builder, splits=splits,
             language=language: {
                 split: iter((index + 1, _wikiann_example(sentence, language))
                             for index, sentence in enumerate(sentences))
                 for split, sentences in splits.items()}, config=language)


# ----------------------------------------------------------------------------- QA

def squad_json(questions) -> str:
  """SQuAD v1.1 JSON; questions: (id, context, question, [answer texts]), each answer at its
  first occurrence in the context."""
  paragraphs = [{'context': context, 'qas': [
      {'id': question_id, 'question': question,
       'answers': [{'text': text, 'answer_start': context.index(text)} for text in answers]}]}
      for question_id, context, question, answers in questions]
  return json.dumps({'version': '1.1', 'data': [{'title': 'Fixture', 'paragraphs': paragraphs}]},
                    ensure_ascii=False)


EIFFEL = 'The Eiffel Tower is in Paris. It was built in 1889.'
SQUAD = {
    'train': [('s1', EIFFEL, 'Where is the Eiffel Tower?', ['Paris']),
              ('s2', EIFFEL, 'When was it built?', ['1889'])],
    'validation': [('x1', EIFFEL, 'When was the tower built?', ['1889', 'in 1889']),
                   ('s3', EIFFEL, 'What is in Paris?', ['The Eiffel Tower'])],
}
EIFFEL_DE = 'Der Eiffelturm steht in Paris. Er wurde 1889 gebaut.'
XQUAD = {   # the XQuAD question x1 is a SQuAD validation question
    'en': [('x1', EIFFEL, 'When was the tower built?', ['1889'])],
    'de': [('x1', EIFFEL_DE, 'Wann wurde der Turm gebaut?', ['1889'])],
}
MLQA = {
    'en': {'test': [('m1', EIFFEL, 'Where is the tower?', ['Paris'])],
           'validation': [('m2', EIFFEL, 'When was it built?', ['1889'])]},
    'de': {'test': [('m1', EIFFEL_DE, 'Wo steht der Turm?', ['in Paris'])],
           'validation': [('m2', EIFFEL_DE, 'Wann wurde er gebaut?', ['1889'])]},
}


def _squadlike(real_class, name, data_dir, raw_dir, splits, config) -> None:
  files = {split: _write(os.path.join(raw_dir, name, config, f'{split}.json'),
                         squad_json(questions))
           for split, questions in splits.items()}
  _prepare(real_class, name, data_dir, lambda builder: {
      split: builder._generate_examples(path) for split, path in files.items()}, config=config)


def write_qa(data_dir: str, raw_dir: str) -> None:
  _squadlike(squad_dataset_builder.Builder, 'squad', data_dir, raw_dir, SQUAD, 'v1.1')
  for language, questions in XQUAD.items():
    _squadlike(xquad.Xquad, 'xquad', data_dir, raw_dir, {'test': questions}, language)
  for language, splits in MLQA.items():
    _squadlike(mlqa_dataset_builder.Builder, 'mlqa', data_dir, raw_dir, splits, language)


def write_all(data_dir: str, raw_dir: str) -> str:
  """Every benchmark's fixtures (XNLI and MultiNLI, PAN-X, the SQuAD-like sets) in data_dir."""
  write_nli(data_dir, raw_dir)
  write_panx(data_dir)
  write_qa(data_dir, raw_dir)
  return data_dir
