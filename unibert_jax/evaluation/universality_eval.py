"""Language-universality evaluation of an encoder: the held-out UDHR articles and the suite.

`evaluate_encoder` reads the corpus validation split (whole articles, the same in every
language, never trained on: checked against the train split on every call), runs the encoder
jitted over fixed-shape batches (layer_features), mean-pools the final states and computes the
three figures of `universality.py`. Given suite options it also runs the cross-lingual suite
(suite.py) on the real parallel-text sets that are built, and on the held-out UDHR articles for
the languages those sets do not cover, at every layer. It writes `eval.json` (every figure),
`eval.png`, and the suite's `eval_suite.md` and `eval_suite.png`.
"""

from collections.abc import Iterable, Mapping, Sequence
import dataclasses
import json
import os
import time

import flax.nnx as nnx
import jax
import jax.numpy as jnp
import ml_collections
import numpy as np

from unibert_jax import language_probe
from unibert_jax import run_dir
from unibert_jax import special_tokens
from unibert_jax.data import corpus
from unibert_jax.data import input_pipeline
from unibert_jax.data import tokenizer as tokenizer_lib
from unibert_jax.evaluation import layer_features
from unibert_jax.evaluation import plotting
from unibert_jax.evaluation import suite as suite_lib
from unibert_jax.evaluation import suite_report
from unibert_jax.evaluation import universality
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.train import losses

EVAL_SPLIT = 'validation'
TRAIN_SPLIT = 'train'
SUMMARY_KEYS = ('retrieval_top1', 'retrieval_chance', 'language_probe_accuracy',
                'language_probe_chance', 'mlm_accuracy')


@dataclasses.dataclass(frozen=True)
class Paragraphs:
  """The records of one corpus split, as columns."""
  texts: list[str]
  language_ids: np.ndarray
  articles: np.ndarray
  paragraphs: np.ndarray
  document_ids: list[str]


def _records(data_dir: str, split: str) -> list[dict]:
  source = corpus.open_split(data_dir, split)
  records = []
  for start in range(0, len(source), 4096):  # batched reads: the train split has thousands
    records += source.__getitems__(range(start, min(start + 4096, len(source))))
  return records


def read_split(data_dir: str, split: str) -> Paragraphs:
  """Every record of a corpus split (the held-out split is small: a few articles)."""
  records = _records(data_dir, split)
  return Paragraphs(
      texts=[r['text'] for r in records],
      language_ids=np.array([int(r['language']) for r in records], np.int32),
      articles=np.array([int(r['article']) for r in records], np.int32),
      paragraphs=np.array([int(r['paragraph']) for r in records], np.int32),
      document_ids=[r['document_id'] for r in records])


def split_articles(data_dir: str, split: str) -> set[int]:
  return {int(r['article']) for r in _records(data_dir, split)}


def check_held_out(data_dir: str) -> dict:
  """Raises unless the evaluated articles and the training articles are disjoint.

  Returns the two article lists, recorded in eval.json.
  """
  evaluated, trained = split_articles(data_dir, EVAL_SPLIT), split_articles(data_dir, TRAIN_SPLIT)
  if not evaluated:
    raise ValueError(f'The {EVAL_SPLIT!r} split of {data_dir} is empty; prepare the corpus with '
                     'held-out articles before evaluating.')
  leaked = sorted(evaluated & trained)
  if leaked:
    raise ValueError(f'Articles {leaked} of {data_dir} are in both the {EVAL_SPLIT!r} and the '
                     f'{TRAIN_SPLIT!r} split: evaluation must read held-out articles only. '
                     'Re-prepare the corpus.')
  return {'evaluated_articles': sorted(evaluated), 'trained_articles': sorted(trained)}


def mlm_predictions(encoder: nnx.Module, batches: Iterable[Mapping[str, np.ndarray]],
                    mask_id: int) -> dict:
  """Argmax predictions at the prediction slots of the batches, with their targets.

  Only the slots whose input is <mask> are weighted: a kept slot is solved by copying its input,
  and a random one measures something else (losses.SLOT_KINDS).
  """
  graphdef, state = nnx.split(encoder)

  @jax.jit
  def predict(state, input_ids, attention_mask, positions):
    encoder = nnx.merge(graphdef, state)
    hidden = encoder(input_ids, attention_mask)
    logits = encoder.mlm_logits(encoder_lib.gather_positions(hidden, positions))
    return jnp.argmax(logits, axis=-1)

  columns = {'predictions': [], 'targets': [], 'weights': [], 'language_ids': []}
  for batch in batches:
    columns['predictions'].append(np.asarray(predict(
        state, batch['input_ids'], batch['attention_mask'], batch['mlm_positions'])))
    columns['targets'].append(np.asarray(batch['mlm_targets']))
    kinds = np.asarray(losses.slot_kinds(batch['input_ids'], batch['mlm_positions'],
                                         batch['mlm_targets'], mask_id))
    columns['weights'].append(np.asarray(batch['mlm_weights']) * (kinds == losses.MASK_SLOT))
    columns['language_ids'].append(np.asarray(batch['language_id']))
  if not columns['predictions']:
    raise ValueError(f'make_eval_batches returned no batch for the {EVAL_SPLIT!r} split.')
  return {name: np.concatenate(parts) for name, parts in columns.items()}


def _choose_pivot(names: Sequence[str], pivot: str) -> str:
  return pivot if pivot in names else sorted(names)[0]


ONE_LANGUAGE_NOTE = ('cross-lingual retrieval and the language probe need two languages; '
                     'skipped')


def _one_language_figures(name: str) -> dict:
  """What a one-language run reports instead: the figures are None, with the reason."""
  print(f'== evaluation: one language ({name}): {ONE_LANGUAGE_NOTE}.', flush=True)
  retrieval = {'retrieval_top1': None, f'retrieval_top1_vs_{name}': None,
               'retrieval_chance': None, 'retrieval_pivot': name, 'retrieval_paragraphs': 0,
               'skipped': ONE_LANGUAGE_NOTE,
               **{key: {} for key in ('per_language', 'per_language_to_pivot',
                                      'per_language_from_pivot', 'per_language_all_pairs')}}
  probe = {'language_probe_accuracy': None, 'language_probe_chance': None,
           'skipped': ONE_LANGUAGE_NOTE}
  return {'retrieval': retrieval, 'probe': probe}


def universality_figures(features: np.ndarray, paragraphs: Paragraphs,
                         language_names: Sequence[str], pivot: str = 'en') -> dict:
  """Retrieval and language-probe figures from pooled features of the held-out paragraphs.

  With one language only, both are skipped (None, and a note saying why).
  """
  present_ids = sorted(set(paragraphs.language_ids.tolist()))
  names = [language_names[i] for i in present_ids]
  if len(names) < 2:
    return _one_language_figures(names[0])
  pivot = _choose_pivot(names, pivot)
  # One document per language: rows in document order, so a repeated key keeps the first.
  order = sorted(range(len(paragraphs.texts)), key=lambda i: paragraphs.document_ids[i])
  keys = {name: [] for name in names}
  rows = {name: [] for name in names}
  for i in order:
    name = language_names[paragraphs.language_ids[i]]
    keys[name].append((paragraphs.articles[i], paragraphs.paragraphs[i]))
    rows[name].append(i)
  aligned, present, aligned_keys = universality.align_parallel(
      keys, {name: features[rows[name]] for name in names}, pivot=pivot)
  retrieval = universality.retrieval_top1(aligned, pivot=pivot, present_by_language=present)
  retrieval['retrieval_pivot'] = pivot
  retrieval['retrieval_paragraphs'] = len(aligned_keys)

  train_mask = universality.article_split(paragraphs.articles)
  probe = language_probe.probe_accuracy(features, paragraphs.language_ids, train_mask)
  probe['language_probe_train_articles'] = sorted(
      set(paragraphs.articles[train_mask].tolist()))
  return {'retrieval': retrieval, 'probe': probe}


def _max_len(encoder: nnx.Module, config: ml_collections.ConfigDict) -> int:
  """The run's sequence length, within the model's position table."""
  encoder_cfg = getattr(encoder, 'cfg', None)
  if encoder_cfg is None:
    return config.data.max_len
  return min(config.data.max_len,
             encoder_cfg.max_position_embeddings - encoder_lib.first_position(encoder_cfg))


def _scores_mlm(encoder: nnx.Module, tokenizer) -> bool:
  """The strict MLM figures need our masking: an MLM head and an XLM-R-family <mask>."""
  encoder_cfg = getattr(encoder, 'cfg', None)
  has_head = encoder_cfg is None or encoder_cfg.get('has_mlm_head', True)
  return bool(has_head) and tokenizer.token_to_id(special_tokens.MASK) is not None


def run_suite(pooled_layers: layer_features.PooledLayers, tokenizer, max_len: int,
              paragraphs: Paragraphs, language_names: Sequence[str],
              options: suite_lib.SuiteOptions, model_name: str) -> dict:
  """The suite on the built parallel-text sets, and UDHR for the languages they lack."""
  items_by_set, missing, item_sha256 = suite_lib.load_sets(options)
  covered = {item.language for items in items_by_set.values() for item in items}
  names = [language_names[i] for i in paragraphs.language_ids]
  wanted = set(options.languages) if options.languages is not None else set(names)
  keep = [i for i, name in enumerate(names)
          if name == suite_lib.PIVOT or (name in wanted and name not in covered)]
  udhr = suite_lib.udhr_items([paragraphs.texts[i] for i in keep], [names[i] for i in keep],
                              paragraphs.articles[keep], paragraphs.paragraphs[keep])
  if udhr:
    items_by_set[suite_lib.UDHR] = udhr
  elif suite_lib.PIVOT not in names:
    missing[suite_lib.UDHR] = f'the held-out split has no {suite_lib.PIVOT!r} paragraphs'
  return suite_lib.evaluate_suite(pooled_layers, tokenizer, max_len, items_by_set,
                                  missing=missing,
                                  item_sha256=item_sha256, model_name=model_name)


def evaluate_encoder(encoder: nnx.Module, tokenizer_dir: str, data_dir: str,
                     config: ml_collections.ConfigDict, out_dir: str, *,
                     pivot: str = 'en', suite_options: suite_lib.SuiteOptions | None = None,
                     model_name: str = '') -> dict:
  """Runs the three universality figures on the held-out articles; writes eval.json, eval.png.

  Args:
    encoder: a `model.Encoder` (any weights load_hf_encoder imports).
    tokenizer_dir: the directory of its tokenizer.json.
    data_dir: the prepared corpus (its validation split is read, never its train split's text).
    config: the run config (data.max_len, data.batch_size and the eval-batch fields).
    out_dir: where eval.json and eval.png go.
    pivot: the reference language of `retrieval_top1_vs_<pivot>` (first language if absent).
    suite_options: also run the cross-lingual suite (eval.json's 'suite', eval_suite.md/.png).
    model_name: what is evaluated, for the suite's reports.

  Returns:
    The summary: flat scalars (SUMMARY_KEYS, retrieval_top1_vs_<pivot>, retrieval_pivot,
    mlm_accuracy_micro, sizes, seconds, and the suite's headline figures). eval.json holds it
    plus every per-language figure, the probe's and retrieval's details, the evaluated and
    trained article numbers, and the suite.
  """
  start = time.time()
  articles = check_held_out(data_dir)
  paragraphs = read_split(data_dir, EVAL_SPLIT)
  language_names = list(corpus.language_names(data_dir))
  tokenizer = tokenizer_lib.load_tokenizer(tokenizer_dir)
  max_len = _max_len(encoder, config)
  # One jitted forward for these figures and a mean-pooled suite: no second compilation.
  mean_pooled = layer_features.PooledLayers(encoder, 'mean')
  features = mean_pooled(tokenizer, paragraphs.texts, max_len)[-1]
  figures = universality_figures(features, paragraphs, language_names, pivot)

  mlm = {'mlm_accuracy': None, 'mlm_accuracy_micro': None, 'per_language': {},
         'skipped': 'the model has no MLM head or no <mask> token'}
  if _scores_mlm(encoder, tokenizer):
    batches = input_pipeline.make_eval_batches(config, data_dir, tokenizer_dir, split=EVAL_SPLIT)
    mlm = universality.mlm_accuracy_by_language(
        **mlm_predictions(encoder, batches, tokenizer_lib.mask_id(tokenizer)),
        language_names=language_names)

  retrieval, probe = figures['retrieval'], figures['probe']
  pivot = retrieval['retrieval_pivot']
  summary = {
      'retrieval_top1': retrieval['retrieval_top1'],
      f'retrieval_top1_vs_{pivot}': retrieval[f'retrieval_top1_vs_{pivot}'],
      'retrieval_chance': retrieval['retrieval_chance'],
      'retrieval_pivot': pivot,
      'language_probe_accuracy': probe['language_probe_accuracy'],
      'language_probe_chance': probe['language_probe_chance'],
      'mlm_accuracy': mlm['mlm_accuracy'],
      'mlm_accuracy_micro': mlm['mlm_accuracy_micro'],
      'languages': len(set(paragraphs.language_ids.tolist())),
      'paragraphs': len(paragraphs.texts),
      'sequence_length': max_len,
  }
  suite = None
  if suite_options is not None:
    pooled_layers = (mean_pooled if suite_options.pooling == 'mean'
                     else layer_features.PooledLayers(encoder, suite_options.pooling))
    suite = run_suite(pooled_layers, tokenizer, max_len, paragraphs, language_names,
                      suite_options, model_name)
    summary |= suite_report.summary(suite)
    summary['suite_missing_sets'] = ','.join(
        sorted(name for name, entry in suite['sets'].items() if entry.get('missing')))
  summary['seconds'] = round(time.time() - start, 1)
  report = dict(summary,
                split=EVAL_SPLIT, **articles,
                retrieval={k: v for k, v in retrieval.items() if not k.startswith('per_')},
                probe=probe,
                mlm={k: v for k, v in mlm.items() if k != 'per_language'},
                per_language={
                    'retrieval_vs_pivot': retrieval['per_language'],
                    'retrieval_to_pivot': retrieval['per_language_to_pivot'],
                    'retrieval_from_pivot': retrieval['per_language_from_pivot'],
                    'retrieval_all_pairs': retrieval['per_language_all_pairs'],
                    'mlm_accuracy': mlm['per_language'],
                })
  if suite is not None:
    report['suite'] = suite
  os.makedirs(out_dir, exist_ok=True)
  with open(os.path.join(out_dir, run_dir.EVAL_FILE), 'w') as f:
    json.dump(report, f, indent=1, sort_keys=True)
  plot_evaluation(report, os.path.join(out_dir, run_dir.EVAL_PLOT))
  if suite is not None:
    suite_report.write(suite, out_dir)
  return summary


def plot_evaluation(report: Mapping, path: str) -> None:
  """Per-language retrieval and MLM accuracy bars, and the summary figures beside chance."""
  plt = plotting.pyplot()
  retrieval = report['per_language']['retrieval_vs_pivot']
  mlm = report['per_language']['mlm_accuracy']
  languages = sorted(set(retrieval) | set(mlm))
  width = max(8.0, 0.18 * len(languages))
  figure, axes = plt.subplots(3, 1, figsize=(width, 10), constrained_layout=True)
  x = np.arange(len(languages))
  pivot = report['retrieval_pivot']
  axes[0].bar(x, [retrieval.get(l, np.nan) for l in languages], color='tab:blue')
  if report['retrieval_chance'] is not None:
    axes[0].axhline(report['retrieval_chance'], color='gray', linestyle='--', label='chance')
    axes[0].legend(loc='upper right')
  axes[0].set_title(f'Retrieval top-1 vs {pivot} (mean of both directions)')
  axes[1].bar(x, [mlm.get(l, np.nan) for l in languages], color='tab:green')
  axes[1].set_title('MLM accuracy (held-out articles)')
  for axis in axes[:2]:
    axis.set_xticks(x, languages, rotation=90, fontsize=6 if len(languages) > 40 else 9)
    axis.set_ylim(0, 1)
    axis.set_xlim(-1, len(languages))
  names = ['retrieval top-1', 'language probe', 'MLM accuracy']
  nan_if_none = lambda value: np.nan if value is None else value   # one-language runs
  values = [nan_if_none(report[key]) for key in ('retrieval_top1', 'language_probe_accuracy',
                                                  'mlm_accuracy')]
  chance = [nan_if_none(report['retrieval_chance']),
            nan_if_none(report['language_probe_chance']), np.nan]
  axes[2].bar(np.arange(3) - 0.2, values, 0.4, label='model')
  axes[2].bar(np.arange(3) + 0.2, chance, 0.4, color='gray', label='chance')
  axes[2].set_xticks(np.arange(3), names)
  axes[2].set_ylim(0, 1)
  axes[2].set_title('Summary (language probe: lower is more language-universal)')
  axes[2].legend(loc='upper right')
  figure.savefig(path, dpi=100)
  plt.close(figure)
