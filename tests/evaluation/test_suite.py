"""The suite end to end on a random encoder: a parallel-text cache, UDHR for the rest, reports."""

import json
import os

import flax.nnx as nnx
import numpy as np
import pytest

from unibert_jax.evaluation import parallel_text
from unibert_jax.evaluation import suite as suite_lib
from unibert_jax.evaluation import universality_eval
from unibert_jax.evaluation.parallel_text import items as items_lib
from unibert_jax.evaluation.parallel_text import manifest as manifest_lib
from unibert_jax.evaluation.parallel_text import Item
from unibert_jax.model import encoder as encoder_lib

R1_LANGUAGES = ('de', 'fr')   # of kd_setup's five; ru and zh are left to UDHR
WORDS = ('file', 'open', 'save', 'window', 'print', 'page', 'tab', 'close', 'new', 'edit')


def write_cache(cache_dir: str, per_language: int = 40) -> str:
  """A parallel-text cache as parallel_text.build leaves it: R1.jsonl and its manifest entry."""
  os.makedirs(cache_dir)
  rng = np.random.default_rng(0)
  items = []
  for language in R1_LANGUAGES:
    for i in range(per_language):
      words = [WORDS[j] for j in rng.choice(len(WORDS), 5)]
      english = ' '.join(words) + f' {i}'
      items.append(Item(f'msg{i}', language, english, f'{language} ' + english[::-1]))
  size = items_lib.write_jsonl(os.path.join(cache_dir, 'R1.jsonl'), items)
  manifest = manifest_lib.empty(1)
  manifest['sets']['R1'] = {'file': 'R1.jsonl', 'bytes': size, 'items': len(items)}
  manifest['missing_sets']['R2'] = 'no apt-get (a test reason)'
  manifest['item_sha256'] = items_lib.items_sha256({'R1': items})
  manifest_lib.write(cache_dir, manifest)
  return manifest['item_sha256']


def test_udhr_items_pair_paragraphs_with_english_where_the_split_agrees():
  texts = ['e1', 'e2', 'e3', 'd1', 'd2', 'd3', 'p1', 'p2']
  languages = ['en'] * 3 + ['de'] * 3 + ['pa'] * 2
  articles = [1, 1, 2, 1, 1, 2, 1, 2]
  paragraphs = [0, 1, 0, 0, 1, 0, 0, 0]   # pa merges article 1's two paragraphs into one
  items = suite_lib.udhr_items(texts, languages, articles, paragraphs)
  assert sorted((i.language, i.key, i.english, i.target) for i in items) == [
      ('de', 'udhr:1.0', 'e1', 'd1'), ('de', 'udhr:1.1', 'e2', 'd2'),
      ('de', 'udhr:2.0', 'e3', 'd3'), ('pa', 'udhr:2.0', 'e3', 'p2')]
  with pytest.raises(ValueError, match="no 'en' paragraphs"):
    suite_lib.udhr_items(['d1'], ['de'], [1], [0])


def test_unknown_set_names_are_refused():
  assert parallel_text.set_names(' R1, R2 ,') == ('R1', 'R2')
  with pytest.raises(ValueError, match='R9'):
    parallel_text.set_names('R1,R9')


@pytest.mark.slow
def test_suite_on_a_run_writes_every_layer_the_floor_and_the_reports(five_languages, tmp_path):
  config, data_dir, tokenizer_dir = five_languages
  item_sha256 = write_cache(str(tmp_path / 'cache'))
  model_cfg = config.model.copy_and_resolve_references()
  model_cfg.num_layers = 2
  with nnx.use_eager_sharding(False):
    encoder = encoder_lib.Encoder(model_cfg, rngs=nnx.Rngs(0))
  options = suite_lib.SuiteOptions(sets=('R1', 'R2'), cache_dir=str(tmp_path / 'cache'),
                                   languages=('de', 'en', 'fr', 'ru', 'zh'))
  summary = universality_eval.evaluate_encoder(encoder, tokenizer_dir, data_dir, config,
                                               str(tmp_path / 'eval'), suite_options=options,
                                               model_name='random')
  with open(tmp_path / 'eval' / 'eval.json') as f:
    suite = json.load(f)['suite']
  assert suite['item_sha256'] == item_sha256 and suite['num_layers'] == 2
  assert 'no apt-get (a test reason)' in suite['sets']['R2']['missing']
  assert summary['suite_missing_sets'] == 'R2'
  r1, udhr = suite['sets']['R1'], suite['sets']['UDHR']
  assert r1['languages'] == list(R1_LANGUAGES) and r1['items'] == {'de': 40, 'fr': 40}
  # UDHR stands in for the languages R1 lacks, and only for them.
  assert udhr['languages'] == ['ru', 'zh'] and udhr['fixed_candidates'] is None
  for figure in ('retrieval_to_en_all', 'retrieval_from_en_all_centered', 'probe'):
    assert len(r1['model']['mean'][figure]) == 3          # embeddings + 2 layers
    assert set(r1['model']['per_language'][figure]) == set(R1_LANGUAGES)
    assert all(0.0 <= value <= 1.0 for value in r1['model']['mean'][figure])
    assert 0.0 <= r1['floor']['mean'][figure] <= 1.0
  # 40 candidates per language: all of them are the fixed set too.
  assert r1['chance']['retrieval_to_en_all'] == pytest.approx(1 / 40)
  assert r1['model']['mean']['retrieval_to_en_1k'] == r1['model']['mean']['retrieval_to_en_all']
  assert udhr['model']['mean']['retrieval_to_en_1k'] == [None] * 3
  # The reversed English strings share character n-grams: the floor is far above chance.
  assert r1['floor']['mean']['retrieval_to_en_all'] > 0.5
  assert summary['R1/retrieval_to_en_1k'] == r1['model']['mean']['retrieval_to_en_1k'][-1]
  for name in ('eval_suite.md', 'eval_suite.png', 'eval.png'):
    assert os.path.getsize(tmp_path / 'eval' / name) > 0


@pytest.mark.slow
def test_a_bert_family_directory_is_scored_with_its_own_tokenizer(five_languages, tmp_path):
  """A BertModel (no MLM head) with a WordPiece tokenizer: the suite and the held-out figures
  run, framed with [CLS] ... [SEP]; the MLM figures are skipped, not faked."""
  import tokenizers  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  from tokenizers import models, normalizers, pre_tokenizers, trainers  # pylint: disable=g-import-not-at-top
  from unibert_jax.evaluation import universality_eval as evaluation  # pylint: disable=g-import-not-at-top
  from unibert_jax.export import hf_format  # pylint: disable=g-import-not-at-top
  config, data_dir, _ = five_languages
  hf_dir = tmp_path / 'bert'
  tokenizer = tokenizers.Tokenizer(models.WordPiece(unk_token='[UNK]'))
  tokenizer.normalizer = normalizers.BertNormalizer(lowercase=False)
  tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
  texts = evaluation.read_split(data_dir, evaluation.EVAL_SPLIT).texts
  tokenizer.train_from_iterator(texts, trainers.WordPieceTrainer(
      vocab_size=400, special_tokens=['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]']))
  hf_dir.mkdir()
  tokenizer.save(str(hf_dir / 'tokenizer.json'))
  bert_config = transformers.BertConfig(vocab_size=tokenizer.get_vocab_size(), hidden_size=32,
                                        num_hidden_layers=2, num_attention_heads=4,
                                        intermediate_size=37, max_position_embeddings=64)
  transformers.BertModel(bert_config).save_pretrained(str(hf_dir), safe_serialization=True)
  encoder, model_cfg = hf_format.load_hf_encoder(str(hf_dir))
  assert model_cfg.hf_family == 'bert' and not model_cfg.has_mlm_head
  config = config.copy_and_resolve_references()
  summary = evaluation.evaluate_encoder(
      encoder, str(hf_dir), data_dir, config, str(tmp_path / 'eval'),
      suite_options=suite_lib.SuiteOptions(sets=()), model_name=str(hf_dir))
  assert summary['mlm_accuracy'] is None
  assert summary['sequence_length'] == 64   # BERT positions start at 0: 64 rows hold 64 tokens
  assert 0.0 <= summary['retrieval_top1'] <= 1.0
  with open(tmp_path / 'eval' / 'eval.json') as f:
    report = json.load(f)
  udhr = report['suite']['sets']['UDHR']
  assert udhr['languages'] == ['de', 'fr', 'ru', 'zh']
  assert len(udhr['model']['mean']['retrieval_to_en_all']) == 3
