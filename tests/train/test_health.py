"""The adversary's health at eval steps: a fresh held-out probe, and the relabelling warning."""

import logging

import numpy as np
import pytest

from tests.helpers import sharded_steps
from unibert_jax.train import trainer


def _rows(offset: float, languages=5, per_language=16, seed=0):
  rng = np.random.default_rng(seed)
  language = np.repeat(np.arange(languages), per_language)
  features = rng.standard_normal((len(language), 12)) + offset * np.eye(12)[language]
  return features, language


def test_the_held_out_probe_finds_language_offsets_and_not_their_absence():
  features, language = _rows(offset=4.0)
  found = trainer.held_out_probe(features, language)
  assert found['eval_probe_accuracy'] > 0.9
  assert found['eval_probe_chance'] == pytest.approx(0.2)
  features, language = _rows(offset=0.0)
  absent = trainer.held_out_probe(features, language)
  assert absent['eval_probe_accuracy'] < 0.45          # 40 test rows, chance 0.2
  assert absent['eval_probe_entropy'] > found['eval_probe_entropy']


def test_the_probe_fits_on_every_other_row_of_each_language():
  # Rows in any order; the split alternates within each language, so every language is in both.
  features, language = _rows(offset=4.0, per_language=8)
  order = np.random.default_rng(3).permutation(len(language))
  result = trainer.held_out_probe(features[order], language[order])
  assert result['eval_probe_accuracy'] > 0.75
  assert trainer.held_out_probe(features[:1], language[:1]) == {}


def test_a_discriminator_well_below_chance_warns_once(caplog):
  watch = trainer.RelabellingWatch(sharded_steps.small_config())
  with caplog.at_level(logging.WARNING, logger='unibert_jax.train.trainer'):
    watch.check(10, {'eval_disc_accuracy': 0.09, 'eval_disc_chance': 0.1})   # near chance: fine
    watch.check(20, {'eval_disc_accuracy': 0.01, 'eval_disc_chance': 0.1,
                     'eval_probe_accuracy': 0.7})
    watch.check(30, {'eval_disc_accuracy': 0.0, 'eval_disc_chance': 0.1})
  warnings = [r.getMessage() for r in caplog.records]
  assert len(warnings) == 1
  assert 'Step 20' in warnings[0] and 'relabelling' in warnings[0] and '0.700' in warnings[0]


def test_no_adversary_no_warning(caplog):
  config = sharded_steps.small_config()
  config.loss.adv_weight = 0.0
  watch = trainer.RelabellingWatch(config)
  with caplog.at_level(logging.WARNING, logger='unibert_jax.train.trainer'):
    watch.check(20, {'eval_disc_accuracy': 0.0, 'eval_disc_chance': 0.1})
  assert not caplog.records
