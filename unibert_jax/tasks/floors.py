"""Lexical floors of the offline tasks, on the same items a model is scored on.

A model has to beat these to show transfer beyond shared strings:
- C1: a char 2-4-gram tf-idf logistic regression trained on the English train split (C chosen
  on English dev), applied to every language's test (`classification_floor`).
- P1: the cosine of char 2-4-gram tf-idf vectors of the two texts as the score (the
  vectoriser is fitted per language on that language's pairs, as offline_eval.md's R1 floor),
  a logistic regression on that one feature trained on the training languages' pairs; plus
  the forced choice cos(en_i, L_i) > cos(en_i, L_j) of protocol (a) (`p1_cosine_floor`).
- T1: string matching: a target span is predicted where the text of an English span of the
  unit reappears verbatim (its first free occurrence), with the English span's label
  (`t1_string_match`).
"""

from collections.abc import Collection, Mapping, Sequence
import collections

import numpy as np
from sklearn import feature_extraction
from sklearn import linear_model

from unibert_jax.evaluation import parallel_text
from unibert_jax.evaluation.parallel_text import filters
from unibert_jax.evaluation.parallel_text.typed_spans import TypedSpanItem
from unibert_jax.tasks import metrics
from unibert_jax.tasks import offline_tasks
from unibert_jax.tasks import word_tokens
from unibert_jax.tasks.examples import ClassificationExample
from unibert_jax.tasks.examples import CLASSIFICATION
from unibert_jax.tasks.examples import TaskData

NGRAM_RANGE = (2, 4)


REGULARISATION_GRID = (1.0, 10.0, 100.0)   # LogisticRegression C, chosen on English dev


def _char_tfidf():
  return feature_extraction.text.TfidfVectorizer(analyzer='char_wb', ngram_range=NGRAM_RANGE,
                                                 sublinear_tf=True)


def classification_floor(task: TaskData, languages: Sequence[str] | None = None
                         ) -> dict[str, dict]:
  """Language -> metrics.score of a char tf-idf logistic regression trained on English train
  (single-text classification tasks such as C1). Classes are weighted inversely to their
  frequency (macro-F1 is C1's headline) and C is the one of REGULARISATION_GRID with the best
  English dev macro-F1 (sklearn's default C=1 underfits: C1 dev macro-F1 .60 against .78)."""
  if task.kind != CLASSIFICATION or any(example.text_b is not None for example in task.train):
    raise ValueError(f'{task.name}: classification_floor is for single-text classification.')
  vectorizer = _char_tfidf()
  features = vectorizer.fit_transform([example.text_a for example in task.train])
  labels = [example.label for example in task.train]
  dev_features = vectorizer.transform([example.text_a for example in task.dev])
  dev_labels = [example.label for example in task.dev]
  best_f1, model = -1.0, None
  for regularisation in REGULARISATION_GRID:
    candidate = linear_model.LogisticRegression(C=regularisation, class_weight='balanced',
                                                max_iter=3000).fit(features, labels)
    f1 = metrics.macro_f1(dev_labels, candidate.predict(dev_features).tolist())
    if f1 > best_f1:
      best_f1, model = f1, candidate
  results = {}
  for language in languages or task.languages:
    examples = task.test[language]
    predicted = model.predict(vectorizer.transform([example.text_a for example in examples]))
    results[language] = metrics.score(CLASSIFICATION, examples, predicted.tolist(),
                                      task.label_names)
    results[language]['C'] = model.C
  return results


def pair_cosines(examples: Sequence[ClassificationExample]) -> np.ndarray:
  """cos(text_a, text_b) of char tf-idf vectors fitted on these examples' texts."""
  vectorizer = _char_tfidf()
  vectorizer.fit([example.text_a for example in examples] +
                 [example.text_b for example in examples])
  first = vectorizer.transform([example.text_a for example in examples])
  second = vectorizer.transform([example.text_b for example in examples])
  # Rows are L2-normalised by the vectoriser: the row-wise dot product is the cosine.
  return np.asarray(first.multiply(second).sum(axis=1)).ravel()


def forced_choice_accuracy(examples: Sequence[ClassificationExample],
                           scores: Sequence[float]) -> float:
  """Share of groups (P1 anchors) whose positive pair scores above its negative; a tie
  counts one half (a random pick)."""
  by_group = collections.defaultdict(dict)
  for example, score in zip(examples, scores):
    by_group[example.group][example.label] = score
  pairs = [(group[1], group[0]) for group in by_group.values() if 0 in group and 1 in group]
  if not pairs:
    raise ValueError('No group has both a positive and a negative example.')
  return float(np.mean([1.0 if positive > negative else 0.5 if positive == negative else 0.0
                        for positive, negative in pairs]))


def _by_language(examples: Sequence[ClassificationExample]) -> dict[str, list]:
  grouped = collections.defaultdict(list)
  for example in examples:
    grouped[example.language].append(example)
  return grouped


def p1_cosine_floor(task: TaskData, languages: Sequence[str] | None = None) -> dict[str, dict]:
  """Language -> {'accuracy', 'macro_f1', 'forced_choice_accuracy'} of the cosine floor."""
  train_cosines, train_labels = [], []
  for examples in _by_language(task.train).values():
    train_cosines.extend(pair_cosines(examples))
    train_labels.extend(example.label for example in examples)
  model = linear_model.LogisticRegression()
  model.fit(np.asarray(train_cosines)[:, None], train_labels)
  results = {}
  for language in languages or task.languages:
    examples = task.test[language]
    cosines = pair_cosines(examples)
    predicted = model.predict(cosines[:, None]).tolist()
    scores = metrics.score(CLASSIFICATION, examples, predicted, task.label_names)
    results[language] = {'accuracy': scores['accuracy'], 'macro_f1': scores['macro_f1'],
                         'forced_choice_accuracy': forced_choice_accuracy(examples, cosines)}
  return results


def string_match_spans(item: TypedSpanItem) -> list[tuple[int, int, str]]:
  """The target spans string matching predicts: each English span's text at its first
  occurrence in the target that overlaps no span predicted before it."""
  predicted = []
  for start, end, label in item.english_spans:
    text = item.english[start:end]
    position = item.target.find(text)
    while position >= 0 and any(position < other_end and position + len(text) > other_start
                                for other_start, other_end, _ in predicted):
      position = item.target.find(text, position + 1)
    if position >= 0:
      predicted.append((position, position + len(text), label))
  return predicted


def t1_string_match(items: Sequence[TypedSpanItem], split: str = 'test',
                    languages: Sequence[str] | None = None,
                    units_by_language: Mapping[str, Collection[str]] | None = None
                    ) -> dict[str, dict]:
  """Language -> metrics.span_f1 of string matching on the T1 units of `split` (the task's
  words and gold tags; predicted spans tag the words they overlap). units_by_language limits
  each language to those units (the example ids of a subsampled test set)."""
  units = offline_tasks.unit_keys(items)
  gold, predicted = collections.defaultdict(list), collections.defaultdict(list)
  for item in items:
    unit = units[filters.normalise_english(item.english)]
    if offline_tasks.split_of(unit) != split or (languages and item.language not in languages):
      continue
    if units_by_language is not None and unit not in units_by_language.get(item.language, ()):
      continue
    offsets = word_tokens.word_offsets(
        item.target, [position for start, end, _ in item.target_spans
                      for position in (start, end)])
    gold[item.language].append(word_tokens.tags_for_spans(offsets, item.target_spans))
    predicted[item.language].append(
        word_tokens.tags_for_spans(offsets, string_match_spans(item)))
  return {language: metrics.span_f1(gold[language], predicted[language])
          for language in sorted(gold)}


def majority_floor(task: TaskData, languages: Sequence[str] | None = None) -> dict[str, dict]:
  """Language -> metrics.score of always answering English train's most frequent class."""
  if task.kind != CLASSIFICATION:
    raise ValueError(f'{task.name}: majority_floor is for classification tasks.')
  majority = collections.Counter(example.label for example in task.train).most_common(1)[0][0]
  return {language: metrics.score(CLASSIFICATION, task.test[language],
                                  [majority] * len(task.test[language]), task.label_names)
          for language in languages or task.languages}


def _t1_scores(span_scores: Mapping) -> dict:
  """metrics.span_f1's result in the keys metrics.score gives token classification."""
  return {'precision': span_scores['precision'], 'recall': span_scores['recall'],
          'f1': span_scores['f1'],
          **{f'f1_{label}': span_scores['per_label'].get(label, {}).get('f1', 0.0)
             for label in offline_tasks.T1_LABELS}}


def task_floor(task: TaskData, parallel_text_dir: str | None = None
               ) -> tuple[str, dict[str, dict]] | None:
  """(name, language -> scores) of the task's lexical floor on exactly its test items: C1's
  tf-idf regression, P1's tf-idf cosine, T1's string matching, or for other classification
  tasks the majority class; None for tasks without one (QA, regression)."""
  if task.name == 'C1':
    return 'char tf-idf logistic regression', classification_floor(task)
  if task.name == 'P1':
    return 'char tf-idf cosine', p1_cosine_floor(task)
  if task.name == 'T1':
    units = {language: {example.id for example in examples}
             for language, examples in task.test.items()}
    items = parallel_text.load_typed_spans(parallel_text_dir, 'T1')
    return 'string match', {language: _t1_scores(scores) for language, scores in
                            t1_string_match(items, 'test', task.languages, units).items()}
  if task.kind == CLASSIFICATION:
    return 'majority class', majority_floor(task)
  return None
