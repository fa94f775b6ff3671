"""LibreOffice help paragraphs from the libreoffice-help-* packages.

Pages are /usr/share/libreoffice/help/<dir>/text/**/*.html; key '<page under text/>#<id>'.
A help directory that is a symlink (libreoffice-help-sk: sk -> cs) carries no text of its own
and yields nothing: its files live in another package and are never followed.
"""

from collections.abc import Mapping

from unibert_jax.evaluation.parallel_text import debs
from unibert_jax.evaluation.parallel_text import help_html

_ROOT = 'usr/share/libreoffice/help/'


def read_package(deb_path: str, help_dir: str) -> dict[str, str]:
  """Key -> paragraph text of the pages under `help_dir`; a key seen twice keeps its first text.

  Pages embed sections of other pages with the same ids, so one id can repeat within a page.
  """
  prefix = f'{_ROOT}{help_dir}/text/'
  texts: dict[str, str] = {}
  for entry in debs.iter_files(deb_path, lambda path: path.startswith(prefix) and
                               path.endswith('.html')):
    if entry.data is None:
      continue
    page = entry.path[len(prefix):]
    for element_id, text in help_html.units(entry.data.decode('utf-8', errors='replace')):
      texts.setdefault(f'{page}#{element_id}', text)
  return texts


def is_symlink_only(deb_path: str, help_dir: str) -> bool:
  """True when the package's help directory is a symbolic link to another language."""
  return any(entry.data is None for entry in
             debs.iter_files(deb_path, lambda path: path == _ROOT + help_dir))


def read_typed_package(deb_path: str, help_dir: str, labels: Mapping[str, str]
                       ) -> dict[str, tuple[str, list[help_html.Span]]]:
  """Key -> (paragraph text, labelled spans), as `read_package` but keeping the typed spans
  (`labels`: span class -> label). The text of a key is the one `read_package` gives."""
  prefix = f'{_ROOT}{help_dir}/text/'
  units: dict[str, tuple[str, list[help_html.Span]]] = {}
  for entry in debs.iter_files(deb_path, lambda path: path.startswith(prefix) and
                               path.endswith('.html')):
    if entry.data is None:
      continue
    page = entry.path[len(prefix):]
    for element_id, text, spans in help_html.typed_units(
        entry.data.decode('utf-8', errors='replace'), labels):
      units.setdefault(f'{page}#{element_id}', (text, spans))
  return units
