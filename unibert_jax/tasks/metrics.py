"""The metrics of the transfer tasks, as the benchmarks' own scripts compute them.

All scores are fractions in [0, 1] (the official SQuAD/MLQA scripts and seqeval reports print
percentages; multiply by 100 to compare).

- classification: accuracy, macro-F1 (sklearn's `f1_score(average='macro')`: the mean F1 over
  the classes that occur in the gold or the predicted labels).
- token classification: entity-level precision/recall/F1 with seqeval's default (non-strict)
  IOB2 chunking, which repairs ill-formed tags: an I- after O or after another type starts a
  new entity. Micro over all entities, and per label.
- extractive QA: SQuAD v1.1 exact match / F1 (lower case, drop punctuation, drop 'a an the',
  collapse whitespace; max over the gold answers), and MLQA's language-aware variant (Unicode
  punctuation, per-language articles, character segmentation of Chinese).
- regression: Pearson and Spearman correlation (STS).
"""

from collections.abc import Mapping, Sequence
import collections
import functools
import re
import string
import sys
import unicodedata

import numpy as np
from scipy import stats

from unibert_jax.tasks import examples as examples_lib

# ----------------------------------------------------------------------------- classification


def accuracy(gold: Sequence[int], predicted: Sequence[int]) -> float:
  gold, predicted = _same_length(gold, predicted)
  return float(np.mean(gold == predicted)) if len(gold) else 0.0


def per_class_f1(gold: Sequence[int], predicted: Sequence[int]) -> dict[int, float]:
  """F1 of each class present in `gold` or `predicted` (0 where it has no true positive)."""
  gold, predicted = _same_length(gold, predicted)
  scores = {}
  for label in sorted(set(gold.tolist()) | set(predicted.tolist())):
    true_positives = int(np.sum((gold == label) & (predicted == label)))
    scores[label] = _f1(true_positives, int(np.sum(predicted == label)),
                        int(np.sum(gold == label)))[2]
  return scores


def macro_f1(gold: Sequence[int], predicted: Sequence[int]) -> float:
  scores = per_class_f1(gold, predicted)
  return float(np.mean(list(scores.values()))) if scores else 0.0


def _same_length(gold, predicted) -> tuple[np.ndarray, np.ndarray]:
  gold, predicted = np.asarray(gold), np.asarray(predicted)
  if gold.shape != predicted.shape:
    raise ValueError(f'{len(gold)} gold labels but {len(predicted)} predictions.')
  return gold, predicted


def _f1(true_positives: int, predicted: int, gold: int) -> tuple[float, float, float]:
  precision = true_positives / predicted if predicted else 0.0
  recall = true_positives / gold if gold else 0.0
  f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
  return precision, recall, f1


# ----------------------------------------------------------------------------- spans (seqeval)


def _tag_and_type(tag: str) -> tuple[str, str]:
  return tag[0], tag[1:].split('-', maxsplit=1)[-1] or '_'


def _ends(previous_tag: str, tag: str, previous_type: str, type_: str) -> bool:
  return (previous_tag in ('E', 'S')
          or (previous_tag in ('B', 'I') and tag in ('B', 'S', 'O'))
          or (previous_tag not in ('O', '.') and previous_type != type_))


def _starts(previous_tag: str, tag: str, previous_type: str, type_: str) -> bool:
  return (tag in ('B', 'S')
          or (previous_tag in ('E', 'S', 'O') and tag in ('E', 'I'))
          or (tag not in ('O', '.') and previous_type != type_))


def entities(tags: Sequence[str]) -> list[tuple[str, int, int]]:
  """(type, first, last) of each entity in one tag sequence, as seqeval's `get_entities`
  (IOB2/IOBES prefixes, default non-strict mode)."""
  chunks = []
  previous_tag, previous_type, begin = 'O', '', 0
  for index, chunk in enumerate(list(tags) + ['O']):
    tag, type_ = _tag_and_type(chunk)
    if _ends(previous_tag, tag, previous_type, type_):
      chunks.append((previous_type, begin, index - 1))
    if _starts(previous_tag, tag, previous_type, type_):
      begin = index
    previous_tag, previous_type = tag, type_
  return chunks


def span_f1(gold: Sequence[Sequence[str]], predicted: Sequence[Sequence[str]]) -> dict:
  """Entity-level scores over sentences of tags: {'precision', 'recall', 'f1', 'per_label':
  {label: {'precision', 'recall', 'f1', 'support'}}}; an entity counts when its type, first and
  last token all match."""
  if len(gold) != len(predicted):
    raise ValueError(f'{len(gold)} gold sentences but {len(predicted)} predicted ones.')
  gold_entities, predicted_entities = set(), set()
  for sentence, (gold_tags, predicted_tags) in enumerate(zip(gold, predicted)):
    if len(gold_tags) != len(predicted_tags):
      raise ValueError(f'Sentence {sentence}: {len(gold_tags)} gold tags but '
                       f'{len(predicted_tags)} predicted ones.')
    gold_entities.update((sentence, *entity) for entity in entities(gold_tags))
    predicted_entities.update((sentence, *entity) for entity in entities(predicted_tags))
  precision, recall, f1 = _f1(len(gold_entities & predicted_entities), len(predicted_entities),
                              len(gold_entities))
  per_label = {}
  for label in sorted({entity[1] for entity in gold_entities | predicted_entities}):
    gold_of_label = {entity for entity in gold_entities if entity[1] == label}
    predicted_of_label = {entity for entity in predicted_entities if entity[1] == label}
    label_precision, label_recall, label_f1 = _f1(len(gold_of_label & predicted_of_label),
                                                  len(predicted_of_label), len(gold_of_label))
    per_label[label] = {'precision': label_precision, 'recall': label_recall, 'f1': label_f1,
                        'support': len(gold_of_label)}
  return {'precision': precision, 'recall': recall, 'f1': f1, 'per_label': per_label}


# ----------------------------------------------------------------------------- QA (SQuAD, MLQA)



@functools.cache
def _unicode_punctuation() -> frozenset[str]:
  # Built on first use: scanning all code points takes a noticeable fraction of a second.
  return frozenset({chr(code) for code in range(sys.maxunicode + 1)
                    if unicodedata.category(chr(code)).startswith('P')}
                   | set(string.punctuation))

_MLQA_ARTICLES = {
    'en': re.compile(r'\b(a|an|the)\b'),
    'es': re.compile(r'\b(un|una|unos|unas|el|la|los|las)\b'),
    'vi': re.compile(r'\b(của|là|cái|chiếc|những)\b'),
    'de': re.compile(r'\b(ein|eine|einen|einem|eines|einer|der|die|das|den|dem|des)\b'),
    'ar': re.compile(r'\sال^|ال'),
}
MLQA_LANGUAGES = ('ar', 'de', 'en', 'es', 'hi', 'vi', 'zh')
_MLQA_CHINESE = re.compile(r'[\u4e00-\u9fa5]')


def normalize_squad(text: str) -> str:
  """The SQuAD v1.1 script's normalize_answer."""
  text = ''.join(character for character in text.lower()
                 if character not in string.punctuation)
  return ' '.join(re.sub(r'\b(a|an|the)\b', ' ', text).split())


def normalize_mlqa(text: str, language: str) -> str:
  """MLQA's evaluation script (mlqa_evaluation_v1.py): Unicode punctuation, the language's
  articles; Chinese is segmented into characters (other characters by whitespace)."""
  if language not in MLQA_LANGUAGES:
    raise ValueError(f'MLQA normalisation knows {MLQA_LANGUAGES}, not {language!r}; use '
                     f"normalization='squad' for other languages (as XTREME does for XQuAD).")
  punctuation = _unicode_punctuation()
  text = ''.join(character for character in text.lower() if character not in punctuation)
  if language in _MLQA_ARTICLES:
    text = _MLQA_ARTICLES[language].sub(' ', text)
  if language == 'zh':
    return ' '.join(_mixed_segmentation(text))
  return ' '.join(text.split())


def _mixed_segmentation(text: str) -> list[str]:
  words, pending = [], ''
  punctuation = _unicode_punctuation()
  for character in text:
    if _MLQA_CHINESE.search(character) or character in punctuation:
      words.extend(pending.split())
      pending = ''
      words.append(character)
    else:
      pending += character
  words.extend(pending.split())
  return [word for word in words if word.strip()]


def _normalizer(normalization: str, language: str):
  if normalization == 'squad':
    return normalize_squad
  if normalization == 'mlqa':
    return lambda text: normalize_mlqa(text, language)
  raise ValueError(f"normalization={normalization!r}; use 'squad' or 'mlqa'.")


def _token_f1(predicted: str, gold: str, normalize) -> float:
  predicted_tokens, gold_tokens = normalize(predicted).split(), normalize(gold).split()
  common = collections.Counter(predicted_tokens) & collections.Counter(gold_tokens)
  same = sum(common.values())
  if same == 0:
    return 0.0
  precision, recall = same / len(predicted_tokens), same / len(gold_tokens)
  return 2 * precision * recall / (precision + recall)


def qa_exact_match(predicted: str, gold_answers: Sequence[str], normalization: str = 'squad',
                   language: str = 'en') -> float:
  normalize = _normalizer(normalization, language)
  return float(max(normalize(predicted) == normalize(gold) for gold in gold_answers))


def qa_f1(predicted: str, gold_answers: Sequence[str], normalization: str = 'squad',
          language: str = 'en') -> float:
  normalize = _normalizer(normalization, language)
  return max(_token_f1(predicted, gold, normalize) for gold in gold_answers)


def qa_scores(gold_answers: Mapping[str, Sequence[str]], predictions: Mapping[str, str],
              normalization: str = 'squad', language: str = 'en') -> dict[str, float]:
  """Mean exact match and F1 over the questions of `gold_answers` (id -> answer texts); a
  question without a prediction scores 0, as in the official scripts."""
  if not gold_answers:
    raise ValueError('No gold answers to score.')
  exact = f1 = 0.0
  for question_id, answers in gold_answers.items():
    if question_id in predictions:
      exact += qa_exact_match(predictions[question_id], answers, normalization, language)
      f1 += qa_f1(predictions[question_id], answers, normalization, language)
  return {'exact_match': exact / len(gold_answers), 'f1': f1 / len(gold_answers)}


# ----------------------------------------------------------------------------- regression


def correlations(gold: Sequence[float], predicted: Sequence[float]) -> dict[str, float]:
  gold, predicted = _same_length(np.asarray(gold, float), np.asarray(predicted, float))
  return {'pearson': float(stats.pearsonr(gold, predicted)[0]),
          'spearman': float(stats.spearmanr(gold, predicted)[0])}


# ----------------------------------------------------------------------------- per task kind


def score(kind: str, examples: Sequence[examples_lib.Example], predictions: Sequence,
          label_names: Sequence[str] = (), normalization: str = 'squad') -> dict:
  """The metrics of one language's examples, given one prediction per example:

  classification: class indices -> {'accuracy', 'macro_f1', 'f1_<label name>'...}
  token_classification: tag sequences -> {'precision', 'recall', 'f1', 'f1_<label>'...,
    'per_label'}
  extractive_qa: answer texts -> {'exact_match', 'f1'} (normalization 'squad' or 'mlqa', the
    latter with each example's language)
  regression: scores -> {'pearson', 'spearman'}
  """
  if len(examples) != len(predictions):
    raise ValueError(f'{len(examples)} examples but {len(predictions)} predictions.')
  if kind == examples_lib.CLASSIFICATION:
    gold = [example.label for example in examples]
    result = {'accuracy': accuracy(gold, predictions), 'macro_f1': macro_f1(gold, predictions)}
    for label, f1 in per_class_f1(gold, predictions).items():
      result[f'f1_{label_names[label] if label < len(label_names) else label}'] = f1
    return result
  if kind == examples_lib.TOKEN_CLASSIFICATION:
    result = span_f1([example.tags for example in examples], predictions)
    return {'precision': result['precision'], 'recall': result['recall'], 'f1': result['f1'],
            **{f'f1_{label}': result['per_label'].get(label, {}).get('f1', 0.0)
               for label in (label_names or result['per_label'])},
            'per_label': result['per_label']}
  if kind == examples_lib.EXTRACTIVE_QA:
    languages = {example.language for example in examples}
    if len(languages) > 1:
      raise ValueError(f'Score QA one language at a time, not {sorted(languages)}.')
    return qa_scores({example.id: [text for text, _ in example.answers] for example in examples},
                     {example.id: text for example, text in zip(examples, predictions)},
                     normalization, languages.pop() if languages else 'en')
  if kind == examples_lib.REGRESSION:
    return correlations([example.score for example in examples], predictions)
  raise ValueError(f'kind={kind!r} is not one of {examples_lib.KINDS}.')


def score_task(task: examples_lib.TaskData, examples: Sequence[examples_lib.Example],
               predictions: Sequence) -> dict:
  """metrics.score with the task's kind, label names and score options (one language)."""
  return score(task.kind, examples, predictions, task.label_names, **task.score_options)
