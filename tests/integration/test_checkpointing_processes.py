"""Checkpoints across meshes and processes: 8 simulated devices, two real processes."""

import os
import subprocess
import sys
import textwrap

import jax
import jax.numpy as jnp
import numpy as np

from tests.helpers.bits import as_bits
from tests.helpers.two_processes import run_two_processes
from unibert_jax.train import checkpointing

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))



RESHARD_SCRIPT = textwrap.dedent('''
    import sys
    import jax, jax.numpy as jnp, numpy as np
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P, SingleDeviceSharding
    from unibert_jax.train import checkpointing

    directory = sys.argv[1]
    assert jax.device_count() == 8, jax.devices()
    devices = np.array(jax.devices())
    mesh_42 = Mesh(devices.reshape(4, 2), ('data', 'model'))
    mesh_24 = Mesh(devices.reshape(2, 4), ('data', 'model'))
    specs = {'kernel': P('data', 'model'), 'embed': P('model', None), 'bias': P('model'),
             'count': P(), 'key': P()}
    rng = np.random.default_rng(0)
    values = {'kernel': rng.standard_normal((64, 128), np.float32),
              'embed': rng.standard_normal((40, 16), np.float32).astype(jnp.bfloat16),
              'bias': rng.standard_normal((128,), np.float32), 'count': np.int32(12)}

    def placed(mesh):
      state = {k: jax.device_put(v, NamedSharding(mesh, specs[k])) for k, v in values.items()}
      state['key'] = jax.device_put(jax.random.key(5), NamedSharding(mesh, P()))
      return state

    def bits(tree):
      return {k: np.asarray(jax.random.key_data(v) if k == 'key' else v).tobytes()
              for k, v in tree.items()}

    saved = placed(mesh_42)
    with checkpointing.Checkpointer(directory) as checkpointer:
      checkpointer.save(100, saved, {'step': 100}, {'mesh': [4, 2]})
      checkpointer.wait()
    targets = {'2x4': jax.tree.map(lambda x: x.sharding, placed(mesh_24)),
               'one device': jax.tree.map(lambda x: SingleDeviceSharding(jax.devices()[0]), saved)}
    with checkpointing.Checkpointer(directory, read_only=True) as reader:
      for name, shardings in targets.items():
        abstract = jax.tree.map(
            lambda x, s: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=s), saved, shardings)
        restored = reader.restore(abstract)
        assert restored.step == 100
        assert bits(restored.state) == bits(saved), name
        for key, leaf in restored.state.items():
          assert leaf.sharding.is_equivalent_to(shardings[key], leaf.ndim), (name, key)
        assert restored.state['kernel'].addressable_shards[0].data.shape == (
            (32, 32) if name == '2x4' else (64, 128))
    print('RESHARD_OK')
''')


def test_restore_onto_another_mesh_and_one_device(tmp_path):
  env = dict(os.environ, XLA_FLAGS='--xla_force_host_platform_device_count=8',
             JAX_PLATFORMS='cpu')
  result = subprocess.run([sys.executable, '-c', RESHARD_SCRIPT, str(tmp_path / 'ckpt')],
                          env=env, cwd=ROOT, capture_output=True, text=True, timeout=300)
  assert 'RESHARD_OK' in result.stdout, result.stdout[-3000:] + result.stderr[-3000:]


TWO_PROCESS_SCRIPT = textwrap.dedent('''
    import os, sys
    process_id, port, directory = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    import jax
    jax.config.update('jax_cpu_collectives_implementation', 'gloo')
    jax.distributed.initialize(f'localhost:{port}', num_processes=2, process_id=process_id)
    import jax.numpy as jnp, numpy as np
    from jax.experimental import multihost_utils
    from jax.sharding import Mesh, NamedSharding, PartitionSpec as P
    from unibert_jax.train import checkpointing

    mesh = Mesh(np.array(jax.devices()).reshape(2, 2), ('data', 'model'))
    values = np.arange(64 * 32, dtype=np.float32).reshape(64, 32)
    state = {
        'kernel': jax.make_array_from_callback(
            values.shape, NamedSharding(mesh, P('data', 'model')), lambda index: values[index]),
        'key': jax.jit(lambda: jax.random.key(1), out_shardings=NamedSharding(mesh, P()))(),
    }
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
    equal = jax.jit(lambda a, b: jnp.all(a == b), out_shardings=NamedSharding(mesh, P()))

    with checkpointing.Checkpointer(directory, keep=3) as checkpointer:
      for step in (1, 2, 3):
        checkpointer.save(step, state, {'step': step, 'process': process_id}, {'run': 'x'})
      checkpointer.wait()
      restored = checkpointer.restore(abstract)
      assert restored.step == 3 and restored.data_state == {'step': 3, 'process': process_id}
      assert bool(equal(restored.state['kernel'], state['kernel']).addressable_data(0))
      if process_id == 0:  # damage the newest step: both processes must fall back together
        files = [os.path.join(root, name) for root, _, names in os.walk(f'{directory}/3/state')
                 for name in names]
        biggest = max(files, key=os.path.getsize)
        data = bytearray(open(biggest, 'rb').read())
        for eighth in range(1, 8):  # one flip can land on a byte no restored value reads
          data[len(data) * eighth // 8] ^= 1
        open(biggest, 'wb').write(bytes(data))
      multihost_utils.sync_global_devices('damaged')
      assert checkpointer.restore(abstract).step == 2
      checkpointer.save(3, state, {'step': 3, 'process': process_id}, {'run': 'x'})
      checkpointer.wait()
      assert checkpointer.all_steps() == [1, 2, 3], checkpointer.all_steps()
    print('TWO_PROCESS_OK', process_id)
''')


def test_two_processes_save_restore_and_fall_back_together(tmp_path):
  outputs = run_two_processes(TWO_PROCESS_SCRIPT, str(tmp_path / 'ckpt'))
  for index, output in enumerate(outputs):
    assert f'TWO_PROCESS_OK {index}' in output, output[-4000:]
  data_files = set(os.listdir(tmp_path / 'ckpt' / '3' / 'data'))
  assert {'process_0-of-2.json', 'process_1-of-2.json'} <= data_files  # one per process
  assert os.listdir(tmp_path / 'ckpt' / checkpointing.UNRESTORABLE_DIR) == ['3']

  # One process (e.g. the HF export) reads what two wrote, onto one device.
  one_device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
  abstract = {'kernel': jax.ShapeDtypeStruct((64, 32), jnp.float32, sharding=one_device),
              'key': jax.ShapeDtypeStruct((), jax.random.key(0).dtype, sharding=one_device)}
  with checkpointing.Checkpointer(tmp_path / 'ckpt', read_only=True) as reader:
    restored = reader.restore(abstract)
  assert restored.step == 3
  assert as_bits(restored.state) == as_bits(
      {'kernel': np.arange(64 * 32, dtype=np.float32).reshape(64, 32), 'key': jax.random.key(1)})
  assert restored.data_state == {'step': 3, 'process': 0}  # process 0's, with a warning
