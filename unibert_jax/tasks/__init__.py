"""Zero-shot cross-lingual transfer tasks: data, metrics, QA windows, system comparison.

Fine-tune on English, evaluate on every language (crosslingual.md §4, offline_eval.md §4-§6):

  from unibert_jax import tasks
  task = tasks.load_task('C1')               # TaskData: train/dev English, test per language
  task = tasks.load_task('xnli', tfds_data_dir=D, languages=('de', 'sw'))
  scores = tasks.metrics.score_task(task, task.test['de'], predictions)
  windows = tasks.qa_postprocess.windows(tokenizer, example)      # extractive QA inputs
  answers = tasks.qa_postprocess.predict_answers(examples, windows, start_logits, end_logits)
  result = tasks.comparison.compare(baseline_scores, candidate_scores)   # per language

Modules: examples (types), offline_tasks (C1, P1, T1 from the parallel-text cache),
tfds_sources (XNLI, PAN-X, XQuAD, MLQA, STS), metrics, qa_postprocess, floors (lexical floors
of the offline tasks), word_tokens, hard_negatives, registry. `comparison` lives in
evaluation (the eval-suite comparisons use it too) and is re-exported here.
"""

from unibert_jax.evaluation import comparison
from unibert_jax.tasks import metrics
from unibert_jax.tasks import qa_postprocess
from unibert_jax.tasks.examples import ClassificationExample
from unibert_jax.tasks.examples import KINDS
from unibert_jax.tasks.examples import QAExample
from unibert_jax.tasks.examples import RegressionExample
from unibert_jax.tasks.examples import TaskData
from unibert_jax.tasks.examples import TokenClassificationExample
from unibert_jax.tasks.registry import load_task
from unibert_jax.tasks.registry import TASKS
