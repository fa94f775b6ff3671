"""A tiny multilingual text sample and a tokenizer trained on it (tests of export and import).

Article 1 of the UDHR in seven languages and five scripts; random word orders give
SentencePiece enough material for a 512-token vocabulary in well under a second.
"""

import numpy as np

from unibert_jax.data import tokenizer as tokenizer_lib

ARTICLE_1 = {
    'en': ('All human beings are born free and equal in dignity and rights. They are endowed'
           ' with reason and conscience and should act towards one another in a spirit of '
           'brotherhood.'),
    'de': ('Alle Menschen sind frei und gleich an Würde und Rechten geboren. Sie sind mit '
           'Vernunft und Gewissen begabt und sollen einander im Geist der Brüderlichkeit '
           'begegnen.'),
    'fr': ('Tous les êtres humains naissent libres et égaux en dignité et en droits. Ils '
           'sont doués de raison et de conscience et doivent agir les uns envers les autres '
           'dans un esprit de fraternité.'),
    'ru': ('Все люди рождаются свободными и равными в своем достоинстве и правах. Они '
           'наделены разумом и совестью и должны поступать в отношении друг друга в духе '
           'братства.'),
    'el': ('Όλοι οι άνθρωποι γεννιούνται ελεύθεροι και ίσοι στην αξιοπρέπεια και τα '
           'δικαιώματα. Είναι προικισμένοι με λογική και συνείδηση, και οφείλουν να '
           'συμπεριφέρονται μεταξύ τους με πνεύμα αδελφοσύνης.'),
    'zh': ('人人生而自由 在尊严和权利上一律平等 他们赋有理性和良心 并应以兄弟关系的精神相对待'),
    'ar': ('يولد جميع الناس أحرارًا متساوين في الكرامة والحقوق. وقد وهبوا عقلاً وضميرًا '
           'وعليهم أن يعامل بعضهم بعضًا بروح الإخاء.'),
}

# Inputs of different scripts and lengths (so batches are padded); one holds a <mask>.
SENTENCES = (
    'Alle Menschen sind frei und gleich an Würde.',
    '人人生而自由',
    'They are endowed with <mask> and conscience.',
    'Все люди рождаются свободными и равными в своем достоинстве и правах.',
    'يولد جميع الناس أحرارًا',
    'Όλοι οι άνθρωποι',
)


def shuffled_texts(per_language: int = 150, seed: int = 0) -> dict[str, list[str]]:
  rng = np.random.default_rng(seed)
  texts = {}
  for language, article in ARTICLE_1.items():
    words = list(article.replace(' ', '')) if language == 'zh' else article.split()
    joiner = '' if language == 'zh' else ' '
    texts[language] = [joiner.join(rng.choice(words, rng.integers(5, 20)))
                       for _ in range(per_language)]
  return texts


def train_tokenizer(out_dir: str, vocab_size: int = 512, max_len: int = 32) -> str:
  return tokenizer_lib.train_tokenizer(shuffled_texts(), vocab_size, out_dir, alpha=0.5, seed=0,
                                       model_max_length=max_len)
