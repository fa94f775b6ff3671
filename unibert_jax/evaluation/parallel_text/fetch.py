"""Gets the registry packages the sets are built from: Debian .debs with apt, npm tarballs.

Debian versions cannot be frozen (a suite serves only its current version, and the security
pocket moves to new Firefox ESR majors), so each .deb is asked for at its pinned version first
(`apt-get download pkg=<version>`) and at the candidate version when that one is gone; the
version actually obtained is returned and recorded. npm versions are immutable and their
checksums are pinned and checked.

`RegistryFetcher` keeps what it downloads in a `downloads/` directory and reuses it;
`LocalFetcher` only reads a directory of already-downloaded files (offline builds, tests).
"""

from collections.abc import Callable, Sequence
import base64
import dataclasses
import glob
import hashlib
import os
import re
import shutil
import subprocess
import tempfile
import urllib.parse

# Pins: the versions in Debian 12 bookworm main (offline_eval.md §8 measured Firefox 153.8.0esr
# from bookworm-security; main keeps one ESR line until the next point release).
FIREFOX_VERSION = '140.12.0esr-1~deb12u1'
LIBREOFFICE_VERSION = '4:7.4.7-1+deb12u14'
GNOME_USER_DOCS_VERSION = '43.0-2'

_APT_TIMEOUT_S = 900
_NPM_TIMEOUT_S = 300


@dataclasses.dataclass(frozen=True)
class DebianPackage:
  name: str
  pinned_version: str


@dataclasses.dataclass(frozen=True)
class NpmPackage:
  name: str
  version: str
  sha1: str        # `shasum` of `npm view <name>@<version> dist`
  integrity: str   # `integrity` (sha512) of the same

  @property
  def tarball_name(self) -> str:
    return f'{self.name}-{self.version}.tgz'


CLDR_ANNOTATIONS = NpmPackage(
    'cldr-annotations-full', '48.2.0', 'eb349fa2333c760da78fd9bc38a1d32a71c5c27e',
    'sha512-DV7A+rEcgUSNTRsVGNGqBZRmAkGfwhGHO5Q1dRwzBoBnVrHWp804JP7/QJdEc66iHmx3+zLWVIMCFLm0lW7PUQ'
    '==')


@dataclasses.dataclass(frozen=True)
class Fetched:
  path: str
  version: str


class FetchError(RuntimeError):
  """A package (or the tool to get it) is unavailable; the message says what to do."""


class ToolMissingError(FetchError):
  pass


@dataclasses.dataclass
class DebFetchResult:
  found: dict[str, Fetched]      # package name -> file and version
  missing: dict[str, str]        # package name -> why it is not there


def deb_version(path: str) -> str:
  """The version in a `<name>_<version>_<arch>.deb` file name (apt writes ':' as '%3a')."""
  return urllib.parse.unquote(os.path.basename(path).split('_')[1])


def _find_deb(directory: str, package: DebianPackage) -> str | None:
  """The .deb of `package` in `directory`: the pinned version if there, else the newest file."""
  paths = glob.glob(os.path.join(glob.escape(directory), f'{package.name}_*.deb'))
  if not paths:
    return None
  pinned = [path for path in paths if deb_version(path) == package.pinned_version]
  return pinned[0] if pinned else max(paths, key=os.path.getmtime)


def _verify_npm_tarball(path: str, package: NpmPackage) -> bool:
  sha1, sha512 = hashlib.sha1(), hashlib.sha512()
  with open(path, 'rb') as f:
    for block in iter(lambda: f.read(1 << 20), b''):
      sha1.update(block)
      sha512.update(block)
  integrity = 'sha512-' + base64.b64encode(sha512.digest()).decode('ascii')
  return sha1.hexdigest() == package.sha1 and integrity == package.integrity


class LocalFetcher:
  """Reads packages from a directory of already-downloaded .deb/.tgz files; never downloads."""

  def __init__(self, directory: str):
    self.directory = directory

  def debs(self, packages: Sequence[DebianPackage]) -> DebFetchResult:
    result = DebFetchResult({}, {})
    for package in packages:
      path = _find_deb(self.directory, package)
      if path:
        result.found[package.name] = Fetched(path, deb_version(path))
      else:
        result.missing[package.name] = f'no {package.name}_*.deb in {self.directory}'
    return result

  def npm(self, package: NpmPackage) -> Fetched:
    path = os.path.join(self.directory, package.tarball_name)
    if not os.path.exists(path):
      raise FetchError(f'{package.tarball_name} is not in {self.directory}; put it there '
                       f'(`npm pack {package.name}@{package.version}`).')
    if not _verify_npm_tarball(path, package):
      raise FetchError(f'{path} does not match the pinned checksum of {package.name}@'
                       f'{package.version}; delete it and fetch it again.')
    return Fetched(path, package.version)


class RegistryFetcher:
  """Downloads with apt-get and npm into `downloads_dir`, reusing what is already there.

  `which` finds an executable (shutil.which); tests pass one that finds nothing.
  """

  def __init__(self, downloads_dir: str, log: Callable[[str], None] = print,
               which: Callable[[str], str | None] = shutil.which):
    self.downloads_dir = downloads_dir
    self._log = log
    self._which = which

  def debs(self, packages: Sequence[DebianPackage]) -> DebFetchResult:
    os.makedirs(self.downloads_dir, exist_ok=True)
    result = DebFetchResult({}, {})
    needed = []
    for package in packages:
      path = _find_deb(self.downloads_dir, package)
      if path:
        result.found[package.name] = Fetched(path, deb_version(path))
      else:
        needed.append(package)
    if needed:
      result.missing.update(self._apt_download(needed))
      for package in needed:
        path = _find_deb(self.downloads_dir, package)
        if path:
          result.found[package.name] = Fetched(path, deb_version(path))
          if deb_version(path) != package.pinned_version:
            self._log(f'  {package.name}: pinned {package.pinned_version} is gone; got the '
                      f'candidate {deb_version(path)}')
        elif package.name not in result.missing:
          result.missing[package.name] = 'apt-get download gave no file'
    return result

  def _apt_download(self, packages: Sequence[DebianPackage]) -> dict[str, str]:
    """Downloads the packages in one apt-get call per round; returns package -> why missing.

    apt-get refuses the whole command when one argument fails, so each round removes the
    failing arguments (an unknown package) or unpins them (a pinned version that is gone).
    """
    apt_get = self._which('apt-get')
    if not apt_get:
      raise ToolMissingError(
          'apt-get not found: the sets R1 and R2 are built from Debian packages and need '
          "Debian's apt (Debian/Ubuntu: it is part of the system). On other systems, run the "
          'build once on a Debian 12 machine or container and copy its cache directory, or pass '
          'packages_dir= a directory holding the .deb files (`apt-get download <package>`).')
    requests = {package.name: f'{package.name}={package.pinned_version}' for package in packages}
    missing: dict[str, str] = {}
    with tempfile.TemporaryDirectory(dir=self.downloads_dir, prefix='.apt-') as tmp:
      os.chmod(tmp, 0o755)  # apt's sandbox user must be able to write here when run as root
      while requests:
        try:
          completed = subprocess.run([apt_get, 'download', *sorted(requests.values())], cwd=tmp,
                                     capture_output=True, text=True, timeout=_APT_TIMEOUT_S,
                                     check=False)
        except subprocess.TimeoutExpired:
          raise FetchError(f'apt-get download took more than {_APT_TIMEOUT_S} s; check the '
                           f'access to the Debian mirror.') from None
        if completed.returncode == 0:
          break
        changed = apply_apt_errors(completed.stderr, requests, missing)
        if not changed:
          raise FetchError(f'apt-get download failed (exit {completed.returncode}): '
                           f'{completed.stderr.strip()[-800:]}\nCheck the apt sources and run '
                           f'`apt-get update` (as root).')
      for name in os.listdir(tmp):
        if name.endswith('.deb'):
          os.replace(os.path.join(tmp, name), os.path.join(self.downloads_dir, name))
    return missing

  def npm(self, package: NpmPackage) -> Fetched:
    os.makedirs(self.downloads_dir, exist_ok=True)
    path = os.path.join(self.downloads_dir, package.tarball_name)
    if os.path.exists(path) and _verify_npm_tarball(path, package):
      return Fetched(path, package.version)
    npm = self._which('npm')
    if not npm:
      raise ToolMissingError(
          f'npm not found: the set R1e needs `npm pack {package.name}@{package.version}`. '
          f'Install npm (Debian/Ubuntu: `apt-get install npm`), or put {package.tarball_name} '
          f'into {self.downloads_dir}.')
    with tempfile.TemporaryDirectory(dir=self.downloads_dir, prefix='.npm-') as tmp:
      command = [npm, 'pack', f'{package.name}@{package.version}', '--pack-destination', tmp]
      try:
        completed = subprocess.run(command, cwd=tmp, capture_output=True, text=True,
                                   timeout=_NPM_TIMEOUT_S, check=False)
      except subprocess.TimeoutExpired:
        raise FetchError(f'`{" ".join(command)}` took more than {_NPM_TIMEOUT_S} s; check the '
                         f'access to the npm registry.') from None
      fetched = os.path.join(tmp, package.tarball_name)
      if completed.returncode != 0 or not os.path.exists(fetched):
        raise FetchError(f'`{" ".join(command)}` failed (exit {completed.returncode}): '
                         f'{completed.stderr.strip()[-600:]}')
      if not _verify_npm_tarball(fetched, package):
        raise FetchError(f'npm gave a {package.tarball_name} that does not match the pinned '
                         f'checksum {package.sha1}; refusing to use it.')
      os.replace(fetched, path)
    return Fetched(path, package.version)


_APT_VERSION_GONE = re.compile(r"Version '([^']+)' for '([^']+)' was not found")
_APT_NO_PACKAGE = re.compile(r"Unable to locate package (\S+)")
_APT_NO_CANDIDATE = re.compile(r"(?:Can't select candidate version from package (\S+) as it has "
                               r"no candidate|Package '([^']+)' has no installation candidate)")


def apply_apt_errors(stderr: str, requests: dict[str, str], missing: dict[str, str]) -> bool:
  """Unpins packages whose pinned version is gone and drops unknown ones; True if any."""
  changed = False
  for _, name in _APT_VERSION_GONE.findall(stderr):
    if requests.get(name, name) != name:
      requests[name] = name  # fall back to the candidate version
      changed = True
  for match in _APT_NO_PACKAGE.finditer(stderr):
    name = match.group(1).split('=')[0]
    if name in requests:
      del requests[name]
      missing[name] = 'apt cannot locate it (not in the apt lists: run `apt-get update`)'
      changed = True
  for match in _APT_NO_CANDIDATE.finditer(stderr):
    name = (match.group(1) or match.group(2)).split('=')[0]
    if name in requests:
      del requests[name]
      missing[name] = 'apt has no candidate version for it'
      changed = True
  return changed
