"""The fault probe of 2026-12-02 (shared/research/reliability_probe_2026-12-02.md), as tests.

Each case the probe found failing, run as a hostile user would: the real launch scripts in
subprocesses, on real (damaged) files. A case passes when the job keeps its promise, or stops
early with one line that names the field or file and the fix, a non-zero exit status, and no
traceback, having lost no good checkpoint.
"""

import json
import os
import shutil
import subprocess

import pytest

from tests.integration.conftest import launch
from tests.integration.conftest import TINY
from unibert_jax import cli
from unibert_jax.train import checkpointing

pytestmark = pytest.mark.slow
# The checkpoint cases need no real model: one small layer compiles and steps fast.
SMALL_MODEL = ('--config.model.num_layers=1', '--config.model.hidden_size=64',
               '--config.model.intermediate_size=128')


def assert_one_line_error(status, stderr, *fragments):
  """Failed with status 1, one `error:` line naming every fragment, and no traceback."""
  assert status == cli.FAILURE, stderr[-3000:]
  assert 'Traceback' not in stderr, stderr[-3000:]
  errors = [line for line in stderr.splitlines() if line.startswith('error: ')]
  assert len(errors) == 1, stderr[-3000:]
  for fragment in fragments:
    assert fragment in errors[0], errors[0]


def data_flags(udhr_data):
  _, data_dir, tokenizer_dir = udhr_data
  return [f'--config.data.data_dir={data_dir}', f'--config.data.tokenizer_dir={tokenizer_dir}']


def damage(path, how='bytes'):
  """4 KiB of noise in the middle of a file, or the file cut to half."""
  size = os.path.getsize(path)
  if how == 'truncate':
    os.truncate(path, size // 2)
    return
  with open(path, 'r+b') as f:
    f.seek(size // 2)
    f.write(os.urandom(min(4096, size - size // 2)))


def largest_file(directory):
  files = [os.path.join(root, name) for root, _, names in os.walk(directory) for name in names]
  return max(files, key=os.path.getsize)


def test_2e_sigterm_in_the_teacher_stage_stops_the_job_and_resumes_it(preempted_job):
  job = preempted_job
  assert job.stopped_status == cli.PREEMPTED, job.stopped_output[-3000:]
  assert json.loads(job.stopped_output.strip().splitlines()[-1])['stage'] == 'teacher'
  assert job.made_when_stopped == [], 'nothing may be made from an unfinished teacher'
  assert job.teacher_steps_when_stopped and job.teacher_steps_when_stopped[-1] < 20
  assert f'from step {job.teacher_steps_when_stopped[-1]}' in job.finished_stderr
  with open(os.path.join(job.workdir, 'teacher_hf', 'README.md')) as f:
    assert 'Training steps: 20.' in f.read()
  assert os.path.isfile(os.path.join(job.workdir, 'hf', 'model.safetensors'))


def copy_of(workdir, tmp_path, name='copy'):
  target = str(tmp_path / name)
  shutil.copytree(workdir, target, symlinks=True)
  return target


def rerun_student(workdir, *flags):
  """The finished job's student stage again: its checkpoints and metrics are removed first."""
  shutil.rmtree(os.path.join(workdir, 'checkpoints'))
  for name in ('metrics.jsonl', 'hf', 'eval'):
    path = os.path.join(workdir, name)
    shutil.rmtree(path) if os.path.isdir(path) else os.remove(path)
  return launch('train.py', TINY, f'--workdir={workdir}', *flags)


@pytest.mark.parametrize('how', ['bytes', 'truncate'])
def test_4e_4f_a_damaged_cache_shard_is_refused_before_training(preempted_job,
                                                                 tmp_path, how):
  workdir = copy_of(preempted_job.workdir, tmp_path)
  shard = os.path.join(workdir, 'teacher_cache', 'shard-00000-process-000-of-001.array_record')
  damage(shard, how)
  status, _, stderr = rerun_student(workdir)
  assert_one_line_error(status, stderr, shard, 'damaged', 'rebuilt')
  assert not os.path.exists(os.path.join(workdir, 'checkpoints'))   # no step was trained


def test_4g_a_teacher_export_without_weights_is_written_again(preempted_job, tmp_path):
  workdir = copy_of(preempted_job.workdir, tmp_path)
  weights = os.path.join(workdir, 'teacher_hf', 'model.safetensors')
  with open(weights, 'rb') as f:
    expected = f.read()
  os.remove(weights)
  status, _, stderr = launch('train.py', TINY, f'--workdir={workdir}')
  assert status == 0, stderr[-3000:]
  with open(weights, 'rb') as f:
    assert f.read() == expected   # the same teacher, so the cache still fits


@pytest.mark.parametrize('name, damage_it, fragments', [
    ('7c', lambda w: damage(largest_file(os.path.join(w, 'data', 'corpus'))),
     ('data/corpus', 'damaged', 'delete')),
    ('7d', lambda w: open(os.path.join(w, 'data', 'corpus', 'manifest.json'), 'w').write('{not'),
     ('manifest.json', 'damaged', 'delete')),
    ('7e', lambda w: damage(os.path.join(w, 'data', 'tokenizer', 'tokenizer.json'), 'truncate'),
     ('tokenizer.json', 'cannot be read')),
])
def test_7_damaged_data_files_are_named_before_any_work(preempted_job, tmp_path, name,
                                                         damage_it, fragments):
  workdir = copy_of(preempted_job.workdir, tmp_path, name)
  damage_it(workdir)
  status, _, stderr = rerun_student(workdir)
  assert_one_line_error(status, stderr, *fragments)


@pytest.fixture(scope='module')
def half_trained(udhr_data, tmp_path_factory):
  """A student-only run with checkpoints 7 and 14 (the probe's template T, smaller)."""
  workdir = str(tmp_path_factory.mktemp('half'))
  status, _, stderr = launch('train.py', TINY, f'--workdir={workdir}', *data_flags(udhr_data),
                             *SMALL_MODEL, '--config.loss.kd_weight=0', '--config.train.steps=14',
                             '--config.train.checkpoint_every=7', '--evaluate_and_export=false')
  assert status == 0, stderr[-3000:]
  assert checkpointing.committed_steps(os.path.join(workdir, 'checkpoints')) == [7, 14]
  return workdir


def resume(workdir, udhr_data, *flags):
  return launch('train.py', TINY, f'--workdir={workdir}', *data_flags(udhr_data), *SMALL_MODEL,
                '--config.loss.kd_weight=0', '--config.train.steps=16',
                '--config.train.checkpoint_every=7', '--evaluate_and_export=false', *flags)


def test_3f_a_checkpoint_without_its_data_item_falls_back(half_trained, udhr_data, tmp_path):
  workdir = copy_of(half_trained, tmp_path)
  shutil.rmtree(os.path.join(workdir, 'checkpoints', '14', 'data'))
  status, _, stderr = resume(workdir, udhr_data)
  assert status == 0, stderr[-3000:]
  assert 'falling back' in stderr
  checkpoints = os.path.join(workdir, 'checkpoints')
  assert checkpointing.committed_steps(checkpoints)[-1] == 16
  assert os.listdir(os.path.join(checkpoints, checkpointing.UNRESTORABLE_DIR)) == ['14']


def test_3g_all_checkpoints_damaged_is_one_line_and_deletes_nothing(half_trained, udhr_data,
                                                                    tmp_path):
  workdir = copy_of(half_trained, tmp_path)
  for step in ('7', '14'):
    damage(largest_file(os.path.join(workdir, 'checkpoints', step, 'state')))
  status, _, stderr = resume(workdir, udhr_data)
  assert_one_line_error(status, stderr, 'None of the 2 checkpoints', 'move')
  assert checkpointing.committed_steps(os.path.join(workdir, 'checkpoints')) == [7, 14]


def test_3h_resuming_with_another_model_shape_is_one_line(half_trained, udhr_data, tmp_path):
  workdir = copy_of(half_trained, tmp_path)
  status, _, stderr = resume(workdir, udhr_data, '--config.model.num_layers=2')  # saved: 1
  assert_one_line_error(status, stderr, 'could be restored', 'config')


def test_6c_a_late_non_finite_step_never_reaches_a_checkpoint(udhr_data, tmp_path):
  workdir = str(tmp_path / 'nan')
  status, _, stderr = launch('train.py', TINY, f'--workdir={workdir}', *data_flags(udhr_data),
                             *SMALL_MODEL, '--config.loss.kd_weight=0', '--config.train.steps=60',
                             '--config.train.learning_rate=1e6', '--config.train.log_every=50',
                             '--config.train.checkpoint_every=7', '--evaluate_and_export=false')
  assert_one_line_error(status, stderr, 'Non-finite', 'at step')
  bad_step = int(stderr.split('at step ')[1].split()[0])
  assert bad_step < 50   # found at the first checkpoint after it, not at the next log step
  kept = checkpointing.committed_steps(os.path.join(workdir, 'checkpoints'))
  assert all(step < bad_step for step in kept)
  last = f'step {kept[-1]}' if kept else 'no checkpoint had been written yet'
  assert last in stderr


def test_5_nonsense_values_are_each_named_before_any_work(tmp_path):
  bad = {'teacher.shape': 'huge', 'teacher.learning_rate': '-0.001',
         'teacher.warmup_steps': '100',
         'kd.batch_size': '0', 'data.eval_sequences_per_language': '0',
         'model.layer_norm_eps': '-1', 'adversary.lambda_max': '-1', 'train.b1': '1.5',
         'train.weight_decay': '-1', 'data.sampling_alpha': '1.5'}
  workdir = tmp_path / 'never'
  status, _, stderr = launch('train.py', TINY, f'--workdir={workdir}',
                             *[f'--config.{field}={value}' for field, value in bad.items()])
  assert status == cli.FAILURE and 'Traceback' not in stderr, stderr[-3000:]
  problems = [line for line in stderr.splitlines() if line.startswith('  - ')]
  assert len(problems) == len(bad), stderr[-3000:]
  for field in bad:
    assert any(line.startswith(f'  - {field}=') for line in problems), (field, problems)
  assert not workdir.exists()   # validated before any work
  # A field that nothing reads is no longer a field at all.
  status, _, stderr = launch('train.py', TINY, f'--workdir={workdir}',
                             '--config.train.eval_batches=0')
  assert status != 0 and 'eval_batches' in stderr


def test_7b_a_data_dir_that_is_a_file_is_named(tmp_path):
  afile = tmp_path / 'afile'
  afile.write_text('hello')
  status, _, stderr = launch('train.py', TINY, f'--workdir={tmp_path / "w"}',
                             f'--config.data.data_dir={afile}')
  assert_one_line_error(status, stderr, str(afile), 'data.data_dir')


def test_7f_a_broken_tokenizer_dir_is_named(udhr_data, tmp_path):
  broken = tmp_path / 'badtok'
  broken.mkdir()
  with open(os.path.join(udhr_data[2], 'tokenizer.json'), 'rb') as f:
    (broken / 'tokenizer.json').write_bytes(f.read()[:5000])
  status, _, stderr = launch('train.py', TINY, f'--workdir={tmp_path / "w"}',
                             f'--config.data.tokenizer_dir={broken}')
  assert_one_line_error(status, stderr, str(broken / 'tokenizer.json'), 'cannot be read')


def test_7i_a_read_only_workdir_is_one_line(tmp_path):
  mount = tmp_path / 'ro'
  mount.mkdir()
  if subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=1m,ro', 'tmpfs', str(mount)],
                    capture_output=True).returncode:
    pytest.skip('mounting a read-only tmpfs needs root')
  try:
    status, _, stderr = launch('train.py', TINY, f'--workdir={mount / "w"}')
  finally:
    subprocess.run(['umount', str(mount)], check=True)
  assert_one_line_error(status, stderr, 'Read-only file system', 'writable')


def test_8_export_and_evaluate_errors_are_one_line(preempted_job, tmp_path):
  workdir = preempted_job.workdir
  afile = tmp_path / 'afile'
  afile.write_text('hello')
  assert_one_line_error(*launch('export_hf.py', f'--workdir={workdir}', f'--out={afile}')[::2],
                        str(afile), 'is a file')
  status, _, stderr = launch('export_hf.py', f'--workdir={workdir}', f'--out={afile}',
                             '--traceback')
  assert status != 0 and 'Traceback' in stderr and 'is a file' in stderr
  empty = tmp_path / 'empty'
  empty.mkdir()
  assert_one_line_error(*launch('evaluate.py', f'--workdir={empty}')[::2],
                        'No committed checkpoint')
  data_dir = os.path.join(workdir, 'data')
  assert_one_line_error(*launch('evaluate.py', f'--hf={data_dir}', f'--data_dir={data_dir}')[::2],
                        'tokenizer.json')
  assert_one_line_error(*launch('evaluate.py', f'--hf={os.path.join(data_dir, "tokenizer")}',
                                f'--data_dir={data_dir}')[::2], 'config.json')
