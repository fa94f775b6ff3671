r"""Caches a teacher's top-k MLM predictions for every training example of a run.

  python launch/cache_teacher.py --config=configs/demo.py --teacher=/tmp/unibert_demo/teacher_hf \
      --workdir=/tmp/unibert_demo

The teacher is any XLM-R-family Hugging Face directory whose tokenizer is the student's (for
xlm-roberta-base: --config.data.tokenizer_dir=<its dir> --config.data.vocab_size=250002).
It runs over the train.steps * data.batch_size statically masked sequences the student will see,
in batches of kd.batch_size sharded over the mesh (mesh.shape), and writes ArrayRecord shards and
a manifest to kd.cache_dir (default <workdir>/teacher_cache). Run it again after an interruption:
it skips the finished shards. Prints a line per shard, then one JSON line with examples,
bytes_per_masked_token and sequences_per_sec. Several processes: the flags of launch/train.py.
"""

from absl import app
from absl import flags
from ml_collections import config_flags

from unibert_jax import cli

_CONFIG = config_flags.DEFINE_config_file('config', None, 'The student\'s run config.')
_TEACHER = flags.DEFINE_string('teacher', None, 'Teacher HF directory (default: kd.teacher_dir).')
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (data, default cache location).')
_MAX_SHARDS = flags.DEFINE_integer('max_shards', None, 'Stop after this many shards (resumable).')
_COORDINATOR = flags.DEFINE_string('coordinator_address', '', 'host:port of process 0.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Number of processes.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process\'s index.')
_DISTRIBUTED_AUTO = flags.DEFINE_bool('distributed_auto', False,
                                      'jax.distributed.initialize() from the environment.')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments {argv[1:]}.')
  from unibert_jax import distributed  # pylint: disable=g-import-not-at-top
  distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                         auto=_DISTRIBUTED_AUTO.value)
  # Imported after distributed.initialize: JAX must not start its backends before it.
  import jax  # pylint: disable=g-import-not-at-top
  from unibert_jax import config_schema  # pylint: disable=g-import-not-at-top
  from unibert_jax import main_job  # pylint: disable=g-import-not-at-top
  from unibert_jax.teacher import build_cache  # pylint: disable=g-import-not-at-top
  from unibert_jax.teacher import cache_format  # pylint: disable=g-import-not-at-top

  config = _CONFIG.value
  teacher = _TEACHER.value or config.kd.teacher_dir
  if not teacher:
    raise app.UsageError('Pass --teacher=<Hugging Face dir> (or set kd.teacher_dir).')
  config_schema.validate(config, jax.device_count(), jax.process_count())
  data = main_job.prepare_data(config, _WORKDIR.value)
  result = build_cache.build_cache(config, teacher, data,
                                   cache_format.cache_dir(config, _WORKDIR.value),
                                   max_shards=_MAX_SHARDS.value)
  if jax.process_index() == 0:
    cli.print_json(result)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config', 'workdir'])
  cli.run(main)
