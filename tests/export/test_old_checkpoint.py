"""A checkpoint written before the package layout (main at 31e2239) still restores and exports."""

import json
import os
import shutil

import numpy as np
import pytest
import safetensors.numpy
import tokenizers
from tokenizers import models

from unibert_jax import special_tokens
from unibert_jax.export import from_run
from unibert_jax.export import hf_format
from unibert_jax.train import checkpointing
from unibert_jax.train import trainer

FIXTURE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'fixtures',
                       'run_31e2239')
VOCAB_SIZE = 300


def write_tokenizer(directory: str) -> str:
  """A 300-token tokenizer in the XLM-R layout (the run's own is too large to keep)."""
  pieces = [(token, 0.0) for token in special_tokens.LEADING]
  pieces += [(f'▁w{i}', -1.0) for i in range(VOCAB_SIZE - len(pieces) - 1)]
  pieces.append((special_tokens.MASK, 0.0))
  tokenizer = tokenizers.Tokenizer(models.Unigram(pieces, unk_id=special_tokens.UNK_ID))
  os.makedirs(directory)
  tokenizer.save(os.path.join(directory, 'tokenizer.json'))
  return directory


def test_old_checkpoint_restores_and_exports_the_same_weights(tmp_path):
  workdir = tmp_path / 'run'
  shutil.copytree(os.path.join(FIXTURE, 'checkpoints'), workdir / 'checkpoints')
  config, facts = from_run.read_run(str(workdir))
  # 31e2239 kept the run's facts in its config; they are read from there.
  assert facts.languages == ('de', 'en', 'fr') and facts.teacher_dir is None
  assert facts.tokenizer_dir.endswith('data/tokenizer')

  out = tmp_path / 'hf'
  summary = from_run.export_checkpoint(str(workdir), str(out),
                                       tokenizer_dir=write_tokenizer(str(tmp_path / 'tok')))
  assert summary['step'] == 4
  expected = safetensors.numpy.load_file(
      os.path.join(FIXTURE, 'expected_hf', hf_format.WEIGHTS_FILE))
  exported = safetensors.numpy.load_file(str(out / hf_format.WEIGHTS_FILE))
  assert exported.keys() == expected.keys()
  for name, value in expected.items():
    np.testing.assert_array_equal(exported[name], value, err_msg=name)
  with open(os.path.join(FIXTURE, 'expected_hf', hf_format.CONFIG_FILE)) as f:
    assert json.load(f) == json.loads((out / hf_format.CONFIG_FILE).read_text())

  # Export reads the model alone: the optimizer state of that time has another layout (the
  # discriminator had no optimizer of its own), and training it further is refused clearly.
  _, _, _, restored = from_run.restore_run(str(workdir))
  assert restored.data_state['step'] == 4 and restored.meta['step'] == 4
  assert set(restored.state) == {'model'}
  assert checkpointing.committed_steps(str(workdir / 'checkpoints')) == [4]


def test_resuming_training_of_an_old_checkpoint_is_refused_with_the_reason(tmp_path):
  workdir = tmp_path / 'run'
  shutil.copytree(os.path.join(FIXTURE, 'checkpoints'), workdir / 'checkpoints')
  with checkpointing.Checkpointer(workdir / 'checkpoints', read_only=True) as checkpointer:
    with pytest.raises(ValueError, match='before the discriminator had its own optimizer'):
      trainer._restore_or_init(None, checkpointer, None, str(workdir))  # pylint: disable=protected-access
