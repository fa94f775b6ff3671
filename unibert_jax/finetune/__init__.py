"""Fine-tuning for zero-shot cross-lingual transfer: train a task head on English, test on
every language (launch/finetune.py).

Modules, in the order data flows through them: model_source (the encoder: a run or a Hugging
Face directory), inputs (examples -> bucketed token rows), heads (task heads in transformers'
layouts), step (the jitted data-parallel step), transfer (one seed: epochs, checkpoints,
English-dev and oracle selection, test scores), experiment (seeds, floors, files), results
(the per-language table), compare_runs (two systems), export (to transformers task classes).
"""
