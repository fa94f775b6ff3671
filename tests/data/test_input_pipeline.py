"""The training stream, its process sharding, exact resume, the teacher join, eval batches."""

import dataclasses
import json

from etils import epath
import grain
import numpy as np
import pytest

from unibert_jax.data import batch as batch_lib
from unibert_jax.data import corpus
from unibert_jax.data import input_pipeline
from unibert_jax.data import masking
from unibert_jax.data import packing
from unibert_jax.data import sampling
from unibert_jax.data import tokenizer as tokenizer_lib
from unibert_jax.perf.bench import benchmark
from unibert_jax.teacher import cache as teacher_cache
from unibert_jax.teacher import cache_format

VOCAB = 700
MASK_ID = VOCAB - 1
BATCH = 16
MAX_LEN = 32
SLOTS = 5
CONTRACT = batch_lib.spec(batch_lib.TRAIN, batch_size=BATCH, max_len=MAX_LEN,
                          max_predictions=SLOTS)
KEYS = tuple(CONTRACT)


@pytest.fixture(scope='module')
def packed():
  rng = np.random.default_rng(0)
  streams = [rng.integers(4, MASK_ID, size=n) for n in (3000, 900, 200, 40)]
  return packing.pack_token_streams(streams, ['de', 'en', 'sw', 'yo'], MAX_LEN)


@pytest.fixture(scope='module')
def spec():
  return masking.MaskingSpec(vocab_size=VOCAB, mask_id=MASK_ID, special_ids=(0, 1, 2, 3, MASK_ID),
                             max_predictions=SLOTS)


def make_iterator(packed, spec, **overrides):
  kwargs = dict(batch_size=BATCH, seed=3, sampling_alpha=0.3, read_threads=1)
  kwargs.update(overrides)
  return input_pipeline.build_train_iterator(packed, spec, **kwargs)


def take(iterator, n):
  return [next(iterator) for _ in range(n)]


def assert_same_batches(first, second):
  assert len(first) == len(second)
  for a, b in zip(first, second):
    assert a.keys() == b.keys()
    for key in a:
      np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_batches_follow_the_contract(packed, spec):
  iterator = make_iterator(packed, spec)
  batches = take(iterator, 3)
  iterator.close()
  for step, batch in enumerate(batches):
    assert set(batch) == set(KEYS)
    for key, field in CONTRACT.items():
      assert batch[key].shape == field.shape, key
      assert batch[key].dtype == field.dtype, key
    np.testing.assert_array_equal(batch['example_index'], step * BATCH + np.arange(BATCH))
    # The attention covers <s> ... </s> exactly.
    lengths = batch['attention_mask'].sum(axis=1)
    rows = np.arange(BATCH)
    assert (batch['input_ids'][:, 0] == tokenizer_lib.BOS_ID).all()
    assert (batch['input_ids'][rows, lengths - 1] == tokenizer_lib.EOS_ID).all()
    # Each row is the packed sequence the sampler puts at its stream position, masked.
    sampler = sampling.StreamSampler(packed.language_id, 4, 0.3, 3, BATCH)
    sequences = sampler.sequence_indices(batch['example_index'])
    expected = masking.mask_batch(packed.input_ids[sequences], batch['example_index'], spec)
    for key, value in expected.items():
      np.testing.assert_array_equal(batch[key], value)
    np.testing.assert_array_equal(batch['language_id'], packed.language_id[sequences])


def test_two_processes_split_each_global_batch_exactly(packed, spec):
  whole = make_iterator(packed, spec)
  halves = [make_iterator(packed, spec, process_index=p, process_count=2) for p in (0, 1)]
  for _ in range(4):
    global_batch = next(whole)
    first, second = (next(h) for h in halves)
    assert first['input_ids'].shape[0] == second['input_ids'].shape[0] == BATCH // 2
    assert not set(first['example_index']) & set(second['example_index'])
    for key in KEYS:
      np.testing.assert_array_equal(np.concatenate([first[key], second[key]]), global_batch[key])
  for iterator in [whole] + halves:
    iterator.close()


def test_batch_size_must_divide_by_the_process_count(packed, spec):
  with pytest.raises(ValueError, match='data.batch_size .16. .* 3'):
    make_iterator(packed, spec, process_index=0, process_count=3)


def test_restore_resumes_with_the_identical_next_batches(packed, spec):
  iterator = make_iterator(packed, spec)
  take(iterator, 7)
  state = json.loads(json.dumps(iterator.get_state()))  # what a checkpoint stores
  expected = take(iterator, 5)
  # A fresh iterator object (a restarted job).
  fresh = make_iterator(packed, spec)
  fresh.set_state(state)
  assert_same_batches(take(fresh, 5), expected)
  # The same iterator, rewound.
  iterator.set_state(state)
  assert_same_batches(take(iterator, 5), expected)
  # The global step is the whole state: it restores onto two processes too.
  second_half = make_iterator(packed, spec, process_index=1, process_count=2)
  second_half.set_state(state)
  np.testing.assert_array_equal(next(second_half)['input_ids'],
                                expected[0]['input_ids'][BATCH // 2:])
  for it in (iterator, fresh, second_half):
    it.close()


def test_restore_refuses_a_state_from_other_stream_settings(packed, spec):
  state = make_iterator(packed, spec).get_state()
  other = make_iterator(packed, spec, seed=4)
  with pytest.raises(ValueError, match='seed=3 but this run has 4'):
    other.set_state(state)


def test_grain_checkpoint_handler_saves_and_restores_the_iterator(packed, spec, tmp_path):
  iterator = make_iterator(packed, spec)
  take(iterator, 3)
  handler = grain.checkpoint.CheckpointHandler()
  handler.save(epath.Path(tmp_path), iterator)
  expected = take(iterator, 2)
  restored = make_iterator(packed, spec)
  handler.restore(epath.Path(tmp_path), restored)
  assert_same_batches(take(restored, 2), expected)
  for it in (iterator, restored):
    it.close()


def test_grain_workers_give_the_same_stream(packed, spec):
  reference = make_iterator(packed, spec)
  expected = take(reference, 12)
  with_workers = make_iterator(packed, spec, worker_count=1)
  assert_same_batches(take(with_workers, 6), expected[:6])
  state = with_workers.get_state()
  with_workers.close()
  # The state does not depend on the worker count.
  restored = make_iterator(packed, spec, worker_count=0)
  restored.set_state(state)
  assert_same_batches(take(restored, 6), expected[6:])
  for it in (reference, restored):
    it.close()


class FakeTeacherCache:
  """The cache's lookup() for examples masked with `mask_seed`, joined as the real cache joins."""

  def __init__(self, packed, spec, mask_seed, top_k=4):
    sampler = sampling.StreamSampler(packed.language_id, 4, 0.3, 3, BATCH)
    self._examples = input_pipeline.ExampleMaker(
        packed, sampler, dataclasses.replace(spec, seed=mask_seed))
    self.top_k = top_k
    self.directory = '/caches/teacher_topk'

  def lookup(self, example_indices):
    examples = self._examples(example_indices)
    hashes = cache_format.example_hash(examples['input_ids'], examples['mlm_positions'])
    shape = examples['mlm_positions'].shape + (self.top_k,)
    values = -np.sort(-np.arange(np.prod(shape), dtype=np.float16).reshape(shape), axis=-1)
    indices = np.broadcast_to(np.arange(self.top_k, dtype=np.int64), shape)
    return values, indices, hashes.view(np.uint64)

  def join(self, batch):
    teacher_cache.join_top_k(batch, self.lookup, self.directory)


def test_teacher_cache_for_the_same_data_is_joined(packed, spec):
  cache = FakeTeacherCache(packed, spec, mask_seed=spec.seed)
  iterator = make_iterator(packed, spec, join=cache.join)
  batch = next(iterator)
  iterator.close()
  assert batch['teacher_topk_values'].dtype == np.float32
  assert batch['teacher_topk_indices'].dtype == np.int32
  assert batch['teacher_topk_values'].shape == (BATCH, SLOTS, 4)
  expected_values, _, _ = cache.lookup(batch['example_index'].astype(np.int64))
  np.testing.assert_array_equal(batch['teacher_topk_values'], expected_values)


def test_teacher_cache_for_another_mask_seed_raises_one_clear_error(packed, spec):
  cache = FakeTeacherCache(packed, spec, mask_seed=spec.seed + 1)
  iterator = make_iterator(packed, spec, join=cache.join)
  with pytest.raises(teacher_cache.TeacherCacheMismatchError) as error:
    next(iterator)
  iterator.close()
  message = str(error.value)
  assert message.startswith('teacher cache /caches/teacher_topk does not match the data at '
                            'example 0')
  assert 'data.mask_seed' in message and 'launch/cache_teacher.py' in message


def test_example_hash_sees_every_id_and_position():
  ids = np.arange(2 * MAX_LEN, dtype=np.int32).reshape(2, MAX_LEN)
  positions = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 0, 0]], np.int32)
  base = cache_format.example_hash(ids, positions)
  assert base.dtype == np.int64 and base[0] != base[1]
  changed_id, changed_position = ids.copy(), positions.copy()
  changed_id[0, 17] += 1
  changed_position[1, 4] = 9
  assert cache_format.example_hash(changed_id, positions)[0] != base[0]
  assert cache_format.example_hash(ids, changed_position)[1] != base[1]
  np.testing.assert_array_equal(cache_format.example_hash(ids.astype(np.int64), positions), base)


# ----------------------------------------------------------------- the real UDHR corpus


@pytest.mark.slow
def test_packing_the_real_corpus_loses_no_token(udhr_data):
  config, data_dir, tokenizer_dir = udhr_data
  tokenizer = tokenizer_lib.load_tokenizer(tokenizer_dir)
  packed = packing.load_or_pack(data_dir, 'validation', tokenizer, config.data.max_len)
  assert packed.path is not None
  names = corpus.language_names(data_dir)
  assert packed.language_names == names and (packed.language_counts() > 0).all()
  streams = packing.tokenize_by_language(corpus.open_split(data_dir, 'validation'), tokenizer,
                                         len(names))
  min_tail = packing.default_min_tail_tokens(config.data.max_len)
  for language, stream in enumerate(streams):
    rows = np.flatnonzero(packed.language_id == language)
    joined = np.concatenate([packed.input_ids[r, 1:packed.length[r] - 1] for r in rows])
    np.testing.assert_array_equal(joined, stream[:len(joined)])
    assert len(stream) - len(joined) < min_tail
  # The second start reads the cache.
  again = packing.load_or_pack(data_dir, 'validation', tokenizer, config.data.max_len)
  assert again.path == packed.path
  np.testing.assert_array_equal(again.input_ids, packed.input_ids)


@pytest.mark.slow
def test_real_stream_matches_iterate_examples_and_eval_covers_every_language(udhr_data):
  config, data_dir, tokenizer_dir = udhr_data
  batch_size = config.data.batch_size
  iterator = input_pipeline.make_train_iterator(config, data_dir, tokenizer_dir)
  batches = take(iterator, 3)
  iterator.close()
  assert batches[0]['input_ids'].shape == (batch_size, config.data.max_len)
  # The teacher cache writer sees exactly these examples, in other batch sizes too.
  written = list(input_pipeline.iterate_examples(config, data_dir, tokenizer_dir, 0,
                                                 3 * batch_size, batch_size=20))
  assert [len(b['example_index']) for b in written] == [20, 20, 8]
  for key in KEYS:
    np.testing.assert_array_equal(np.concatenate([b[key] for b in written]),
                                  np.concatenate([b[key] for b in batches]))

  eval_batches = input_pipeline.make_eval_batches(config, data_dir, tokenizer_dir)
  again = input_pipeline.make_eval_batches(config, data_dir, tokenizer_dir)
  assert_same_batches(eval_batches, again)
  merged = {k: np.concatenate([b[k] for b in eval_batches]) for k in eval_batches[0]}
  assert all(b['input_ids'].shape[0] == batch_size for b in eval_batches)
  real = merged['is_real'] == 1
  assert (merged['mlm_weights'][~real] == 0).all() and (merged['example_index'][~real] == -1).all()
  assert (merged['mlm_weights'][real].sum(axis=1) >= 1).all()
  names = corpus.language_names(data_dir)
  per_language = np.bincount(merged['language_id'][real], minlength=len(names))
  assert (per_language >= 1).all() and per_language.max() == config.data.eval_sequences_per_language
  assert (~real).sum() < batch_size


@pytest.mark.slow
def test_benchmark_reports_throughput(udhr_data):
  config, data_dir, tokenizer_dir = udhr_data
  result = benchmark.pipeline_benchmark(config, data_dir, tokenizer_dir, seconds=0.5)
  assert result['batches_per_sec'] > 0
  assert result['tokens_per_sec'] == pytest.approx(
      result['batches_per_sec'] * config.data.batch_size * config.data.max_len)
