"""A fine-tuned head model as a Hugging Face task model: `AutoModelFor...` and `pipeline` load it.

A post-LN encoder becomes XLMRobertaFor{SequenceClassification, TokenClassification,
QuestionAnswering}, a pre-LN one the XLMRobertaXLFor... class of the same task. The body is the
bare encoder's export (hf_format) under `roberta.`, without its MLM head; the task head keeps
transformers' names (heads.py already has their layout): `classifier.dense` and
`classifier.out_proj` (no pooler), `classifier`, or `qa_outputs`. config.json names the labels
(id2label / label2id), so pipelines answer with them; a regression head has one output and
problem_type 'regression'.
"""

from collections.abc import Sequence
import json

import flax.nnx as nnx
import numpy as np

from unibert_jax.export import hf_format
from unibert_jax.finetune import heads
from unibert_jax.model import encoder as encoder_lib
from unibert_jax.tasks import examples

# The transformers class suffix and the pipeline of each task kind.
_HF_TASKS = {
    examples.CLASSIFICATION: ('ForSequenceClassification', 'text-classification'),
    examples.REGRESSION: ('ForSequenceClassification', 'text-classification'),
    examples.TOKEN_CLASSIFICATION: ('ForTokenClassification', 'token-classification'),
    examples.EXTRACTIVE_QA: ('ForQuestionAnswering', 'question-answering'),
}
# Each head's Dense layers (attribute names) -> their transformers names, the output layer last.
_HEAD_LAYERS = {
    heads.SequenceClassifier: {'dense': 'classifier.dense', 'out_proj': 'classifier.out_proj'},
    heads.TokenClassifier: {'classifier': 'classifier'},
    heads.SpanExtractor: {'qa_outputs': 'qa_outputs'},
}
_REGRESSION_LABEL = 'score'


def _head_tensors(model: nnx.Module) -> dict[str, np.ndarray]:
  tensors = {}
  for attribute, hf_name in _HEAD_LAYERS[type(model)].items():
    params = hf_format.encoder_params(getattr(model, attribute))
    # torch's Linear.weight is [out, in], the transpose of an NNX kernel.
    tensors[f'{hf_name}.weight'] = np.ascontiguousarray(np.asarray(params['kernel'], np.float32).T)
    tensors[f'{hf_name}.bias'] = np.asarray(params['bias'], np.float32)
  return tensors


def _label_names(kind: str, label_names: Sequence[str], num_outputs: int) -> list[str]:
  """The names of the head's outputs, checked against its width."""
  names = [str(name) for name in label_names]
  if kind == examples.EXTRACTIVE_QA:
    if names:
      raise ValueError(f'An extractive QA head has no labels, but label_names={names}; pass ().')
    return []
  if kind == examples.REGRESSION:
    if num_outputs != 1 or len(names) > 1:
      raise ValueError(f'A regression head has one output (it has {num_outputs}) and at most '
                       f'one label name (got {names}); build it with num_labels=1.')
    return names or [_REGRESSION_LABEL]
  if len(names) != num_outputs or len(set(names)) != len(names):
    what = ('the BIO tags (task.bio_tags())' if kind == examples.TOKEN_CLASSIFICATION
            else 'the class names (task.label_names)')
    raise ValueError(f'The {kind} head has {num_outputs} outputs but label_names has '
                     f'{len(names)} ({len(set(names))} distinct): {names}; pass {what}, '
                     'one per output, in the order the head was trained with.')
  return names


def _readme(card: dict, config: dict, kind: str, labels: list[str]) -> str:
  """A short model card: what the model does, its labels, metrics, and how to run it."""
  pipeline_task = _HF_TASKS[kind][1]
  languages = [str(code) for code in card.get('languages') or []]
  front = ['---', 'library_name: transformers', f'pipeline_tag: {pipeline_task}',
           'tags:', '- unibert-jax', '- xlm-roberta']
  if languages:
    front += ['language:'] + [f'- {json.dumps(code)}' for code in languages]
  if card.get('license'):
    front.append(f'license: {card["license"]}')
  lines = [*front, '---', '', f'# {card.get("name") or "unibert-jax " + kind + " model"}', '',
           card.get('description') or (f'A unibert-jax encoder fine-tuned for {kind} '
                                       f'({card.get("task") or "a downstream task"}).'),
           '', f'Architecture: `{config["architectures"][0]}`, {config["num_hidden_layers"]} '
           f'layers, hidden size {config["hidden_size"]}.']
  if labels:
    lines += ['', f'Labels ({len(labels)}): {", ".join(labels)}.']
  metrics = card.get('metrics') or {}
  if metrics:
    lines += ['', '## Metrics', '', '| metric | value |', '|---|---|']
    lines += [f'| {key} | {value} |' for key, value in sorted(metrics.items())]
  lines += ['', '## How to use', '', '```python']
  if kind == examples.EXTRACTIVE_QA:
    # transformers 5 has no question-answering pipeline.
    lines += ['from transformers import AutoModelForQuestionAnswering, AutoTokenizer', '',
              'model = AutoModelForQuestionAnswering.from_pretrained("PATH")',
              'tokenizer = AutoTokenizer.from_pretrained("PATH")',
              'output = model(**tokenizer("question", "context", return_tensors="pt"))',
              '# output.start_logits, output.end_logits: the answer span\'s first and last '
              'token']
  else:
    options = ', function_to_apply="none"' if kind == examples.REGRESSION else ''
    lines += ['from transformers import pipeline', '',
              f'run = pipeline("{pipeline_task}", model="PATH")', f'print(run("..."{options}))']
  lines.append('```')
  if kind == examples.REGRESSION:
    lines += ['', 'The score is the raw output (`function_to_apply="none"`); the pipeline\'s '
                  'default squashes it through a sigmoid.']
  return '\n'.join(lines) + '\n'


def export_head(model: nnx.Module, kind: str, label_names: Sequence[str], tokenizer_dir: str,
                out_dir: str, card: dict | None = None) -> str:
  """Writes a Hugging Face directory of the task model `model`; returns out_dir.

  Args:
    model: a heads.py model of `kind` (host arrays), e.g. Program.model().
    kind: examples.KINDS.
    label_names: the names of the head's outputs in order: the class names (classification),
      the BIO tags (token classification, task.bio_tags()), at most one name (regression;
      default 'score'), none (extractive QA).
    tokenizer_dir: holds the tokenizer.json the encoder was trained with.
    out_dir: created or overwritten file by file (written aside, then moved in).
    card: optional model card fields: name, description, task, languages, metrics, license.
  """
  if kind not in _HF_TASKS:
    raise ValueError(f'kind={kind!r} is not one of {examples.KINDS}.')
  if not isinstance(model, heads.HEADS[kind]):
    raise ValueError(f'A {kind} export needs a heads.{heads.HEADS[kind].__name__}, not a '
                     f'{type(model).__name__}; pass the model heads.build({kind!r}, ...) made.')
  model_cfg = model.encoder.cfg
  hf_format.check_exportable(model_cfg)
  placement = encoder_lib.norm_placement(model_cfg)
  arch = hf_format.ARCHITECTURES[placement]
  tensors = hf_format.to_hf_tensors(hf_format.encoder_params(model.encoder),
                                    int(model_cfg.num_layers), placement)
  # Task models have no MLM head; fine-tuning never trained it (heads.is_trainable).
  tensors = {name: value for name, value in tensors.items()
             if not name.startswith(f'{arch.head}.')}
  head = _head_tensors(model)
  tensors |= head
  output_layer = list(_HEAD_LAYERS[type(model)].values())[-1]
  labels = _label_names(kind, label_names, head[f'{output_layer}.bias'].shape[0])

  config = hf_format.hf_config(model_cfg)
  config['architectures'] = [arch.hf_class.removesuffix('ForMaskedLM') + _HF_TASKS[kind][0]]
  config['tie_word_embeddings'] = False  # no decoder to tie
  if labels:
    config['id2label'] = {str(i): name for i, name in enumerate(labels)}
    config['label2id'] = {name: i for i, name in enumerate(labels)}
  if kind == examples.REGRESSION:
    config['problem_type'] = 'regression'
  elif kind == examples.CLASSIFICATION:
    config['problem_type'] = 'single_label_classification'
  return hf_format.write_directory(out_dir, config, tensors, model_cfg, tokenizer_dir,
                                   _readme(card or {}, config, kind, labels))
