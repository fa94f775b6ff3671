"""Fluent messages as plain text: terms, message references, placeholders, selects."""

from unibert_jax.evaluation.parallel_text import fluent_text

from tests.evaluation.parallel_text import fixture_files


def _english():
  return fluent_text.parse_locale({'ftl:browser/update.ftl': fixture_files.ENGLISH_FTL})


def test_term_reference_is_resolved():
  assert _english()['ftl:browser/update.ftl#update-ready'] == (
      'Firefox has downloaded an update for you today')


def test_term_call_chooses_the_named_variant_of_the_term():
  assert _english()['ftl:browser/update.ftl#owner'] == (
      "This browser belongs to Firefox Browser's owner")


def test_message_reference_is_resolved():
  assert _english()['ftl:browser/update.ftl#about-page'] == (
      'Read more about the privacy notice in the help pages')


def test_variable_stays_as_a_placeholder():
  assert _english()['ftl:browser/update.ftl#greeting'] == (
      'Welcome back, {$user}, we missed you here')


def test_accesskey_is_dropped_and_text_attributes_are_kept():
  texts = _english()
  assert 'ftl:browser/update.ftl#update-ready.accesskey' not in texts
  assert texts['ftl:browser/update.ftl#update-ready.title'] == (
      'The update will be installed when you restart')


def test_message_with_a_select_expression_is_dropped():
  assert not [key for key in _english() if '#tabs-count' in key]


def test_terms_are_not_messages():
  assert not [key for key in _english() if '#-brand' in key]


def test_dangling_reference_drops_the_message():
  texts = fluent_text.parse_locale({'x.ftl': 'a = Uses { -missing-term } here\nb = Fine text\n'})
  assert texts == {'x.ftl#b': 'Fine text'}


def test_terms_resolve_across_files_of_the_locale():
  texts = fluent_text.parse_locale({
      'ftl:branding/brand.ftl': '-brand-short-name = Nightly\n',
      'ftl:browser/x.ftl': 'restart = Restart { -brand-short-name } now\n'})
  assert texts['ftl:browser/x.ftl#restart'] == 'Restart Nightly now'


MULTILINE_FTL = '''\
# A comment before the message
plain = First line of the text
    continues on a second line

    and after a blank line.
    .label = A label attribute
only-attributes =
    .title = Title only
-term-with-attribute = Brand
    .gender = feminine
uses-term = Made by { -term-with-attribute }
'''


def test_plain_fast_path_gives_the_same_text_as_fluent_syntax():
  sources = {'f.ftl': MULTILINE_FTL, 'g.ftl': fixture_files.ENGLISH_FTL}
  fast = fluent_text.parse_locale(sources, plain_fast_path=True)
  full = fluent_text.parse_locale(sources, plain_fast_path=False)
  collapse = lambda texts: {key: ' '.join(text.split()) for key, text in texts.items()}
  assert collapse(fast) == collapse(full)
  assert collapse(fast)['f.ftl#plain'] == (
      'First line of the text continues on a second line and after a blank line.')
  assert fast['f.ftl#only-attributes.title'] == 'Title only'
  assert 'f.ftl#only-attributes' not in fast
