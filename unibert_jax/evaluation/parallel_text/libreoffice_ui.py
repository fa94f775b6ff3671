"""LibreOffice UI strings from the libreoffice-l10n-* packages (`.mo` catalogues).

English is the msgid (LibreOffice's en-US UI is its source strings). Key:
'<domain>|<msgctxt>|<msgid>', the domain being the .mo file name (sc, sw, cui, ...).
"""

import posixpath
import re

from unibert_jax.evaluation.parallel_text import debs
from unibert_jax.evaluation.parallel_text import mo

_RESOURCE = re.compile(r'usr/lib/libreoffice/program/resource/([^/]+)/LC_MESSAGES/([^/]+)\.mo')


def read_package(deb_path: str, resource_dir: str) -> list[tuple[str, str, str]]:
  """(key, english, translation) of every .mo entry in `resource_dir` of the package.

  A package may ship several directories (libreoffice-l10n-sr: sr and sr@latin); only
  `resource_dir` is read. Mnemonics are still in the text (see filters).
  """
  def wanted(path):
    match = _RESOURCE.fullmatch(path)
    return bool(match) and match.group(1) == resource_dir

  triples = []
  for entry in debs.iter_files(deb_path, wanted):
    if entry.data is None:
      continue
    domain = posixpath.basename(entry.path)[:-len('.mo')]
    for (context, msgid), translation in mo.read(entry.data).items():
      triples.append((f'{domain}|{context}|{msgid}', msgid, translation))
  return triples
