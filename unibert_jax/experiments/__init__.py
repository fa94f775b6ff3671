"""Experiments built from whole runs: pre-training variants x seeds, each evaluated by the suite
and fine-tuned on the transfer tasks, then compared (universality.py; launch/universality.py).
"""
