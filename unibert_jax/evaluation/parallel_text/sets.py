"""Assembles the sets R1, R1e and R2 from the sources' raw pairs (no I/O).

Per source and language: clean the texts, run the per-item filters, dedup (offline_eval.md §2
steps 1-6). Then merge the sources of a set per language and dedup again (step 7), drop
languages that copy another language's targets (step 8), and keep the languages with at least
`min_items` items. Every project language that ends up without items gets a reason.
"""

from collections.abc import Mapping, Sequence
from concurrent import futures
import dataclasses
import functools
import hashlib

from unibert_jax.data import languages as languages_lib
from unibert_jax.evaluation.parallel_text import filters
from unibert_jax.evaluation.parallel_text.items import Item
from unibert_jax.evaluation.parallel_text.sources import SourcePairs

MIN_ITEMS = 1000
R1_1K_PER_LANGUAGE = 1000

UI_STEPS = (
    ('markup_ph', filters.has_markup_placeholder_or_url),
    ('short', filters.is_short),
    ('untrans', filters.is_untranslated),
    ('mostly_en', filters.is_mostly_english),
)
# Help paragraphs keep their placeholders and markup-like text (the note's §3); the mostly-
# English check is added here because half-English help pages (hi) otherwise pass.
HELP_STEPS = (
    ('short', filters.is_short),
    ('untrans', filters.is_untranslated),
    ('mostly_en', filters.is_mostly_english),
)
EMOJI_STEPS = (
    ('untrans', filters.is_untranslated),
    ('inheritance_marker', filters.is_cldr_inheritance_marker),
)


@functools.lru_cache(maxsize=1 << 18)
def _clean_english(text: str) -> str:
  return filters.collapse_whitespace(text)


@functools.lru_cache(maxsize=1 << 18)
def _clean_libreoffice_english(text: str) -> str:
  return filters.collapse_whitespace(filters.strip_libreoffice_mnemonics(text))


def _clean_libreoffice_target(text: str) -> str:
  return filters.collapse_whitespace(filters.strip_libreoffice_mnemonics(text))


# Recipe name -> (filter steps, English cleaner, target cleaner). Jobs name their recipe, so that
# they can run in other processes.
RECIPES = {
    'ui': (UI_STEPS, _clean_english, filters.collapse_whitespace),
    'libreoffice_ui': (UI_STEPS, _clean_libreoffice_english, _clean_libreoffice_target),
    'help': (HELP_STEPS, _clean_english, filters.collapse_whitespace),
    'emoji': (EMOJI_STEPS, _clean_english, filters.collapse_whitespace),
}


class SetUnavailable(RuntimeError):
  """The set cannot be built; the message says why (reported in the manifest)."""


@dataclasses.dataclass
class SetResult:
  name: str
  items: list[Item]
  counts: dict[str, int]                        # language -> items
  filter_stats: dict[str, dict]                 # language -> source -> step -> removed
  missing_languages: dict[str, str]             # language -> why it has no items
  near_copies: dict[str, tuple[str, float]]     # dropped language -> (original, share)


@dataclasses.dataclass(frozen=True)
class SourceRecipe:
  pairs: SourcePairs
  recipe: str   # a key of RECIPES


def filter_language(language: str, triples, recipe: str) -> tuple[list[Item], dict[str, int]]:
  """One source's pairs of one language through cleaning, the per-item filters and dedup."""
  steps, clean_english, clean_target = RECIPES[recipe]
  items = [Item(key, language, clean_english(english), clean_target(target))
           for key, english, target in triples]
  kept, removed = filters.run_pipeline(items, steps)
  deduplicated = filters.dedup(kept)
  return deduplicated, {'aligned': len(items), **removed,
                        'dup': len(kept) - len(deduplicated), 'kept': len(deduplicated)}


def assemble(name: str, recipes: Sequence[SourceRecipe], min_items: int = MIN_ITEMS,
             excluded: Mapping[str, str] | None = None,
             executor: futures.Executor | None = None) -> SetResult:
  """Filters each source (one job per source and language on `executor`), merges per
  language, drops near copies and small languages."""
  excluded = dict(excluded or {})
  available = [recipe for recipe in recipes if not recipe.pairs.unavailable]
  if not available:
    raise SetUnavailable('; '.join(f'{recipe.pairs.name}: {recipe.pairs.unavailable}'
                                   for recipe in recipes))
  merged: dict[str, list[Item]] = {}
  stats: dict[str, dict] = {}
  jobs = []
  for recipe in available:
    for language, triples in sorted(recipe.pairs.pairs.items()):
      if language not in excluded:
        jobs.append((recipe.pairs.name, language,
                     _submit(executor, filter_language, language, triples, recipe.recipe)))
  for source_name, language, job in jobs:
    items, language_stats = job.result()
    stats.setdefault(language, {})[source_name] = language_stats
    merged.setdefault(language, []).extend(items)
  for language, items in merged.items():
    merged[language] = filters.dedup(items)
    stats[language]['merge_dup'] = len(items) - len(merged[language])
  copies = filters.near_copies(merged)
  kept = {language: items for language, items in merged.items()
          if language not in copies and len(items) >= min_items}
  if not kept:
    best = max(((len(items), language) for language, items in merged.items()), default=(0, '-'))
    raise SetUnavailable(f'no language has >= {min_items} items after the filters (largest: '
                         f'{best[1]} with {best[0]})')
  for language, items in merged.items():
    stats[language]['final'] = len(items) if language in kept else 0
  missing = _missing_reasons(kept, merged, copies, excluded, recipes, min_items)
  return SetResult(name, [item for language in sorted(kept) for item in kept[language]],
                   {language: len(items) for language, items in sorted(kept.items())},
                   stats, missing, copies)


def _submit(executor: futures.Executor | None, fn, *args) -> futures.Future:
  if executor is not None:
    return executor.submit(fn, *args)
  future = futures.Future()
  future.set_result(fn(*args))
  return future


def _missing_reasons(kept, merged, copies, excluded, recipes, min_items) -> dict[str, str]:
  reasons = {}
  for language in languages_lib.DEFAULT_LANGUAGES:
    if language == 'en' or language in kept:
      continue
    if language in excluded:
      reasons[language] = excluded[language]
    elif language in copies:
      original, share = copies[language]
      reasons[language] = (f'near copy of {original}: {share:.0%} of the targets of their '
                           f'common keys are identical')
    elif language in merged:
      reasons[language] = f'only {len(merged[language])} items after the filters (< {min_items})'
    else:
      reasons[language] = '; '.join(
          f'{recipe.pairs.name}: ' + (recipe.pairs.unavailable or recipe.pairs.missing.get(
              language, 'no locale for this language'))
          for recipe in recipes)
  return reasons


def r1(firefox: SourcePairs, libreoffice_ui: SourcePairs, min_items: int = MIN_ITEMS,
       executor: futures.Executor | None = None) -> SetResult:
  return assemble('R1', [SourceRecipe(firefox, 'ui'),
                         SourceRecipe(libreoffice_ui, 'libreoffice_ui')], min_items,
                  executor=executor)


def r1e(cldr: SourcePairs, r1_languages, min_items: int = MIN_ITEMS,
        executor: futures.Executor | None = None) -> SetResult:
  """CLDR emoji names for the languages R1 does not have."""
  return assemble('R1e', [SourceRecipe(cldr, 'emoji')], min_items,
                  excluded={language: 'in R1' for language in r1_languages}, executor=executor)


def r2(libreoffice_help: SourcePairs, gnome_help: SourcePairs, min_items: int = MIN_ITEMS,
       executor: futures.Executor | None = None) -> SetResult:
  return assemble('R2', [SourceRecipe(libreoffice_help, 'help'),
                         SourceRecipe(gnome_help, 'help')], min_items, executor=executor)


def r1_1k(items: Sequence[Item], per_language: int = R1_1K_PER_LANGUAGE) -> list[Item]:
  """The R1-1k protocol subset: per language, the items with the lowest sha1 of their key."""
  by_language: dict[str, list[Item]] = {}
  for item in items:
    by_language.setdefault(item.language, []).append(item)
  chosen = []
  for language in sorted(by_language):
    ranked = sorted(by_language[language],
                    key=lambda item: (hashlib.sha1(item.key.encode('utf-8')).hexdigest(),
                                      item.key))
    chosen.extend(ranked[:per_language])
  return chosen
