"""The layout of a run directory (`--workdir`): the one place its file names are spelled.

    <workdir>/data/              corpus and tokenizer (unless data.data_dir points elsewhere)
             teacher/            the demo teacher's own run (a run directory of its own)
             teacher_hf/         the demo teacher, exported to Hugging Face format
             teacher_cache/      the teacher's top-k logits (unless kd.cache_dir)
             checkpoints/        Orbax checkpoints of the student
             metrics.jsonl       one JSON line per logged or evaluated step
             tensorboard/        the same metrics as TensorBoard events
             profile/            profiler traces
             eval/eval.json      the final evaluation (and eval.png)
             hf/                 the student, exported to Hugging Face format
"""

import dataclasses
import os

# Inside any evaluation output directory (a run's eval/, or launch/evaluate.py --out_dir).
EVAL_FILE, EVAL_PLOT = 'eval.json', 'eval.png'


@dataclasses.dataclass(frozen=True)
class RunDir:
  """Paths inside one run directory; `root` is made absolute."""
  root: str

  def __post_init__(self):
    object.__setattr__(self, 'root', os.path.abspath(self.root))

  def _path(self, *parts: str) -> str:
    return os.path.join(self.root, *parts)

  @property
  def data(self) -> str:
    return self._path('data')

  @property
  def teacher(self) -> 'RunDir':
    return RunDir(self._path('teacher'))

  @property
  def teacher_hf(self) -> str:
    return self._path('teacher_hf')

  @property
  def teacher_cache(self) -> str:
    return self._path('teacher_cache')

  @property
  def checkpoints(self) -> str:
    return self._path('checkpoints')

  @property
  def metrics(self) -> str:
    return self._path('metrics.jsonl')

  @property
  def tensorboard(self) -> str:
    return self._path('tensorboard')

  @property
  def profile(self) -> str:
    return self._path('profile')

  @property
  def eval(self) -> str:
    return self._path('eval')

  @property
  def eval_json(self) -> str:
    return self._path('eval', EVAL_FILE)

  @property
  def hf(self) -> str:
    return self._path('hf')
