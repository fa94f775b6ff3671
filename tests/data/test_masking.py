"""Static 15 % / 80-10-10 masking keyed by (mask_seed, example_index)."""

import numpy as np
import pytest

from unibert_jax.data import masking

VOCAB = 500
MASK_ID = VOCAB - 1
SPECIALS = (0, 1, 2, 3, MASK_ID)
LENGTH = 128
SLOTS = 20


def make_spec(**overrides):
  return masking.MaskingSpec(**dict(dict(vocab_size=VOCAB, mask_id=MASK_ID, special_ids=SPECIALS,
                                         max_predictions=SLOTS), **overrides))


def packed_rows(num_rows, seed=0):
  """<s> tokens </s> <pad>... rows of varied lengths; a few <unk> among the tokens."""
  rng = np.random.default_rng(seed)
  ids = np.full((num_rows, LENGTH), 1, np.int32)
  lengths = rng.integers(8, LENGTH + 1, size=num_rows)
  for row, length in enumerate(lengths):
    ids[row, 0] = 0
    ids[row, 1:length - 1] = rng.integers(4, MASK_ID, size=length - 2)
    ids[row, length - 1] = 2
  ids[ids % 37 == 0] = 3
  return ids


def maskable(ids):
  return ~np.isin(ids, SPECIALS)


def chosen_sets(out):
  return [frozenset(p[w > 0].tolist()) for p, w in zip(out['mlm_positions'], out['mlm_weights'])]


def test_same_example_index_same_mask_other_index_other_mask():
  spec = make_spec()
  row = packed_rows(1)
  same_row = np.repeat(row, 50, axis=0)
  first = masking.mask_batch(same_row, np.arange(1000, 1050), spec)
  again = masking.mask_batch(same_row, np.arange(1000, 1050), spec)
  for key in first:
    np.testing.assert_array_equal(first[key], again[key])
  # One example alone gets the mask it got inside the batch.
  alone = masking.mask_batch(row, np.array([1007]), spec)
  np.testing.assert_array_equal(alone['input_ids'][0], first['input_ids'][7])
  # The same sequence at 50 stream positions (e.g. in 50 epochs): 50 different masks.
  assert len(set(chosen_sets(first))) == 50
  # Another mask seed masks the same positions differently.
  other_seed = masking.mask_batch(same_row, np.arange(1000, 1050), make_spec(seed=1))
  assert all(a != b for a, b in zip(chosen_sets(first), chosen_sets(other_seed)))


def test_number_masked_is_the_rounded_rate_of_real_tokens():
  spec = make_spec()
  ids = packed_rows(2000)
  out = masking.mask_batch(ids, np.arange(2000), spec)
  num_real = maskable(ids).sum(axis=1)
  num_masked = out['mlm_weights'].sum(axis=1)
  expected = np.clip(np.floor(0.15 * num_real + 0.5), 1, SLOTS)
  np.testing.assert_array_equal(num_masked, expected)
  # Overall 15 %, up to the rounding (< half a token per row) and the slot cap.
  uncapped = 0.15 * num_real < SLOTS
  rate = num_masked[uncapped].sum() / num_real[uncapped].sum()
  assert abs(rate - 0.15) <= 0.5 / num_real[uncapped].mean(), rate


def test_at_least_one_and_at_most_max_predictions():
  ids = np.full((2, 64), 1, np.int32)
  ids[:, 0] = 0
  ids[0, 1:4], ids[0, 4] = 7, 2       # 3 real tokens: 0.45 rounds to 0, raised to 1
  ids[1, 1:63], ids[1, 63] = 9, 2      # 62 real tokens, 9.3 -> 9, capped to 5
  out = masking.mask_batch(ids, np.arange(2), make_spec(max_predictions=5))
  np.testing.assert_array_equal(out['mlm_weights'].sum(axis=1), [1, 5])


def test_80_10_10_split_and_no_special_ids():
  spec = make_spec()
  ids = packed_rows(3000, seed=1)
  out = masking.mask_batch(ids, np.arange(3000), spec)
  used = out['mlm_weights'] > 0
  replaced_by = np.take_along_axis(out['input_ids'], out['mlm_positions'], axis=1)[used]
  targets = out['mlm_targets'][used]
  n = used.sum()
  # A random replacement equals the original with probability 1 / (number of regular ids).
  num_regular = VOCAB - len(SPECIALS)
  expected = {'mask': 0.8, 'kept': 0.1 + 0.1 / num_regular, 'random': 0.1 - 0.1 / num_regular}
  observed = {'mask': np.mean(replaced_by == MASK_ID),
              'kept': np.mean(replaced_by == targets),
              'random': np.mean((replaced_by != MASK_ID) & (replaced_by != targets))}
  for kind, p in expected.items():
    assert abs(observed[kind] - p) <= 4 * np.sqrt(p * (1 - p) / n), (kind, observed, n)
  random_tokens = replaced_by[(replaced_by != MASK_ID) & (replaced_by != targets)]
  assert not np.isin(random_tokens, SPECIALS).any()
  # The random tokens cover the regular vocabulary (none is systematically left out).
  assert len(np.unique(random_tokens)) > 0.5 * num_regular


def test_never_masks_special_tokens_or_padding_and_targets_are_the_originals():
  ids = packed_rows(500, seed=2)
  out = masking.mask_batch(ids, np.arange(500), make_spec())
  used = out['mlm_weights'] > 0
  original_at = np.take_along_axis(ids, out['mlm_positions'], axis=1)
  assert not np.isin(original_at[used], SPECIALS).any()
  np.testing.assert_array_equal(out['mlm_targets'][used], original_at[used])
  # Unused slots: position 0, target 0, weight 0.
  assert (out['mlm_positions'][~used] == 0).all() and (out['mlm_targets'][~used] == 0).all()
  # Chosen positions ascend; nothing outside them changed.
  for positions, row_used in zip(out['mlm_positions'], used):
    assert np.all(np.diff(positions[row_used]) > 0)
  untouched = np.ones_like(ids, bool)
  np.put_along_axis(untouched, out['mlm_positions'], False, axis=1)
  untouched[:, 0] = True  # slot position 0 of unused slots is <s>, never changed
  np.testing.assert_array_equal(out['input_ids'][untouched], ids[untouched])
  assert out['input_ids'].dtype == np.int32 and out['mlm_weights'].dtype == np.float32


def test_sequences_shorter_than_the_slots_and_empty_rows():
  ids = np.array([[0, 5, 6, 7, 2, 1], [0, 2, 1, 1, 1, 1]], np.int32)
  out = masking.mask_batch(ids, np.arange(2), make_spec())
  assert out['mlm_positions'].shape == (2, SLOTS)
  np.testing.assert_array_equal(out['mlm_weights'].sum(axis=1), [1, 0])


@pytest.mark.parametrize('overrides', [dict(mask_rate=0.0), dict(max_predictions=0),
                                       dict(mask_token_fraction=0.95),
                                       dict(special_ids=(0, 1, 2, 3))])
def test_bad_settings_raise(overrides):
  with pytest.raises(ValueError):
    make_spec(**overrides)


def test_hash_is_deterministic_and_spreads():
  a = masking.hash_uint64(0, np.arange(10_000))
  np.testing.assert_array_equal(a, masking.hash_uint64(0, np.arange(10_000)))
  assert len(np.unique(a)) == 10_000
  # Each output bit is set about half the time.
  bits = (a[:, None] >> np.arange(64, dtype=np.uint64)) & np.uint64(1)
  assert np.all(np.abs(bits.mean(axis=0) - 0.5) < 4 * 0.5 / np.sqrt(10_000))


def test_ids_outside_the_vocabulary_raise():
  with pytest.raises(ValueError, match=r'\[0, 500\)'):
    masking.mask_batch(np.array([[0, 5, VOCAB, 2]]), np.arange(1), make_spec())
