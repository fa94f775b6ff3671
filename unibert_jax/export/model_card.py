"""The README.md model card of a Hugging Face export.

Front matter (the metadata the Hub reads: languages, pipeline, library), then what the model is,
its size, how it was trained, its final metrics and how to load it. Every field is optional; a
card with none still says what the directory holds and how to use it.
"""

import json
from typing import Any

_MAX_CONFIG_CHARS = 20_000


def _yaml_list(name: str, values: list[str]) -> list[str]:
  return [f'{name}:'] + [f'- {json.dumps(str(v))}' for v in values] if values else []


def _format_metric(value: Any) -> str:
  if isinstance(value, float):
    return f'{value:.4g}'
  return str(value)


def render(card: dict[str, Any], hf_config: dict[str, Any], norm_placement: str = 'post') -> str:
  """Markdown of the model card.

  Args:
    card: optional fields: name, description, languages (list of codes), steps, metrics
      (name -> number), config (the run config as a dict), teacher (its directory or name),
      license.
    hf_config: the exported config.json (sizes are read from it).
    norm_placement: 'post' or 'pre' (model.norm_placement).
  """
  name = card.get('name') or 'unibert-jax encoder'
  languages = [str(code) for code in card.get('languages') or []]
  front = ['---', 'library_name: transformers', 'pipeline_tag: fill-mask',
           *_yaml_list('tags', ['unibert-jax', 'xlm-roberta', 'fill-mask', 'multilingual']),
           *_yaml_list('language', languages)]
  if card.get('license'):
    front.append(f'license: {card["license"]}')
  front.append('---')

  size = (f'{hf_config["num_hidden_layers"]} layers, hidden size {hf_config["hidden_size"]}, '
          f'{hf_config["num_attention_heads"]} heads, '
          f'feed-forward {hf_config["intermediate_size"]}, '
          f'vocabulary {hf_config["vocab_size"]}, up to '
          f'{hf_config["max_position_embeddings"] - 2} tokens per sequence')
  lines = [
      *front, '', f'# {name}', '',
      card.get('description') or (
          'A multilingual masked-language-model encoder pre-trained with unibert-jax (a JAX/Flax '
          're-implementation of the UniBERT recipe: masked language modelling, an adversarial '
          'language discriminator behind a gradient-reversal layer, and distillation from a '
          "teacher's cached top-k logits). The discriminator is a training device only and is "
          'not part of this export.'),
      '', f'Architecture: `{hf_config["architectures"][0]}` ({norm_placement}-LN, exact GELU, '
      f'tied decoder); {size}.',
  ]
  if languages:
    lines += ['', f'Languages ({len(languages)}): {", ".join(languages)}.']
  if card.get('steps') is not None:
    lines += ['', f'Training steps: {card["steps"]}.']
  if card.get('teacher'):
    lines += [f'Distilled from: `{card["teacher"]}`.']
  if card.get('mask_accuracy') is not None and card.get('mask_accuracy_baseline') is not None:
    lines += ['', f'Held-out `<mask>` accuracy: {card["mask_accuracy"]:.4f}, against '
                  f'{card["mask_accuracy_baseline"]:.4f} for always answering the most frequent '
                  f'token (only slots whose input is `<mask>` count; kept tokens are copied).']
    if card.get('mask_loss') is not None and card.get('mask_loss_unigram') is not None:
      lines += [f'Its loss there: {card["mask_loss"]:.3f} nats, against '
                f'{card["mask_loss_unigram"]:.3f} for the unigram frequencies of the training '
                'text.']
  metrics = card.get('metrics') or {}
  if metrics:
    lines += ['', '## Final metrics', '', '| metric | value |', '|---|---|']
    lines += [f'| {key} | {_format_metric(value)} |' for key, value in sorted(metrics.items())]
  lines += [
      '', '## How to use', '', '```python',
      'from transformers import AutoModelForMaskedLM, AutoTokenizer, pipeline',
      '', 'model = AutoModelForMaskedLM.from_pretrained("PATH")',
      'tokenizer = AutoTokenizer.from_pretrained("PATH")',
      'fill = pipeline("fill-mask", model="PATH")',
      'print(fill(f"Paris is the {tokenizer.mask_token} of France."))', '```', '',
      'For downstream tasks load the body with `AutoModel` or a task head (e.g. '
      '`AutoModelForTokenClassification`) and fine-tune as any XLM-R checkpoint.',
  ]
  if card.get('config'):
    config_text = json.dumps(card['config'], indent=1, sort_keys=True, default=str)
    if len(config_text) > _MAX_CONFIG_CHARS:
      config_text = config_text[:_MAX_CONFIG_CHARS] + '\n... (truncated)'
    lines += ['', '## Training configuration', '', '```json', config_text, '```']
  return '\n'.join(lines) + '\n'
