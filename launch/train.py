r"""The main job: train a UniBERT encoder (and everything it needs) in one command.

  python launch/train.py --config=configs/demo.py --workdir=/tmp/unibert_demo
  python launch/train.py --config=configs/base.py:small --workdir=DIR --config.train.steps=1000
  python launch/train.py --config=configs/base.py --compile_only   # shapes only, no data

Several processes (GPU nodes): pass --coordinator_address=host:port --num_processes=N
--process_id=I (or JAX_COORDINATOR_ADDRESS / JAX_NUM_PROCESSES / JAX_PROCESS_ID), or
--distributed_auto on TPU pods and SLURM.
"""

from absl import flags
from ml_collections import config_flags

from unibert_jax import cli

_CONFIG = config_flags.DEFINE_config_file('config', None, 'Config file, e.g. configs/demo.py.',
                                          lock_config=True)
_WORKDIR = flags.DEFINE_string('workdir', None, 'Run directory (data, checkpoints, metrics).')
_COMPILE_ONLY = flags.DEFINE_bool(
    'compile_only', False, 'Lower and compile the train step from shapes and print its memory '
    'analysis; allocates no parameters and reads no data.')
_EVALUATE_AND_EXPORT = flags.DEFINE_bool(
    'evaluate_and_export', True, 'After training, evaluate on held-out data and export to '
    'Hugging Face format (single process only).')
_COORDINATOR = flags.DEFINE_string('coordinator_address', '', 'host:port of process 0.')
_NUM_PROCESSES = flags.DEFINE_integer('num_processes', None, 'Number of processes.')
_PROCESS_ID = flags.DEFINE_integer('process_id', None, 'This process\'s index.')
_DISTRIBUTED_AUTO = flags.DEFINE_bool('distributed_auto', False,
                                      'jax.distributed.initialize() from the environment.')


def main(argv):
  del argv
  from unibert_jax import distributed  # pylint: disable=g-import-not-at-top
  distributed.initialize(_COORDINATOR.value, _NUM_PROCESSES.value, _PROCESS_ID.value,
                         auto=_DISTRIBUTED_AUTO.value)
  # Imported after distributed.initialize: JAX must not start its backends before it.
  import jax  # pylint: disable=g-import-not-at-top
  from unibert_jax import config_schema  # pylint: disable=g-import-not-at-top
  from unibert_jax import main_job  # pylint: disable=g-import-not-at-top
  from unibert_jax import sharding  # pylint: disable=g-import-not-at-top
  from unibert_jax.data import languages  # pylint: disable=g-import-not-at-top
  from unibert_jax.train import step as step_lib  # pylint: disable=g-import-not-at-top
  from unibert_jax.train import trainer  # pylint: disable=g-import-not-at-top

  config = _CONFIG.value
  config_schema.validate(config, jax.device_count(), jax.process_count())
  if _COMPILE_ONLY.value:
    # From shapes alone: the config's languages, distillation arrays when it would distil.
    program = step_lib.build_train_program(
        config, sharding.make_mesh(config.mesh.shape),
        num_languages=len(languages.resolve_languages(config.data.languages)),
        distill=config.loss.kd_weight > 0)
    _, report = trainer.compile_report(program)
    cli.print_json(report)
    return
  if not _WORKDIR.value:
    raise ValueError('--workdir is required (the run directory).')
  summary = main_job.run(config, _WORKDIR.value, _EVALUATE_AND_EXPORT.value)
  if jax.process_index() == 0:
    cli.print_json(summary)


if __name__ == '__main__':
  flags.mark_flags_as_required(['config'])
  cli.run(main)
