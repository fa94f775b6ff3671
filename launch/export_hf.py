r"""Exports a training run's checkpoint as a Hugging Face XLMRobertaForMaskedLM directory.

  python launch/export_hf.py --workdir=/tmp/unibert_demo --out=/tmp/unibert_demo/hf [--step=N]

Reads the run config from the checkpoint, restores it (saved on any mesh) on one device and
writes config.json, model.safetensors, the tokenizer files and a README.md model card. Then:

  AutoModelForMaskedLM.from_pretrained(OUT); AutoTokenizer.from_pretrained(OUT)
  transformers.pipeline('fill-mask', model=OUT)

Prints one JSON line (out_dir, step, tokenizer_dir, num_parameters). Takes seconds.
"""

from absl import app
from absl import flags

from unibert_jax import cli

_WORKDIR = flags.DEFINE_string('workdir', None, 'Training run (its checkpoints/ directory).')
_OUT = flags.DEFINE_string('out', None, 'Output directory.')
_STEP = flags.DEFINE_integer('step', None, 'Checkpoint step (default: the newest).')
_TOKENIZER_DIR = flags.DEFINE_string(
    'tokenizer_dir', None, 'Tokenizer directory (default: the run\'s data.tokenizer_dir or '
    '<workdir>/data/tokenizer).')


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f'Unexpected arguments {argv[1:]}.')
  from unibert_jax.export import from_run  # pylint: disable=g-import-not-at-top
  cli.print_json(from_run.export_checkpoint(_WORKDIR.value, _OUT.value, step=_STEP.value,
                                            tokenizer_dir=_TOKENIZER_DIR.value))


if __name__ == '__main__':
  flags.mark_flags_as_required(['workdir', 'out'])
  cli.run(main)
