"""Loading an export with transformers, and its logits, for comparison with ours."""

import os

import numpy as np
import tokenizers
import torch
import transformers

from tests.helpers import multilingual_text
from unibert_jax import special_tokens


def torch_logits(model, batch) -> np.ndarray:
  with torch.no_grad():
    return model(input_ids=torch.as_tensor(np.asarray(batch['input_ids'])),
                 attention_mask=torch.as_tensor(np.asarray(batch['attention_mask']))).logits.numpy()


def load_hf(directory):
  model, info = transformers.AutoModelForMaskedLM.from_pretrained(directory,
                                                                  output_loading_info=True)
  return model.eval(), info


def assert_clean_loading(info):
  assert {k: v for k, v in info.items() if v} == {}, info


def tokenize_with(tokenizer_dir) -> dict:
  tokenizer = tokenizers.Tokenizer.from_file(os.path.join(tokenizer_dir, 'tokenizer.json'))
  tokenizer.enable_padding(pad_id=special_tokens.PAD_ID)
  encodings = tokenizer.encode_batch(list(multilingual_text.SENTENCES))
  return dict(input_ids=np.array([e.ids for e in encodings]),
              attention_mask=np.array([e.attention_mask for e in encodings]))
