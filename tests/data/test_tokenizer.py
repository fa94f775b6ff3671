"""The SentencePiece tokenizer as a Hugging Face dir: ids, loading, round trips, sampling."""

import io
import json
import os

import ml_collections
import pytest
import sentencepiece as spm
import tokenizers
import transformers

from unibert_jax.data import corpus
from unibert_jax.data import languages
from unibert_jax.data import sampling
from unibert_jax.data import tokenizer as tokenizer_lib

# One language per script the tokenizer must round-trip.
SCRIPT_LANGUAGES = ('en', 'ru', 'el', 'ar', 'he', 'hi', 'bn', 'th', 'zh', 'ko', 'ka', 'am')
VOCAB_SIZE = 4000


@pytest.fixture(scope='module')
def texts(udhr_cache):
  cache_dir = udhr_cache
  data_config = ml_collections.ConfigDict(dict(
      corpus='udhr', languages=','.join(SCRIPT_LANGUAGES), udhr_version='6.0.0'))
  return corpus.texts_by_language(data_config, cache_dir, split='train')


@pytest.fixture(scope='module')
def tokenizer_dir(texts, tmp_path_factory):
  out_dir = str(tmp_path_factory.mktemp('tok') / 'tokenizer')
  return tokenizer_lib.train_tokenizer(texts, VOCAB_SIZE, out_dir, alpha=0.3, seed=0,
                                       model_max_length=128)


def test_the_languages_cover_twelve_scripts():
  scripts = {languages.get(code).script for code in SCRIPT_LANGUAGES}
  assert scripts == {'Latn', 'Cyrl', 'Grek', 'Arab', 'Hebr', 'Deva', 'Beng', 'Thai', 'Hans',
                     'Hang', 'Geor', 'Ethi'}


def test_transformers_loads_it_with_the_xlmr_special_ids(tokenizer_dir):
  hf = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
  assert json.loads(hf.backend_tokenizer.to_str())['model']['byte_fallback']   # as written
  assert len(hf) == VOCAB_SIZE
  assert (hf.bos_token_id, hf.pad_token_id, hf.eos_token_id, hf.unk_token_id) == (0, 1, 2, 3)
  assert hf.mask_token_id == VOCAB_SIZE - 1
  assert hf.model_max_length == 128
  single = hf('Everyone has rights.')['input_ids']
  pair = hf('Everyone', 'rights')['input_ids']
  assert single[0] == 0 and single[-1] == 2 and 3 not in single
  assert pair[0] == 0 and pair.count(2) == 3 and pair[-1] == 2
  padded = hf(['a', 'Everyone has rights.'], padding=True)['input_ids']
  assert padded[0][-1] == 1   # <pad>
  assert hf.convert_tokens_to_ids('<mask>') == VOCAB_SIZE - 1


def test_tokenizers_file_has_the_exact_vocab_and_ids(tokenizer_dir):
  tok = tokenizer_lib.load_tokenizer(tokenizer_dir)
  assert tok.get_vocab_size(with_added_tokens=True) == VOCAB_SIZE
  assert tokenizers.Tokenizer.from_file(os.path.join(tokenizer_dir, 'tokenizer.json'))
  ids = {t: tok.token_to_id(t) for t in ('<s>', '<pad>', '</s>', '<unk>', '<mask>')}
  assert ids == {'<s>': tokenizer_lib.BOS_ID, '<pad>': tokenizer_lib.PAD_ID,
                 '</s>': tokenizer_lib.EOS_ID, '<unk>': tokenizer_lib.UNK_ID,
                 '<mask>': VOCAB_SIZE - 1}
  assert tokenizer_lib.mask_id(tok) == VOCAB_SIZE - 1
  assert tokenizer_lib.check_tokenizer_dir(tokenizer_dir, VOCAB_SIZE) == VOCAB_SIZE
  encoding = tok.encode('Everyone <mask> rights.')
  assert VOCAB_SIZE - 1 in encoding.ids


# Characters the twelve UDHR training texts do not have: Korean syllables and Ethiopic that are
# not in those articles, and scripts absent altogether (Tamil, Cherokee, Tifinagh, emoji, CJK
# extension B, Gothic), beside full-width and ligature forms that NFKC rewrites.
UNSEEN = ('날 때 ሲ', 'தமிழ் எழுத்து', 'ᏣᎳᎩ ᎦᏬᏂᎯᏍᏗ', 'ⵜⴰⵎⴰⵣⵉⵖⵜ', '🦜🙂 𠀋 𐌰𐌱', 'ﬁne ａｂｃ №5')


def test_round_trip_in_twelve_scripts_loses_no_character(texts, tokenizer_dir):
  tok = tokenizer_lib.load_tokenizer(tokenizer_dir)
  hf = transformers.AutoTokenizer.from_pretrained(tokenizer_dir)
  corpus_texts = [text for lang in SCRIPT_LANGUAGES for text in texts[lang]]
  for text in list(corpus_texts) + list(UNSEEN) + [' '.join(UNSEEN)]:
    ids = tok.encode(text).ids
    assert tokenizer_lib.UNK_ID not in ids, text
    normalized = tok.normalizer.normalize_str(text)
    assert tok.decode(ids) == normalized, text
    assert hf.decode(hf(text)['input_ids'], skip_special_tokens=True) == normalized, text
  assert len(corpus_texts) > 100


def test_unseen_characters_become_their_utf8_bytes(tokenizer_dir):
  tok = tokenizer_lib.load_tokenizer(tokenizer_dir)
  pieces = tok.encode('த', add_special_tokens=False).tokens   # Tamil: no such script here
  assert pieces[-3:] == ['<0xE0>', '<0xAE>', '<0xA4>']   # the UTF-8 bytes of 'த'
  assert [tok.token_to_id(f'<0x{b:02X}>') for b in (0, 255)] == [4, 4 + 255]


def test_normalization_is_nfkc_and_whitespace():
  tok = tokenizer_lib.build_tokenizer_json(_tiny_spm_model())
  normalize = tok.normalizer.normalize_str
  assert normalize('  ﬁne\u00a0 ａｂ\t c  ') == 'fine ab c'   # NFKC, spaces trimmed/collapsed
  assert normalize('Straße') == 'Straße'


def test_ids_are_the_sentencepiece_model_ids(texts, tokenizer_dir):
  processor = spm.SentencePieceProcessor(
      model_file=os.path.join(tokenizer_dir, tokenizer_lib.SPM_FILE))
  tok = tokenizer_lib.load_tokenizer(tokenizer_dir)
  for lang in SCRIPT_LANGUAGES:
    for text in texts[lang]:
      assert tok.encode(text, add_special_tokens=False).ids == processor.encode(text), lang
  for text in UNSEEN:
    assert tok.encode(text, add_special_tokens=False).ids == processor.encode(text), text


def test_training_is_deterministic(texts, tokenizer_dir, tmp_path):
  again = tokenizer_lib.train_tokenizer(texts, VOCAB_SIZE, str(tmp_path / 'again'), alpha=0.3,
                                        seed=0, model_max_length=128)
  for name in ('tokenizer.json', 'spm.model'):
    with open(os.path.join(tokenizer_dir, name), 'rb') as a, open(os.path.join(again, name),
                                                                   'rb') as b:
      assert a.read() == b.read(), name


def _probabilities(counts, alpha):
  return dict(zip(counts, sampling.language_probabilities(list(counts.values()), alpha)))


def test_language_sampling_follows_n_to_the_alpha():
  counts = {'big': 1000, 'mid': 100, 'small': 10}
  for alpha in (0.0, 0.3, 1.0):
    p = _probabilities(counts, alpha)
    weights = {k: n**alpha for k, n in counts.items()}
    for lang in counts:
      assert p[lang] == pytest.approx(weights[lang] / sum(weights.values()))
  texts = {lang: [f'{lang} {i}' for i in range(n)] for lang, n in counts.items()}
  sample = tokenizer_lib.sample_texts(texts, alpha=0.3, seed=1, num_texts=2000)
  p = _probabilities(counts, 0.3)
  for lang in counts:
    assert sum(t.startswith(lang + ' ') for t in sample) == round(2000 * p[lang])
  small = [t for t in sample if t.startswith('small ')]
  assert set(small) == set(texts['small'])   # upsampled: every text, repeated
  assert sample == tokenizer_lib.sample_texts(texts, alpha=0.3, seed=1, num_texts=2000)
  # Counts of the whole corpus can replace the lengths of a prefix of it.
  biased = tokenizer_lib.sample_texts(texts, alpha=1.0, seed=1, num_texts=300,
                                      language_counts={'big': 10, 'mid': 10, 'small': 10})
  assert sum(t.startswith('big ') for t in biased) == 100
  with pytest.raises(ValueError, match='sampling_alpha'):
    _probabilities(counts, 1.5)


def test_small_vocabulary_lowers_the_character_coverage(texts):
  all_texts = [t for values in texts.values() for t in values]
  assert tokenizer_lib._character_coverage(all_texts, 32000) == tokenizer_lib.CHARACTER_COVERAGE
  lowered = tokenizer_lib._character_coverage(all_texts, 1500)
  assert tokenizer_lib.MIN_CHARACTER_COVERAGE <= lowered < tokenizer_lib.CHARACTER_COVERAGE
  with pytest.raises(ValueError, match='data.vocab_size=300 cannot hold'):
    tokenizer_lib._character_coverage(all_texts, 300)


def test_vocabulary_too_large_for_the_corpus_is_a_clear_error(tmp_path):
  with pytest.raises(ValueError, match='data.vocab_size=5000 does not fit'):
    tokenizer_lib.train_tokenizer({'en': ['a few words only', 'and some more']}, 5000,
                                  str(tmp_path / 'tok'), alpha=0.3, seed=0)


def test_check_tokenizer_dir_rejects_what_does_not_fit(tokenizer_dir, tmp_path):
  with pytest.raises(FileNotFoundError, match='tokenizer.json'):
    tokenizer_lib.check_tokenizer_dir(str(tmp_path / 'nothing'))
  with pytest.raises(ValueError, match='data.vocab_size=32000'):
    tokenizer_lib.check_tokenizer_dir(tokenizer_dir, expected_vocab_size=32000)
  # A BERT-style tokenizer: [PAD]=0 ... and no <s>.
  bert = tokenizers.Tokenizer(tokenizers.models.WordPiece(
      {'[PAD]': 0, '[UNK]': 1, '[CLS]': 2, '[SEP]': 3, '[MASK]': 4, 'a': 5}, unk_token='[UNK]'))
  (tmp_path / 'bert').mkdir()
  bert.save(str(tmp_path / 'bert' / 'tokenizer.json'))
  with pytest.raises(ValueError, match='XLM-R layout'):
    tokenizer_lib.check_tokenizer_dir(str(tmp_path / 'bert'))
  # The right ids, but no "<s> ... </s>" post-processor.
  unwrapped = json.load(open(os.path.join(tokenizer_dir, 'tokenizer.json'), encoding='utf-8'))
  unwrapped['post_processor'] = None
  (tmp_path / 'unwrapped').mkdir()
  with open(tmp_path / 'unwrapped' / 'tokenizer.json', 'w', encoding='utf-8') as f:
    json.dump(unwrapped, f)
  with pytest.raises(ValueError, match='post-processor'):
    tokenizer_lib.check_tokenizer_dir(str(tmp_path / 'unwrapped'))


def _tiny_spm_model() -> bytes:
  model = io.BytesIO()
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(['fine ab c Straße'] * 20), model_writer=model, vocab_size=30,
      bos_id=0, pad_id=1, eos_id=2, unk_id=3, hard_vocab_limit=False, minloglevel=2)
  return model.getvalue()
