"""The example types of the cross-lingual transfer tasks, and the container of one task's data.

Every task is English-trained and evaluated per language (zero-shot transfer): `TaskData.train`
and `TaskData.dev` are English (P1: English paired with the training languages), `test` maps
each language to its examples, and `target_dev` holds per-language dev sets where the
benchmark has them (for the "oracle" model selection of Keung et al. 2020, reported next to the
English-dev selection).
"""

from collections.abc import Mapping
import dataclasses
import types

# What a head predicts, and so how the examples look and which metrics apply (metrics.score).
CLASSIFICATION = 'classification'              # ClassificationExample (one text or a pair)
TOKEN_CLASSIFICATION = 'token_classification'  # TokenClassificationExample (BIO tags)
EXTRACTIVE_QA = 'extractive_qa'                # QAExample (answer spans in the context)
REGRESSION = 'regression'                      # RegressionExample (a score per pair)
KINDS = (CLASSIFICATION, TOKEN_CLASSIFICATION, EXTRACTIVE_QA, REGRESSION)


@dataclasses.dataclass(frozen=True, slots=True)
class ClassificationExample:
  """A text (text_b None) or a text pair, and its class index into TaskData.label_names."""
  text_a: str
  text_b: str | None
  label: int
  language: str
  id: str
  group: str = ''   # examples scored together (P1: the anchor of a positive/negative pair)


@dataclasses.dataclass(frozen=True, slots=True)
class TokenClassificationExample:
  """Words and their IOB2 tags ('O', 'B-UI', 'I-UI', ...), one tag per word."""
  tokens: tuple[str, ...]
  tags: tuple[str, ...]
  language: str
  id: str


@dataclasses.dataclass(frozen=True, slots=True)
class QAExample:
  """A question about a context; answers are (text, character start in context), and any of
  them counts as right (SQuAD dev has several, XQuAD/MLQA one)."""
  question: str
  context: str
  answers: tuple[tuple[str, int], ...]
  language: str
  id: str


@dataclasses.dataclass(frozen=True, slots=True)
class RegressionExample:
  """A text pair and its similarity score (STS: 0-5)."""
  text_a: str
  text_b: str
  score: float
  language: str
  id: str


Example = ClassificationExample | TokenClassificationExample | QAExample | RegressionExample
EXAMPLE_TYPES = types.MappingProxyType({
    CLASSIFICATION: ClassificationExample, TOKEN_CLASSIFICATION: TokenClassificationExample,
    EXTRACTIVE_QA: QAExample, REGRESSION: RegressionExample})


@dataclasses.dataclass(frozen=True)
class TaskData:
  """One task, ready for fine-tuning on English and evaluating on every language.

  label_names: class names (CLASSIFICATION: index = label) or entity types without the B-/I-
    prefix (TOKEN_CLASSIFICATION); empty for QA and regression.
  headline_metric: the key of metrics.score's result to report first (e.g. 'accuracy',
    'macro_f1', 'f1', 'f1_UI', 'spearman').
  score_options: extra keyword arguments of metrics.score for this task (MLQA:
    {'normalization': 'mlqa'}); metrics.score_task applies them.
  description: where the data came from and how it was split (for logs and result files).
  """
  name: str
  kind: str
  label_names: tuple[str, ...]
  train: tuple[Example, ...]
  dev: tuple[Example, ...]
  test: Mapping[str, tuple[Example, ...]]
  target_dev: Mapping[str, tuple[Example, ...]] = dataclasses.field(default_factory=dict)
  headline_metric: str = 'accuracy'
  score_options: Mapping[str, str] = dataclasses.field(default_factory=dict)
  description: str = ''

  def __post_init__(self):
    if self.kind not in KINDS:
      raise ValueError(f'TaskData {self.name}: kind={self.kind!r} is not one of {KINDS}.')
    if not self.train or not self.test:
      raise ValueError(f'TaskData {self.name}: empty train or test; check the source data.')

  def sizes(self) -> dict:
    """{'train': n, 'dev': n, 'test': {language: n}, 'target_dev': {language: n}}."""
    return {'train': len(self.train), 'dev': len(self.dev),
            'test': {language: len(examples) for language, examples in sorted(self.test.items())},
            'target_dev': {language: len(examples)
                           for language, examples in sorted(self.target_dev.items())}}

  @property
  def languages(self) -> tuple[str, ...]:
    """The test languages, sorted."""
    return tuple(sorted(self.test))

  def bio_tags(self) -> tuple[str, ...]:
    """TOKEN_CLASSIFICATION: 'O' then B-/I- of each label (the tag vocabulary of a head)."""
    return ('O',) + tuple(f'{prefix}-{label}' for label in self.label_names
                          for prefix in ('B', 'I'))
