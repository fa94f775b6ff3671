"""Metrics against hand-computed numbers: seqeval's span F1 (without seqeval), SQuAD/MLQA EM and
F1, classification, STS correlations."""

import math

import pytest

from unibert_jax.tasks import metrics
from unibert_jax.tasks.examples import ClassificationExample
from unibert_jax.tasks.examples import CLASSIFICATION
from unibert_jax.tasks.examples import QAExample
from unibert_jax.tasks.examples import EXTRACTIVE_QA
from unibert_jax.tasks.examples import TOKEN_CLASSIFICATION
from unibert_jax.tasks.examples import TokenClassificationExample

# ----------------------------------------------------------------------------- spans


@pytest.mark.parametrize('tags, expected', [
    (['B-PER', 'I-PER', 'O', 'B-LOC'], [('PER', 0, 1), ('LOC', 3, 3)]),
    (['O', 'I-PER', 'I-PER', 'O'], [('PER', 1, 2)]),                 # I- after O starts one
    (['B-PER', 'I-LOC', 'I-LOC'], [('PER', 0, 0), ('LOC', 1, 2)]),   # a type change starts one
    (['B-PER', 'B-PER', 'I-PER'], [('PER', 0, 0), ('PER', 1, 2)]),
    (['I-ORG'], [('ORG', 0, 0)]),
    (['O', 'O'], []),
    (['B-UI', 'I-UI', 'I-KEY', 'B-KEY', 'O', 'I-UI'],
     [('UI', 0, 1), ('KEY', 2, 2), ('KEY', 3, 3), ('UI', 5, 5)]),
])
def test_entities_follow_seqeval_get_entities(tags, expected):
  assert metrics.entities(tags) == expected


def test_span_f1_exact_spans_and_per_label():
  gold = [['B-PER', 'I-PER', 'O', 'B-LOC', 'O'], ['B-ORG', 'O', 'B-PER']]
  predicted = [['B-PER', 'I-PER', 'O', 'B-LOC', 'I-LOC'], ['B-ORG', 'O', 'O']]
  # gold: PER(0,0-1), LOC(0,3), ORG(1,0), PER(1,2); predicted: PER(0,0-1), LOC(0,3-4), ORG(1,0)
  # correct: PER(0,0-1), ORG(1,0) -> precision 2/3, recall 2/4, F1 4/7.
  result = metrics.span_f1(gold, predicted)
  assert result['precision'] == pytest.approx(2 / 3)
  assert result['recall'] == pytest.approx(1 / 2)
  assert result['f1'] == pytest.approx(4 / 7)
  assert result['per_label']['PER'] == pytest.approx(
      {'precision': 1.0, 'recall': 0.5, 'f1': 2 / 3, 'support': 2})
  assert result['per_label']['LOC'] == pytest.approx(
      {'precision': 0.0, 'recall': 0.0, 'f1': 0.0, 'support': 1})
  assert result['per_label']['ORG'] == pytest.approx(
      {'precision': 1.0, 'recall': 1.0, 'f1': 1.0, 'support': 1})


def test_span_f1_repairs_ill_formed_predictions_like_seqeval():
  gold = [['B-UI', 'I-UI', 'O', 'B-KEY']]
  # 'I-UI I-UI' after O is one UI entity (0-1); 'I-KEY' after O is one KEY entity (3).
  assert metrics.span_f1(gold, [['I-UI', 'I-UI', 'O', 'I-KEY']])['f1'] == 1.0
  # A type change inside: UI(0,0) and KEY(1,1) instead of UI(0-1); only KEY(3) is right.
  result = metrics.span_f1(gold, [['B-UI', 'I-KEY', 'O', 'B-KEY']])
  assert (result['precision'], result['recall']) == (pytest.approx(1 / 3), pytest.approx(1 / 2))
  assert result['per_label']['UI']['f1'] == 0.0


def test_spans_do_not_cross_sentences():
  # seqeval joins sentences with 'O': an I- at the start of a sentence starts a new entity.
  result = metrics.span_f1([['B-PER'], ['I-PER']], [['B-PER'], ['I-PER']])
  assert result['per_label']['PER']['support'] == 2 and result['f1'] == 1.0


def test_no_predicted_entities_scores_zero_without_error():
  result = metrics.span_f1([['B-PER', 'O']], [['O', 'O']])
  assert (result['precision'], result['recall'], result['f1']) == (0.0, 0.0, 0.0)


def test_span_f1_rejects_misaligned_sentences():
  with pytest.raises(ValueError, match='Sentence 0: 2 gold tags but 1 predicted'):
    metrics.span_f1([['O', 'O']], [['O']])


# ----------------------------------------------------------------------------- classification


def test_accuracy_and_macro_f1():
  gold = [0, 0, 0, 1, 1, 2]
  predicted = [0, 0, 1, 1, 2, 2]
  assert metrics.accuracy(gold, predicted) == pytest.approx(4 / 6)
  # class 0: P 1, R 2/3 -> 0.8; class 1: P 1/2, R 1/2 -> 0.5; class 2: P 1/2, R 1 -> 2/3.
  assert metrics.macro_f1(gold, predicted) == pytest.approx((0.8 + 0.5 + 2 / 3) / 3)
  # A class only predicted counts with F1 0 (sklearn's average='macro').
  assert metrics.macro_f1([0, 0], [0, 1]) == pytest.approx((2 / 3 + 0.0) / 2)


def test_score_classification_names_the_per_class_f1():
  examples = [ClassificationExample('a', None, label, 'de', str(index))
              for index, label in enumerate([0, 1, 1])]
  result = metrics.score(CLASSIFICATION, examples, [0, 1, 0], ('calc', 'writer'))
  assert result['accuracy'] == pytest.approx(2 / 3)
  assert result['f1_calc'] == pytest.approx(2 / 3) and result['f1_writer'] == pytest.approx(2 / 3)


def test_score_token_classification_reports_every_label():
  examples = [TokenClassificationExample(('Press', 'F7'), ('O', 'B-KEY'), 'de', '1')]
  result = metrics.score(TOKEN_CLASSIFICATION, examples, [('O', 'B-KEY')], ('UI', 'KEY'))
  assert (result['f1'], result['f1_KEY'], result['f1_UI']) == (1.0, 1.0, 0.0)


# ----------------------------------------------------------------------------- QA


@pytest.mark.parametrize('text, expected', [
    ('The  Eiffel Tower!', 'eiffel tower'),
    ('an apple, a pear and the fig.', 'apple pear and fig'),
    ("Theory's end", 'theorys end'),       # 'the' only as a word
    ('  ', ''),
])
def test_squad_normalisation(text, expected):
  assert metrics.normalize_squad(text) == expected


def test_squad_exact_match_and_f1():
  assert metrics.qa_exact_match('the Eiffel tower', ['Eiffel Tower.', 'Paris']) == 1.0
  assert metrics.qa_exact_match('Tower', ['Eiffel Tower']) == 0.0
  # 'eiffel tower in paris' vs 'eiffel tower': 2 common, P 2/4, R 2/2 -> F1 2/3.
  assert metrics.qa_f1('The Eiffel Tower in Paris', ['Eiffel Tower']) == pytest.approx(2 / 3)
  assert metrics.qa_f1('Paris', ['Eiffel Tower', 'in Paris']) == pytest.approx(2 / 3)
  assert metrics.qa_f1('the', ['Eiffel Tower']) == 0.0   # normalises to nothing


def test_mlqa_normalisation_is_language_aware():
  assert metrics.normalize_mlqa('Der Turm, «rund»!', 'de') == 'turm rund'
  assert metrics.normalize_squad('Der Turm, «rund»!') == 'der turm «rund»'
  assert metrics.normalize_mlqa('El río', 'es') == 'río'
  assert metrics.normalize_mlqa('北京大学。ok', 'zh') == '北 京 大 学 ok'
  # Chinese F1 over characters: '北京大学' vs '北京': P 2/4, R 2/2 -> 2/3.
  assert metrics.qa_f1('北京大学', ['北京'], 'mlqa', 'zh') == pytest.approx(2 / 3)
  with pytest.raises(ValueError, match="use normalization='squad'"):
    metrics.normalize_mlqa('x', 'ru')


def test_qa_scores_average_over_questions_and_missing_ones_score_zero():
  scores = metrics.qa_scores({'q1': ['Eiffel Tower'], 'q2': ['Paris']},
                             {'q1': 'the eiffel tower'})
  assert scores == {'exact_match': 0.5, 'f1': 0.5}


def test_score_qa_uses_the_normalisation():
  examples = [QAExample('Wo?', 'In der Stadt.', (('der Stadt', 3),), 'de', 'q1')]
  assert metrics.score(EXTRACTIVE_QA, examples, ['Stadt'], normalization='mlqa') == {
      'exact_match': 1.0, 'f1': 1.0}
  assert metrics.score(EXTRACTIVE_QA, examples, ['Stadt'])['exact_match'] == 0.0


# ----------------------------------------------------------------------------- STS


def test_pearson_and_spearman():
  gold = [1.0, 2.0, 3.0, 4.0]
  predicted = [1.0, 3.0, 2.0, 10.0]
  # Spearman: ranks 1,2,3,4 vs 1,3,2,4 -> 1 - 6*(0+1+1+0)/(4*15) = 0.8.
  # Pearson: deviations (-1.5,-.5,.5,1.5) vs (-3,-1,-2,6): 4.5+.5-1+9 = 13 over
  # sqrt(5) * sqrt(9+1+4+36) = sqrt(250).
  result = metrics.correlations(gold, predicted)
  assert result['spearman'] == pytest.approx(0.8)
  assert result['pearson'] == pytest.approx(13 / math.sqrt(250))
