"""GNU gettext .mo catalogues, read with the standard library.

`gettext.GNUTranslations` decodes the file (charset from its header) into a catalogue whose
keys are msgids, 'msgctxt\\x04msgid' for entries with a context, and (msgid, n) for plural
forms. It has no public way to list the entries, so its `_catalog` is read.
"""

import gettext
import io

CONTEXT_SEPARATOR = '\x04'


def read(data: bytes) -> dict[tuple[str, str], str]:
  """(msgctxt or '', msgid) -> msgstr of the singular, translated entries (header left out)."""
  catalogue = gettext.GNUTranslations(io.BytesIO(data))._catalog  # pylint: disable=protected-access
  entries = {}
  for key, translation in catalogue.items():
    if not isinstance(key, str) or not key or not translation:
      continue  # plural forms ((msgid, n) keys) and the header ('') are not sentences
    context, _, msgid = key.rpartition(CONTEXT_SEPARATOR)
    entries[(context, msgid)] = translation
  return entries
