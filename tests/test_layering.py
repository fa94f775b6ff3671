"""The packages follow the data flow: no module imports a layer that sits above its own.

Read from the source (ast), not by importing: a layering mistake hidden in a function body or
behind a condition is caught too.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = 'unibert_jax'

# Layer -> the layers its modules may import (always including their own).
MAY_IMPORT = {
    'core': set(),
    'data': {'core'},
    'model': {'core'},
    'perf': {'core', 'model'},
    'train': {'core', 'data', 'model', 'perf'},
    'export': {'core', 'data', 'model', 'train'},
    'teacher': {'core', 'data', 'model', 'perf', 'export'},
    'evaluation': {'core', 'data', 'model', 'export', 'train'},
    'tasks': {'core', 'data', 'model', 'perf', 'train', 'export', 'evaluation'},
    'finetune': {'core', 'data', 'model', 'perf', 'train', 'export', 'evaluation', 'tasks'},
    'experiments': {'core', 'data', 'model', 'perf', 'train', 'export', 'teacher', 'evaluation',
                    'tasks', 'finetune'},
    'perf.bench': {'core', 'data', 'model', 'perf', 'train', 'export', 'teacher', 'evaluation',
                   'tasks', 'finetune'},
    'app': {'core', 'data', 'model', 'perf', 'train', 'export', 'teacher', 'evaluation',
            'tasks', 'finetune'},
}
# Top-level modules that assemble the whole job; every other top-level module is core.
APP_MODULES = {'main_job', 'config_schema', 'cli'}
OUTSIDE_THE_LIBRARY = ('launch', 'configs', 'tests')


def layer_of(module: str) -> str:
  """The layer of a dotted module name inside the package."""
  parts = module.split('.')[1:]
  if not parts:
    return 'core'            # the package's own __init__
  if parts[:2] == ['perf', 'bench']:
    return 'perf.bench'
  if len(parts) == 1 and parts[0] not in MAY_IMPORT:
    return 'app' if parts[0] in APP_MODULES else 'core'
  return parts[0]


def library_modules() -> dict[str, str]:
  """Dotted module name -> file path, for every module of the package."""
  modules = {}
  for directory, _, files in os.walk(os.path.join(ROOT, PACKAGE)):
    for name in files:
      if name.endswith('.py'):
        path = os.path.join(directory, name)
        relative = os.path.relpath(path, ROOT)[:-3].replace(os.sep, '.')
        modules[relative.removesuffix('.__init__') if name == '__init__.py' else relative] = path
  return modules


def imported_modules(path: str, module: str) -> set[str]:
  """Every module an import statement of the file names (relative imports resolved)."""
  tree = ast.parse(open(path).read(), path)
  found = set()
  for node in ast.walk(tree):
    if isinstance(node, ast.Import):
      found.update(alias.name for alias in node.names)
    elif isinstance(node, ast.ImportFrom):
      base = node.module or ''
      if node.level:
        parent = module.split('.')[:-node.level]
        base = '.'.join(parent + ([base] if base else []))
      found.add(base)
      found.update(f'{base}.{alias.name}' for alias in node.names)
  return found


def violations() -> list[str]:
  modules = library_modules()
  found = []
  for module, path in sorted(modules.items()):
    layer = layer_of(module)
    allowed = MAY_IMPORT[layer] | {layer}
    for name in sorted(imported_modules(path, module)):
      top = name.split('.')[0]
      if top in OUTSIDE_THE_LIBRARY:
        found.append(f'{module} ({layer}) imports {name}, outside the library')
      elif top == PACKAGE and name in modules and layer_of(name) not in allowed:
        found.append(f'{module} ({layer}) imports {name} ({layer_of(name)})')
  return found


def test_no_module_imports_a_layer_above_its_own():
  assert violations() == []


@pytest.mark.parametrize('module, expected', [
    ('unibert_jax.run_dir', 'core'), ('unibert_jax.main_job', 'app'),
    ('unibert_jax.data.batch', 'data'), ('unibert_jax.perf.flops', 'perf'),
    ('unibert_jax.perf.bench.benchmark', 'perf.bench'), ('unibert_jax.model', 'model'),
    ('unibert_jax.experiments.universality', 'experiments'),
])
def test_modules_are_placed_in_their_layer(module, expected):
  assert layer_of(module) == expected


def test_the_check_sees_imports_inside_functions(tmp_path):
  source = tmp_path / 'mod.py'
  source.write_text('def f():\n  from unibert_jax.train import step\n  import configs.base\n')
  assert imported_modules(str(source), 'unibert_jax.model.mod') >= {
      'unibert_jax.train.step', 'configs.base'}


def test_no_file_of_the_project_edits_the_import_path():
  needle = 'sys' + '.path'  # spelled apart so that this file does not match itself
  offenders = []
  for folder in ('unibert_jax', 'launch', 'configs', 'tests'):
    for directory, _, files in os.walk(os.path.join(ROOT, folder)):
      for name in files:
        if name.endswith('.py'):
          path = os.path.join(directory, name)
          if needle in open(path).read():
            offenders.append(os.path.relpath(path, ROOT))
  assert offenders == []
