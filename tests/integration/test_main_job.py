"""The main job end to end: `launch/train.py --config=configs/demo.py:tiny` from nothing.

Preempted once in the teacher stage (tests/integration/conftest.py), the same command then runs
every remaining stage of the demo pipeline (the teacher from its checkpoint, its export, the
teacher cache, the student with all three losses, evaluation, the student's export); a third
run finds every output in place and only reports. The full-size demo is the same code with more
steps (timed for the README, not here).
"""

import json
import os
import subprocess
import sys

import pytest
import transformers

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SUMMARY_KEYS = ('student_hf_dir', 'teacher_hf_dir', 'metrics_file', 'retrieval_top1',
                'language_probe_accuracy', 'mask_accuracy', 'mask_accuracy_baseline',
                'mask_loss', 'mask_loss_unigram', 'first_mlm_loss', 'last_mlm_loss')
METRIC_KEYS = ('step', 'loss', 'mlm_loss', 'adv_loss', 'kd_loss', 'mlm_accuracy',
               'disc_accuracy', 'tokens_per_sec')


def _train(workdir):
  result = subprocess.run(
      [sys.executable, 'launch/train.py', '--config=configs/demo.py:tiny', f'--workdir={workdir}'],
      cwd=ROOT, capture_output=True, text=True, timeout=900,
      env=dict(os.environ, JAX_PLATFORMS='cpu'))
  assert result.returncode == 0, result.stderr[-4000:]
  return json.loads(result.stdout.strip().splitlines()[-1]), result.stdout


@pytest.mark.slow  # the whole pipeline at toy size: about 2 minutes on 2 CPU cores
def test_demo_pipeline_runs_every_stage_and_a_rerun_only_reports(preempted_job):
  workdir = preempted_job.workdir
  output = preempted_job.finished_stdout
  summary = json.loads(output.strip().splitlines()[-1])
  for stage in ('== data', '== teacher', '== cache', '== student', '== evaluate', '== export'):
    assert stage in output, f'stage {stage!r} did not run:\n{output[-3000:]}'
  for key in SUMMARY_KEYS:
    assert summary.get(key) is not None, key
  assert summary['teacher_hf_dir'] == os.path.join(workdir, 'teacher_hf')
  assert summary['last_mlm_loss'] < summary['first_mlm_loss']

  with open(summary['metrics_file']) as f:
    records = [json.loads(line) for line in f]
  train = [r for r in records if r['kind'] == 'train']
  assert train and all(key in r for r in train for key in METRIC_KEYS)
  assert max(r['kd_loss'] for r in train) > 0 and max(r['adv_loss'] for r in train) > 0
  assert any(r['kind'] == 'eval' for r in records)
  assert any(r['kind'] == 'universality' for r in records)

  for hf_dir in (summary['student_hf_dir'], summary['teacher_hf_dir']):
    model, info = transformers.AutoModelForMaskedLM.from_pretrained(hf_dir,
                                                                   output_loading_info=True)
    assert type(model).__name__ == 'XLMRobertaForMaskedLM'
    assert not info['missing_keys'] and not info['unexpected_keys'], info
  teacher = transformers.AutoConfig.from_pretrained(summary['teacher_hf_dir'])
  student = transformers.AutoConfig.from_pretrained(summary['student_hf_dir'])
  assert teacher.hidden_size > student.hidden_size  # the teacher is the larger model

  exported = os.path.getmtime(os.path.join(summary['student_hf_dir'], 'model.safetensors'))
  again, output = _train(workdir)
  for stage in ('== teacher', 'teacher cache: shard', '== export:'):
    assert stage not in output, f'stage {stage!r} ran again:\n{output[-3000:]}'
  assert 'skipped' in output
  assert again == summary
  assert os.path.getmtime(os.path.join(summary['student_hf_dir'],
                                       'model.safetensors')) == exported
