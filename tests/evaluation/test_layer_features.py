"""Every layer's pooled vectors: framing, length buckets, batching and devices change nothing."""

import os
import subprocess
import sys

import flax.nnx as nnx
import jax
import numpy as np
import pytest
import tokenizers
from tokenizers import decoders, models, pre_tokenizers, trainers

from configs import base
from unibert_jax.evaluation import layer_features
from unibert_jax.model import encoder as encoder_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SENTENCES = [
    'All human beings are born free and equal in dignity and rights.',
    'Everyone has the right to life, liberty and security of person.',
    'Alle Menschen sind frei und gleich an Würde und Rechten geboren.',
    'Tous les êtres humains naissent libres et égaux en dignité et en droits.',
    'free',
]


def make_tokenizer(specials=('<s>', '<pad>', '</s>', '<unk>')):
  tok = tokenizers.Tokenizer(models.Unigram())
  tok.pre_tokenizer = pre_tokenizers.Metaspace()
  tok.decoder = decoders.Metaspace()
  tok.train_from_iterator(SENTENCES * 4, trainers.UnigramTrainer(
      vocab_size=120, special_tokens=list(specials), unk_token=specials[-1]))
  return tok


def make_encoder(vocab_size, **fields):
  cfg = base.model_config('demo')
  cfg.update(num_layers=2, hidden_size=32, num_heads=2, intermediate_size=64, dtype='float32',
             vocab_size=vocab_size, max_position_embeddings=130, **fields)
  with nnx.use_eager_sharding(False):
    return encoder_lib.Encoder(cfg, rngs=nnx.Rngs(0))


def reference(encoder, ids, pooling):
  """One sentence alone, no padding: the states of `all_hidden_states`, pooled by hand."""
  states = encoder.all_hidden_states(np.asarray([ids], np.int32),
                                     np.ones((1, len(ids)), np.int32))
  return np.stack([np.asarray(s[0].mean(0) if pooling == 'mean' else s[0, 0]) for s in states])


@pytest.mark.parametrize('pooling', layer_features.POOLINGS)
def test_pooled_layers_equal_each_sentence_encoded_alone(pooling):
  tokenizer = make_tokenizer()
  encoder = make_encoder(tokenizer.get_vocab_size())
  # One long text puts the batch into two length buckets.
  texts = SENTENCES + [' '.join(SENTENCES * 3)]
  features = layer_features.pooled_layer_features(encoder, tokenizer, texts, max_len=128,
                                                  pooling=pooling, log=lambda line: None)
  assert features.shape == (3, len(texts), 32) and features.dtype == np.float32
  for row, text in enumerate(texts):
    ids = [0] + tokenizer.encode(text, add_special_tokens=False).ids[:126] + [2]
    np.testing.assert_allclose(features[:, row], reference(encoder, ids, pooling), atol=2e-5)
  # The last layer is what the encoder returns.
  first = np.asarray([[0] + tokenizer.encode(texts[0], add_special_tokens=False).ids + [2]],
                     np.int32)
  final = encoder(first, np.ones_like(first))
  np.testing.assert_allclose(features[-1, 0], np.asarray(final[0].mean(0)) if pooling == 'mean'
                             else np.asarray(final[0, 0]), atol=2e-5)


def test_bert_framing_and_positions():
  tokenizer = make_tokenizer(('[PAD]', '[CLS]', '[SEP]', '[UNK]'))
  frame = layer_features.special_ids(tokenizer)
  assert (frame.first, frame.last, frame.pad) == (1, 2, 0)
  encoder = make_encoder(tokenizer.get_vocab_size(), position_scheme='bert', pad_token_id=0)
  features = layer_features.pooled_layer_features(encoder, tokenizer, SENTENCES, max_len=128,
                                                  log=lambda line: None)
  for row, text in enumerate(SENTENCES):
    ids = [1] + tokenizer.encode(text, add_special_tokens=False).ids + [2]
    np.testing.assert_allclose(features[:, row], reference(encoder, ids, 'mean'), atol=2e-5)


def test_truncation_keeps_the_framing():
  tokenizer = make_tokenizer()
  encoder = make_encoder(tokenizer.get_vocab_size())
  features = layer_features.pooled_layer_features(encoder, tokenizer, [SENTENCES[0]], max_len=6,
                                                  log=lambda line: None)
  ids = [0] + tokenizer.encode(SENTENCES[0], add_special_tokens=False).ids[:4] + [2]
  np.testing.assert_allclose(features[:, 0], reference(encoder, ids, 'mean'), atol=2e-5)


def test_a_tokenizer_of_neither_family_is_refused():
  with pytest.raises(ValueError, match='neither'):
    layer_features.special_ids(make_tokenizer(('<unk>',)))


_EIGHT_DEVICES = r'''
import sys
import numpy as np
from tests.evaluation import test_layer_features as t
from unibert_jax.evaluation import layer_features
import jax
assert jax.device_count() == 8
import tokenizers
tokenizer = tokenizers.Tokenizer.from_file(sys.argv[2])
encoder = t.make_encoder(tokenizer.get_vocab_size())
texts = t.SENTENCES * 7   # 35 texts: the last batch is partly filler rows
np.save(sys.argv[1], layer_features.pooled_layer_features(encoder, tokenizer, texts, 128,
                                                          log=lambda line: None))
'''


@pytest.mark.slow
def test_eight_devices_give_the_features_of_one(tmp_path):
  out = tmp_path / 'eight.npy'
  # Unigram training is not deterministic from call to call: both sides read one file.
  tokenizer = make_tokenizer()
  tokenizer.save(str(tmp_path / 'tokenizer.json'))
  env = dict(os.environ, JAX_PLATFORMS='cpu',
             XLA_FLAGS='--xla_force_host_platform_device_count=8')
  subprocess.run([sys.executable, '-c', _EIGHT_DEVICES, str(out),
                  str(tmp_path / 'tokenizer.json')], cwd=ROOT, env=env, check=True, timeout=300)
  encoder = make_encoder(tokenizer.get_vocab_size())
  one = layer_features.pooled_layer_features(encoder, tokenizer, SENTENCES * 7, 128,
                                             log=lambda line: None)
  assert jax.device_count() == 1
  np.testing.assert_allclose(np.load(out), one, atol=2e-5)
