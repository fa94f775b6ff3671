"""launch/evaluate.py and launch/export_hf.py as users run them agree with the library."""

import json
import os
import subprocess
import sys

import flax.nnx as nnx
import jax
import pytest

from tests.helpers import kd_setup
from unibert_jax import sharding
from unibert_jax.data import corpus
from unibert_jax.evaluation import universality_eval as evaluation
from unibert_jax.train import checkpointing
from unibert_jax.train import state as state_lib
from unibert_jax.train import step as step_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



def _run_launch(script, *args):
  """A launch script as a user runs it; returns the one JSON line it prints."""
  result = subprocess.run([sys.executable, script, *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert result.returncode == 0, result.stderr[-3000:]
  lines = [line for line in result.stdout.splitlines() if line.strip()]
  assert len(lines) == 1, result.stdout
  return json.loads(lines[0])


@pytest.mark.slow
def test_evaluation_of_a_run_in_process_by_workdir_and_by_hf_export_agree(five_languages, tmp_path):
  config, data_dir, tokenizer_dir = five_languages
  program = step_lib.build_train_program(
      config, sharding.make_mesh((1, 1, 1), jax.devices()[:1]),
      num_languages=len(kd_setup.LANGUAGE_CODES))
  state = program.init()
  workdir = tmp_path / 'run'
  facts = state_lib.RunFacts(data_dir, tokenizer_dir, kd_setup.LANGUAGE_CODES)
  with checkpointing.Checkpointer(workdir / 'checkpoints') as checkpointer:
    checkpointer.save(5, state_lib.to_checkpoint(state), {'step': 5}, config.to_dict(),
                      facts.to_meta())
    checkpointer.wait()

  encoder = nnx.merge(program.graphdef, state)[0].encoder
  summary = evaluation.evaluate_encoder(encoder, tokenizer_dir, data_dir, config,
                                        str(tmp_path / 'direct'))
  with open(tmp_path / 'direct' / 'eval.json') as f:
    report = json.load(f)
  assert report | summary == report  # eval.json holds the summary and more
  assert not any(isinstance(value, (dict, list)) for value in summary.values())
  assert (tmp_path / 'direct' / 'eval.png').read_bytes()[:4] == b'\x89PNG'
  assert report['split'] == 'validation'
  assert report['evaluated_articles'] == sorted(corpus.VALIDATION_ARTICLES)
  assert set(report['per_language']['mlm_accuracy']) == set(kd_setup.LANGUAGE_CODES)
  assert set(report['per_language']['retrieval_vs_pivot']) == set(kd_setup.LANGUAGE_CODES) - {'en'}
  paragraphs_per_language = report['paragraphs'] / len(kd_setup.LANGUAGE_CODES)
  assert report['retrieval_chance'] == pytest.approx(1 / paragraphs_per_language)
  assert report['language_probe_chance'] == pytest.approx(1 / len(kd_setup.LANGUAGE_CODES))
  for key in evaluation.SUMMARY_KEYS:
    assert 0.0 <= report[key] <= 1.0

  by_workdir = _run_launch('launch/evaluate.py', f'--workdir={workdir}')
  assert by_workdir['out_dir'] == str(workdir / 'eval')
  hf_dir = _run_launch('launch/export_hf.py', f'--workdir={workdir}',
                       f'--out={tmp_path / "hf"}')['out_dir']
  by_hf = _run_launch('launch/evaluate.py', f'--hf={hf_dir}', f'--data_dir={data_dir}',
                      '--config=configs/demo.py:tiny', f'--out_dir={tmp_path / "hf_eval"}')
  assert os.path.isfile(tmp_path / 'hf_eval' / 'eval.json')
  for key in evaluation.SUMMARY_KEYS:
    assert by_workdir[key] == pytest.approx(summary[key], abs=1e-6), key
    assert by_hf[key] == pytest.approx(summary[key], abs=1e-6), key
