"""Orbax checkpoints of a training run: train state, input-iterator state, config and metadata.

One directory per step, written asynchronously and committed atomically by Orbax:

    <directory>/<step>/state/      the train state (OCDBT; sharded arrays, typed PRNG keys)
                      data/       the input iterator's state, one JSON file per process
                      config/     the run config (JSON)
                      meta/       step, wall time, metrics... (JSON)
                      integrity/  per-array checksums, verified on restore

What this module guarantees, so that a run never loses its last good checkpoint:

* A step counts only once Orbax has committed it (atomic rename of its tmp directory). A process
  killed mid-write leaves `<step>.orbax-checkpoint-tmp-*`, which is never listed nor restored, and
  which the next writer that opens the directory removes.
* keep-last-N deletes an old step only after a newer save has committed; a failed save deletes
  nothing.
* `restore(step=None)` tries the newest step first and falls back, one step at a time, past any
  step that fails to read or whose arrays fail their checksums (a flipped bit in the array data
  reads back without any error from Orbax). It logs one WARNING per step it skips and deletes
  nothing.
* The steps skipped that way are moved (never deleted) to `<directory>/unrestorable/` by the first
  save after that restore. Otherwise they would block saving at their step numbers and use up
  keep-last-N slots, so good checkpoints could be deleted while the bad ones stayed. After the
  move, the step the run resumed from is kept until `keep` newer checkpoints have committed.
  With keep=1 there is nothing to fall back to, so use keep >= 2.
* Nothing here catches a checkpoint that is damaged after `keep` newer ones were written.

Multi-host: every process constructs the Checkpointer and calls save/restore with the same
arguments. Orbax writes each process's shards and synchronises the processes; JSON items are
written by process 0, except `data`, where each process writes its own file. Whether a step
restored is agreed by all processes, so they fall back together.

Only one writer may use a directory. Readers (export, evaluation) pass `read_only=True`, so they
neither delete tmp directories nor move steps.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import logging
import sys
import time
from typing import Any

from etils import epath
import jax
from jax.experimental import multihost_utils
import jax.numpy as jnp
import numpy as np
import orbax.checkpoint as ocp

# The item (sub-directory) names of a step: the on-disk format.
_STATE, _DATA, _CONFIG, _META, _INTEGRITY = 'state', 'data', 'config', 'meta', 'integrity'
UNRESTORABLE_DIR = 'unrestorable'
_CHECKSUM_FORMAT = 'uint32-sum-and-position-weighted-sum-v1'
_MAX_ERROR_CHARS = 600

logger = logging.getLogger(__name__)


class CheckpointRestoreError(RuntimeError):
  """No checkpoint (or not the one asked for) could be restored."""


class CheckpointIntegrityError(ValueError):
  """A checkpoint restored without error, but its arrays differ from the ones saved."""


@dataclasses.dataclass(frozen=True)
class Restored:
  step: int
  state: Any                 # the pytree of abstract_state, with the target shardings
  data_state: Any            # the input iterator's state as saved (JSON), or None
  config_dict: dict[str, Any]
  meta: dict[str, Any]


# ---------------------------------------------------------------------------------------------
# The input iterator's state: one JSON file per process.


class _ProcessJsonHandler(ocp.AsyncCheckpointHandler):
  """Writes one `process_<i>-of-<n>.json` per process (input iterators may differ per process)."""

  async def async_save(self, directory: epath.Path, args: ProcessJsonSave):
    async def write():
      self.save(directory, args)

    # Orbax creates the item directory asynchronously; this future starts once it exists.
    return [ocp.future.CommitFutureAwaitingContractedSignals(write(), name='process_json_save')]

  def save(self, directory: epath.Path, args: ProcessJsonSave):
    path = _process_file(directory, jax.process_index(), jax.process_count())
    path.write_text(json.dumps(args.item))

  def restore(self, directory: epath.Path, args: ProcessJsonRestore | None = None) -> Any:
    del args
    own = _process_file(directory, jax.process_index(), jax.process_count())
    if own.exists():
      return json.loads(own.read_text())
    first = sorted(directory.glob('process_0-of-*.json'))
    if not first:
      raise FileNotFoundError(f'No input-iterator state in {directory}.')
    # Saved by another number of processes: process 0's state is right for iterators whose state
    # is global (input_pipeline's is the next global step); per-process ones must check it.
    logger.warning('The input-iterator state in %s was saved by another number of processes; '
                   'using %s.', directory, first[0].name)
    return json.loads(first[0].read_text())

  def metadata(self, directory: epath.Path) -> None:
    return None

  def finalize(self, directory: epath.Path) -> None:
    pass

  def close(self) -> None:
    pass


def _process_file(directory: epath.Path, index: int, count: int) -> epath.Path:
  return directory / f'process_{index}-of-{count}.json'


@ocp.args.register_with_handler(_ProcessJsonHandler, for_save=True)
@dataclasses.dataclass
class ProcessJsonSave(ocp.args.CheckpointArgs):
  item: Any


@ocp.args.register_with_handler(_ProcessJsonHandler, for_restore=True)
@dataclasses.dataclass
class ProcessJsonRestore(ocp.args.CheckpointArgs):
  pass


# ---------------------------------------------------------------------------------------------
# Checksums: two wrapping uint32 sums per array, exact whatever the sharding.


def _as_uint32_words(x: jax.Array) -> jax.Array:
  if jnp.issubdtype(x.dtype, jax.dtypes.prng_key):
    x = jax.random.key_data(x)
  if x.dtype == jnp.bool_:
    return x.astype(jnp.uint32)
  unsigned = {1: jnp.uint8, 2: jnp.uint16, 4: jnp.uint32, 8: jnp.uint32}[x.dtype.itemsize]
  return jax.lax.bitcast_convert_type(x, unsigned).astype(jnp.uint32)


def _leaf_checksum(x: jax.Array) -> jax.Array:
  words = _as_uint32_words(x)
  # The position-weighted sum also catches swapped words; odd weights keep every word visible.
  position = jnp.zeros(words.shape, jnp.uint32)
  stride = 1
  for axis in reversed(range(words.ndim)):
    position += jax.lax.broadcasted_iota(jnp.uint32, words.shape, axis) * jnp.uint32(stride)
    stride = stride * words.shape[axis] % 2**32
  weighted = words * (position * jnp.uint32(2) + jnp.uint32(1))
  return jnp.stack([jnp.sum(words, dtype=jnp.uint32), jnp.sum(weighted, dtype=jnp.uint32)])


def _checksum_supported(dtype: Any) -> bool:
  if jnp.issubdtype(dtype, jax.dtypes.prng_key) or dtype == jnp.bool_:
    return True
  if jnp.issubdtype(dtype, jnp.floating):
    bits = jnp.finfo(dtype).bits
  elif jnp.issubdtype(dtype, jnp.integer):
    bits = jnp.iinfo(dtype).bits
  else:
    return False  # complex numbers; checkpoints of them restore unverified
  return dtype.itemsize in (1, 2, 4, 8) and bits == 8 * dtype.itemsize  # not int4 & co


@functools.lru_cache(maxsize=None)
def _checksum_fn(out_sharding: jax.sharding.Sharding | None):
  return jax.jit(lambda leaves: jnp.stack([_leaf_checksum(x) for x in leaves]),
                 out_shardings=out_sharding)


def _replicated(sharding: jax.sharding.Sharding) -> jax.sharding.Sharding | None:
  if isinstance(sharding, jax.sharding.NamedSharding):
    return jax.sharding.NamedSharding(sharding.mesh, jax.sharding.PartitionSpec())
  return None  # one device: the result lands there


def _path_name(path: Any) -> str:
  return jax.tree_util.keystr(path, simple=True, separator='/')


def tree_checksums(tree: Any) -> dict[str, dict[str, Any]]:
  """{path: {dtype, shape, sum, weighted}} for every array leaf; same values on any mesh."""
  groups: dict[Any, list[tuple[str, jax.Array]]] = {}
  for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]:
    leaf = leaf if isinstance(leaf, jax.Array) else jnp.asarray(leaf)
    if _checksum_supported(leaf.dtype):
      # One compiled reduction per device set (jit needs all its inputs on the same devices).
      groups.setdefault(frozenset(leaf.sharding.device_set), []).append((_path_name(path), leaf))
  record = {}
  for members in groups.values():
    sums = _checksum_fn(_replicated(members[0][1].sharding))([leaf for _, leaf in members])
    sums = np.asarray(sums.addressable_data(0))  # replicated: every process holds all of it
    for (name, leaf), (total, weighted) in zip(members, sums):
      record[name] = dict(dtype=str(leaf.dtype), shape=list(leaf.shape), sum=int(total),
                          weighted=int(weighted))
  return record


def _verify_checksums(state: Any, saved: dict[str, Any], where: epath.Path) -> None:
  saved_leaves = saved.get('leaves', {})
  actual = tree_checksums(state)
  compared, bad = 0, []
  for name, now in actual.items():
    before = saved_leaves.get(name)
    if before is None or before['dtype'] != now['dtype']:
      continue  # not saved with a checksum, or restored as another dtype on purpose
    compared += 1
    if (before['sum'], before['weighted']) != (now['sum'], now['weighted']):
      bad.append(name)
  if bad:
    raise CheckpointIntegrityError(
        f'{len(bad)} array(s) in {where} differ from the ones saved (checksum mismatch), e.g. '
        f'{", ".join(bad[:5])}: the checkpoint files are damaged.')
  if saved_leaves and not compared:
    logger.warning('No array of the restored state matches a saved checksum in %s (other tree '
                   'paths or dtypes); restored without verification.', where)


# ---------------------------------------------------------------------------------------------
# JSON items.


def _json_default(value: Any) -> Any:
  if isinstance(value, np.generic):
    return value.item()
  if isinstance(value, (np.ndarray, jax.Array)):
    return np.asarray(value).tolist()
  if hasattr(value, 'to_dict'):  # ml_collections.ConfigDict
    return value.to_dict()
  raise TypeError(f'{type(value).__name__} is not JSON-serialisable')


def _to_json(value: Any, what: str) -> Any:
  try:
    return json.loads(json.dumps(value, default=_json_default))
  except (TypeError, ValueError) as error:
    raise ValueError(f'The checkpoint item `{what}` must be JSON-serialisable: {error}.') from error


def _short(error: BaseException) -> str:
  """One line per error of the chain (TensorStore puts the cause last, after a long spec dump)."""
  parts = []
  while error is not None and len(parts) < 4:
    first_line = (str(error).strip().splitlines() or [''])[0]
    parts.append(f'{type(error).__name__}: {first_line.split(" See full TensorStore")[0]}')
    error = error.__cause__ or error.__context__
  text = ' <- '.join(parts)
  return text if len(text) <= _MAX_ERROR_CHARS else text[:_MAX_ERROR_CHARS] + ' ...'


def _all_processes(ok: bool) -> bool:
  """Whether `ok` holds on every process (steps must be skipped by all processes together)."""
  if jax.process_count() == 1:
    return ok
  return bool(np.all(multihost_utils.process_allgather(np.int32(ok))))


def _sync_processes(name: str) -> None:
  if jax.process_count() > 1:
    multihost_utils.sync_global_devices(name)


def committed_steps(directory: str | epath.PathLike) -> list[int]:
  """Steps whose checkpoint Orbax has committed, ascending (tmp directories are left out)."""
  directory = epath.Path(directory)
  if not directory.exists():
    return []
  return sorted(m.step for m in ocp.path.step.standard_name_format().find_all(directory))


# ---------------------------------------------------------------------------------------------


class Checkpointer:
  """Saves and restores a training run's checkpoints in `directory` (e.g. <workdir>/checkpoints).

  save() returns once the device arrays are copied to host memory; the files are written in the
  background (wait() blocks until they are committed). An error of a background write is raised
  by the next save(), wait() or close().

  Args:
    directory: where the step directories go; local or any path etils.epath opens (gs://...).
    keep: how many committed checkpoints to keep (config train.keep_checkpoints); >= 2 leaves
      something to fall back to.
    async_save: write in a background thread (True) or before save() returns.
    read_only: for readers (export, evaluation): no saving, no clean-up of tmp directories.
    verify: store per-array checksums at save time and check them at restore time.
  """

  def __init__(self, directory: str | epath.PathLike, keep: int = 3, async_save: bool = True,
               read_only: bool = False, verify: bool = True):
    if keep < 1:
      raise ValueError(f'keep={keep}: keep at least one checkpoint (train.keep_checkpoints >= 1; '
                       '>= 2 to be able to fall back past a damaged one).')
    self.directory = epath.Path(directory)
    self.read_only = read_only
    self.verify = verify
    if read_only and not self.directory.exists():
      raise FileNotFoundError(f'The checkpoint directory {self.directory} does not exist.')
    if read_only:
      options = ocp.CheckpointManagerOptions(read_only=True, save_interval_steps=0, create=False)
    else:
      options = ocp.CheckpointManagerOptions(
          max_to_keep=keep,
          enable_async_checkpointing=async_save,
          save_interval_steps=1,         # the training loop decides when to save
          cleanup_tmp_directories=True,  # leftovers of killed writes; only the writer does this
      )
    self._manager = ocp.CheckpointManager(self.directory, options=options)
    self._unrestorable: set[int] = set()  # skipped by the last restore; moved aside at next save

  # --- writing -------------------------------------------------------------------------------

  def save(self, step: int, state: Any, data_state: Any, config_dict: dict[str, Any],
           meta: dict[str, Any] | None = None) -> bool:
    """Starts saving a checkpoint of `step`; False if this step is already saved.

    Every process calls it with its own `data_state` and the same other arguments.
    """
    if self.read_only:
      raise ValueError(f'This Checkpointer of {self.directory} is read-only; open it with '
                       'read_only=False to save.')
    step = int(step)
    self._move_aside_unrestorable()
    latest = self._manager.latest_step()
    if latest is not None and step <= latest:
      if step == latest:
        logger.info('Checkpoint step %d is already saved in %s.', step, self.directory)
        return False
      raise ValueError(
          f'Cannot save step {step}: {self.directory} already holds the later step {latest} '
          f'(this run restored an earlier step, or started afresh in a used workdir). Move the '
          f'later step directories elsewhere, or use a new workdir, to continue from step {step}.')
    meta = dict(meta or {})
    meta.setdefault('step', step)
    meta.setdefault('wall_time', time.time())
    meta.setdefault('process_count', jax.process_count())
    items = {
        _STATE: ocp.args.StandardSave(state),
        _DATA: ProcessJsonSave(_to_json(data_state, 'data_state')),
        _CONFIG: ocp.args.JsonSave(_to_json(config_dict, 'config_dict')),
        _META: ocp.args.JsonSave(_to_json(meta, 'meta')),
    }
    if self.verify:
      items[_INTEGRITY] = ocp.args.JsonSave(
          dict(format=_CHECKSUM_FORMAT, leaves=tree_checksums(state)))
    start = time.perf_counter()
    saved = self._manager.save(step, args=ocp.args.Composite(**items))
    logger.info('Checkpoint step %d: save started in %.3f s (written in the background).', step,
                time.perf_counter() - start)
    return saved

  def _move_aside_unrestorable(self) -> None:
    """Moves the steps the last restore skipped out of the way of new saves (never deletes)."""
    if not self._unrestorable:
      return
    self._manager.wait_until_finished()
    if jax.process_index() == 0:
      target_root = self.directory / UNRESTORABLE_DIR
      target_root.mkdir(parents=True, exist_ok=True)
      for step in sorted(self._unrestorable):
        source = self.directory / str(step)
        if not source.exists():
          continue
        target = target_root / str(step)
        if target.exists():
          target = target_root / f'{step}-{time.strftime("%Y%m%d-%H%M%S")}'
        try:
          source.rename(target)
        except Exception as error:  # e.g. object stores without directory renames
          raise RuntimeError(f'Could not move the unrestorable checkpoint {source} to {target} '
                             f'({error}); move or delete it by hand and restart.') from error
        logger.warning('Moved the unrestorable checkpoint step %d to %s (not deleted; delete it '
                       'once inspected).', step, target)
    _sync_processes('unibert_checkpointing_move_unrestorable')
    self._manager.reload()
    self._unrestorable.clear()

  def wait(self) -> None:
    """Blocks until every save started has been committed (raises a background write's error)."""
    self._manager.wait_until_finished()

  def close(self) -> None:
    self._manager.close()

  def __enter__(self) -> Checkpointer:
    return self

  def __exit__(self, *exc_info) -> None:
    self.close()

  # --- reading -------------------------------------------------------------------------------

  def all_steps(self) -> list[int]:
    """Committed steps on disk, ascending (a save still in progress is not listed)."""
    return committed_steps(self.directory)

  def latest_step(self) -> int | None:
    steps = self.all_steps()
    return steps[-1] if steps else None

  def restore(self, abstract_state: Any, step: int | None = None, *,
              with_data_state: bool = False, partial: bool = False) -> Restored:
    """Restores a checkpoint onto the shardings of `abstract_state` (a ShapeDtypeStruct tree).

    step=None: the newest step that restores, falling back past damaged ones (see module doc).
    An explicit step raises CheckpointRestoreError if it cannot be restored.
    with_data_state: a step without the input iterator's state (its data/ item lost) counts as
    damaged, so a resumed run falls back past it instead of failing on every restart.
    partial: `abstract_state` is a subtree of what was saved (e.g. the model alone); only it is
    read, and only its checksums are verified.
    """
    available = self.all_steps()
    if not available:
      raise FileNotFoundError(f'No committed checkpoint in {self.directory}.')
    if step is not None and int(step) not in available:
      raise FileNotFoundError(f'There is no committed checkpoint step {step} in {self.directory}; '
                              f'committed steps: {available}.')
    candidates = [int(step)] if step is not None else available[::-1]
    failures: list[tuple[int, BaseException]] = []
    for candidate in candidates:
      restored, error = self._restore_step_everywhere(candidate, abstract_state, with_data_state,
                                                      partial)
      if error is None:
        if failures:
          self._unrestorable = {failed for failed, _ in failures}
          logger.warning('Resumed from checkpoint step %d; the later step(s) %s could not be '
                         'restored and will be moved to %s at the next save.', candidate,
                         sorted(self._unrestorable), self.directory / UNRESTORABLE_DIR)
        return restored
      step_dir = self.directory / str(candidate)
      if step is not None:
        raise CheckpointRestoreError(
            f'Could not restore checkpoint {step_dir}: {_short(error)}. Move it into '
            f'{self.directory / UNRESTORABLE_DIR} to go on from an earlier step.') from error
      logger.warning('Could not restore checkpoint %s (%s); falling back to the previous step.',
                     step_dir, _short(error))
      failures.append((candidate, error))
    summary = '; '.join(f'step {failed}: {_short(error)}' for failed, error in failures)
    raise CheckpointRestoreError(
        f'None of the {len(failures)} checkpoints in {self.directory} could be restored. If every '
        f'step fails the same way, the model or optimizer config differs from the one that '
        f'wrote them (each step keeps its config in config/): resume with that config, or move '
        f'{self.directory} aside to start afresh. Errors: {summary}') from failures[0][1]

  def _restore_step_everywhere(self, step: int, abstract_state: Any, with_data_state: bool,
                               partial: bool = False):
    """(Restored, None) where every process restored `step`, else (None, this process's error).

    The processes agree after reading and again after verifying, so a damaged shard that only
    one process reads makes all of them fall back together. Reading goes through the item
    handlers, which hold no cross-process barrier: a process whose read failed would otherwise
    skip Orbax's restore barrier while the others wait in it.
    """
    restored, integrity, error = None, None, None
    try:
      restored, integrity = self._read_step(step, abstract_state, partial)
      if with_data_state and restored.data_state is None:
        raise FileNotFoundError(f'{self.directory / str(step) / _DATA} (the input iterator\'s '
                                'state) is missing')
    except Exception as caught:  # pylint: disable=broad-except
      error = caught
    if not _all_processes(error is None):
      return None, error or CheckpointRestoreError('another process failed to read this step')
    if integrity is not None:
      try:
        _verify_checksums(restored.state, integrity, self.directory / str(step))
      except Exception as caught:  # pylint: disable=broad-except
        error = caught
      if not _all_processes(error is None):
        return None, error or CheckpointRestoreError('another process failed to verify this step')
    return restored, None

  def _read_step(self, step: int, abstract_state: Any,
                 partial: bool = False) -> tuple[Restored, dict | None]:
    _quiet_late_read_callbacks()
    start = time.perf_counter()
    step_dir = self.directory / str(step)
    state = ocp.args.StandardRestore(abstract_state)
    if partial:
      state = ocp.args.PyTreeRestore(
          item=abstract_state, partial_restore=True,
          restore_args=ocp.checkpoint_utils.construct_restore_args(abstract_state))
    items = {_STATE: state,
             _CONFIG: ocp.args.JsonRestore(), _META: ocp.args.JsonRestore()}
    if (step_dir / _DATA).exists():
      items[_DATA] = ProcessJsonRestore()
    if self.verify and (step_dir / _INTEGRITY).exists():
      items[_INTEGRITY] = ocp.args.JsonRestore()
    handler = ocp.CompositeCheckpointHandler()
    try:
      result = handler.restore(step_dir, args=ocp.args.Composite(**items))
    finally:
      handler.close()
    logger.info('Read checkpoint step %d from %s in %.3f s.', step, self.directory,
                time.perf_counter() - start)
    restored = Restored(step=step, state=result[_STATE],
                        data_state=result[_DATA] if _DATA in items else None,
                        config_dict=result[_CONFIG], meta=result[_META])
    return restored, result[_INTEGRITY] if _INTEGRITY in items else None


def _quiet_late_read_callbacks() -> None:
  """Logs, instead of printing a traceback, the callbacks of reads that outlive a failed restore.

  When one array of a damaged step fails to read, Orbax's event loop closes while TensorStore
  still finishes the step's other reads; their done-callbacks then find the loop closed and
  TensorStore reports that as an unraisable error, a bare traceback on stderr. Likewise Orbax's
  own coroutines that read the other chunks of a failed array are abandoned, and raise their
  errors when they are collected ("Exception ignored in: <coroutine ...>"). The restore has
  already failed and been handled, so such tracebacks only bury the one-line error.
  """
  if getattr(sys.unraisablehook, 'quiets_late_reads', False):
    return
  default_hook = sys.unraisablehook

  def hook(unraisable):
    if (isinstance(unraisable.exc_value, RuntimeError) and
        str(unraisable.exc_value) == 'Event loop is closed'):
      logger.debug('A read of an abandoned checkpoint restore finished after its event loop '
                   'closed.')
      return
    code = getattr(unraisable.object, 'cr_code', None)
    if 'orbax' in getattr(code, 'co_filename', ''):
      logger.debug('An abandoned read of a failed checkpoint restore failed too: %s',
                   unraisable.exc_value)
      return
    default_hook(unraisable)

  hook.quiets_late_reads = True
  sys.unraisablehook = hook


def read_config(directory: str | epath.PathLike, step: int | None = None) -> dict[str, Any]:
  """The run config saved with a checkpoint (the newest readable one by default), no arrays."""
  return _read_json_item(directory, _CONFIG, step)


def read_meta(directory: str | epath.PathLike, step: int | None = None) -> dict[str, Any]:
  """The metadata saved with a checkpoint (step, metrics, the run's facts), no arrays."""
  return _read_json_item(directory, _META, step)


def _read_json_item(directory: str | epath.PathLike, item: str,
                    step: int | None) -> dict[str, Any]:
  directory = epath.Path(directory)
  steps = committed_steps(directory)
  if not steps:
    raise FileNotFoundError(f'No committed checkpoint in {directory}; pass the run\'s '
                            '<workdir>/checkpoints directory.')
  if step is not None and int(step) not in steps:
    raise FileNotFoundError(f'There is no committed checkpoint step {step} in {directory}; '
                            f'committed steps: {steps}.')
  errors = []
  for candidate in [int(step)] if step is not None else steps[::-1]:
    try:
      return dict(ocp.JsonCheckpointHandler().restore(directory / str(candidate) / item))
    except (OSError, ValueError) as error:
      logger.warning('Could not read the %s of checkpoint step %d (%s).', item, candidate,
                     _short(error))
      errors.append(f'step {candidate}: {_short(error)}')
  raise CheckpointRestoreError(f'No readable {item} in {directory}: {"; ".join(errors)}')
