"""Tasks by name: the offline ones (C1, P1, T1; the default, built from real translations in the
parallel-text cache) and the real benchmarks (xnli, panx, xquad, mlqa, sts; prepared TFDS or
JSON-lines data)."""

from collections.abc import Sequence
import dataclasses

from unibert_jax.tasks import offline_tasks
from unibert_jax.tasks import tfds_sources
from unibert_jax.tasks.examples import TaskData

OFFLINE_TASKS = ('C1', 'P1', 'T1')
BENCHMARK_TASKS = ('xnli', 'panx', 'xquad', 'mlqa', 'sts')
TASKS = OFFLINE_TASKS + BENCHMARK_TASKS


def only_languages(task: TaskData, languages: Sequence[str]) -> TaskData:
  """The task with its test and target_dev restricted to `languages` (train/dev unchanged)."""
  missing = sorted(set(languages) - set(task.test))
  if missing:
    raise ValueError(f'Task {task.name} has no test data for {", ".join(missing)}; it has '
                     f'{", ".join(task.languages)}.')
  return dataclasses.replace(
      task, test={language: task.test[language] for language in languages},
      target_dev={language: task.target_dev[language] for language in languages
                  if language in task.target_dev})


def load_task(name: str, *, parallel_text_dir: str | None = None,
              tfds_data_dir: str | None = None, sts_dir: str | None = None,
              languages: Sequence[str] | None = None) -> TaskData:
  """The task's data; `languages` limits the test languages (default: all the task has).

  parallel_text_dir: the parallel-text cache of C1/P1/T1 (default
    ~/.cache/unibert_jax/parallel_text; T1 needs `parallel_text.build(sets=('T1',))`).
  tfds_data_dir: where xnli, panx, xquad and mlqa were prepared as ArrayRecord.
  sts_dir: the JSON-lines copy of stsb_multi_mt (tfds_sources.py says how to write it).
  """
  if name in OFFLINE_TASKS:
    task = offline_tasks.load(name, parallel_text_dir)
    return only_languages(task, languages) if languages else task
  loaders = {'xnli': tfds_sources.xnli, 'panx': tfds_sources.panx, 'xquad': tfds_sources.xquad,
             'mlqa': tfds_sources.mlqa}
  if name in loaders:
    return (loaders[name](tfds_data_dir, languages) if languages
            else loaders[name](tfds_data_dir))
  if name == 'sts':
    return tfds_sources.sts(sts_dir, languages) if languages else tfds_sources.sts(sts_dir)
  raise ValueError(f'Unknown task {name!r}; choose from {", ".join(TASKS)}.')
