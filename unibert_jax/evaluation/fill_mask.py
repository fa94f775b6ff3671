"""Fill-mask accuracy of an exported model in `transformers`, as a user would measure it.

Independent of our JAX code on purpose: the model and tokenizer load with
`AutoModelForMaskedLM` / `AutoTokenizer`, the held-out paragraphs of the corpus are tokenized
by the latter (truncated to `max_len`), 15 % of the non-special tokens of each (at least one) are
replaced by `<mask>` (seeded), and the argmax at each is compared with the original token. Next to
it: always answering the token most frequent among the training split's targets, tokenized by the
same tokenizer. One paragraph at a time (no padding in the way).
"""

import numpy as np

from unibert_jax.data import token_statistics
from unibert_jax.evaluation import universality_eval

MASK_RATE = 0.15


def _token_ids(tokenizer, texts, max_len: int) -> list[np.ndarray]:
  encoded = tokenizer(list(texts), truncation=True, max_length=max_len)['input_ids']
  return [np.asarray(ids) for ids in encoded]


def masked_paragraphs(tokenizer, texts, max_len: int, seed: int = 0):
  """(token ids, masked positions, ids with <mask> there) per paragraph with a regular token."""
  special = np.asarray(sorted(tokenizer.all_special_ids))
  rng = np.random.default_rng(seed)
  for ids in _token_ids(tokenizer, texts, max_len):
    candidates = np.flatnonzero(~np.isin(ids, special))
    if not len(candidates):
      continue
    chosen = np.sort(rng.choice(candidates, max(1, round(MASK_RATE * len(candidates))),
                                replace=False))
    masked = ids.copy()
    masked[chosen] = tokenizer.mask_token_id
    yield ids, chosen, masked


def fill_mask_accuracy(hf_dir: str, data_dir: str, max_len: int = 128, seed: int = 0) -> dict:
  """{'fill_mask_accuracy', 'fill_mask_baseline', 'masked_tokens', 'paragraphs'} of hf_dir."""
  import torch  # pylint: disable=g-import-not-at-top
  import transformers  # pylint: disable=g-import-not-at-top
  tokenizer = transformers.AutoTokenizer.from_pretrained(hf_dir)
  model = transformers.AutoModelForMaskedLM.from_pretrained(hf_dir).eval()
  held_out = universality_eval.read_split(data_dir, universality_eval.EVAL_SPLIT)
  train = universality_eval.read_split(data_dir, 'train')
  baseline_token = token_statistics.UnigramBaseline.from_token_ids(
      np.concatenate(_token_ids(tokenizer, train.texts, max_len)), len(tokenizer)).most_frequent
  hits = baseline_hits = total = 0
  with torch.no_grad():
    for ids, chosen, masked in masked_paragraphs(tokenizer, held_out.texts, max_len, seed):
      logits = model(input_ids=torch.as_tensor(masked[None])).logits[0, chosen]
      hits += int((logits.argmax(-1).numpy() == ids[chosen]).sum())
      baseline_hits += int((ids[chosen] == baseline_token).sum())
      total += len(chosen)
  if not total:
    raise ValueError(f'The held-out split of {data_dir} has no token to mask.')
  return {'fill_mask_accuracy': hits / total, 'fill_mask_baseline': baseline_hits / total,
          'masked_tokens': total, 'paragraphs': len(held_out.texts)}
