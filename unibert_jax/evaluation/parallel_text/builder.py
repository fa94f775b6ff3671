"""Builds the offline cross-lingual evaluation sets into a cache, and reads them back.

  manifest = build(cache_dir)            # downloads, parses, filters (minutes, once)
  items = load(cache_dir, 'R1')          # list[Item]
  subset = r1_1k(items)                  # the R1-1k protocol subset

Sets (offline_eval.md §0-§3): R1 = Firefox ESR + LibreOffice UI sentences aligned by message
id; R1e = CLDR emoji names for the languages R1 lacks (word/phrase level: report it apart);
R2 = LibreOffice help + GNOME help paragraphs; T1 = LibreOffice help paragraphs with the typed
spans (UI, KEY, CODE, PRODUCT) translators kept, read with `load_typed_spans` (typed_spans.py).
The cache holds `downloads/` (the packages), one `<set>.jsonl` per set and `manifest.json` (see
manifest.py). A set that cannot be built
(no apt-get, no npm, no network, nothing left after the filters) is recorded under
`missing_sets` with the reason, and `load` raises that reason; the other sets are still built.
A rerun with every requested set in the cache only reads the manifest.
"""

from collections.abc import Callable, Sequence
from concurrent import futures
import multiprocessing
import os
import statistics
import sys
import time

from unibert_jax.evaluation.parallel_text import fetch
from unibert_jax.evaluation.parallel_text import items as items_lib
from unibert_jax.evaluation.parallel_text import manifest as manifest_lib
from unibert_jax.evaluation.parallel_text import sets as sets_lib
from unibert_jax.evaluation.parallel_text import sources
from unibert_jax.evaluation.parallel_text import typed_spans
from unibert_jax.evaluation.parallel_text.items import Item
from unibert_jax.evaluation.parallel_text.typed_spans import TypedSpanItem

SETS = ('R1', 'R1e', 'R2')       # sets of aligned texts: load() -> list[Item]
TYPED_SPAN_SETS = ('T1',)        # load_typed_spans() -> list[TypedSpanItem]
ALL_SETS = SETS + TYPED_SPAN_SETS
DEPENDENCIES = {'R1e': 'R1'}   # R1e covers the languages R1 lacks
DEFAULT_CACHE_DIR = os.path.join('~', '.cache', 'unibert_jax', 'parallel_text')
DOWNLOADS_DIR = 'downloads'
r1_1k = sets_lib.r1_1k


class _InlineExecutor(futures.Executor):
  """Runs each job at submit time (workers=1; no processes)."""

  def submit(self, fn, /, *args, **kwargs):
    future = futures.Future()
    try:
      future.set_result(fn(*args, **kwargs))
    except BaseException as error:  # pylint: disable=broad-except
      future.set_exception(error)
    return future


def _executor(workers: int) -> futures.Executor:
  if workers <= 1:
    return _InlineExecutor()
  # fork is cheapest and needs no `if __name__ == '__main__'` guard in the calling script, but
  # forking a process that runs JAX's threads can deadlock: then spawn (the launch scripts have
  # the guard).
  method = 'spawn' if 'jax' in sys.modules else 'fork'
  return futures.ProcessPoolExecutor(max_workers=workers,
                                     mp_context=multiprocessing.get_context(method))


def _build_r1(fetcher, executor, log, manifest, min_items):
  firefox = sources.read_firefox(fetcher, executor, log)
  libreoffice_ui = sources.read_libreoffice_ui(fetcher, executor, log)
  return sets_lib.r1(firefox, libreoffice_ui, min_items, executor), (firefox, libreoffice_ui)


def _build_r1e(fetcher, executor, log, manifest, min_items):
  if 'R1' not in manifest['sets']:
    raise sets_lib.SetUnavailable(
        'R1e covers the languages R1 lacks, and R1 is missing: '
        f'{manifest["missing_sets"].get("R1", "not built")}')
  cldr = sources.read_cldr(fetcher, log)
  return sets_lib.r1e(cldr, manifest['sets']['R1']['languages'], min_items,
                      executor), (cldr,)


def _build_r2(fetcher, executor, log, manifest, min_items):
  libreoffice_help = sources.read_libreoffice_help(fetcher, executor, log)
  gnome_help = sources.read_gnome_help(fetcher, executor, log)
  return (sets_lib.r2(libreoffice_help, gnome_help, min_items, executor),
          (libreoffice_help, gnome_help))


def _build_t1(fetcher, executor, log, manifest, min_items):
  libreoffice_help = sources.read_libreoffice_help(fetcher, executor, log,
                                                   span_labels=typed_spans.LABELS)
  return typed_spans.t1(libreoffice_help, min_items, executor), (libreoffice_help,)


_BUILDERS = {'R1': _build_r1, 'R1e': _build_r1e, 'R2': _build_r2, 'T1': _build_t1}


def _is_current(manifest: dict, cache_dir: str, set_name: str) -> bool:
  """Built, its file intact, and built on the current version of the set it depends on."""
  if not manifest_lib.is_built(manifest, cache_dir, set_name):
    return False
  dependency = DEPENDENCIES.get(set_name)
  return dependency is None or (
      manifest_lib.is_built(manifest, cache_dir, dependency) and
      manifest['sets'][set_name].get('built_on') == manifest['sets'][dependency]['sha256'])


def set_names(text: str, allowed: Sequence[str] = SETS) -> tuple[str, ...]:
  """'R1, R2' -> ('R1', 'R2'); a name outside `allowed` raises ValueError."""
  names = tuple(name.strip() for name in text.split(',') if name.strip())
  unknown = sorted(set(names) - set(allowed))
  if unknown:
    raise ValueError(f'Unknown parallel-text set(s) {unknown}; choose from '
                     f'{", ".join(allowed)}, comma-separated.')
  return names


def _with_dependencies(set_names: Sequence[str]) -> list[str]:
  if isinstance(set_names, str):
    set_names = (set_names,)
  unknown = [name for name in set_names if name not in ALL_SETS]
  if unknown:
    raise ValueError(f'Unknown parallel-text set(s) {", ".join(unknown)}; choose from '
                     f'{", ".join(ALL_SETS)}.')
  wanted = {*set_names, *(DEPENDENCIES[name] for name in set_names if name in DEPENDENCIES)}
  return [name for name in ALL_SETS if name in wanted]


def _set_entry(result: sets_lib.SetResult, set_sources, file_bytes: int, seconds: float,
               manifest: dict) -> dict:
  entry = {
      'file': manifest_lib.set_file(result.name), 'bytes': file_bytes, 'items': len(result.items),
      'sha256': (typed_spans.items_sha256(result.items) if result.name in TYPED_SPAN_SETS
                 else items_lib.items_sha256({result.name: result.items})),
      'languages': result.counts, 'missing_languages': result.missing_languages,
      'near_copies': {language: {'original': original, 'share': share}
                      for language, (original, share) in result.near_copies.items()},
      'filter_stats': result.filter_stats,
      'sources': {source.name: {'unavailable': source.unavailable, 'seconds': source.seconds,
                                'packages': len(source.versions)} for source in set_sources},
      'seconds': round(seconds, 1),
  }
  dependency = DEPENDENCIES.get(result.name)
  if dependency:
    entry['built_on'] = manifest['sets'][dependency]['sha256']
  return entry


def _summary(set_name: str, entry: dict) -> str:
  counts = sorted(entry['languages'].values())
  return (f'{set_name}: {len(counts)} languages, {entry["items"]} items; per language min '
          f'{counts[0]}, median {statistics.median(counts):.0f}, max {counts[-1]}')


def build(cache_dir: str | None = None, sets: Sequence[str] = ALL_SETS,
          log: Callable[[str], None] = print, packages_dir: str | None = None,
          min_items: int = sets_lib.MIN_ITEMS, workers: int | None = None) -> dict:
  """Builds the missing or outdated requested sets into `cache_dir`; returns the manifest.

  Args:
    cache_dir: default ~/.cache/unibert_jax/parallel_text.
    sets: names from ALL_SETS; R1e brings R1 along (it is defined by R1's languages).
    log: receives one line per step (fetch sizes, versions that moved, timings, summaries).
    packages_dir: read the .deb/.tgz files from this directory instead of apt-get and npm
      (offline builds, tests); its files are named as apt-get and npm pack name them.
    min_items: a language needs at least this many items after the filters to be in a set.
    workers: processes that parse packages in parallel (default: the CPU count, at most 4).
      When JAX is already imported they are started with 'spawn', which needs the calling
      script's entry point under `if __name__ == '__main__':`.
  """
  cache_dir = os.path.expanduser(cache_dir or DEFAULT_CACHE_DIR)
  wanted = _with_dependencies(sets)
  os.makedirs(cache_dir, exist_ok=True)
  manifest = manifest_lib.read_for_build(cache_dir, min_items)
  if all(_is_current(manifest, cache_dir, name) for name in wanted):
    log(f'parallel_text: {cache_dir} already holds {", ".join(wanted)}; nothing to do.')
    return manifest
  if packages_dir:
    fetcher = fetch.LocalFetcher(packages_dir)
  else:
    fetcher = fetch.RegistryFetcher(os.path.join(cache_dir, DOWNLOADS_DIR), log=log)
  workers = workers or min(4, os.cpu_count() or 1)
  built: dict[str, list[Item]] = {}
  with _executor(workers) as executor:
    for set_name in wanted:
      if _is_current(manifest, cache_dir, set_name):
        continue
      log(f'parallel_text: building {set_name} into {cache_dir}')
      start = time.perf_counter()
      try:
        result, set_sources = _BUILDERS[set_name](fetcher, executor, log, manifest, min_items)
      except (fetch.FetchError, sets_lib.SetUnavailable) as error:
        manifest['sets'].pop(set_name, None)
        manifest['missing_sets'][set_name] = str(error)
        log(f'parallel_text: {set_name} is MISSING: {error}')
        manifest_lib.write(cache_dir, manifest)
        continue
      for source in set_sources:
        if source.unavailable:
          log(f'parallel_text: warning: {set_name} is built without {source.name}: '
              f'{source.unavailable}')
      write_jsonl = (typed_spans.write_jsonl if set_name in TYPED_SPAN_SETS
                     else items_lib.write_jsonl)
      file_bytes = write_jsonl(os.path.join(cache_dir, manifest_lib.set_file(set_name)),
                               result.items)
      for source in set_sources:
        manifest['packages'].update(source.versions)
      manifest['sets'][set_name] = _set_entry(result, set_sources, file_bytes,
                                              time.perf_counter() - start, manifest)
      manifest['missing_sets'].pop(set_name, None)
      built[set_name] = result.items
      log(f'parallel_text: {_summary(set_name, manifest["sets"][set_name])} '
          f'({manifest["sets"][set_name]["seconds"]} s)')
      manifest_lib.write(cache_dir, manifest)
  # Over the aligned-text sets only (as before T1 existed); T1 has its own sha256 entry.
  manifest['item_sha256'] = items_lib.items_sha256(
      {name: built.get(name) or load(cache_dir, name) for name in manifest['sets']
       if name in SETS})
  manifest_lib.write(cache_dir, manifest)
  log(f'parallel_text: item sha256 {manifest["item_sha256"]}')
  return manifest


def load(cache_dir: str | None, set_name: str) -> list[Item]:
  """The items of one built set; raises with the recorded reason when the set is missing."""
  if set_name in TYPED_SPAN_SETS:
    raise ValueError(f'{set_name} holds typed spans; read it with load_typed_spans(cache_dir, '
                     f'{set_name!r}).')
  if set_name not in SETS:
    raise ValueError(f'Unknown parallel-text set {set_name!r}; choose from {", ".join(SETS)}.')
  return items_lib.read_jsonl(_built_set_file(cache_dir, set_name))


def load_typed_spans(cache_dir: str | None, set_name: str = 'T1') -> list[TypedSpanItem]:
  """The items of a built typed-span set (T1); raises like `load` when it is missing."""
  if set_name not in TYPED_SPAN_SETS:
    raise ValueError(f'Unknown typed-span set {set_name!r}; choose from '
                     f'{", ".join(TYPED_SPAN_SETS)}.')
  return typed_spans.read_jsonl(_built_set_file(cache_dir, set_name))


def _built_set_file(cache_dir: str | None, set_name: str) -> str:
  cache_dir = os.path.expanduser(cache_dir or DEFAULT_CACHE_DIR)
  manifest = manifest_lib.read(cache_dir)
  if manifest is None:
    raise FileNotFoundError(f'{cache_dir} holds no parallel-text sets (no manifest.json); run '
                            f'unibert_jax.evaluation.parallel_text.build(cache_dir=...) first.')
  if set_name in manifest.get('missing_sets', {}):
    raise ValueError(f'Parallel-text set {set_name} could not be built: '
                     f'{manifest["missing_sets"][set_name]} Fix this and run build() again.')
  if not manifest_lib.is_built(manifest, cache_dir, set_name):
    raise FileNotFoundError(f'Parallel-text set {set_name} is not built in {cache_dir} (or its '
                            f'file changed); run build(cache_dir=..., sets=({set_name!r},)).')
  return os.path.join(cache_dir, manifest['sets'][set_name]['file'])
