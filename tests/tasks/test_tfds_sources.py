"""The benchmark loaders read fixture datasets of the real builders' format through the real
TFDS reader (ArrayRecord, no TensorFlow), and name the exact build command when data lacks."""

import json
import os
import subprocess
import sys

import pytest

from unibert_jax.tasks import registry
from unibert_jax.tasks import tfds_sources
from unibert_jax.tasks.examples import QAExample

from tests.tasks import tfds_fixtures


@pytest.fixture(scope='module')
def data_dir(tmp_path_factory):
  return tfds_fixtures.write_all(str(tmp_path_factory.mktemp('tfds')),
                                 str(tmp_path_factory.mktemp('raw')))


def test_xnli_trains_on_multi_nli_and_tests_every_language(data_dir):
  task = tfds_sources.xnli(data_dir, languages=('en', 'de', 'sw'))
  assert task.label_names == ('entailment', 'neutral', 'contradiction')
  assert [(example.text_a, example.label) for example in task.train] == [
      ('Two dogs run in a park.', 0), ('She reads a book.', 2), ('He bought bread.', 1)]
  assert [(example.text_a, example.text_b, example.label) for example in task.dev] == [
      ('It rained all day.', 'The ground is wet.', 1)]
  german = sorted(task.test['de'], key=lambda example: example.label)
  assert [(example.text_a, example.text_b, example.label, example.language)
          for example in german] == [
      ('Ein Mann spielt Gitarre.', 'Eine Person macht Musik.', 0, 'de'),
      ('Der Laden ist geschlossen.', 'Der Laden ist offen.', 2, 'de')]
  # Parallel: the same id is the same pair in every language.
  assert ({example.id: example.label for example in task.test['sw']} ==
          {example.id: example.label for example in task.test['de']})
  assert set(task.target_dev) == {'de', 'sw'} and len(task.target_dev['sw']) == 1


def test_panx_tags_are_names_and_english_trains(data_dir):
  task = tfds_sources.panx(data_dir, languages=('en', 'de'))
  assert task.label_names == ('PER', 'ORG', 'LOC')
  assert [(example.tokens, example.tags) for example in task.train] == [
      (('Alice', 'visited', 'New', 'York'), ('B-PER', 'O', 'B-LOC', 'I-LOC')),
      (('IBM', 'grew'), ('B-ORG', 'O'))]
  assert task.test['de'][0].tokens == ('Angela', 'Merkel', 'besuchte', 'Berlin')
  assert task.test['de'][0].tags == ('B-PER', 'I-PER', 'O', 'B-LOC')
  assert task.target_dev['de'][0].tags == ('B-ORG', 'O')
  assert task.bio_tags() == ('O', 'B-PER', 'I-PER', 'B-ORG', 'I-ORG', 'B-LOC', 'I-LOC')


def test_panx_refuses_a_test_split_without_labels(data_dir):
  with pytest.raises(ValueError, match='wikiann/ja.*no entity tags at all'):
    tfds_sources.panx(data_dir, languages=('ja',))


def test_xquad_trains_on_squad_and_keeps_xquad_out_of_dev(data_dir):
  task = tfds_sources.xquad(data_dir, languages=('en', 'de'))
  assert {example.id for example in task.train} == {'s1', 's2'}
  assert [example.id for example in task.dev] == ['s3']     # x1 is an XQuAD question
  german = task.test['de'][0]
  assert german == QAExample('Wann wurde der Turm gebaut?', tfds_fixtures.EIFFEL_DE,
                             (('1889', tfds_fixtures.EIFFEL_DE.index('1889')),), 'de', 'x1')
  assert german.context[german.answers[0][1]:].startswith('1889')
  assert task.score_options == {'normalization': 'squad'} and task.target_dev == {}


def test_squad_keeps_every_gold_answer(data_dir):
  task = tfds_sources.mlqa(data_dir, languages=('de',))
  validation = tfds_sources._qa_examples(
      tfds_sources._builders([tfds_sources.SQUAD], data_dir, 'test')[tfds_sources.SQUAD],
      'validation', 'en')
  assert {example.id: example.answers for example in validation}['x1'] == (
      ('1889', 46), ('in 1889', 43))
  assert [example.id for example in task.dev] == ['m2']
  assert task.test['de'][0].answers == (('in Paris', 21),)
  assert task.target_dev['de'][0].id == 'm2'
  assert task.score_options == {'normalization': 'mlqa'}


def test_missing_data_names_the_dataset_the_dir_and_the_command(tmp_path):
  empty = str(tmp_path / 'empty')
  with pytest.raises(tfds_sources.DataMissing) as error:
    tfds_sources.panx(empty, languages=('de', 'sw'))
  message = str(error.value)
  assert f'not prepared in {empty}' in message
  assert (f'`tfds build wikiann/de wikiann/en wikiann/sw --file_format=array_record '
          f'--data_dir={empty}`') in message
  with pytest.raises(tfds_sources.DataMissing, match='tfds build multi_nli xnli '
                     '--file_format=array_record'):
    registry.load_task('xnli', tfds_data_dir=empty)


def test_unknown_languages_are_refused(data_dir):
  with pytest.raises(ValueError, match='Task xquad has no language.s. fr'):
    tfds_sources.xquad(data_dir, languages=('fr',))


def _write_sts(sts_dir, language, split, rows):
  os.makedirs(os.path.join(sts_dir, language), exist_ok=True)
  with open(os.path.join(sts_dir, language, f'{split}.jsonl'), 'w', encoding='utf-8') as f:
    for sentence1, sentence2, score in rows:
      f.write(json.dumps({'sentence1': sentence1, 'sentence2': sentence2,
                          'similarity_score': score}, ensure_ascii=False) + '\n')


def test_sts_reads_a_json_lines_copy_of_stsb_multi_mt(tmp_path):
  sts_dir = str(tmp_path / 'sts')
  for split in ('train', 'dev', 'test'):
    _write_sts(sts_dir, 'en', split, [('A cat sits.', 'A cat is sitting.', 4.8)])
  _write_sts(sts_dir, 'de', 'test', [('Eine Katze sitzt.', 'Ein Hund bellt.', 0.4)])
  _write_sts(sts_dir, 'de', 'dev', [('Es regnet.', 'Es ist nass.', 3.0)])
  task = registry.load_task('sts', sts_dir=sts_dir, languages=('en', 'de'))
  assert task.kind == 'regression' and task.headline_metric == 'spearman'
  assert task.test['de'][0].score == pytest.approx(0.4)
  assert task.train[0].text_b == 'A cat is sitting.'
  with pytest.raises(tfds_sources.DataMissing, match=r'fr/test.jsonl.*stsb_multi_mt'):
    tfds_sources.sts(sts_dir, languages=('fr',))


def test_prepared_data_loads_in_a_process_that_never_imported_the_builders(data_dir):
  # As on a user's machine: the data was built elsewhere, and without TensorFlow the TFDS
  # builder classes of these datasets are not registered, so only the prepared files can say
  # what the dataset is.
  code = ('import sys; from unibert_jax.tasks import registry; '
          'task = registry.load_task(sys.argv[1], tfds_data_dir=sys.argv[2], '
          'languages=sys.argv[3].split(",")); '
          'print(len(task.train), *(len(task.test[l]) for l in task.languages))')
  for name, languages in (('xnli', 'en,de'), ('panx', 'en,de'), ('xquad', 'en,de')):
    done = subprocess.run([sys.executable, '-c', code, name, data_dir, languages],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    sizes = [int(n) for n in done.stdout.split()]
    in_process = registry.load_task(name, tfds_data_dir=data_dir,
                                    languages=languages.split(','))
    assert sizes == [len(in_process.train)] + [len(in_process.test[l])
                                               for l in in_process.languages]
