"""CLDR emoji names (the `tts` annotation) from the npm package cldr-annotations-full.

package/annotations/<locale>/annotations.json -> annotations.annotations[<emoji>].tts[0].
A locale file holds only what the locale itself defines (sub-locales such as pt-PT are
overlays), so each language reads its own locale directory. Key 'cldr:<emoji>'.
"""

import json
import re
import tarfile

_ANNOTATIONS = re.compile(r'package/annotations/([^/]+)/annotations\.json')


def read_tarball(tgz_path: str, locales: set[str]) -> dict[str, dict[str, str]]:
  """Locale -> 'cldr:<emoji>' -> its tts name, for the wanted locales in the tarball."""
  names: dict[str, dict[str, str]] = {}
  with tarfile.open(tgz_path, 'r:gz') as archive:
    for member in archive:
      match = _ANNOTATIONS.fullmatch(member.name)
      if not match or match.group(1) not in locales or not member.isfile():
        continue
      document = json.load(archive.extractfile(member))
      annotations = document['annotations']['annotations']
      names[match.group(1)] = {f'cldr:{emoji}': value['tts'][0]
                               for emoji, value in annotations.items() if value.get('tts')}
  return names
