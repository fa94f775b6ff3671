"""Prepares what training reads: the corpus (TFDS ArrayRecord) and the tokenizer.

Layout: <data_dir>/corpus/ (see corpus.py) and <data_dir>/tokenizer/ (unless
data.tokenizer_dir names an existing Hugging Face tokenizer, e.g. a teacher's). Each part is
built once; a second call only reads two small JSON files and checks the tokenizer's ids.
"""

import dataclasses
import os
import time
from typing import Any

from unibert_jax import run_dir
from unibert_jax.data import corpus
from unibert_jax.data import tokenizer as tokenizer_lib
from unibert_jax.data import udhr

TOKENIZER_SUBDIR = 'tokenizer'
# Wikipedia: the tokenizer sees at most this many train paragraphs of each language (the
# first ones in source order); the language shares still follow the full corpus counts.
TOKENIZER_TEXTS_PER_LANGUAGE = 200_000


@dataclasses.dataclass(frozen=True)
class PreparedData:
  """What training reads, found once the data is prepared (never written back into the config)."""
  data_dir: str
  tokenizer_dir: str
  language_names: tuple[str, ...]

  @classmethod
  def read(cls, data_dir: str, tokenizer_dir: str) -> 'PreparedData':
    return cls(os.path.abspath(data_dir), os.path.abspath(tokenizer_dir),
               tuple(corpus.language_names(data_dir)))


def data_dir_of(config, workdir: str) -> str:
  """config.data.data_dir, or <workdir>/data."""
  return config.data.data_dir or run_dir.RunDir(workdir).data


def cache_dir_of(config) -> str:
  """config.data.cache_dir, or ~/.cache/unibert_jax (the npm tarball lives there)."""
  return os.path.expanduser(config.data.cache_dir or udhr.DEFAULT_CACHE_DIR)


def tokenizer_dir_of(config, workdir: str) -> str:
  """config.data.tokenizer_dir (given), or <data_dir>/tokenizer (trained here)."""
  return config.data.tokenizer_dir or os.path.join(data_dir_of(config, workdir),
                                                   TOKENIZER_SUBDIR)


def prepare_data(config, workdir: str) -> dict[str, Any]:
  """Builds the corpus and the tokenizer when missing; returns what is there.

  Returns {'languages': int, 'train_examples': int, 'validation_examples': int,
  'tokenizer_dir': str, 'data_dir': str, 'vocab_size': int, 'seconds': float}.
  """
  start = time.perf_counter()
  data_dir = data_dir_of(config, workdir)
  if os.path.exists(data_dir) and not os.path.isdir(data_dir):
    field = 'data.data_dir' if config.data.data_dir else '--workdir'
    raise ValueError(f'{data_dir} is a file, not a directory; set {field} to a directory.')
  cache_dir = cache_dir_of(config)
  stats = corpus.prepare_corpus(config.data, data_dir, cache_dir)

  tokenizer_dir = tokenizer_dir_of(config, workdir)
  own_tokenizer = not config.data.tokenizer_dir
  tokenizer_file = os.path.join(tokenizer_dir, tokenizer_lib.TOKENIZER_FILE)
  if own_tokenizer and not os.path.exists(tokenizer_file):
    texts = corpus.texts_by_language(config.data, cache_dir, split='train',
                                     max_texts_per_language=TOKENIZER_TEXTS_PER_LANGUAGE)
    tokenizer_lib.train_tokenizer(
        texts, vocab_size=config.data.vocab_size, out_dir=tokenizer_dir,
        alpha=config.data.sampling_alpha, seed=config.seed,
        model_max_length=config.data.max_len,
        language_counts=stats['num_examples_per_language']['train'])
  vocab_size = tokenizer_lib.check_tokenizer_dir(tokenizer_dir,
                                                 expected_vocab_size=config.data.vocab_size)
  return {
      'languages': len(stats['languages']),
      'train_examples': stats['num_examples']['train'],
      'validation_examples': stats['num_examples']['validation'],
      'tokenizer_dir': tokenizer_dir,
      'data_dir': data_dir,
      'vocab_size': vocab_size,
      'seconds': round(time.perf_counter() - start, 2),
  }
