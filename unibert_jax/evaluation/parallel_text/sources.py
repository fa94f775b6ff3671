"""Fetches each source's packages and reads them into aligned (key, english, target) triples.

One function per source; each returns a `SourcePairs` (the unfiltered pairs per language, the
packages' versions, and why a language or the whole source is missing). Packages are read in
parallel on an executor (a pool of processes, one job per package): parsing is CPU-bound.
"""

from collections.abc import Callable, Mapping
import collections
from concurrent import futures
import dataclasses
import functools
import os
import time

from unibert_jax.data import languages as languages_lib
from unibert_jax.evaluation.parallel_text import cldr
from unibert_jax.evaluation.parallel_text import fetch
from unibert_jax.evaluation.parallel_text import firefox
from unibert_jax.evaluation.parallel_text import gnome_help
from unibert_jax.evaluation.parallel_text import libreoffice_help
from unibert_jax.evaluation.parallel_text import libreoffice_ui
from unibert_jax.evaluation.parallel_text import locales

Triple = tuple[str, str, str]   # (key, english, target)


@dataclasses.dataclass
class SourcePairs:
  """What one source gives: raw aligned pairs per language, before any filter."""
  name: str
  pairs: dict[str, list[Triple]] = dataclasses.field(default_factory=dict)
  missing: dict[str, str] = dataclasses.field(default_factory=dict)   # language -> why none
  versions: dict[str, str] = dataclasses.field(default_factory=dict)  # package -> version
  unavailable: str = ''          # why the whole source is missing ('' when it is there)
  seconds: dict[str, float] = dataclasses.field(default_factory=dict)


def _pairs(english: dict[str, str], target: dict[str, str]) -> list[Triple]:
  return [(key, english[key], text) for key, text in target.items() if key in english]


def _fetch_debs(fetcher, packages, source: SourcePairs, log) -> fetch.DebFetchResult:
  start = time.perf_counter()
  result = fetcher.debs(packages)
  source.seconds['fetch'] = round(time.perf_counter() - start, 1)
  source.versions.update({name: fetched.version for name, fetched in result.found.items()})
  size_mb = sum(os.path.getsize(fetched.path) for fetched in result.found.values()) / 1e6
  versions = collections.Counter(fetched.version for fetched in result.found.values())
  log(f'  {source.name}: {len(result.found)} packages ({size_mb:.1f} MB) in '
      f'{source.seconds["fetch"]} s, versions '
      + ', '.join(f'{version} ({count})' for version, count in sorted(versions.items()))
      + (f'; missing: {", ".join(sorted(result.missing))}' if result.missing else ''))
  return result


def _package_reason(name: str, fetched: fetch.DebFetchResult) -> str:
  return f'package {name}: {fetched.missing.get(name, "not obtained")}'


def read_firefox(fetcher, executor: futures.Executor, log: Callable[[str], None]) -> SourcePairs:
  source = SourcePairs('firefox')
  english = fetch.DebianPackage(firefox.ENGLISH_PACKAGE, fetch.FIREFOX_VERSION)
  packages = {language: fetch.DebianPackage(locales.firefox_package(locale),
                                            fetch.FIREFOX_VERSION)
              for language, locale in locales.FIREFOX.items()}
  fetched = _fetch_debs(fetcher, [english, *packages.values()], source, log)
  if english.name not in fetched.found:
    source.unavailable = f'no English side: {_package_reason(english.name, fetched)}'
    return source
  start = time.perf_counter()
  english_future = executor.submit(firefox.read_english, fetched.found[english.name].path)
  jobs = {}
  for language, package in packages.items():
    if package.name in fetched.found:
      jobs[language] = executor.submit(firefox.read_langpack, fetched.found[package.name].path)
    else:
      source.missing[language] = _package_reason(package.name, fetched)
  english_texts = english_future.result()
  english_version = source.versions[english.name]
  for language, job in jobs.items():
    locale, texts = job.result()
    version = source.versions[packages[language].name]
    if version != english_version:
      log(f'  warning: {packages[language].name} {version} differs from firefox-esr '
          f'{english_version}; its strings may not align')
    source.pairs[language] = _pairs(english_texts, texts)
    if locale != locales.FIREFOX[language]:
      log(f'  warning: {packages[language].name} holds locale {locale}')
  source.seconds['read'] = round(time.perf_counter() - start, 1)
  return source


def read_libreoffice_ui(fetcher, executor: futures.Executor, log) -> SourcePairs:
  source = SourcePairs('libreoffice_ui')
  packages = {language: fetch.DebianPackage(f'libreoffice-l10n-{suffix}',
                                            fetch.LIBREOFFICE_VERSION)
              for language, (suffix, _) in locales.LIBREOFFICE_UI.items()}
  fetched = _fetch_debs(fetcher, list(packages.values()), source, log)
  start = time.perf_counter()
  jobs = {}
  for language, package in packages.items():
    if package.name in fetched.found:
      resource_dir = locales.LIBREOFFICE_UI[language][1]
      jobs[language] = executor.submit(libreoffice_ui.read_package,
                                       fetched.found[package.name].path, resource_dir)
    else:
      source.missing[language] = _package_reason(package.name, fetched)
  for language, job in jobs.items():
    source.pairs[language] = job.result()
  if not jobs:
    source.unavailable = 'no libreoffice-l10n-* package could be obtained'
  source.seconds['read'] = round(time.perf_counter() - start, 1)
  return source


def read_libreoffice_help(fetcher, executor: futures.Executor, log,
                          span_labels: Mapping[str, str] | None = None) -> SourcePairs:
  """Help paragraphs; with `span_labels` (span class -> label) each side of a pair is
  (text, labelled spans) instead of the text (the typed-span set T1, typed_spans.py)."""
  source = SourcePairs('libreoffice_help_typed' if span_labels else 'libreoffice_help')
  read = (functools.partial(libreoffice_help.read_typed_package, labels=dict(span_labels))
          if span_labels else libreoffice_help.read_package)
  english_suffix, english_dir = locales.LIBREOFFICE_HELP_ENGLISH
  english = fetch.DebianPackage(f'libreoffice-help-{english_suffix}', fetch.LIBREOFFICE_VERSION)
  packages = {language: fetch.DebianPackage(f'libreoffice-help-{suffix}',
                                            fetch.LIBREOFFICE_VERSION)
              for language, (suffix, _) in locales.LIBREOFFICE_HELP.items()}
  fetched = _fetch_debs(fetcher, [english, *packages.values()], source, log)
  source.missing.update(locales.LIBREOFFICE_HELP_EXCLUDED)
  if english.name not in fetched.found:
    source.unavailable = f'no English side: {_package_reason(english.name, fetched)}'
    return source
  start = time.perf_counter()
  english_future = executor.submit(read, fetched.found[english.name].path, english_dir)
  jobs = {}
  for language, package in packages.items():
    if package.name in fetched.found:
      jobs[language] = executor.submit(read, fetched.found[package.name].path,
                                       locales.LIBREOFFICE_HELP[language][1])
    else:
      source.missing[language] = _package_reason(package.name, fetched)
  english_texts = english_future.result()
  for language, job in jobs.items():
    source.pairs[language] = _pairs(english_texts, job.result())
  source.seconds['read'] = round(time.perf_counter() - start, 1)
  return source


def read_gnome_help(fetcher, executor: futures.Executor, log) -> SourcePairs:
  source = SourcePairs('gnome_help')
  package = fetch.DebianPackage(gnome_help.PACKAGE, fetch.GNOME_USER_DOCS_VERSION)
  fetched = _fetch_debs(fetcher, [package], source, log)
  if package.name not in fetched.found:
    source.unavailable = _package_reason(package.name, fetched)
    return source
  start = time.perf_counter()
  help_dirs = {locales.GNOME_HELP_ENGLISH, *locales.GNOME_HELP.values()}
  pages, unreadable = executor.submit(gnome_help.read_package, fetched.found[package.name].path,
                                      help_dirs).result()
  english = pages.get(locales.GNOME_HELP_ENGLISH, {})
  if not english:
    source.unavailable = f'{package.name} has no English (C) pages'
    return source
  for language, help_dir in locales.GNOME_HELP.items():
    if help_dir not in pages:
      source.missing[language] = f'{package.name} has no {help_dir} pages'
      continue
    source.pairs[language], misaligned = gnome_help.align(english, pages[help_dir])
    if misaligned or unreadable[help_dir]:
      log(f'  gnome_help {language}: {misaligned} misaligned and {unreadable[help_dir]} '
          f'unreadable pages skipped')
  source.seconds['read'] = round(time.perf_counter() - start, 1)
  return source


def read_cldr(fetcher, log) -> SourcePairs:
  source = SourcePairs('cldr')
  package = fetch.CLDR_ANNOTATIONS
  start = time.perf_counter()
  fetched = fetcher.npm(package)   # FetchError propagates: the set is reported missing
  source.seconds['fetch'] = round(time.perf_counter() - start, 1)
  source.versions[package.name] = fetched.version
  log(f'  cldr: {package.tarball_name} in {source.seconds["fetch"]} s')
  start = time.perf_counter()
  wanted = {language: locales.cldr_locale(language)
            for language in languages_lib.DEFAULT_LANGUAGES if language != 'en'}
  names = cldr.read_tarball(fetched.path, {locales.CLDR_ENGLISH, *wanted.values()})
  english = names.get(locales.CLDR_ENGLISH)
  if not english:
    source.unavailable = f'{fetched.path} has no English annotations'
    return source
  for language, locale in wanted.items():
    if locale in names:
      source.pairs[language] = _pairs(english, names[locale])
    else:
      source.missing[language] = f'CLDR has no annotations/{locale}'
  source.seconds['read'] = round(time.perf_counter() - start, 1)
  return source

