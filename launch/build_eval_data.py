r"""Builds the cross-lingual evaluation sets from real translations; prints one JSON line.

  python launch/build_eval_data.py                    # R1, R1e, R2 and T1
  python launch/build_eval_data.py --sets=R1          # the suite's main set only

Downloads Debian packages (Firefox ESR langpacks, LibreOffice UI and help, GNOME help; apt-get)
and an npm package (CLDR annotations) into the cache, parses and filters them
(unibert_jax/evaluation/parallel_text). Nothing from them enters the repository: the data is
MPL-2.0, CC-BY-SA-3.0 and Unicode-3.0 licensed. From nothing on 2 CPU cores: R1 about 2
minutes, everything about 6; a rerun with the sets built is a no-op. A set that cannot be built
is reported under `missing_sets` with the reason (exit status 1 when a requested set is
missing). Output: {"cache_dir", "sets": {name: items}, "languages": {name: count},
"missing_sets", "item_sha256", "seconds"}.
"""

import os
import sys
import time

from absl import app
from absl import flags

from unibert_jax import cli
from unibert_jax.evaluation import parallel_text
from unibert_jax.evaluation.parallel_text import builder

_SETS = flags.DEFINE_list('sets', list(parallel_text.ALL_SETS),
                          f'Sets to build, of {", ".join(parallel_text.ALL_SETS)}.')
_CACHE_DIR = flags.DEFINE_string('cache_dir', None,
                                 f'Where the sets go (default {builder.DEFAULT_CACHE_DIR}).')
_PACKAGES_DIR = flags.DEFINE_string(
    'packages_dir', None, 'Read the .deb and .tgz files from here instead of apt-get and npm.')


def _log(line: str) -> None:
  print(line, file=sys.stderr, flush=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments: {argv[1:]}')
  unknown = sorted(set(_SETS.value) - set(parallel_text.ALL_SETS))
  if unknown:
    raise app.UsageError(f'--sets: unknown set(s) {unknown}; choose from '
                         f'{", ".join(parallel_text.ALL_SETS)}.')
  start = time.time()
  cache_dir = os.path.expanduser(_CACHE_DIR.value or builder.DEFAULT_CACHE_DIR)
  # Progress goes to stderr: stdout carries only the JSON line.
  manifest = parallel_text.build(cache_dir, sets=_SETS.value, packages_dir=_PACKAGES_DIR.value,
                                 log=_log)
  missing = {name: reason for name, reason in manifest['missing_sets'].items()
             if name in _SETS.value}
  cli.print_json({
      'cache_dir': cache_dir,
      'sets': {name: entry['items'] for name, entry in manifest['sets'].items()},
      'languages': {name: len(entry['languages']) for name, entry in manifest['sets'].items()},
      'missing_sets': missing,
      'item_sha256': manifest.get('item_sha256', ''),
      'seconds': round(time.time() - start, 1),
  })
  if missing:
    raise ValueError(f'Could not build {", ".join(sorted(missing))}: '
                       + ' '.join(missing.values()))


if __name__ == '__main__':
  cli.run(main)
