"""Teacher-logit cache: real corpus, real input pipeline, real ArrayRecord files, real training."""

import dataclasses
import os
import pickle

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tests.helpers import cache_records
from tests.helpers import kd_setup
from tests.helpers.cache_records import cache_files
from unibert_jax import sharding
from unibert_jax.data import input_pipeline
from unibert_jax.export import hf_format
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.teacher import cache as teacher_cache
from unibert_jax.teacher import cache_format
from unibert_jax.train import step as step_lib

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def setup(kd_run):
  """(config, data_dir, tokenizer_dir, teacher_dir)."""
  return kd_run


@pytest.fixture
def built(built_cache):
  """An uninterrupted build: (result, cache_dir)."""
  return built_cache


def build(config, teacher_dir, data_dir, tokenizer_dir, workdir, **kwargs):
  return kd_setup.build(config, data_dir, tokenizer_dir, teacher_dir, workdir, **kwargs)




def pipeline_examples(config, data_dir, tokenizer_dir, stop):
  batches = list(input_pipeline.iterate_examples(config, data_dir, tokenizer_dir, 0, stop))
  return {k: np.concatenate([b[k] for b in batches]) for k in batches[0]}


@nnx.jit
def _masked_logits(encoder, input_ids, attention_mask, mlm_positions):
  hidden = encoder(input_ids, attention_mask)
  return encoder.mlm_logits(encoder_lib.gather_positions(hidden, mlm_positions))


def masked_logits(encoder, batch) -> np.ndarray:
  return np.asarray(_masked_logits(encoder, batch['input_ids'], batch['attention_mask'],
                                   batch['mlm_positions']))


def test_cache_holds_sorted_top_k_for_exactly_the_students_examples(setup, built):
  config, data_dir, tokenizer_dir, teacher_dir = setup
  result, cache_dir = built
  examples = config.train.steps * config.data.batch_size
  assert result['complete'] and result['examples'] == examples == result['computed_examples']
  assert result['shards'] == 5 and result['sequences_per_sec'] > 0
  data = pipeline_examples(config, data_dir, tokenizer_dir, examples)
  assert result['masked_tokens'] == int(data['mlm_weights'].sum())
  assert result['bytes_per_masked_token'] == pytest.approx(result['bytes']
                                                          / result['masked_tokens'])

  records = sorted(cache_records.iterate_records(cache_dir), key=lambda r: r[0])
  assert [r[0] for r in records] == list(range(examples))
  hashes = cache_format.example_hash(data['input_ids'], data['mlm_positions'])
  k, vocab = config.kd.top_k, config.data.vocab_size
  for (index, digest, values, indices), weights in zip(records, data['mlm_weights']):
    assert digest == hashes[index]
    assert values.shape == (int(weights.sum()), k) == indices.shape
    assert np.all(np.diff(values, axis=-1) <= 0), 'values must be sorted descending'
    assert np.all(values <= 0) and np.all(np.exp(values).sum(-1) <= 1 + 1e-2)  # log-probs
    assert indices.min() >= 0 and indices.max() < vocab
    assert all(len(set(row)) == k for row in indices.tolist())

  # Alignment: the teacher, run here on the first examples, predicts what the cache holds.
  encoder, _ = hf_format.load_hf_encoder(teacher_dir)
  first = {name: data[name][:64] for name in ('input_ids', 'attention_mask', 'mlm_positions')}
  log_probs = jax.nn.log_softmax(masked_logits(encoder, first), axis=-1)
  weights = data['mlm_weights'][:64] > 0
  cached_top = np.stack([np.pad(r[3][:, 0], (0, config.data.max_predictions - len(r[3])))
                         for r in records[:64]])
  assert np.mean(np.argmax(log_probs, -1)[weights] == cached_top[weights]) > 0.99
  cached_values = np.stack([np.pad(r[2], ((0, config.data.max_predictions - len(r[2])), (0, 0)))
                            for r in records[:64]])
  recomputed = -np.sort(-np.asarray(log_probs), axis=-1)[..., :k]
  # bfloat16 keeps 8 significant bits.
  np.testing.assert_allclose(cached_values[weights], recomputed[weights], rtol=2**-8, atol=1e-3)


def test_lookup_gives_random_access_and_joins_the_training_batches(setup, built):
  config, data_dir, tokenizer_dir, _ = setup
  _, cache_dir = built
  cache = teacher_cache.TeacherCache(cache_dir, config, data_dir=data_dir,
                                     tokenizer_dir=tokenizer_dir)
  records = {r[0]: r for r in cache_records.iterate_records(cache_dir)}
  wanted = np.array([3199, 0, 640, 17, 1283, 639])  # across shards, unordered
  values, indices, hashes = pickle.loads(pickle.dumps(cache)).lookup(wanted)  # as a grain worker
  p, k = config.data.max_predictions, config.kd.top_k
  assert values.shape == (6, p, k) == indices.shape and values.dtype == np.float32
  for row, index in enumerate(wanted):
    _, digest, cached_values, cached_indices = records[index]
    slots = len(cached_values)
    assert hashes[row] == digest
    np.testing.assert_array_equal(values[row, :slots], cached_values)
    np.testing.assert_array_equal(indices[row, :slots], cached_indices)
    assert not values[row, slots:].any() and not indices[row, slots:].any()
  with pytest.raises(IndexError, match='outside the 3200 examples'):
    cache.lookup([3200])

  iterator = input_pipeline.make_train_iterator(config, data_dir, tokenizer_dir, join=cache.join)
  try:
    for _ in range(3):
      batch = next(iterator)
  finally:
    iterator.close()
  assert batch['teacher_topk_values'].shape == (config.data.batch_size, p, k)
  expected, _, _ = cache.lookup(batch['example_index'])
  np.testing.assert_array_equal(batch['teacher_topk_values'], expected)
  assert np.all(batch['teacher_topk_indices'][batch['mlm_weights'] == 0] == 0)
  cache.close()


def test_a_cache_for_other_settings_or_data_is_refused(setup, built, tmp_path):
  config, data_dir, tokenizer_dir, teacher_dir = setup
  _, cache_dir = built
  for field, value in (('data.mask_seed', 1), ('kd.top_k', 4), ('data.max_predictions', 12)):
    other = config.copy_and_resolve_references()
    section, name = field.split('.')
    other[section][name] = value
    with pytest.raises(cache_format.TeacherCacheError, match=field.replace('.', r'\.')):
      teacher_cache.TeacherCache(cache_dir, other)
  longer = config.copy_and_resolve_references()
  longer.train.steps = 300
  with pytest.raises(cache_format.TeacherCacheError, match='covers 3200 examples .* needs 4800'):
    teacher_cache.TeacherCache(cache_dir, longer)
  with pytest.raises(FileNotFoundError, match='cache_teacher.py'):
    teacher_cache.TeacherCache(str(tmp_path), config)

  # Another tokenizer (hence other data): the manifest's fingerprints catch it.
  other_tokenizer = kd_setup.train_tokenizer(str(tmp_path / 'tokenizer'), alpha=1.0)
  with pytest.raises(cache_format.TeacherCacheError, match='tokenizer'):
    teacher_cache.TeacherCache(cache_dir, config, data_dir=data_dir,
                               tokenizer_dir=other_tokenizer)

  # The per-example hash is the backstop: other examples (the held-out split) and other
  # masks (another seed) at the same stream positions are refused at the first batch.
  cache = teacher_cache.TeacherCache(cache_dir, config)
  packed, spec = input_pipeline.load_split(config, data_dir, tokenizer_dir, 'train')
  held_out, _ = input_pipeline.load_split(config, data_dir, tokenizer_dir, 'validation')
  for sequences, masking in ((held_out, spec), (packed, dataclasses.replace(spec, seed=1))):
    iterator = input_pipeline.build_train_iterator(
        sequences, masking, batch_size=config.data.batch_size, seed=config.seed,
        sampling_alpha=config.data.sampling_alpha, join=cache.join)
    with pytest.raises(teacher_cache.TeacherCacheMismatchError, match='masking seed'):
      next(iterator)
    iterator.close()

  # Resuming a build with other settings into the same directory is refused too.
  other = config.copy_and_resolve_references()
  other.data.mask_seed = 1
  workdir = os.path.dirname(cache_dir)
  with pytest.raises(cache_format.TeacherCacheError, match='mask_seed: cached 0, now 1'):
    build(other, teacher_dir, data_dir, tokenizer_dir, workdir)


def test_teacher_with_another_vocabulary_is_refused(setup, tmp_path):
  config, data_dir, tokenizer_dir, teacher_dir = setup
  other = config.copy_and_resolve_references()
  other.data.vocab_size = 2000
  with pytest.raises(cache_format.TeacherCacheError, match='shared tokenizer'):
    build(other, teacher_dir, data_dir, tokenizer_dir, str(tmp_path))


def test_resume_after_a_stop_writes_the_same_files(setup, built, tmp_path):
  config, data_dir, tokenizer_dir, teacher_dir = setup
  _, reference_dir = built
  first = build(config, teacher_dir, data_dir, tokenizer_dir, str(tmp_path), max_shards=2)
  cache_dir = first['cache_dir']
  assert not first['complete'] and first['computed_examples'] == 1280
  with pytest.raises(cache_format.TeacherCacheError, match='unfinished'):
    teacher_cache.TeacherCache(cache_dir, config)
  # What a writer killed in the middle of shard 2 leaves behind.
  with open(os.path.join(cache_dir, 'shard-00002-process-000-of-001.array_record.tmp'), 'wb') as f:
    f.write(b'partial')
  second = build(config, teacher_dir, data_dir, tokenizer_dir, str(tmp_path))
  assert second['complete'] and second['computed_examples'] == 3200 - 1280
  assert cache_files(cache_dir) == cache_files(reference_dir)




def _held_out_kl(encoder, teacher, batches) -> float:
  """Mean KL(teacher || student) over the real prediction slots of held-out batches, T = 1."""
  total, count = 0.0, 0.0
  for batch in batches:
    teacher_log_p = jax.nn.log_softmax(masked_logits(teacher, batch), -1)
    student_log_q = jax.nn.log_softmax(masked_logits(encoder, batch), -1)
    kl = (jnp.exp(teacher_log_p) * (teacher_log_p - student_log_q)).sum(-1)
    total += float((kl * batch['mlm_weights']).sum())
    count += float(batch['mlm_weights'].sum())
  return total / count


def _train(config, data_dir, tokenizer_dir, cache) -> object:
  program = step_lib.build_train_program(
      config, sharding.make_mesh((1, 1, 1), jax.devices()[:1]),
      num_languages=len(kd_setup.LANGUAGE_CODES), distill=cache is not None)
  state = program.init()
  iterator = input_pipeline.make_train_iterator(config, data_dir, tokenizer_dir,
                                                join=cache.join if cache else None)
  try:
    for _ in range(config.train.steps):
      batch = next(iterator)
      assert ('teacher_topk_values' in batch) == program.distill
      state, metrics = program.step(state, program.put_batch(batch))
  finally:
    iterator.close()
  assert bool(metrics['finite'])
  return nnx.merge(program.graphdef, state)[0].encoder


@pytest.mark.slow  # two 200-step trainings: ~40 s on a quiet machine
def test_distillation_from_the_cache_brings_the_student_closer_to_the_teacher(setup, built):
  config, data_dir, tokenizer_dir, teacher_dir = setup
  _, cache_dir = built
  config = config.copy_and_resolve_references()
  config.loss.update(mlm_weight=1.0, adv_weight=0.0, kd_weight=1.0)
  config.kd.cache_dir = cache_dir
  plain = config.copy_and_resolve_references()
  plain.loss.kd_weight = 0.0

  cache = teacher_cache.TeacherCache(cache_dir, config, data_dir=data_dir,
                                     tokenizer_dir=tokenizer_dir)
  distilled = _train(config, data_dir, tokenizer_dir, cache)
  baseline = _train(plain, data_dir, tokenizer_dir, None)
  teacher, _ = hf_format.load_hf_encoder(teacher_dir)
  held_out = input_pipeline.make_eval_batches(config, data_dir, tokenizer_dir)
  kl_distilled = _held_out_kl(distilled, teacher, held_out)
  kl_baseline = _held_out_kl(baseline, teacher, held_out)
  assert kl_distilled < 0.8 * kl_baseline, (kl_distilled, kl_baseline)
