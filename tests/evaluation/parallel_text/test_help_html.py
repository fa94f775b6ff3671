"""LibreOffice help HTML units and the help packages (including Debian's sk -> cs symlink)."""

from unibert_jax.evaluation.parallel_text import help_html
from unibert_jax.evaluation.parallel_text import libreoffice_help
from unibert_jax.evaluation.parallel_text import locales

from tests.evaluation.parallel_text import fixture_files


def test_units_dissolve_typed_spans_and_skip_the_header():
  units = help_html.units(fixture_files.help_page('en-US', fixture_files.ENGLISH_HELP))
  assert units == [
      ('hd_id3150769', 'Tools menu and its many commands'),
      ('par_id3150440', 'Choose Tools - Spelling to check the spelling of the whole document.'),
      ('par_id3152576', 'Press F7 to start the spelling check now.'),
  ]


def test_only_unit_elements_with_unit_ids_count():
  page = ('<div id="DisplayArea"><p id="other_1">not a unit</p><p>no id</p>'
          '<table><tr><td id="par_id1"><p id="par_id2">inner cell text &amp; more</p></td></tr>'
          '</table><h2 id="hd_id3">A <a href="x.html">linked</a> heading</h2></div>')
  assert help_html.units(page) == [('par_id2', 'inner cell text & more'),
                                   ('hd_id3', 'A linked heading')]


def test_cutting_ignored_tags_does_not_change_the_units():
  page = ('<div id="DisplayArea"><p id="par_id1">A <a href="x.html#y">link</a>, <br/>a '
          '<span class="menuitem">menu</span> <img src="i.png" alt="picture"> and '
          '<!-- a comment --> <b>bold</b> text.</p><script>if (a<b) { x = "<p>" }</script>'
          '<div class="embedded"><h3 id="hd_id2">Heading &lt;with&gt; entities</h3></div></div>')
  assert (help_html.units(page, cut_ignored_tags=True) ==
          help_html.units(page, cut_ignored_tags=False) ==
          [('par_id1', 'A link, a menu and bold text.'), ('hd_id2', 'Heading <with> entities')])


def test_package_keys_are_page_and_id(tmp_path):
  deb = fixture_files.make_deb(str(tmp_path), 'libreoffice-help-de', '1:1.0', {
      fixture_files.HELP_ROOT + 'de/text/scalc/main0106.html':
          fixture_files.help_page('de', fixture_files.GERMAN_HELP),
      fixture_files.HELP_ROOT + 'de/noscript.html': '<p id="par_id9">not under text/</p>'})
  texts = libreoffice_help.read_package(deb, 'de')
  assert sorted(texts) == ['scalc/main0106.html#hd_id3150769', 'scalc/main0106.html#par_id3150440',
                           'scalc/main0106.html#par_id3152576']


def test_slovak_help_is_a_symlink_to_czech_and_is_excluded(tmp_path):
  deb = fixture_files.make_deb(str(tmp_path), 'libreoffice-help-sk', '1:1.0', {},
                               symlinks={fixture_files.HELP_ROOT + 'sk': 'cs'})
  assert libreoffice_help.is_symlink_only(deb, 'sk')
  assert libreoffice_help.read_package(deb, 'sk') == {}
  assert 'sk' not in locales.LIBREOFFICE_HELP
  assert 'cs' in locales.LIBREOFFICE_HELP_EXCLUDED['sk']
