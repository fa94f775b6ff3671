"""Evaluation plumbing: tokenizing, the jitted encoder runs, figures, reports, ablation tables."""

import math
import os

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest
import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from configs import base
from tests.helpers import kd_setup
from unibert_jax.data import corpus
from unibert_jax.data import prepare
from unibert_jax.evaluation import ablation
from unibert_jax.evaluation import universality_eval as evaluation
from unibert_jax.model import encoder as encoder_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LANGUAGES = ('de', 'en', 'fr', 'ru', 'zh')

SENTENCES = [
    'All human beings are born free and equal in dignity and rights.',
    'Everyone has the right to life, liberty and security of person.',
    'Alle Menschen sind frei und gleich an Würde und Rechten geboren.',
    'Tous les êtres humains naissent libres et égaux en dignité et en droits.',
]


@pytest.fixture(scope='module')
def tokenizer():
  tok = tokenizers.Tokenizer(models.Unigram())
  tok.pre_tokenizer = pre_tokenizers.Metaspace()
  tok.decoder = decoders.Metaspace()
  tok.train_from_iterator(SENTENCES * 4, trainers.UnigramTrainer(
      vocab_size=120, special_tokens=['<s>', '<pad>', '</s>', '<unk>'], unk_token='<unk>'))
  tok.add_special_tokens(['<mask>'])
  return tok


@pytest.fixture(scope='module')
def encoder(tokenizer):
  cfg = base.model_config('demo')
  cfg.update(num_layers=2, hidden_size=64, intermediate_size=128, dtype='float32',
             vocab_size=tokenizer.get_vocab_size(), max_position_embeddings=66)
  with nnx.use_eager_sharding(False):
    return encoder_lib.Encoder(cfg, rngs=nnx.Rngs(0))


def test_mlm_predictions_are_the_argmax_at_the_prediction_slots(tokenizer, encoder):
  ids = [[0] + e.ids + [2] for e in tokenizer.encode_batch(SENTENCES, add_special_tokens=False)]
  input_ids = np.ones((len(ids), max(map(len, ids))), np.int32)
  for row, sentence_ids in enumerate(ids):
    input_ids[row, :len(sentence_ids)] = sentence_ids
  attention_mask = (input_ids != 1).astype(np.int32)
  mask_id = tokenizer.token_to_id('<mask>')
  input_ids[0, 1] = input_ids[2, 4] = mask_id   # two <mask> slots; the others keep their token
  positions = np.array([[1, 2], [3, 1], [2, 4], [1, 1]], np.int32)
  batches = [{'input_ids': input_ids[i:i + 2], 'attention_mask': attention_mask[i:i + 2],
              'mlm_positions': positions[i:i + 2], 'mlm_targets': positions[i:i + 2] + 5,
              'mlm_weights': np.ones((2, 2), np.float32),
              'language_id': np.array([i, i + 1], np.int32)} for i in (0, 2)]
  out = evaluation.mlm_predictions(encoder, batches, mask_id)
  # The reference: logits over every position, then indexed (the code under test gathers).
  logits = jax.jit(lambda ids, mask: encoder.mlm_logits(encoder(ids, mask)))(
      input_ids, attention_mask)
  expected = np.asarray(jnp.argmax(logits, -1))[np.arange(4)[:, None], positions]
  np.testing.assert_array_equal(out['predictions'], expected)
  np.testing.assert_array_equal(out['targets'], positions + 5)
  np.testing.assert_array_equal(out['language_ids'], [0, 1, 2, 3])
  # Only <mask> slots are weighted: kept ones are solved by copying the input.
  np.testing.assert_array_equal(out['weights'], [[1, 0], [0, 0], [0, 1], [0, 0]])


def _synthetic_paragraphs(language_names, articles=(3, 8, 15), paragraphs_per_article=3):
  texts, language_ids, article_ids, paragraph_ids, document_ids = [], [], [], [], []
  for language, name in enumerate(language_names):
    for article in articles:
      for paragraph in range(paragraphs_per_article):
        texts.append(f'{name} {article} {paragraph}')
        language_ids.append(language)
        article_ids.append(article)
        paragraph_ids.append(paragraph)
        document_ids.append(f'doc_{name}')
  return evaluation.Paragraphs(texts, np.array(language_ids), np.array(article_ids),
                               np.array(paragraph_ids), document_ids)


def test_universality_figures_on_language_free_parallel_features():
  names = ['de', 'en', 'fr', 'ru']
  paragraphs = _synthetic_paragraphs(names)
  rng = np.random.default_rng(0)
  content = {key: rng.normal(size=16) for key in set(zip(paragraphs.articles.tolist(),
                                                          paragraphs.paragraphs.tolist()))}
  features = np.stack([content[a, p] for a, p in zip(paragraphs.articles.tolist(),
                                                      paragraphs.paragraphs.tolist())])
  figures = evaluation.universality_figures(features, paragraphs, names)
  retrieval, probe = figures['retrieval'], figures['probe']
  assert retrieval['retrieval_top1'] == 1.0 and retrieval['retrieval_pivot'] == 'en'
  assert retrieval['retrieval_chance'] == pytest.approx(1 / 9)
  # Identical features for every language: the probe can only guess.
  assert probe['language_probe_accuracy'] <= 0.5
  assert probe['language_probe_train_articles'] == [3, 15]


def test_universality_figures_fall_back_to_the_first_language_as_pivot():
  names = ['de', 'fr']
  paragraphs = _synthetic_paragraphs(names)
  features = np.random.default_rng(1).normal(size=(len(paragraphs.texts), 8))
  figures = evaluation.universality_figures(features, paragraphs, names, pivot='en')
  assert figures['retrieval']['retrieval_pivot'] == 'de'
  assert 'retrieval_top1_vs_de' in figures['retrieval']


def test_one_language_skips_the_figures_that_need_two(tmp_path, capsys):
  paragraphs = _synthetic_paragraphs(['en'])
  features = np.random.default_rng(2).normal(size=(len(paragraphs.texts), 8))
  figures = evaluation.universality_figures(features, paragraphs, ['en'])
  assert figures['retrieval']['retrieval_top1'] is None
  assert figures['probe']['language_probe_accuracy'] is None
  assert 'need two languages' in figures['probe']['skipped']
  assert 'one language (en)' in capsys.readouterr().out
  report = dict(_report(), retrieval_top1=None, retrieval_chance=None,
                language_probe_accuracy=None, language_probe_chance=None)
  report['per_language']['retrieval_vs_pivot'] = {}
  evaluation.plot_evaluation(report, str(tmp_path / 'eval.png'))   # draws what there is


def _report():
  return {
      'retrieval_top1': 0.4, 'retrieval_chance': 0.1, 'language_probe_accuracy': 0.7,
      'language_probe_chance': 0.25, 'mlm_accuracy': 0.3,
      'retrieval_pivot': 'en',
      'per_language': {'retrieval_vs_pivot': {'de': 0.5, 'fr': 0.3},
                       'mlm_accuracy': {'de': 0.2, 'en': 0.4, 'fr': 0.3}},
  }


def test_plot_evaluation_writes_a_png(tmp_path):
  path = tmp_path / 'eval.png'
  evaluation.plot_evaluation(_report(), str(path))
  assert path.read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def _ablation_results():
  rng = np.random.default_rng(2)
  results = []
  for seed in (0, 1, 2):
    for variant, adv, kd in ablation.ablation_variants(0.1, 0.5):
      results.append(dict(variant=variant, seed=seed, adv_weight=adv, kd_weight=kd,
                          retrieval_top1=rng.uniform(), language_probe_accuracy=rng.uniform(),
                          language_probe_chance=0.01, retrieval_chance=0.02,
                          mlm_accuracy=rng.uniform()))
  return results


def test_summarize_ablation_gives_mean_and_sample_std_per_variant():
  results = _ablation_results()
  rows = ablation.summarize_ablation(results)
  assert [row['variant'] for row in rows] == ['mlm+adv+kd', 'mlm+adv', 'mlm+kd', 'mlm']
  for row in rows:
    values = [r['retrieval_top1'] for r in results if r['variant'] == row['variant']]
    assert row['seeds'] == 3
    assert row['retrieval_top1'] == pytest.approx((np.mean(values), np.std(values, ddof=1)))
  assert rows[1]['adv_weight'] == 0.1 and rows[1]['kd_weight'] == 0.0


def test_summarize_ablation_rejects_unpaired_seeds():
  results = [r for r in _ablation_results() if not (r['variant'] == 'mlm' and r['seed'] == 2)]
  with pytest.raises(ValueError, match='different seeds'):
    ablation.summarize_ablation(results)


def test_ablation_markdown_and_plot(tmp_path):
  rows = ablation.summarize_ablation(_ablation_results())
  table = ablation.ablation_markdown(rows)
  lines = table.strip().splitlines()
  assert len(lines) == 2 + 4
  mean, std = rows[0]['mlm_accuracy']
  assert f'{mean:.3f} ± {std:.3f}' in lines[2]
  assert all(line.count('|') == lines[0].count('|') for line in lines)
  single_seed = ablation.summarize_ablation(_ablation_results()[:4])
  assert math.isnan(single_seed[0]['mlm_accuracy'][1])
  assert '±' not in ablation.ablation_markdown(single_seed).splitlines()[2]
  ablation.plot_ablation(rows, str(tmp_path / 'ablation.png'))
  assert (tmp_path / 'ablation.png').read_bytes()[:4] == b'\x89PNG'


def test_plan_ablation_runs_differ_only_in_the_loss_weights():
  runs = ablation.plan_ablation(
      config_arg='configs/demo.py', seeds=[0, 1, 2], adv_weight=0.1, kd_weight=0.5,
      root='/abl', data_dir='/shared/data', teacher_dir='/shared/teacher',
      overrides=['--config.train.steps=300'])
  assert len(runs) == 12 and [r.seed for r in runs[:4]] == [0] * 4
  assert {(r.adv_weight, r.kd_weight) for r in runs} == {(0.1, 0.5), (0.1, 0.0), (0.0, 0.5),
                                                         (0.0, 0.0)}
  assert len({r.workdir for r in runs}) == 12
  for seed in (0, 1, 2):
    same_seed = [r for r in runs if r.seed == seed]
    varying = lambda arg: arg.startswith(('--workdir=', '--config.loss.'))
    fixed = {tuple(a for a in r.train_args if not varying(a)) for r in same_seed}
    assert len(fixed) == 1
    assert f'--config.seed={seed}' in fixed.pop()
  with pytest.raises(ValueError, match='positive'):
    ablation.ablation_variants(0.0, 0.5)


# ----------------------------------------------------------------------------- the real corpus


def test_evaluation_reads_held_out_articles_only(five_languages):
  _, data_dir, _ = five_languages
  held_out = evaluation.check_held_out(data_dir)
  train_split = corpus.open_split(data_dir, 'train')
  trained = {train_split[i]['article'] for i in range(len(train_split))}
  assert held_out['evaluated_articles'] == sorted(corpus.VALIDATION_ARTICLES)
  assert held_out['trained_articles'] == sorted(trained)
  assert trained.isdisjoint(corpus.VALIDATION_ARTICLES)
  paragraphs = evaluation.read_split(data_dir, evaluation.EVAL_SPLIT)
  names = corpus.language_names(data_dir)
  # Whole articles, the same in every language.
  for language in range(len(names)):
    rows = paragraphs.language_ids == language
    assert set(paragraphs.articles[rows].tolist()) == set(corpus.VALIDATION_ARTICLES)


class _BothSplits(str):
  """A split name equal to 'train' and 'validation' alike: puts an article into both."""

  def __eq__(self, other):
    return other in corpus.SPLITS

  __hash__ = str.__hash__


def test_check_held_out_refuses_a_corpus_that_leaks_validation_articles(tmp_path, monkeypatch):
  config = kd_setup.config()
  config.data.languages = 'de,en'
  real_split = corpus.udhr_split
  monkeypatch.setattr(corpus, 'udhr_split', lambda article: (
      _BothSplits('validation') if article == 6 else real_split(article)))
  corpus.prepare_corpus(config.data, str(tmp_path), prepare.cache_dir_of(config))
  with pytest.raises(ValueError, match=r'Articles \[6\] .* both'):
    evaluation.check_held_out(str(tmp_path))




