"""Fill-mask scoring in transformers: the same decisions as our encoder, the right floor."""

import collections

import numpy as np
import tokenizers
import transformers

from unibert_jax.evaluation import fill_mask
from unibert_jax.evaluation import universality_eval
from unibert_jax.export import hf_format
from unibert_jax.model import encoder as encoder_lib

MAX_LEN = 64


def test_transformers_fill_mask_agrees_with_our_encoder_and_floor(kd_run):
  _, data_dir, tokenizer_dir, teacher_dir = kd_run   # a random wide encoder, exported
  result = fill_mask.fill_mask_accuracy(teacher_dir, data_dir, max_len=MAX_LEN)
  held_out = universality_eval.read_split(data_dir, universality_eval.EVAL_SPLIT)
  assert result['paragraphs'] == len(held_out.texts) > 0

  # The same masked items through our JAX encoder give the same number of hits.
  encoder, _ = hf_format.load_hf_encoder(teacher_dir)
  tokenizer = transformers.AutoTokenizer.from_pretrained(teacher_dir)
  hits = total = 0
  for ids, chosen, masked in fill_mask.masked_paragraphs(tokenizer, held_out.texts, MAX_LEN):
    assert 1 <= len(chosen) <= max(1, round(0.15 * (len(ids) - 2))) + 1
    hidden = encoder(masked[None], np.ones((1, len(masked)), np.int32))
    logits = encoder.mlm_logits(encoder_lib.gather_positions(hidden, chosen[None]))[0]
    hits += int((np.asarray(logits).argmax(-1) == ids[chosen]).sum())
    total += len(chosen)
  assert total == result['masked_tokens']
  assert hits == round(result['fill_mask_accuracy'] * total)

  # The floor: the most frequent regular token of the training text, counted here by hand.
  ours = tokenizers.Tokenizer.from_file(f'{tokenizer_dir}/tokenizer.json')
  counts = collections.Counter(
      token for text in universality_eval.read_split(data_dir, 'train').texts
      for token in ours.encode(text).ids[:MAX_LEN] if token > 3)
  frequent = counts.most_common(1)[0][0]
  expected = sum(int((ids[chosen] == frequent).sum()) for ids, chosen, _ in
                 fill_mask.masked_paragraphs(tokenizer, held_out.texts, MAX_LEN))
  assert 0 < expected == round(result['fill_mask_baseline'] * total)
