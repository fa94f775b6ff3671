"""unibert-jax: UniBERT pre-training (MLM + adversarial language discriminator + distillation) in JAX/Flax."""
