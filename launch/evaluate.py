r"""Language-universality of an encoder, measured on the held-out UDHR articles.

A training run (restores the latest checkpoint's parameters and the run's config):

  python launch/evaluate.py --workdir=/tmp/unibert_demo

Any XLM-R-family Hugging Face directory (exported by launch/export_hf.py, or third-party) with
its tokenizer.json:

  python launch/evaluate.py --hf=/tmp/unibert_demo/export --data_dir=/tmp/unibert_demo/data

Without --data_dir the run's data directory is used (--workdir), or the demo UDHR corpus is
prepared into --config's data.data_dir or ~/.cache/unibert_jax/eval_data (--hf).
Writes eval.json and eval.png into --out_dir (default <workdir>/eval, or ./eval_<name of the
HF dir>) and prints one JSON line with retrieval_top1, retrieval_chance,
language_probe_accuracy, language_probe_chance and mlm_accuracy. Takes about a minute for the
demo model on 2 CPU cores.

With --hf and --fill_mask it also scores the directory in `transformers` itself: fill-mask
accuracy on 15 % of the held-out tokens, next to always answering the most frequent token
(evaluation/fill_mask.py).

The cross-lingual suite (evaluation/suite.py) runs too, at every layer: on the real
parallel-text sets that are built (launch/build_eval_data.py, or --build here) and on the
held-out UDHR articles for the languages they lack. A run is scored on its own languages; an HF
directory on every language of the sets (--languages=de,fr,... narrows it). Its tables land in
eval_suite.md and eval_suite.png, every number in eval.json's 'suite'. BERT-family directories
(mBERT, multilingual MiniLM, multilingual-e5) are scored by the suite and the held-out figures;
the MLM figures need an XLM-R-family <mask> and MLM head.

Comparing evaluations (paired over languages, with the paper's average relative improvement):

  python launch/evaluate.py --compare=RUN_A/eval,RUN_B/eval          # B against A
  python launch/evaluate.py --compare=A_seed0+A_seed1,B_seed0+B_seed1  # seeds of each variant
"""

import contextlib
import dataclasses
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from absl import app
from absl import flags
from ml_collections import config_flags

from unibert_jax import cli
from unibert_jax import config_schema
from unibert_jax import run_dir
from unibert_jax.data import corpus
from unibert_jax.data import prepare
from unibert_jax.evaluation import compare_evals
from unibert_jax.evaluation import fill_mask
from unibert_jax.evaluation import parallel_text
from unibert_jax.evaluation import suite as suite_lib
from unibert_jax.evaluation import universality_eval
from unibert_jax.export import from_run
from unibert_jax.export import hf_format

_WORKDIR = flags.DEFINE_string('workdir', None, 'Training run to evaluate (latest checkpoint).')
_HF = flags.DEFINE_string('hf', None, 'Hugging Face XLM-R-family directory to evaluate.')
_DATA_DIR = flags.DEFINE_string('data_dir', None, 'Prepared corpus; see the module docstring.')
_OUT_DIR = flags.DEFINE_string('out_dir', None, 'Where eval.json and eval.png go.')
_STEP = flags.DEFINE_integer('step', None, 'With --workdir: the checkpoint step (default: newest).')
_FILL_MASK = flags.DEFINE_bool(
    'fill_mask', False, 'With --hf: also the fill-mask accuracy in transformers (torch).')
_PIVOT = flags.DEFINE_string('pivot', 'en', 'Reference language of retrieval_top1_vs_<pivot>.')
_SETS = flags.DEFINE_string('sets', None, 'Suite sets (default: the config\'s eval.sets); '
                            '"" runs the suite on the UDHR articles only.')
_BUILD = flags.DEFINE_bool('build', False, 'Build the requested suite sets that are missing '
                           'first (downloads, launch/build_eval_data.py).')
_LANGUAGES = flags.DEFINE_list('languages', None, 'Suite languages (default: the run\'s, or '
                               'every language of the sets for --hf).')
_POOLING = flags.DEFINE_enum('pooling', None, ['mean', 'cls'], 'Suite pooling (default: '
                             'eval.pooling).')
_MAX_ITEMS = flags.DEFINE_integer('max_items_per_language', None, 'Suite items per language '
                                  '(default: eval.max_items_per_language; 0 = all).')
_COMPARE = flags.DEFINE_string('compare', None, 'Compare evaluations instead: A,B[,C] where each '
                               'is an eval.json or its directory, or several joined by +.')
_CONFIG = config_flags.DEFINE_config_file(
    'config', os.path.join(ROOT, 'configs', 'demo.py'),
    'With --hf: the data and batch settings (max_len, batch_size, eval sequences). '
    'With --workdir the run\'s own config is used and this flag is ignored.')


def _prepare_demo_data(config) -> str:
  """The config's corpus (the demo UDHR one), prepared once into a shared cache directory."""
  cache_dir = prepare.cache_dir_of(config)
  data_dir = config.data.data_dir or os.path.join(cache_dir, 'eval_data')
  corpus.prepare_corpus(config.data, data_dir, cache_dir)
  return data_dir


def _suite_options(config, languages) -> suite_lib.SuiteOptions:
  """The config's eval section, overridden by the flags."""
  options = suite_lib.options_from_config(config, _LANGUAGES.value or languages)
  overrides = {}
  if _SETS.value is not None:
    overrides['sets'] = parallel_text.set_names(_SETS.value)
  if _POOLING.value:
    overrides['pooling'] = _POOLING.value
  if _MAX_ITEMS.value is not None:
    overrides['max_items_per_language'] = _MAX_ITEMS.value or None
  options = dataclasses.replace(options, **overrides)
  if _BUILD.value and options.sets:
    parallel_text.build(options.cache_dir, sets=options.sets, log=_log)
  return options


def _log(line: str) -> None:
  print(line, file=sys.stderr, flush=True)


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments {argv[1:]}.')
  if _COMPARE.value:
    if _WORKDIR.value or _HF.value:
      raise app.UsageError('--compare reads finished evaluations; pass it without --workdir '
                           'and --hf.')
    cli.print_json(compare_evals.main(_COMPARE.value, _OUT_DIR.value))
    return
  if bool(_WORKDIR.value) == bool(_HF.value):
    raise app.UsageError('Pass exactly one of --workdir (a training run) or --hf (a Hugging '
                         'Face directory).')
  if _FILL_MASK.value and not _HF.value:
    raise app.UsageError('--fill_mask scores a Hugging Face directory: pass --hf (for a run, '
                         'its export: --hf=<workdir>/hf).')
  if _WORKDIR.value:
    encoder, config, facts = from_run.load_checkpoint_encoder(_WORKDIR.value, _STEP.value)
    data_dir = _DATA_DIR.value or facts.data_dir
    tokenizer_dir = facts.tokenizer_dir
    out_dir = _OUT_DIR.value or run_dir.RunDir(_WORKDIR.value).eval
    options = _suite_options(config, facts.languages)
    model_name = _WORKDIR.value
  else:
    hf_dir = _HF.value
    if not os.path.isfile(os.path.join(hf_dir, 'tokenizer.json')):
      raise FileNotFoundError(f'{hf_dir} has no tokenizer.json; evaluation tokenizes with the '
                              "model's own tokenizer. Save it there (tokenizer.save_pretrained).")
    encoder, model_cfg = hf_format.load_hf_encoder(hf_dir)
    config = _CONFIG.value
    config_schema.validate(config)
    # The evaluation batches follow the model: its vocabulary (the masking uses its <mask> id
    # and size) and its position table.
    config.data.vocab_size = model_cfg.vocab_size
    config.data.max_len = min(config.data.max_len, model_cfg.max_position_embeddings - 2)
    data_dir = _DATA_DIR.value or _prepare_demo_data(config)
    tokenizer_dir = hf_dir
    name = os.path.basename(os.path.normpath(hf_dir))
    out_dir = _OUT_DIR.value or os.path.join(os.getcwd(), f'eval_{name}')
    options = _suite_options(config, None)
    model_name = hf_dir
  # Progress goes to stderr: stdout carries only the JSON line.
  with contextlib.redirect_stdout(sys.stderr):
    summary = universality_eval.evaluate_encoder(encoder, tokenizer_dir, data_dir, config,
                                                 out_dir, pivot=_PIVOT.value,
                                                 suite_options=options, model_name=model_name)
  if _FILL_MASK.value:
    summary |= fill_mask.fill_mask_accuracy(_HF.value, data_dir, config.data.max_len)
  cli.print_json(summary | {'out_dir': out_dir})


if __name__ == '__main__':
  cli.run(main)
