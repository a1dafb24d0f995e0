# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The layout's rules, checked on the source with ``ast`` (nothing is imported).

Layers, low to high; a module imports only its own layer or lower ones:

0 ``contract``, ``observation``, ``versioning``, ``paths`` -> 1 ``algo`` -> 2 ``policy`` ->
3 ``data``, ``real`` -> 4 ``sim``, ``bags`` -> 5 ``training`` -> 6 ``ros`` -> 7 ``commands``.

Also: no import cycles; only the ROS layer and the commands import ROS; imports sit at the top
of a module unless they are optional or heavy dependencies (``FUNCTION_IMPORTS_ALLOWED``); no
text in the repository cites a document that users do not have.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / 'tgrpo_ros'

LAYERS: dict[str, int] = {
    'tgrpo_ros': 0, 'tgrpo_ros.contract': 0, 'tgrpo_ros.observation': 0,
    'tgrpo_ros.versioning': 0, 'tgrpo_ros.paths': 0,
    'tgrpo_ros.algo': 1,
    'tgrpo_ros.policy': 2,
    'tgrpo_ros.data': 3, 'tgrpo_ros.real': 3,
    'tgrpo_ros.sim': 4, 'tgrpo_ros.bags': 4,
    'tgrpo_ros.training': 5,
    'tgrpo_ros.ros': 6, 'tgrpo_ros.msg': 6, 'tgrpo_ros.srv': 6,
    'tgrpo_ros.commands': 7,
}

# Only these may import ROS client libraries, launch, or the generated interfaces.
ROS_LAYERS = ('tgrpo_ros.ros', 'tgrpo_ros.commands')
ROS_MODULES = ('rclpy', 'rcl_interfaces', 'std_msgs', 'sensor_msgs', 'geometry_msgs',
               'builtin_interfaces', 'launch', 'launch_ros', 'tgrpo_ros.msg', 'tgrpo_ros.srv')

# Imports allowed inside functions, each with the reason it cannot sit at the top of the module.
FUNCTION_IMPORTS_ALLOWED: dict[str, str] = {
    'transformers': 'optional: only HF checkpoints need it, and it takes seconds to import',
    'peft': 'optional: only LoRA adapters need it; it imports transformers',
    'matplotlib': 'optional: only plots need it, and it is slow to import',
    'libero': 'heavy: LIBERO imports robosuite and MuJoCo and registers every benchmark',
    'robosuite': 'heavy: imports MuJoCo and renders; only the simulator adapter needs it',
    'mujoco': 'heavy: native library, loaded only by the simulator adapter',
    'torch.utils.tensorboard': 'optional: imports tensorboard, only for runs that log to it',
    'ament_index_python': 'exists only on a full ROS 2 install, not with the PyPI wheels',
    'launch': 'exists only on a full ROS 2 install, not with the PyPI wheels',
    'launch_ros': 'exists only on a full ROS 2 install, not with the PyPI wheels',
    'tf2_ros': 'not among the PyPI wheels; the end-effector pose then comes from a topic',
    'control_msgs': 'not among the PyPI wheels; only the action-interface gripper needs it',
}

# Citations of documents that are not in the repository (built in pieces so that this file does
# not cite them itself).
MISSING_DOCUMENTS = ('contracts' + '.md', 'tgrpo' + '.md')
SKIPPED_FOLDERS = {'.git', '.venv', 'build', 'install', 'log', '__pycache__', '.hypothesis',
                   '.pytest_cache', '.ruff_cache', 'runs', 'outputs', '.gl', '.whl'}
SKIPPED_PATHS = {ROOT / 'benchmarks' / 'results'}


@dataclass(frozen=True)
class Import:
    importer: str      # dotted name of the importing module
    target: str        # dotted name imported (a module, or the package a name comes from)
    line: int
    in_function: bool

    def where(self) -> str:
        return f'{self.importer} (line {self.line}) imports {self.target}'


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix('').parts)
    if parts[-1] == '__init__':
        parts.pop()
    return '.'.join(parts)


def source_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob('*.py'))
            if '__pycache__' not in p.parts}


def _is_function(node: ast.AST) -> bool:
    return isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    """Every import statement in the module, at any depth, with the module it reaches."""
    tree = ast.parse(path.read_text(encoding='utf-8'), filename=str(path))
    package = name if path.name == '__init__.py' else name.rpartition('.')[0]
    found: list[Import] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                found.extend(Import(name, alias.name, child.lineno, in_function)
                             for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ''
                if child.level:
                    anchor = package.split('.')
                    anchor = anchor[:len(anchor) - (child.level - 1)]
                    base = '.'.join(anchor + ([base] if base else []))
                for alias in child.names:
                    # `from pkg import mod` reaches pkg.mod when that is a module of ours
                    sub = f'{base}.{alias.name}'
                    target = sub if sub in modules else base
                    found.append(Import(name, target, child.lineno, in_function))
            visit(child, in_function or _is_function(child))

    visit(tree, False)
    return found


def all_imports() -> list[Import]:
    modules = source_modules()
    found = [imp for name, path in modules.items() for imp in imports_of(name, path, modules)]
    return list(dict.fromkeys(found))  # `from m import a, b` is one import of m


def layer_of(module: str) -> int | None:
    """Layer of a tgrpo_ros module (by its longest listed prefix); None outside tgrpo_ros."""
    best = None
    for prefix, layer in LAYERS.items():
        if (module == prefix or module.startswith(prefix + '.')) and (
                best is None or len(prefix) > len(best)):
            best = prefix
    return None if best is None else LAYERS[best]


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + '.') for p in prefixes)


strongly_connected: list[list[str]] = []  # of the last find_cycles call, for messages


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (as a path that returns to its start) per strongly connected component.

    Every module of a component lies on some cycle with the others; the shortest cycle through
    its first member names the problem, ``strongly_connected`` lists all members.
    """
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def connect(v: str) -> None:
        # Tarjan's algorithm; the graph has ~100 nodes, recursion depth stays small
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1 or v in graph.get(v, ()):
                components.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    strongly_connected[:] = components

    cycles = []
    for component in components:
        members = set(component)
        start = component[0]
        # breadth-first search for the shortest way back to start inside the component
        previous: dict[str, str] = {}
        frontier = [start]
        done = False
        while frontier and not done:
            following = []
            for v in frontier:
                for w in sorted(graph[v] & members):
                    if w == start:
                        path = [v]
                        while path[-1] != start:
                            path.append(previous[path[-1]])
                        cycles.append([start] + path[::-1][1:] + [start] if v != start
                                      else [start, start])
                        done = True
                        break
                    if w not in previous:
                        previous[w] = v
                        following.append(w)
                if done:
                    break
            frontier = following
    return cycles


def import_graph(imports: list[Import]) -> dict[str, set[str]]:
    modules = set(source_modules())
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for imp in imports:
        if imp.target in modules and imp.target != imp.importer:
            graph[imp.importer].add(imp.target)
    return graph


def test_find_cycles_names_the_cycle():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}, 'e': {'e'}}
    assert sorted(find_cycles(graph)) == [['a', 'b', 'c', 'a'], ['e', 'e']]
    assert find_cycles({'a': {'b'}, 'b': set()}) == []


def test_every_module_has_a_layer():
    missing = [m for m in source_modules() if layer_of(m) is None]
    assert not missing, f'modules outside the layer table (add them to LAYERS): {missing}'


def test_no_import_cycles():
    cycles = find_cycles(import_graph(all_imports()))
    assert not cycles, 'import cycles:\n' + '\n'.join(
        f'{" -> ".join(c)}   (modules on cycles with it: {", ".join(m)})'
        for c, m in zip(cycles, strongly_connected))


def test_no_module_imports_a_higher_layer():
    upward = []
    for imp in all_imports():
        mine, theirs = layer_of(imp.importer), layer_of(imp.target)
        if theirs is not None and theirs > mine:
            upward.append(f'{imp.where()} (layer {mine} -> {theirs})')
    assert not upward, 'imports of a higher layer:\n' + '\n'.join(upward)


def test_only_the_ros_layer_and_the_commands_import_ros():
    leaks = [imp.where() for imp in all_imports()
             if _within(imp.target, ROS_MODULES) and not _within(imp.importer, ROS_LAYERS)]
    assert not leaks, 'ROS imported outside tgrpo_ros.ros / tgrpo_ros.commands:\n' + '\n'.join(
        leaks)


def test_imports_inside_functions_are_only_optional_dependencies():
    hidden = [imp.where() for imp in all_imports()
              if imp.in_function and not _within(imp.target, tuple(FUNCTION_IMPORTS_ALLOWED))]
    assert not hidden, ('imports inside functions (move them to the top of the module, or add '
                        'an optional dependency with its reason to FUNCTION_IMPORTS_ALLOWED):\n'
                        + '\n'.join(hidden))


def _text_files():
    for path in sorted(ROOT.rglob('*')):
        rel = path.relative_to(ROOT)
        if (not path.is_file() or SKIPPED_FOLDERS & set(rel.parts[:-1])
                or any(path.is_relative_to(p) for p in SKIPPED_PATHS)):
            continue
        data = path.read_bytes()
        if b'\0' in data[:8192]:
            continue  # binary files (weights, images) cite nothing
        yield rel, data.decode('utf-8', errors='replace')


@pytest.mark.parametrize('document', MISSING_DOCUMENTS)
def test_no_text_cites_a_document_users_do_not_have(document):
    citing = [f'{rel}:{n}' for rel, text in _text_files() if document in text
              for n, line in enumerate(text.splitlines(), 1) if document in line]
    assert not citing, (f'{document} is not in the repository; cite tgrpo_ros.contract (or the '
                        f'paper) instead:\n' + '\n'.join(citing))
