"""unibert-jax: UniBERT pre-training in JAX/Flax (MLM, adversarial language discriminator, KD)."""
