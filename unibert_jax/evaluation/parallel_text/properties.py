"""Java-style .properties files as Firefox ships them (UTF-8), read by hand.

`key = value`, `key: value` or `key value`; `#` and `!` start comment lines; a line ending in
an odd number of backslashes continues on the next line (whose indentation is dropped).
`\\uXXXX` and escaped separators are decoded, but `\\n` and `\\t` are kept as written so that the
placeholder filter sees (and drops) them.
"""

import re

_ESCAPE = re.compile(r'\\(u[0-9a-fA-F]{4}|.)')


def _logical_lines(text: str):
  pending = None
  for line in text.splitlines():
    line = line.lstrip()
    if pending is None and line[:1] in ('#', '!'):
      continue
    trailing_backslashes = len(line) - len(line.rstrip('\\'))
    if trailing_backslashes % 2 == 1:
      pending = (pending or '') + line[:-1]
      continue
    yield (pending or '') + line
    pending = None
  if pending is not None:
    yield pending


def _split_key(line: str) -> tuple[str, str]:
  """'key = value' -> ('key', 'value'); the key ends at the first unescaped '=', ':' or space."""
  end = 0
  while end < len(line) and not (line[end] in '=:' or line[end].isspace()):
    end += 2 if line[end] == '\\' else 1
  rest = line[end:].lstrip()
  if rest[:1] in ('=', ':'):
    rest = rest[1:]
  return line[:end], rest.strip()


def _unescape(text: str) -> str:
  def replace(match):
    escaped = match.group(1)
    if len(escaped) == 5:
      return chr(int(escaped[1:], 16))
    return match.group(0) if escaped in 'nt' else escaped
  return _ESCAPE.sub(replace, text)


def parse(text: str) -> dict[str, str]:
  """The key -> value pairs of one file (a later duplicate key wins, as in Java)."""
  entries = {}
  for line in _logical_lines(text):
    if line:
      key, value = _split_key(line)
      entries[_unescape(key)] = _unescape(value)
  return entries
