"""C1, P1 and T1 from small parallel-text caches written here (not the real data), and their
lexical floors."""

import hashlib
import os

import pytest

from unibert_jax.evaluation.parallel_text import items as items_lib
from unibert_jax.evaluation.parallel_text import manifest as manifest_lib
from unibert_jax.evaluation.parallel_text import typed_spans
from unibert_jax.evaluation.parallel_text.items import Item
from unibert_jax.evaluation.parallel_text.typed_spans import TypedSpanItem
from unibert_jax.tasks import floors
from unibert_jax.tasks import hard_negatives
from unibert_jax.tasks import metrics
from unibert_jax.tasks import offline_tasks
from unibert_jax.tasks import registry
from unibert_jax.tasks import word_tokens

LANGUAGES = ('de', 'ja', 'sw')
APPLICATIONS = {'sc': 'spreadsheet cell formula', 'sca': 'spreadsheet chart of cells',
                'sw': 'document page paragraph', 'sd': 'slide drawing shape',
                'sm': 'math formula symbol', 'chart': 'chart axis legend',
                'dba': 'database table query', 'rpt': 'report field database',
                'basctl': 'macro module dialog', 'sb': 'basic macro runtime'}


def write_cache(cache_dir: str, r1_items=(), t1_items=()) -> str:
  """A parallel-text cache with R1 and T1 files and a manifest, as builder.build writes."""
  os.makedirs(cache_dir, exist_ok=True)
  manifest = manifest_lib.empty(1000)
  for name, items, write in (('R1', r1_items, items_lib.write_jsonl),
                             ('T1', t1_items, typed_spans.write_jsonl)):
    file_bytes = write(os.path.join(cache_dir, manifest_lib.set_file(name)), items)
    manifest['sets'][name] = {'file': manifest_lib.set_file(name), 'bytes': file_bytes}
  manifest_lib.write(cache_dir, manifest)
  return cache_dir


def c1_items() -> list[Item]:
  items = []
  for domain, words in APPLICATIONS.items():
    for index in range(12):
      english = f'Change the {words} setting number {index} now'
      for language in LANGUAGES:
        items.append(Item(f'{domain}|ctx{index}|{english}', language, english,
                          f'{language}: {english.upper()}'))
  ambiguous = 'Insert the selected rows above'
  for language, domain in (('de', 'sc'), ('ja', 'sw')):   # calc in de, writer in ja
    items.append(Item(f'{domain}|x|{ambiguous}', language, ambiguous, f'{language} rows'))
  for language in LANGUAGES:   # not C1: Firefox and a shared LibreOffice domain
    items.append(Item('ftl:browser/a.ftl#m', language, 'Open a new private window now',
                      f'{language} window'))
    items.append(Item('cui|y|Customize the toolbar buttons', language,
                      'Customize the toolbar buttons', f'{language} toolbar'))
  return items


def test_c1_labels_units_by_application_and_drops_ambiguous_strings():
  task = offline_tasks.c1(c1_items())
  assert task.label_names == ('calc', 'writer', 'impress_draw', 'base', 'chart', 'basic', 'math')
  english = {example.id: example for example in task.train + task.dev + task.test['en']}
  assert len(english) == 10 * 12                  # the ambiguous, Firefox and cui strings left
  names = {example.id.split('|')[0]: task.label_names[example.label]
           for example in english.values()}
  assert names == {'sc': 'calc', 'sca': 'calc', 'sw': 'writer', 'sd': 'impress_draw',
                   'sm': 'math', 'chart': 'chart', 'dba': 'base', 'rpt': 'base',
                   'basctl': 'basic', 'sb': 'basic'}
  assert task.languages == ('de', 'en', 'ja', 'sw') and task.headline_metric == 'macro_f1'


def test_c1_split_is_md5_of_the_unit_key_and_english_test_is_never_trained_on():
  task = offline_tasks.c1(c1_items())
  for example in task.test['en']:
    assert int(hashlib.md5(example.id.encode()).hexdigest(), 16) % 10 < 4
  train_dev = {example.id for example in task.train + task.dev}
  assert not train_dev & {example.id for example in task.test['en']}
  assert task.train and task.dev and task.test['en']
  for language in LANGUAGES:   # each language's test = translations of the English test
    assert ({example.id for example in task.test[language]} ==
            {example.id for example in task.test['en']})
    assert ({example.id for example in task.target_dev[language]} ==
            {example.id for example in task.dev})
    assert all(example.text_a.startswith(f'{language}: ') for example in task.test[language])
  again = offline_tasks.c1(list(reversed(c1_items())))
  assert again == task   # deterministic, whatever the order of the items


def test_a_string_under_two_keys_is_one_unit_in_one_split():
  english = 'Select the whole table with one click'
  items = [Item('sw|a|' + english, 'de', english, 'de text'),
           Item('sw|b|' + english, 'ja', english, 'ja text')]   # ja kept the other key
  assert offline_tasks.unit_keys(items) == {'selectthewholetablewithoneclick': 'sw|a|' + english}
  task = offline_tasks.c1(items + c1_items())
  unit = 'sw|a|' + english
  split = offline_tasks.split_of(unit)
  where = {language: [example.id for example in examples]
           for language, examples in (task.test if split == 'test' else task.target_dev).items()}
  assert unit in where['de'] and unit in where['ja']


P1_ENGLISH = {
    'ftl:browser/gfx.ftl#skia-off': 'Skia is currently disabled.',
    'ftl:browser/gfx.ftl#skia-on': 'Skia is currently enabled.',           # Jaccard 3/5
    'ftl:browser/gfx.ftl#skia-on-2': 'Skia is currently enabled!',         # same normalised
    'ftl:browser/gfx.ftl#webgl': 'WebGL is currently blocked by policy.',  # Jaccard 2/8
    'ftl:browser/other.ftl#skia': 'Skia is currently disabled here.',      # another file
    'sw|a|Insert rows above': 'Insert rows above',
    'sw|b|Insert rows below': 'Insert rows below',                         # Jaccard 2/4
    'sc|c|Insert columns before': 'Insert columns before',
    'sc|d|Insert columns after': 'Insert columns after',
}


def translate(language: str, english: str) -> str:
  return f'[{language}] {english.rstrip(".!")}'


def p1_items(languages=('de', 'es', 'fr', 'zh', 'ja', 'sw')) -> list[Item]:
  """R1-like: one item per normalised English per language (ja keeps skia-on-2, the others
  skia-on), and sw lacks the translation of 'Insert rows below'."""
  items = []
  for language in languages:
    for key, english in P1_ENGLISH.items():
      if ((language == 'sw' and key == 'sw|b|Insert rows below')
          or key == ('ftl:browser/gfx.ftl#skia-on' if language == 'ja'
                     else 'ftl:browser/gfx.ftl#skia-on-2')):
        continue
      items.append(Item(key, language, english, translate(language, english)))
  return items


def test_hard_negatives_are_same_group_near_duplicates():
  negatives = hard_negatives.find(P1_ENGLISH)
  assert negatives['ftl:browser/gfx.ftl#skia-off'] == [
      (0.6, 'ftl:browser/gfx.ftl#skia-on'), (0.6, 'ftl:browser/gfx.ftl#skia-on-2')]
  assert negatives['sw|a|Insert rows above'] == [(0.5, 'sw|b|Insert rows below')]
  assert 'ftl:browser/gfx.ftl#webgl' not in negatives
  assert 'ftl:browser/other.ftl#skia' not in negatives
  for anchor, candidates in negatives.items():
    for jaccard, negative in candidates:
      assert hard_negatives.group_of(anchor) == hard_negatives.group_of(negative)
      words = hard_negatives.word_set(P1_ENGLISH[anchor]), hard_negatives.word_set(
          P1_ENGLISH[negative])
      assert jaccard == len(words[0] & words[1]) / len(words[0] | words[1]) >= 0.5


def test_p1_trains_on_four_languages_and_tests_the_others():
  task = offline_tasks.p1(p1_items())
  assert {example.language for example in task.train + task.dev} <= {'de', 'es', 'fr', 'zh'}
  assert set(task.test) | set(task.target_dev) == {'ja', 'sw'}
  examples = [example for examples in (*task.test.values(), *task.target_dev.values())
              for example in examples] + list(task.train + task.dev)
  by_group = {}
  for example in examples:
    by_group.setdefault((example.language, example.group), []).append(example)
  for (language, anchor), pair in by_group.items():
    assert sorted(example.label for example in pair) == [0, 1]
    positive = next(example for example in pair if example.label == 1)
    negative = next(example for example in pair if example.label == 0)
    assert positive.text_a == negative.text_a == P1_ENGLISH[anchor]
    assert positive.text_b == translate(language, P1_ENGLISH[anchor])
    negative_key = negative.id.split(' #negative ')[1]
    assert hard_negatives.group_of(negative_key) == hard_negatives.group_of(anchor)
    assert negative.text_b == translate(language, P1_ENGLISH[negative_key])
  sw_anchors = {example.group for examples in (task.test.get('sw', ()),
                                               task.target_dev.get('sw', ()))
                for example in examples}
  assert 'sw|a|Insert rows above' not in sw_anchors
  # The two skia-on strings are one unit (same normalised English), the smaller key, also in ja
  # where the item has the other key.
  assert 'ftl:browser/gfx.ftl#skia-on-2' not in {anchor for _, anchor in by_group}
  assert ('ja', 'ftl:browser/gfx.ftl#skia-on') in by_group


def test_p1_floor_scores_cosines_and_the_forced_choice():
  task = offline_tasks.p1(p1_items())
  language = next(iter(task.test))
  result = floors.p1_cosine_floor(task, [language])[language]
  # The fixture's translations copy the English: the positive always has the higher cosine.
  assert result['forced_choice_accuracy'] == 1.0
  assert 0.0 <= result['accuracy'] <= 1.0


def t1_items() -> list[TypedSpanItem]:
  items = []
  for index in range(20):   # enough units for all three splits; one English string each
    english = f'Choose Tools - Spelling or press F7 in LibreOffice, step {index}.'
    german = (f'Wählen Sie Extras - Rechtschreibung oder drücken Sie F7 in LibreOffice, '
              f'Schritt {index}.')
    chinese = f'选择工具 - 拼写检查或按 F7（LibreOffice）{index}。'
    key = f'text/shared/page{index}.html#par_id{index}'
    english_spans = ((7, 23, 'UI'), (33, 35, 'KEY'), (39, 50, 'PRODUCT'))
    items.append(TypedSpanItem(key, 'de', english, german, english_spans,
                               ((11, 35, 'UI'), (53, 55, 'KEY'), (59, 70, 'PRODUCT'))))
    items.append(TypedSpanItem(key, 'zh', english, chinese, english_spans,
                               ((2, 11, 'UI'), (14, 16, 'KEY'), (17, 28, 'PRODUCT'))))
  return items


def test_t1_tags_cover_exactly_the_spans():
  task = offline_tasks.t1(t1_items())
  assert task.label_names == ('UI', 'KEY', 'CODE', 'PRODUCT') and task.headline_metric == 'f1_UI'
  german = (task.test.get('de') or task.target_dev['de'])[0]
  assert german.tokens[:12] == ('Wählen', 'Sie', 'Extras', '-', 'Rechtschreibung', 'oder',
                                'drücken', 'Sie', 'F7', 'in', 'LibreOffice', ',')
  assert german.tags[:12] == ('O', 'O', 'B-UI', 'I-UI', 'I-UI', 'O', 'O', 'O', 'B-KEY', 'O',
                              'B-PRODUCT', 'O')
  chinese = (task.test.get('zh') or task.target_dev['zh'])[0]
  assert chinese.tokens[:12] == ('选', '择', '工', '具', '-', '拼', '写', '检', '查', '或',
                                 '按', 'F7')
  assert chinese.tags[:12] == ('O', 'O', 'B-UI', 'I-UI', 'I-UI', 'I-UI', 'I-UI', 'I-UI',
                               'I-UI', 'O', 'O', 'B-KEY')
  for item in t1_items():
    offsets = word_tokens.word_offsets(item.target, [p for s, e, _ in item.target_spans
                                                      for p in (s, e)])
    tags = word_tokens.tags_for_spans(offsets, item.target_spans)
    spans = [(offsets[first][0], offsets[last][1], label)
             for label, first, last in metrics.entities(tags)]
    assert spans == list(item.target_spans)


def test_t1_string_match_floor_finds_untranslated_spans_only():
  result = floors.t1_string_match(t1_items(), split='test')
  german = result['de']['per_label']
  assert german['KEY']['f1'] == 1.0 and german['PRODUCT']['f1'] == 1.0
  assert german['UI']['f1'] == 0.0    # 'Tools - Spelling' is translated


def test_c1_floor_and_the_registry_read_the_cache(tmp_path):
  cache_dir = write_cache(str(tmp_path / 'cache'), c1_items(), t1_items())
  task = registry.load_task('C1', parallel_text_dir=cache_dir, languages=('de',))
  assert task.languages == ('de',) and set(task.target_dev) == {'de'}
  result = floors.classification_floor(registry.load_task('C1', parallel_text_dir=cache_dir),
                                       ['en', 'de'])
  assert 0.0 <= result['de']['accuracy'] <= 1.0 and 'macro_f1' in result['en']
  assert registry.load_task('T1', parallel_text_dir=cache_dir).kind == 'token_classification'


def test_a_cache_without_t1_says_how_to_build_it(tmp_path):
  cache_dir = str(tmp_path / 'cache')
  write_cache(cache_dir, c1_items())
  os.remove(os.path.join(cache_dir, 'T1.jsonl'))
  with pytest.raises(FileNotFoundError, match=r"run build\(cache_dir=..., sets=\('T1',\)\)"):
    registry.load_task('T1', parallel_text_dir=cache_dir)
