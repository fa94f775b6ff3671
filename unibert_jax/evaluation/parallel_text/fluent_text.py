"""Fluent (.ftl) messages of one locale as plain text, with references resolved.

Message values and attributes become '<file>#<message>[.<attribute>]' -> text. Term references
(`{ -brand-short-name }`) and message references are replaced by their text in the same locale;
a term's own select expression (`-brand-name = { $case -> ... }`) picks the variant its call
names (`{ -brand-name(case: "gen") }`), else the default. Variables and functions cannot be
resolved offline: they stay as '{$name}' / '{NAME()}', which the placeholder filter drops.
A message with a select expression of its own (plurals, gender) is left out entirely: its
variants are not one sentence. Access keys, shortcuts and layout attributes are not text.

Speed: fluent.syntax alone takes ~2 s per locale, most of the Firefox run. Four entries in
five have no placeable at all (`id = plain text`, indented continuation lines, `.attr = text`);
those are read by a small line parser (2.3x faster overall), every other entry by fluent.syntax.
Both give the same text up to whitespace, which the sets collapse anyway: checked on en-US and
every langpack of 140.12.0esr, and by a test on the fixture.
"""

from collections.abc import Iterator, Mapping
import dataclasses
import re

from fluent.syntax import FluentParser
from fluent.syntax import ast

NOT_TEXT_ATTRIBUTES = frozenset(
    ('accesskey', 'key', 'commandkey', 'style', 'width', 'height', 'searchkeywords'))
_MAX_REFERENCE_DEPTH = 10


class _Unresolvable(Exception):
  """A reference that names nothing, a cycle, or a select expression inside a message."""


@dataclasses.dataclass
class _Index:
  terms: dict[str, ast.Term]
  messages: dict[str, ast.Message]                 # locale-wide, first definition wins
  messages_by_file: dict[str, dict[str, ast.Message]]


_ENTRY_HEAD = re.compile(r'(-?)([a-zA-Z][a-zA-Z0-9_-]*) *= *(.*)')
_ATTRIBUTE_LINE = re.compile(r'[ \t]+\.([a-zA-Z][a-zA-Z0-9_-]*) *= *(.*)')


def _entry_sources(source: str) -> Iterator[str]:
  """Splits an .ftl file before each line that starts at column 0 (entries and comments)."""
  lines: list[str] = []
  for line in source.splitlines():
    if line[:1] not in ('', ' ', '\t') and lines:
      yield '\n'.join(lines)
      lines = []
    lines.append(line)
  if lines:
    yield '\n'.join(lines)


def _text_pattern(lines: list[str]) -> ast.Pattern | None:
  text = '\n'.join(lines).strip()
  return ast.Pattern([ast.TextElement(text)]) if text else None


def _parse_plain_entry(entry: str) -> ast.Message | ast.Term | None:
  """A message or term without placeables, or None when the entry needs the full parser."""
  lines = entry.split('\n')
  head = _ENTRY_HEAD.fullmatch(lines[0].rstrip())
  if head is None:
    return None
  value_lines = [head.group(3)]
  attributes: list[tuple[str, list[str]]] = []
  current = value_lines
  for line in lines[1:]:
    if not line.strip():
      current.append('')
      continue
    attribute = _ATTRIBUTE_LINE.fullmatch(line.rstrip())
    if attribute:
      current = [attribute.group(2)]
      attributes.append((attribute.group(1), current))
    elif line[0] in ' \t' and line.lstrip()[0] not in '[*.':
      current.append(line.strip())
    else:
      return None   # variant keys or malformed text: fluent.syntax decides
  value = _text_pattern(value_lines)
  parsed_attributes = [ast.Attribute(ast.Identifier(name), _text_pattern(attribute_lines))
                       for name, attribute_lines in attributes]
  if any(attribute.value is None for attribute in parsed_attributes):
    return None
  if head.group(1):
    return ast.Term(ast.Identifier(head.group(2)), value, parsed_attributes) if value else None
  if value is None and not parsed_attributes:
    return None
  return ast.Message(ast.Identifier(head.group(2)), value, parsed_attributes)


def parse_entries(source: str, parser: FluentParser | None = None,
                  plain_fast_path: bool = True) -> list:
  """The messages and terms of one .ftl file (comments and junk left out)."""
  parser = parser or FluentParser(with_spans=False)
  entries = []
  for entry_source in _entry_sources(source):
    if entry_source.startswith('#'):
      continue
    entry = None
    if plain_fast_path and '{' not in entry_source and '}' not in entry_source:
      entry = _parse_plain_entry(entry_source)
    if entry is not None:
      entries.append(entry)
    else:
      entries.extend(item for item in parser.parse(entry_source).body
                     if isinstance(item, (ast.Message, ast.Term)))
  return entries


def parse_locale(sources: Mapping[str, str], plain_fast_path: bool = True) -> dict[str, str]:
  """File name -> .ftl source, for all files of one locale -> key -> resolved text."""
  parser = FluentParser(with_spans=False)
  index = _Index({}, {}, {})
  for file_name, source in sources.items():
    file_messages = index.messages_by_file.setdefault(file_name, {})
    for entry in parse_entries(source, parser, plain_fast_path):
      if isinstance(entry, ast.Term):
        index.terms.setdefault(entry.id.name, entry)
      elif isinstance(entry, ast.Message):
        file_messages[entry.id.name] = entry
        index.messages.setdefault(entry.id.name, entry)
  texts = {}
  for file_name, messages in index.messages_by_file.items():
    for message in messages.values():
      texts.update(_message_texts(file_name, message, index))
  return texts


def _message_texts(file_name: str, message: ast.Message, index: _Index) -> dict[str, str]:
  patterns = [(message.id.name, message.value)] + [
      (f'{message.id.name}.{attribute.id.name}', attribute.value)
      for attribute in message.attributes if attribute.id.name not in NOT_TEXT_ATTRIBUTES]
  texts = {}
  try:
    for name, pattern in patterns:
      if pattern is not None:
        texts[f'{file_name}#{name}'] = _pattern_text(pattern, file_name, index, None, 0)
  except _Unresolvable:
    return {}  # the whole message goes: one part has a select or a dangling reference
  return texts


def _pattern_text(pattern: ast.Pattern, file_name: str, index: _Index,
                  term_arguments: dict[str, str] | None, depth: int) -> str:
  """Text of a pattern; `term_arguments` is None inside messages, a dict inside terms."""
  if depth > _MAX_REFERENCE_DEPTH:
    raise _Unresolvable('reference chain too deep (a cycle?)')
  parts = []
  for element in pattern.elements:
    if isinstance(element, ast.TextElement):
      parts.append(element.value)
    else:
      parts.append(_expression_text(element.expression, file_name, index, term_arguments, depth))
  return ''.join(parts)


def _expression_text(expression, file_name, index, term_arguments, depth) -> str:
  if isinstance(expression, ast.StringLiteral):
    return expression.parse()['value']
  if isinstance(expression, ast.NumberLiteral):
    return expression.value
  if isinstance(expression, ast.Placeable):
    return _expression_text(expression.expression, file_name, index, term_arguments, depth)
  if isinstance(expression, ast.VariableReference):
    if term_arguments and expression.id.name in term_arguments:
      return term_arguments[expression.id.name]
    return '{$' + expression.id.name + '}'
  if isinstance(expression, ast.FunctionReference):
    return '{' + expression.id.name + '()}'
  if isinstance(expression, ast.TermReference):
    term = index.terms.get(expression.id.name)
    if term is None:
      raise _Unresolvable(f'unknown term -{expression.id.name}')
    pattern = _attribute_or_value(term, expression.attribute)
    arguments = {}
    if expression.arguments is not None:
      arguments = {argument.name.name: _literal_text(argument.value)
                   for argument in expression.arguments.named}
    return _pattern_text(pattern, file_name, index, arguments, depth + 1)
  if isinstance(expression, ast.MessageReference):
    message = (index.messages_by_file.get(file_name, {}).get(expression.id.name)
               or index.messages.get(expression.id.name))
    if message is None:
      raise _Unresolvable(f'unknown message {expression.id.name}')
    pattern = _attribute_or_value(message, expression.attribute)
    return _pattern_text(pattern, file_name, index, None, depth + 1)
  if isinstance(expression, ast.SelectExpression):
    if term_arguments is None:
      raise _Unresolvable('select expression in a message')
    return _pattern_text(_term_variant(expression, term_arguments), file_name, index,
                         term_arguments, depth + 1)
  raise _Unresolvable(f'unsupported expression {type(expression).__name__}')


def _attribute_or_value(entry, attribute: ast.Identifier | None) -> ast.Pattern:
  if attribute is None:
    if entry.value is None:
      raise _Unresolvable(f'{entry.id.name} has no value')
    return entry.value
  for candidate in entry.attributes:
    if candidate.id.name == attribute.name:
      return candidate.value
  raise _Unresolvable(f'{entry.id.name} has no attribute {attribute.name}')


def _term_variant(select: ast.SelectExpression, term_arguments: dict[str, str]) -> ast.Pattern:
  """The variant a term call chose (`-brand(case: "gen")`), else the default variant."""
  chosen = None
  if isinstance(select.selector, ast.VariableReference):
    chosen = term_arguments.get(select.selector.id.name)
  default = None
  for variant in select.variants:
    key = variant.key.name if isinstance(variant.key, ast.Identifier) else variant.key.value
    if chosen is not None and key == chosen:
      return variant.value
    if variant.default:
      default = variant.value
  return default


def _literal_text(literal) -> str:
  return literal.parse()['value'] if isinstance(literal, ast.StringLiteral) else literal.value
