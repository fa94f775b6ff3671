"""XLM-R's special tokens, the one definition the tokenizer, model, export and tools share.

Ids: <s>=0, <pad>=1, </s>=2, <unk>=3 and <mask> the last id of the vocabulary (vocab_size - 1),
as in xlm-roberta-base (250001 of 250002). The model's learned positions are offset by
PAD_ID + 1, so the pad id is also part of the model's (and the export's) contract.
"""

BOS, PAD, EOS, UNK, MASK = '<s>', '<pad>', '</s>', '<unk>', '<mask>'
BOS_ID, PAD_ID, EOS_ID, UNK_ID = 0, 1, 2, 3
# The ids below every regular token; <mask> comes after them all.
LEADING = {BOS: BOS_ID, PAD: PAD_ID, EOS: EOS_ID, UNK: UNK_ID}
COUNT = len(LEADING) + 1


def mask_id(vocab_size: int) -> int:
  """<mask>'s id in a vocabulary of `vocab_size` tokens laid out as above."""
  return int(vocab_size) - 1
