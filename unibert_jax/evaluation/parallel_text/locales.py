"""Which locale of each source stands for which of the project's 107 languages.

Keys are Wikipedia codes (unibert_jax.data.languages); a language a table does not name is not
in that source. One locale per language (offline_eval.md §2): es = es-ES, pt = pt-PT,
zh = zh-CN (Simplified), no = Bokmal (nb), ku = Kurmanji in Latin script, sr = Cyrillic.
English variants (en-GB, en-CA, en-ZA), regional duplicates (ca-valencia, es-AR/CL/MX, pt-BR,
zh-TW, sr@latin) and locales outside the 107 (e.g. Firefox's ach, cak, dsb, hsb, kab, szl;
LibreOffice's as, dz, gug, nso, zu) are left out on purpose.
"""

import types

# Firefox ESR langpacks: language -> locale; the package is firefox-esr-l10n-<locale lowercased>.
FIREFOX = types.MappingProxyType({
    'af': 'af', 'ar': 'ar', 'ast': 'ast', 'az': 'az', 'be': 'be', 'bg': 'bg', 'bn': 'bn',
    'br': 'br', 'bs': 'bs', 'ca': 'ca', 'cs': 'cs', 'cy': 'cy', 'da': 'da', 'de': 'de',
    'el': 'el', 'eo': 'eo', 'es': 'es-ES', 'et': 'et', 'eu': 'eu', 'fa': 'fa', 'fi': 'fi',
    'fr': 'fr', 'fy': 'fy-NL', 'ga': 'ga-IE', 'gd': 'gd', 'gl': 'gl', 'gu': 'gu-IN', 'he': 'he',
    'hi': 'hi-IN', 'hr': 'hr', 'hu': 'hu', 'hy': 'hy-AM', 'id': 'id', 'is': 'is', 'it': 'it',
    'ja': 'ja', 'ka': 'ka', 'kk': 'kk', 'km': 'km', 'kn': 'kn', 'ko': 'ko', 'lt': 'lt',
    'lv': 'lv', 'mk': 'mk', 'mr': 'mr', 'ms': 'ms', 'my': 'my', 'ne': 'ne-NP', 'nl': 'nl',
    'nn': 'nn-NO', 'no': 'nb-NO', 'oc': 'oc', 'pa': 'pa-IN', 'pl': 'pl', 'pt': 'pt-PT',
    'ro': 'ro', 'ru': 'ru', 'sco': 'sco', 'si': 'si', 'sk': 'sk', 'sl': 'sl', 'sq': 'sq',
    'sr': 'sr', 'sv': 'sv-SE', 'ta': 'ta', 'te': 'te', 'tg': 'tg', 'th': 'th', 'tl': 'tl',
    'tr': 'tr', 'uk': 'uk', 'ur': 'ur', 'uz': 'uz', 'vi': 'vi', 'xh': 'xh', 'zh': 'zh-CN',
})

# LibreOffice UI: language -> (package suffix of libreoffice-l10n-*, resource directory).
# libreoffice-l10n-sr also ships sr@latin and -ca ships ca@valencia: only the named one is read.
_SAME = ('af am ar ast be bg bn br bs ca cs cy da de el eo es et eu fa fi fr ga gd gl gu he hi '
         'hr hu id is it ja ka kk km kn ko lt lv mk ml mn mr ne nl nn oc om pl pt ro ru si sk '
         'sl sr sv ta te tg th tr ug uk uz vi xh').split()
LIBREOFFICE_UI = types.MappingProxyType({
    **{code: (code, code) for code in _SAME},
    'ku': ('kmr', 'kmr@latin'), 'no': ('nb', 'nb'), 'pa': ('pa-in', 'pa_IN'),
    'zh': ('zh-cn', 'zh_CN'),
})

# LibreOffice help: language -> (package suffix of libreoffice-help-*, help directory).
LIBREOFFICE_HELP_ENGLISH = ('en-us', 'en-US')
LIBREOFFICE_HELP = types.MappingProxyType({
    **{code: (code, code) for code in 'ca cs da de el es et eu fi fr gl hi hu id it ja km ko nl '
       'om pl pt ru sl sv tr vi'.split()},
    'zh': ('zh-cn', 'zh-CN'),
})
# Languages whose help package exists but is not a translation of its own.
LIBREOFFICE_HELP_EXCLUDED = types.MappingProxyType({
    'sk': 'libreoffice-help-sk only installs the symlink help/sk -> cs (Czech text); excluded',
})

# GNOME help (package gnome-user-docs): language -> directory under /usr/share/help/.
GNOME_HELP_ENGLISH = 'C'
GNOME_HELP = types.MappingProxyType({
    **{code: code for code in 'ca cs da de el es fa fi fr gl gu he hi hr hu id it ja kn ko lt lv '
       'mr nl pa pl pt ro ru sl sr sv ta te tr uk vi'.split()},
    'zh': 'zh_CN',
})

# CLDR emoji annotations: the locale directory is the Wikipedia code except for these.
CLDR_ENGLISH = 'en'
CLDR_EXCEPTIONS = types.MappingProxyType({'pnb': 'pa-Arab', 'tl': 'fil'})


def firefox_package(locale: str) -> str:
  return 'firefox-esr-l10n-' + locale.lower()


def cldr_locale(language: str) -> str:
  return CLDR_EXCEPTIONS.get(language, language)
