"""Small real-format fixtures for the parallel-text tests: .mo, .ftl, .properties, help HTML,
Mallard, CLDR json, and the .deb / npm .tgz packages that carry them."""

import io
import json
import os
import shutil
import struct
import subprocess
import tarfile
import zipfile

import pytest

# ----------------------------------------------------------------------------- file formats


def mo_bytes(entries: dict[tuple[str, str], str]) -> bytes:
  """A GNU .mo catalogue: (msgctxt or '', msgid) -> msgstr, plus a UTF-8 header entry.

  Layout: magic, revision, count, offsets of the original and translation tables, an empty
  hash table; then (length, offset) pairs and NUL-terminated strings, originals sorted.
  """
  catalogue = {b'': b'Content-Type: text/plain; charset=UTF-8\n'}
  for (context, msgid), msgstr in entries.items():
    key = (context + '\x04' + msgid) if context else msgid
    catalogue[key.encode('utf-8')] = msgstr.encode('utf-8')
  keys = sorted(catalogue)
  count = len(keys)
  originals_offset = 28
  translations_offset = originals_offset + 8 * count
  data_offset = translations_offset + 8 * count
  originals, translations, blob = [], [], b''
  for key in keys:
    originals.append((len(key), data_offset + len(blob)))
    blob += key + b'\0'
  for key in keys:
    translations.append((len(catalogue[key]), data_offset + len(blob)))
    blob += catalogue[key] + b'\0'
  header = struct.pack('<7I', 0x950412de, 0, count, originals_offset, translations_offset, 0,
                       data_offset)
  tables = b''.join(struct.pack('<2I', *pair) for pair in originals + translations)
  return header + tables + blob


ENGLISH_FTL = '''\
-brand-short-name = Firefox
-brand-name = { $case ->
   *[nom] Firefox Browser
    [gen] Firefox Browser's
  }
update-ready = { -brand-short-name } has downloaded an update for you today
    .accesskey = U
    .title = The update will be installed when you restart
greeting = Welcome back, { $user }, we missed you here
tabs-count = { $count ->
    [one] One open tab in this window
   *[other] { $count } open tabs in this window
  }
about-page = Read more about { about-title } in the help pages
about-title = the privacy notice
owner = This browser belongs to { -brand-name(case: "gen") } owner
'''

GERMAN_FTL = '''\
-brand-short-name = Firefox
-brand-name = { $case ->
   *[nom] Firefox-Browser
    [gen] Firefox-Browsers
  }
update-ready = { -brand-short-name } hat heute ein Update für Sie heruntergeladen
    .accesskey = U
    .title = Das Update wird beim Neustart installiert
greeting = Willkommen zurück, { $user }, wir haben Sie vermisst
tabs-count = { $count ->
    [one] Ein offener Tab in diesem Fenster
   *[other] { $count } offene Tabs in diesem Fenster
  }
about-page = Lesen Sie mehr über { about-title } in der Hilfe
about-title = den Datenschutzhinweis
owner = Dieser Browser gehört dem Besitzer des { -brand-name(case: "gen") }
'''

ENGLISH_PROPERTIES = '''\
# LOCALIZATION NOTE: a comment line
saveFailed=The file could not be saved because the disk is full
downloadCount=%S files are being downloaded right now
longText = This message continues \\
    on the next line of the file
'''

GERMAN_PROPERTIES = '''\
saveFailed=Die Datei konnte nicht gespeichert werden, weil der Datenträger voll ist
downloadCount=%S Dateien werden gerade heruntergeladen
longText = Diese Meldung wird \\
    in der nächsten Zeile der Datei fortgesetzt
'''


def help_page(lang: str, paragraphs: dict[str, str]) -> str:
  """A LibreOffice help page: navigation header, then DisplayArea with the units."""
  body = '\n'.join(f'<p id="{element_id}" class="paragraph" dir="auto">{text}</p>'
                   for element_id, text in paragraphs.items())
  return (f'<!DOCTYPE html>\n<html lang="{lang}"><head><title>Tools</title></head><body>'
          f'<header id="TopLeftHeader"><p dir="auto">LibreOffice 7.4 Help</p></header>'
          f'<div id="DisplayArea" itemprop="softwareHelp">\n<a name="tools"></a>\n{body}\n'
          f'</div></body></html>')


ENGLISH_HELP = {
    'hd_id3150769': 'Tools menu and its many commands',
    'par_id3150440': 'Choose <span class="menuitem">Tools - Spelling</span> to check the '
                     'spelling of the whole document.',
    'par_id3152576': 'Press <span class="keycode">F7</span> to start the spelling check now.',
}
GERMAN_HELP = {
    'hd_id3150769': 'Das Menü Extras und seine vielen Befehle',
    'par_id3150440': 'Wählen Sie <span class="menuitem">Extras - Rechtschreibung</span>, um '
                     'die Rechtschreibung des ganzen Dokuments zu prüfen.',
    'par_id3152576': 'Drücken Sie <span class="keycode">F7</span>, um die Prüfung zu starten.',
}


def mallard_page(units: list[str], comment: str | None = None) -> bytes:
  """A Mallard page with credits/revision in <info>, and an optional editorial <comment>."""
  paragraphs = []
  for index, text in enumerate(units[1:]):
    paragraphs.append(f'  <p>{text}</p>')
    if comment and index == 0:
      paragraphs.append(f'  <comment><cite>Editor</cite><p>{comment}</p></comment>')
  return (f'<page xmlns="http://projectmallard.org/1.0/" type="topic" id="a11y-bouncekeys">\n'
          f'  <info>\n    <revision pkgversion="3.8.0" date="2013-03-13" status="candidate"/>\n'
          f'    <credit type="author"><name>Shaun McCance</name></credit>\n'
          f'  </info>\n  <title>{units[0]}</title>\n' + '\n'.join(paragraphs) + '\n</page>\n'
          ).encode('utf-8')


ENGLISH_MALLARD = ['Turn on bounce keys for your keyboard',
                   'Turn on <em>bounce keys</em> to ignore key presses that are rapidly repeated.',
                   'Click <gui>Accessibility</gui> in the sidebar to open the panel.']
GERMAN_MALLARD = ['Prellende Tasten für Ihre Tastatur einschalten',
                  'Schalten Sie <em>Prellende Tasten</em> ein, um schnell wiederholte '
                  'Tastendrücke zu ignorieren.',
                  'Klicken Sie in der Seitenleiste auf <gui>Barrierefreiheit</gui>.']


def annotations_json(locale: str, names: dict[str, str]) -> bytes:
  return json.dumps({'annotations': {'identity': {'language': locale}, 'annotations': {
      emoji: {'default': [name, 'other'], 'tts': [name]} for emoji, name in names.items()}}},
                    ensure_ascii=False).encode('utf-8')


ENGLISH_EMOJI = {'😀': 'grinning face', '🐶': 'dog face', '🍎': 'red apple', '↗': 'up-right arrow'}
SWAHILI_EMOJI = {'😀': 'uso unaocheka', '🐶': 'uso wa mbwa', '🍎': 'tufaha jekundu',
                 '↗': '↑↑↑'}

# ----------------------------------------------------------------------------- packages


def zip_bytes(files: dict[str, str | bytes]) -> bytes:
  buffer = io.BytesIO()
  with zipfile.ZipFile(buffer, 'w') as archive:
    for name, data in files.items():
      archive.writestr(name, data)
  return buffer.getvalue()


def require_dpkg_deb() -> str:
  dpkg_deb = shutil.which('dpkg-deb')
  if not dpkg_deb:
    pytest.skip('dpkg-deb is not installed: cannot build the .deb fixtures')
  return dpkg_deb


def make_deb(out_dir: str, package: str, version: str, files: dict[str, bytes | str],
             symlinks: dict[str, str] | None = None) -> str:
  """A real .deb (dpkg-deb --build) holding `files` and `symlinks` (path -> target)."""
  dpkg_deb = require_dpkg_deb()
  root = os.path.join(out_dir, f'.root-{package}')
  os.makedirs(os.path.join(root, 'DEBIAN'))
  with open(os.path.join(root, 'DEBIAN', 'control'), 'w', encoding='utf-8') as f:
    f.write(f'Package: {package}\nVersion: {version}\nArchitecture: all\n'
            f'Maintainer: Test <test@example.org>\nDescription: test fixture\n')
  for path, data in files.items():
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    with open(full, 'wb') as f:
      f.write(data.encode('utf-8') if isinstance(data, str) else data)
  for path, target in (symlinks or {}).items():
    full = os.path.join(root, path)
    os.makedirs(os.path.dirname(full), exist_ok=True)
    os.symlink(target, full)
  file_version = version.replace(':', '%3a')
  deb_path = os.path.join(out_dir, f'{package}_{file_version}_all.deb')
  subprocess.run([dpkg_deb, '--root-owner-group', '-Zgzip', '--build', root, deb_path],
                 check=True, capture_output=True)
  shutil.rmtree(root)
  return deb_path


def make_npm_tgz(out_dir: str, name: str, version: str, files: dict[str, bytes]) -> str:
  path = os.path.join(out_dir, f'{name}-{version}.tgz')
  with tarfile.open(path, 'w:gz') as archive:
    for member_name, data in files.items():
      info = tarfile.TarInfo(f'package/{member_name}')
      info.size = len(data)
      archive.addfile(info, io.BytesIO(data))
  return path


FIREFOX_ROOT = 'usr/lib/firefox-esr/'
LIBREOFFICE_RESOURCE = 'usr/lib/libreoffice/program/resource/'
HELP_ROOT = 'usr/share/libreoffice/help/'
GNOME_ROOT = 'usr/share/help/'

LIBREOFFICE_UI_GERMAN = {
    ('savedialog|SaveDialog', '~Save the document before closing'):
        '~Dokument vor dem Schließen speichern',
    ('insertrow|InsertRow', 'Insert a _row above the selection'):
        'Eine _Zeile oberhalb der Auswahl einfügen',
    ('', 'Column %COLUMNNUMBER'): 'Spalte %COLUMNNUMBER',
}


def write_fixture_packages(out_dir: str, versions: dict[str, str]) -> None:
  """One tiny package per source and language (de, plus sk help as Debian ships it)."""
  firefox, libreoffice = versions['firefox'], versions['libreoffice']
  make_deb(out_dir, 'firefox-esr', firefox, {
      FIREFOX_ROOT + 'omni.ja': zip_bytes({
          'chrome/en-US/locale/en-US/global/file.properties': ENGLISH_PROPERTIES}),
      FIREFOX_ROOT + 'browser/omni.ja': zip_bytes({
          'localization/en-US/browser/update.ftl': ENGLISH_FTL}),
  })
  make_deb(out_dir, 'firefox-esr-l10n-de', firefox, {
      FIREFOX_ROOT + 'browser/extensions/langpack-de@firefox-esr.mozilla.org.xpi': zip_bytes({
          'chrome/de/locale/de/global/file.properties': GERMAN_PROPERTIES,
          'browser/localization/de/browser/update.ftl': GERMAN_FTL,
      })})
  make_deb(out_dir, 'libreoffice-l10n-de', libreoffice, {
      LIBREOFFICE_RESOURCE + 'de/LC_MESSAGES/sw.mo': mo_bytes(LIBREOFFICE_UI_GERMAN)})
  make_deb(out_dir, 'libreoffice-help-en-us', libreoffice, {
      HELP_ROOT + 'en-US/text/scalc/main0106.html': help_page('en-US', ENGLISH_HELP)})
  make_deb(out_dir, 'libreoffice-help-de', libreoffice, {
      HELP_ROOT + 'de/text/scalc/main0106.html': help_page('de', GERMAN_HELP)})
  make_deb(out_dir, 'libreoffice-help-cs', libreoffice, {
      HELP_ROOT + 'cs/text/scalc/main0106.html': help_page('cs', {
          'hd_id3150769': 'Nabídka Nástroje a její mnoho příkazů',
          'par_id3152576': 'Stiskněte F7 a kontrola pravopisu se hned spustí.'})})
  make_deb(out_dir, 'libreoffice-help-sk', libreoffice, {}, symlinks={HELP_ROOT + 'sk': 'cs'})
  make_deb(out_dir, 'gnome-user-docs', versions['gnome'], {
      GNOME_ROOT + 'C/gnome-help/a11y-bouncekeys.page':
          mallard_page(ENGLISH_MALLARD, comment='Should we mention the delay slider here?'),
      GNOME_ROOT + 'de/gnome-help/a11y-bouncekeys.page': mallard_page(GERMAN_MALLARD),
  })


def write_cldr_tarball(out_dir: str) -> str:
  """cldr-annotations-full@48.2.0 is pinned by checksum, so the fixture gets its own name."""
  return make_npm_tgz(out_dir, 'cldr-annotations-fixture', '1.0.0', {
      'annotations/en/annotations.json': annotations_json('en', ENGLISH_EMOJI),
      'annotations/sw/annotations.json': annotations_json('sw', SWAHILI_EMOJI),
  })
