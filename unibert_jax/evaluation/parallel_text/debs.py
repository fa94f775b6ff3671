"""Streams the files of a Debian package (.deb) without unpacking it to disk.

A .deb is an `ar` archive whose `data.tar.<xz|gz|bz2>` member is the file tree; both are read
here in one pass (no dpkg-deb needed), so the ~1 GB of LibreOffice help HTML never hits the disk.
"""

from collections.abc import Callable, Iterator
import dataclasses
import tarfile

_AR_MAGIC = b'!<arch>\n'
_AR_HEADER_BYTES = 60
_TAR_MODES = {'data.tar.xz': 'r|xz', 'data.tar.gz': 'r|gz', 'data.tar.bz2': 'r|bz2',
              'data.tar': 'r|'}


@dataclasses.dataclass(frozen=True)
class DebFile:
  path: str             # path in the package, without the leading './'
  data: bytes | None    # contents; None for a symbolic link
  link_target: str = ''


class _Slice:
  """A read-only view of `size` bytes of a file from its current position (for tarfile)."""

  def __init__(self, f, size: int):
    self._f, self._left = f, size

  def read(self, size: int = -1) -> bytes:
    size = self._left if size < 0 else min(size, self._left)
    data = self._f.read(size)
    self._left -= len(data)
    return data


def iter_files(deb_path: str, wanted: Callable[[str], bool]) -> Iterator[DebFile]:
  """Yields the regular files and symlinks of the package whose path `wanted` accepts."""
  with open(deb_path, 'rb') as f:
    if f.read(len(_AR_MAGIC)) != _AR_MAGIC:
      raise ValueError(f'{deb_path} is not a Debian package (no ar header); delete it and fetch '
                       f'it again.')
    while True:
      header = f.read(_AR_HEADER_BYTES)
      if len(header) < _AR_HEADER_BYTES:
        raise ValueError(f'{deb_path} has no data.tar member; delete it and fetch it again.')
      name = header[:16].decode('ascii').strip().rstrip('/')
      size = int(header[48:58].decode('ascii').strip())
      if name in _TAR_MODES:
        yield from _iter_tar(tarfile.open(fileobj=_Slice(f, size), mode=_TAR_MODES[name]),
                             wanted)
        return
      if name.startswith('data.tar'):
        raise ValueError(f'{deb_path}: {name} is a compression Python cannot read; unpack it '
                         f'with `dpkg-deb -x` and repack it with xz.')
      f.seek(size + size % 2, 1)  # ar members are padded to an even size


def _iter_tar(archive: tarfile.TarFile, wanted) -> Iterator[DebFile]:
  with archive:
    for member in archive:
      path = member.name[2:] if member.name.startswith('./') else member.name
      if not wanted(path):
        continue
      if member.issym():
        yield DebFile(path, None, member.linkname)
      elif member.isfile():
        yield DebFile(path, archive.extractfile(member).read())
