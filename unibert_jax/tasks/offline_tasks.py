"""The offline transfer tasks C1, P1 and T1, built from the parallel-text cache (offline_eval.md
§4-§6). Deterministic: the same cache gives the same examples, in the same order.

A unit is one normalised English string, identified by the smallest key it has (unit_keys).
Splits hash that key: md5(key) % 10 < 4 puts a unit in test (the note's 60/40 split), and the
next decimal digit, (md5(key) // 10) % 10 == 0, puts 10% of the rest in dev. The
model trains on English train, is selected on English dev (or on `target_dev`, the
translations of the English dev units: the oracle selection), and is tested on each
language's translations of the English test units ('en' included: the English test itself).

C1  LibreOffice UI string -> application (7 classes by .mo domain). A string whose normalised
    English occurs in two applications is ambiguous and dropped.
P1  (English i, translation of i) = translation, (English i, translation of j) = not, j a hard
    negative of i (hard_negatives.py). Trained on the pairs of P1_TRAIN_LANGUAGES, tested on
    the other languages (protocol (b) of §5). Units are the anchors i: 10% (by hash) form dev /
    target_dev, the rest train / test. Both pairs of an anchor share `group`, for the forced
    choice of protocol (a) (floors.forced_choice_accuracy).
T1  Typed spans of LibreOffice help (UI, KEY, CODE, PRODUCT) as words + IOB2 tags
    (word_tokens.py); the English unit is taken with its spans, each language's translation
    with its own spans. Headline: F1 of UI (KEY, PRODUCT and most CODE spans are untranslated
    literals that string matching finds, floors.t1_string_match).
"""

from collections.abc import Sequence
import collections
import hashlib
import types

from unibert_jax.evaluation import parallel_text
from unibert_jax.evaluation.parallel_text import filters
from unibert_jax.evaluation.parallel_text import typed_spans
from unibert_jax.tasks import hard_negatives
from unibert_jax.tasks import word_tokens
from unibert_jax.tasks.examples import ClassificationExample
from unibert_jax.tasks.examples import CLASSIFICATION
from unibert_jax.tasks.examples import TaskData
from unibert_jax.tasks.examples import TOKEN_CLASSIFICATION
from unibert_jax.tasks.examples import TokenClassificationExample

ENGLISH = 'en'
TEST_BUCKETS = 4      # of 10: the note's 60/40 split
DEV_DIGIT = 0         # the second decimal digit that puts a unit in dev (10%)

C1_CLASS_OF_DOMAIN = types.MappingProxyType({
    'sc': 'calc', 'sca': 'calc', 'scc': 'calc', 'sw': 'writer', 'sd': 'impress_draw',
    'sm': 'math', 'chart': 'chart', 'dba': 'base', 'rpt': 'base', 'basctl': 'basic',
    'sb': 'basic'})
C1_LABELS = ('calc', 'writer', 'impress_draw', 'base', 'chart', 'basic', 'math')
P1_LABELS = ('not_translation', 'translation')
P1_TRAIN_LANGUAGES = ('de', 'es', 'fr', 'zh')
T1_LABELS = typed_spans.LABEL_NAMES


def _hash(key: str) -> int:
  return int(hashlib.md5(key.encode('utf-8')).hexdigest(), 16)


def split_of(key: str) -> str:
  """'test', 'dev' or 'train' for a unit's alignment key."""
  digest = _hash(key)
  if digest % 10 < TEST_BUCKETS:
    return 'test'
  return 'dev' if (digest // 10) % 10 == DEV_DIGIT else 'train'


def _is_dev_anchor(key: str) -> bool:
  return (_hash(key) // 10) % 10 == DEV_DIGIT


def unit_keys(items) -> dict[str, str]:
  """Normalised English -> the smallest key it has in any language: the unit's id.

  The sets keep one item per normalised English per language, but not always under the same
  key (two keys share a string; a language may lose one of them to a filter). Keying units by
  their English string puts a string's translations in the same split in every language, so
  no English test string is also trained on.
  """
  units = {}
  for item in items:
    english = filters.normalise_english(item.english)
    if english not in units or item.key < units[english]:
      units[english] = item.key
  return units


def _sorted_by_language(by_language: dict[str, list]) -> dict[str, tuple]:
  return {language: tuple(sorted(examples, key=lambda example: example.id))
          for language, examples in sorted(by_language.items()) if examples}


# ----------------------------------------------------------------------------- C1


def _libreoffice_domain(key: str) -> str | None:
  if key.startswith(('ftl:', 'prop:')):
    return None
  return key.split('|', 1)[0]


def c1(items: Sequence[parallel_text.Item]) -> TaskData:
  """C1 from R1 items (only the LibreOffice UI ones of the 7 applications' domains are used)."""
  labelled = [(item, C1_CLASS_OF_DOMAIN[domain]) for item in items
              if (domain := _libreoffice_domain(item.key)) in C1_CLASS_OF_DOMAIN]
  classes_of_string = collections.defaultdict(set)
  keys_of_string = collections.defaultdict(set)
  for item, label in labelled:
    english = filters.normalise_english(item.english)
    classes_of_string[english].add(label)
    keys_of_string[english].add(item.key)
  unit_of_string = {english: min(keys) for english, keys in keys_of_string.items()
                    if len(classes_of_string[english]) == 1}
  label_index = {label: index for index, label in enumerate(C1_LABELS)}
  english_text = {}
  splits = {'train': {}, 'dev': {}, 'test': {}}   # split -> language -> examples
  for item, label in labelled:
    unit = unit_of_string.get(filters.normalise_english(item.english))
    if unit is None:
      continue
    if item.key == unit:
      english_text[unit] = (item.english, label)
    split = split_of(unit)
    splits[split].setdefault(item.language, []).append(
        ClassificationExample(item.target, None, label_index[label], item.language, unit))
  for unit, (english, label) in english_text.items():
    splits[split_of(unit)].setdefault(ENGLISH, []).append(
        ClassificationExample(english, None, label_index[label], ENGLISH, unit))
  ambiguous = sum(len(classes) > 1 for classes in classes_of_string.values())
  return TaskData(
      name='C1', kind=CLASSIFICATION, label_names=C1_LABELS,
      train=tuple(sorted(splits['train'].get(ENGLISH, []), key=lambda example: example.id)),
      dev=tuple(sorted(splits['dev'].get(ENGLISH, []), key=lambda example: example.id)),
      test=_sorted_by_language(splits['test']),
      target_dev=_sorted_by_language({language: examples for language, examples
                                      in splits['dev'].items() if language != ENGLISH}),
      headline_metric='macro_f1',
      description=(f'C1: LibreOffice UI string -> application, from R1; {len(english_text)} '
                   f'English strings, {ambiguous} ambiguous ones dropped; split md5(key) % 10 '
                   f'< 4 = test, 10% of the rest = dev.'))


# ----------------------------------------------------------------------------- P1


def p1(items: Sequence[parallel_text.Item],
       train_languages: Sequence[str] = P1_TRAIN_LANGUAGES) -> TaskData:
  """P1 from R1 items: translation vs lexical hard negative, trained on `train_languages`."""
  units = unit_keys(items)
  english_by_key, target = {}, collections.defaultdict(dict)
  for item in items:
    unit = units[filters.normalise_english(item.english)]
    if item.key == unit:
      english_by_key[unit] = item.english
    target[item.language][unit] = item.target
  negatives = hard_negatives.find(english_by_key)
  missing = sorted(set(train_languages) - set(target))
  if missing:
    raise ValueError(f'P1 trains on {", ".join(train_languages)}, but R1 has no '
                     f'{", ".join(missing)}; choose train_languages among R1\'s languages.')
  splits = {'train': {}, 'dev': {}, 'test': {}, 'target_dev': {}}
  for language in sorted(target):
    translated = target[language]
    for anchor in sorted(translated.keys() & negatives.keys()):
      negative = next((key for _, key in negatives[anchor] if key in translated), None)
      if negative is None:
        continue
      if language in train_languages:
        split = 'dev' if _is_dev_anchor(anchor) else 'train'
      else:
        split = 'target_dev' if _is_dev_anchor(anchor) else 'test'
      english = english_by_key[anchor]
      splits[split].setdefault(language, []).extend((
          ClassificationExample(english, translated[anchor], 1, language,
                                f'{anchor} #translation', anchor),
          ClassificationExample(english, translated[negative], 0, language,
                                f'{anchor} #negative {negative}', anchor)))

  def flattened(by_language):
    return tuple(example for language in sorted(by_language)
                 for example in by_language[language])

  return TaskData(
      name='P1', kind=CLASSIFICATION, label_names=P1_LABELS,
      train=flattened(splits['train']), dev=flattened(splits['dev']),
      test={language: tuple(examples) for language, examples in splits['test'].items()},
      target_dev={language: tuple(examples)
                  for language, examples in splits['target_dev'].items()},
      headline_metric='accuracy',
      description=(f'P1: English string vs its translation or a hard negative\'s (same file, '
                   f'word Jaccard >= {hard_negatives.MIN_JACCARD}), from R1; '
                   f'{len(negatives)} English anchors have a negative; trained on '
                   f'{"+".join(train_languages)}, tested on the other languages; 10% of anchors '
                   f'(by md5) are dev.'))


# ----------------------------------------------------------------------------- T1


def t1(items: Sequence[typed_spans.TypedSpanItem]) -> TaskData:
  """T1 from the typed-span set: English units train, each language's translations test."""
  units = unit_keys(items)
  english = set()
  splits = {'train': {}, 'dev': {}, 'test': {}}
  for item in items:
    unit = units[filters.normalise_english(item.english)]
    split = split_of(unit)
    if item.key == unit and unit not in english:
      english.add(unit)
      tokens, tags = word_tokens.tokens_and_tags(item.english, item.english_spans)
      splits[split].setdefault(ENGLISH, []).append(
          TokenClassificationExample(tokens, tags, ENGLISH, unit))
    tokens, tags = word_tokens.tokens_and_tags(item.target, item.target_spans)
    splits[split].setdefault(item.language, []).append(
        TokenClassificationExample(tokens, tags, item.language, unit))
  return TaskData(
      name='T1', kind=TOKEN_CLASSIFICATION, label_names=T1_LABELS,
      train=tuple(sorted(splits['train'].get(ENGLISH, []), key=lambda example: example.id)),
      dev=tuple(sorted(splits['dev'].get(ENGLISH, []), key=lambda example: example.id)),
      test=_sorted_by_language(splits['test']),
      target_dev=_sorted_by_language({language: examples for language, examples
                                      in splits['dev'].items() if language != ENGLISH}),
      headline_metric='f1_UI',
      description=(f'T1: typed spans of LibreOffice help ({", ".join(T1_LABELS)}); '
                   f'{len(english)} English units; words split at spans, Han/kana one word '
                   f'per character; split md5(key) % 10 < 4 = test, 10% of the rest = dev.'))


# ----------------------------------------------------------------------------- from the cache


def load(name: str, cache_dir: str | None = None) -> TaskData:
  """C1, P1 or T1 from the parallel-text cache (default ~/.cache/unibert_jax/parallel_text)."""
  if name == 'C1':
    return c1(parallel_text.load(cache_dir, 'R1'))
  if name == 'P1':
    return p1(parallel_text.load(cache_dir, 'R1'))
  if name == 'T1':
    return t1(parallel_text.load_typed_spans(cache_dir, 'T1'))
  raise ValueError(f'{name!r} is not an offline task; choose C1, P1 or T1.')
