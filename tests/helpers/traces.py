"""Reads back the step annotations of the JAX profiler traces under a workdir."""

import glob
import os

import jax


def traced_steps(workdir):
  """(xplane files, sorted step numbers of the 'train' step annotations found)."""
  files = glob.glob(os.path.join(workdir, 'profile', 'plugins', 'profile', '*', '*.xplane.pb'))
  steps = []
  for path in files:
    for plane in jax.profiler.ProfileData.from_file(path).planes:
      for line in plane.lines:
        for event in line.events:
          if event.name == 'train':
            steps.append(dict(event.stats)['step_num'])
  return files, sorted(steps)
