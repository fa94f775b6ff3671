"""A SentencePiece Unigram tokenizer saved as a Hugging Face `tokenizer.json` (XLM-R layout).

Ids: <s>=0, <pad>=1, </s>=2, <unk>=3, the SentencePiece pieces, <mask>=vocab_size-1; the
total vocabulary is exactly `vocab_size`. Sequences are `<s> A </s>` (pairs `<s> A </s></s>
B </s>`), as in XLM-R.

We train with the `sentencepiece` package and then write `tokenizer.json` ourselves (a
`tokenizers` Unigram model from the pieces and scores), because transformers' own conversion
shifts ids by the fairseq offset and `XLMRobertaTokenizer(vocab_file=...)` yields only <unk>.
The normalizer is SentencePiece's own `nmt_nfkc` table (`Precompiled`), then whitespace is
trimmed and runs of spaces collapsed, so the ids equal `spm.model`'s ids.

Byte fallback: the 256 byte pieces <0x00>..<0xFF> follow <unk> (ids 4..259), so a character
that has no piece of its own (a script the corpus lacked) becomes the bytes of its UTF-8 form
instead of <unk>, in SentencePiece and in `tokenizers` alike.

Round trip: decode(encode(x)) == normalize(x), i.e. NFKC (with SentencePiece's NMT tweaks:
control characters dropped, whitespace variants made spaces), trimmed, one space between
words. No character is lost to <unk>.
"""

import collections
import io
import json
import logging
import os
import shutil
from typing import Mapping, Sequence

import numpy as np
import sentencepiece as spm
from sentencepiece import sentencepiece_model_pb2
import tokenizers
from tokenizers import AddedToken, Regex, decoders, models, normalizers, pre_tokenizers
from tokenizers import processors

from unibert_jax import special_tokens
from unibert_jax.data import sampling
from unibert_jax.special_tokens import BOS, BOS_ID, EOS, EOS_ID, MASK, PAD, PAD_ID, UNK, UNK_ID

TOKENIZER_FILE = 'tokenizer.json'
CONFIG_FILE = 'tokenizer_config.json'
SPECIAL_TOKENS_FILE = 'special_tokens_map.json'
SPM_FILE = 'spm.model'   # not `sentencepiece.bpe.model`: transformers would convert that one
METASPACE = '\u2581'

BYTE_PIECES = 256
MIN_VOCAB_SIZE = 2 * BYTE_PIECES   # the byte pieces and as many real ones
CHARACTER_COVERAGE = 0.9995
# Below this share of the vocabulary for single characters, the character coverage is lowered
# (small vocabularies over many scripts: 107 languages need ~2000 characters for 0.9995).
MAX_CHARACTER_SHARE = 0.5
MIN_CHARACTER_COVERAGE = 0.98
MAX_SAMPLED_TEXTS = 2_000_000
# Fewer EM passes than SentencePiece's defaults (2 sub-iterations, shrink by 0.75): 2.5x
# faster, and on the UDHR corpus (vocab 2000) the pieces compress held-out text as well
# (154.7K vs 156.0K tokens on 1500 paragraphs).
EM_SUB_ITERATIONS = 1
SHRINKING_FACTOR = 0.5


def sample_texts(texts_by_language: Mapping[str, Sequence[str]], alpha: float, seed: int,
                 num_texts: int | None = None,
                 language_counts: Mapping[str, int] | None = None) -> list[str]:
  """A shuffled, seeded sample in which language i has a share p_i ~ n_i ** alpha.

  n_i is `language_counts[i]` (the corpus size, when the texts are only a prefix of it) or
  else the number of texts given. Languages below their quota are repeated (whole passes,
  then a random remainder).
  """
  counts = {lang: len(texts) for lang, texts in texts_by_language.items() if texts}
  if language_counts is not None:
    counts = {lang: language_counts.get(lang, n) for lang, n in counts.items()}
  counts = {lang: n for lang, n in counts.items() if n > 0}
  probabilities = dict(zip(counts, sampling.language_probabilities(list(counts.values()),
                                                                   alpha)))
  if num_texts is None:
    num_texts = min(sum(len(t) for t in texts_by_language.values()), MAX_SAMPLED_TEXTS)
  rng = np.random.default_rng(seed)
  sample: list[str] = []
  for lang in sorted(probabilities):
    texts = texts_by_language[lang]
    quota = max(1, round(num_texts * probabilities[lang]))
    repeats, remainder = divmod(quota, len(texts))
    indices = np.concatenate([np.tile(np.arange(len(texts)), repeats),
                              rng.choice(len(texts), size=remainder, replace=False)])
    sample.extend(texts[i] for i in indices)
  order = rng.permutation(len(sample))
  return [sample[i] for i in order]


def _character_coverage(texts: Sequence[str], vocab_size: int) -> float:
  """CHARACTER_COVERAGE, or less when that many characters would crowd out the vocabulary.

  SentencePiece keeps the most frequent characters up to this share of all character
  occurrences, each as a piece. It accepts no coverage below MIN_CHARACTER_COVERAGE.
  """
  counts = collections.Counter()
  for text in texts:
    counts.update(text.replace(' ', ''))
  total = sum(counts.values())
  frequencies = np.sort(np.fromiter(counts.values(), dtype=np.int64))[::-1]
  covered = np.cumsum(frequencies) / total   # covered[k-1]: share of the top k characters
  budget = int((vocab_size - BYTE_PIECES) * MAX_CHARACTER_SHARE)
  if covered[min(budget, len(covered)) - 1] >= CHARACTER_COVERAGE:
    return CHARACTER_COVERAGE
  coverage = max(float(np.floor(covered[budget - 1] * 1e4) / 1e4), MIN_CHARACTER_COVERAGE)
  needed = int(np.searchsorted(covered, coverage) + 1)
  if needed > vocab_size - special_tokens.COUNT - BYTE_PIECES:
    raise ValueError(
        f'data.vocab_size={vocab_size} cannot hold the {needed} characters that cover '
        f'{coverage:.0%} of the text ({len(counts)} distinct) besides the {BYTE_PIECES} byte '
        f'pieces; use data.vocab_size >= {2 * needed + BYTE_PIECES}.')
  logging.info('Character coverage lowered from %s to %s: %d distinct characters do not fit '
               'into %d%% of a %d vocabulary.', CHARACTER_COVERAGE, coverage, len(counts),
               int(100 * MAX_CHARACTER_SHARE), vocab_size)
  return coverage


def _train_sentencepiece(texts: Sequence[str], vocab_size: int, seed: int) -> bytes:
  spm.set_random_generator_seed(seed)
  model = io.BytesIO()
  try:
    _run_trainer(texts, vocab_size, model)
  except RuntimeError as error:
    if 'Vocabulary size' not in str(error):
      raise
    raise ValueError(f'data.vocab_size={vocab_size} does not fit this corpus: {error}. Lower '
                     f'data.vocab_size or add text.') from None
  return model.getvalue()


def _run_trainer(texts: Sequence[str], vocab_size: int, model: io.BytesIO) -> None:
  spm.SentencePieceTrainer.train(
      sentence_iterator=iter(texts), model_writer=model,
      model_type='unigram',
      vocab_size=vocab_size - 1,  # <mask> is appended after the SentencePiece pieces
      character_coverage=_character_coverage(texts, vocab_size),
      bos_id=BOS_ID, pad_id=PAD_ID, eos_id=EOS_ID, unk_id=UNK_ID,
      bos_piece=BOS, pad_piece=PAD, eos_piece=EOS, unk_piece=UNK,
      normalization_rule_name='nmt_nfkc',
      byte_fallback=True,
      input_sentence_size=0, shuffle_input_sentence=False,  # the sample is already shuffled
      max_sentence_length=1 << 16,
      num_sub_iterations=EM_SUB_ITERATIONS, shrinking_factor=SHRINKING_FACTOR,
      num_threads=1,  # one thread: the same pieces on every machine
      minloglevel=2)


def build_tokenizer_json(model_proto: bytes) -> tokenizers.Tokenizer:
  """SentencePiece Unigram model -> `tokenizers` Tokenizer with the XLM-R layout."""
  proto = sentencepiece_model_pb2.ModelProto()
  proto.ParseFromString(model_proto)
  vocab = [(piece.piece, piece.score) for piece in proto.pieces]
  if [p for p, _ in vocab[:4]] != [BOS, PAD, EOS, UNK]:
    raise ValueError(f'The SentencePiece model starts with {vocab[:4]}, not {BOS} {PAD} {EOS} '
                     f'{UNK}.')
  vocab.append((MASK, 0.0))
  byte_fallback = any(piece.type == piece.BYTE for piece in proto.pieces)
  tokenizer = tokenizers.Tokenizer(models.Unigram(vocab, unk_id=UNK_ID,
                                                  byte_fallback=byte_fallback))
  tokenizer.normalizer = normalizers.Sequence([
      normalizers.Precompiled(proto.normalizer_spec.precompiled_charsmap),
      normalizers.Strip(left=True, right=True),
      normalizers.Replace(Regex(' {2,}'), ' '),
  ])
  tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(
      replacement=METASPACE, prepend_scheme='always', split=True)
  # Byte pieces first become the characters they spell, then the metaspaces become spaces.
  tokenizer.decoder = decoders.Sequence([
      decoders.ByteFallback(),
      decoders.Metaspace(replacement=METASPACE, prepend_scheme='always', split=True)])
  tokenizer.add_special_tokens([
      AddedToken(BOS, special=True, normalized=False),
      AddedToken(PAD, special=True, normalized=False),
      AddedToken(EOS, special=True, normalized=False),
      AddedToken(UNK, special=True, normalized=False),
      AddedToken(MASK, special=True, normalized=False, lstrip=True),  # as XLM-R
  ])
  tokenizer.post_processor = processors.TemplateProcessing(
      single=f'{BOS} $A {EOS}', pair=f'{BOS} $A {EOS} {EOS} $B {EOS}',
      special_tokens=[(BOS, BOS_ID), (EOS, EOS_ID)])
  return tokenizer


def _write_hf_files(out_dir: str, model_max_length: int) -> None:
  special = {'bos_token': BOS, 'eos_token': EOS, 'unk_token': UNK, 'sep_token': EOS,
             'pad_token': PAD, 'cls_token': BOS, 'mask_token': MASK}
  # The generic class loads tokenizer.json as written. XLMRobertaTokenizer would rebuild the
  # model from the vocabulary without byte fallback (transformers 5), turning bytes into <unk>.
  config = dict(special, tokenizer_class='PreTrainedTokenizerFast',
                model_max_length=model_max_length, clean_up_tokenization_spaces=False)
  for name, content in ((CONFIG_FILE, config), (SPECIAL_TOKENS_FILE, special)):
    with open(os.path.join(out_dir, name), 'w', encoding='utf-8') as f:
      json.dump(content, f, indent=1)


def train_tokenizer(texts_by_language: dict[str, list[str]], vocab_size: int, out_dir: str,
                    alpha: float, seed: int, model_max_length: int = 512,
                    num_texts: int | None = None,
                    language_counts: Mapping[str, int] | None = None) -> str:
  """Trains on a language-sampled corpus and writes a Hugging Face tokenizer dir; returns it.

  The sample (`num_texts`, default all texts up to MAX_SAMPLED_TEXTS) takes language i with
  p_i ~ n_i ** alpha; see `sample_texts`.

  Files: tokenizer.json, tokenizer_config.json, special_tokens_map.json and spm.model (the
  SentencePiece model, for reference). Written to a temporary dir and renamed at the end, so a
  dir with tokenizer.json is always complete.
  """
  if vocab_size < MIN_VOCAB_SIZE:
    raise ValueError(f'data.vocab_size={vocab_size} is too small for a multilingual '
                     f'tokenizer with {BYTE_PIECES} byte pieces; use at least a few thousand.')
  texts = sample_texts(texts_by_language, alpha, seed, num_texts, language_counts)
  if not texts:
    raise ValueError('No text to train the tokenizer on; check data.languages and the corpus.')
  model_proto = _train_sentencepiece(texts, vocab_size, seed)
  tokenizer = build_tokenizer_json(model_proto)
  if tokenizer.get_vocab_size(with_added_tokens=True) != vocab_size:
    raise ValueError(
        f'SentencePiece produced {tokenizer.get_vocab_size() - 1} pieces instead of '
        f'{vocab_size - 1}: the corpus is too small for data.vocab_size={vocab_size}. '
        f'Lower data.vocab_size or add text.')
  tmp_dir = out_dir.rstrip('/') + '.tmp'
  os.makedirs(tmp_dir, exist_ok=True)
  tokenizer.save(os.path.join(tmp_dir, TOKENIZER_FILE))
  with open(os.path.join(tmp_dir, SPM_FILE), 'wb') as f:
    f.write(model_proto)
  _write_hf_files(tmp_dir, model_max_length)
  if os.path.exists(out_dir):
    shutil.rmtree(out_dir)
  os.replace(tmp_dir, out_dir)
  check_tokenizer_dir(out_dir, expected_vocab_size=vocab_size)
  logging.info('Trained a %d-token tokenizer on %d sampled texts into %s.', vocab_size,
               len(texts), out_dir)
  return out_dir


def load_tokenizer(tokenizer_dir: str) -> tokenizers.Tokenizer:
  path = os.path.join(tokenizer_dir, TOKENIZER_FILE)
  if not os.path.exists(path):
    raise FileNotFoundError(f'{path} does not exist; give a Hugging Face tokenizer dir with a '
                            f'tokenizer.json (data.tokenizer_dir), or leave data.tokenizer_dir '
                            f'empty to train one with launch/prepare_data.py.')
  try:
    return tokenizers.Tokenizer.from_file(path)
  except Exception as error:  # tokenizers raises a bare Exception for unreadable files
    raise ValueError(f'{path} cannot be read as a tokenizer ({error}); it is damaged or not a '
                     f'Hugging Face tokenizer.json. Restore it, or (for a tokenizer this '
                     f'project trained) delete {tokenizer_dir} to train it again.') from None


def mask_id(tokenizer: tokenizers.Tokenizer) -> int:
  token_id = tokenizer.token_to_id(MASK)
  if token_id is None:
    raise ValueError(f'The tokenizer has no {MASK} token.')
  return token_id


def check_tokenizer_dir(tokenizer_dir: str, expected_vocab_size: int | None = None) -> int:
  """Checks an (own or teacher's) tokenizer dir for the XLM-R layout; returns its vocab size.

  Raises FileNotFoundError / ValueError naming the file and what is wrong.
  """
  tokenizer = load_tokenizer(tokenizer_dir)
  vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
  expected = dict(special_tokens.LEADING, **{MASK: special_tokens.mask_id(vocab_size)})
  found = {token: tokenizer.token_to_id(token) for token in expected}
  if found != expected:
    raise ValueError(
        f'{os.path.join(tokenizer_dir, TOKENIZER_FILE)} has special token ids {found}; this '
        f'project needs the XLM-R layout {expected} (<mask> last). Use an XLM-R-family '
        f'tokenizer, or leave data.tokenizer_dir empty to train one.')
  ids = tokenizer.encode('a').ids
  if not ids or ids[0] != BOS_ID or ids[-1] != EOS_ID:
    raise ValueError(f'{os.path.join(tokenizer_dir, TOKENIZER_FILE)} does not wrap sequences '
                     f'as "<s> ... </s>" (encode("a") gave {ids}); it needs the XLM-R '
                     f'post-processor.')
  if expected_vocab_size is not None and vocab_size != expected_vocab_size:
    raise ValueError(
        f'{os.path.join(tokenizer_dir, TOKENIZER_FILE)} has {vocab_size} tokens but '
        f'data.vocab_size={expected_vocab_size}. Set data.vocab_size={vocab_size}, or delete '
        f'{tokenizer_dir} to train a new tokenizer.')
  return vocab_size
