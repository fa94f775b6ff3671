"""Unsharded models for single-device tests."""

import flax.nnx as nnx

from unibert_jax.model import unibert as unibert_lib


def unibert(config, num_languages: int, seed: int | None = None) -> unibert_lib.UniBert:
  """The UniBERT model of `config`, created outside any mesh."""
  with nnx.use_eager_sharding(False):
    return unibert_lib.UniBert(config, num_languages,
                               rngs=nnx.Rngs(config.seed if seed is None else seed))
