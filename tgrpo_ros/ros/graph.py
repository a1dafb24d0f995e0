# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Node graphs described once, read by both the launch files and ``tgrpo-ros launch``.

``launch/<graph>.launch.py`` turns a graph into launch_ros ``Node`` actions on a full ROS 2
install; ``tgrpo_ros.ros.runner`` starts the same nodes as processes where the ``ros2`` CLI and
``launch`` do not exist (the wheels-only setup). Neither adds nodes or parameters of its own, so
the two cannot drift apart. This module imports no ROS code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
import importlib
from pathlib import Path
from typing import Callable

import yaml

from tgrpo_ros.paths import config_file, share_dir  # noqa: F401 - re-exported for graphs



def launch_text(value) -> str:
    """Write a setting's value as one writes it as a launch argument (lists comma-separated)."""
    if isinstance(value, (list, tuple)):
        return ','.join(map(str, value))
    return str(value).lower() if isinstance(value, bool) else str(value)


@dataclass(frozen=True)
class LaunchArg:
    """A launch argument: ``name:=value`` on either command line.

    setting: the declared setting it sets (``tgrpo_ros.training.settings``, e.g.
        ``'algo.lr'``); its default is then '' = not given: the parameter files decide.
    """

    name: str
    default: str
    description: str
    setting: str = ''


@dataclass
class NodeSpec:
    """One node of a graph.

    executable: installed in lib/tgrpo_ros (``ros2 run tgrpo_ros <executable>``) and runnable as
        ``python -m tgrpo_ros.ros.nodes.<executable>``.
    params_files: parameter YAML files (absolute paths, resolved by ``config_file``).
    parameters: parameter overrides applied after the files.
    required: if it exits, the whole graph is stopped.
    respawn: if it exits (killed, crashed) while the graph runs, start it again after
        ``respawn_delay`` seconds, as launch_ros's ``respawn`` does; such a node is not
        ``required``.
    rename: start the node under ``name`` (False: keep the names the executable gives).
    """

    executable: str
    name: str
    namespace: str = ''
    params_files: list[str] = field(default_factory=list)
    parameters: dict[str, object] = field(default_factory=dict)
    remappings: list[tuple[str, str]] = field(default_factory=list)
    required: bool = True
    respawn: bool = False
    respawn_delay: float = 1.0
    # False for executables that hold several nodes (trainer_node): renaming would rename all.
    rename: bool = True
    # Parameters of the other nodes such an executable holds: node name -> overrides.
    extra_parameters: dict[str, dict[str, object]] = field(default_factory=dict)

    def __post_init__(self):
        if self.respawn and self.required:
            raise ValueError(f'node {self.name}: respawn and required exclude each other')


@dataclass
class Graph:
    """A named node graph.

    build: launch-argument values -> the nodes to start.
    run_dir: values -> the folder where the run writes its outputs and node logs.
    progress_file: values -> a JSON file ({done, total, desc, unit, postfix}) the graph's main
        node rewrites; ``tgrpo-ros launch`` shows it as a progress bar.
    prepare: values -> values with run-time defaults filled in (e.g. a timestamped output
        folder); ``resolve_args`` applies it, so resolve once and pass the result around.
    effective: given values -> the value each argument not given takes in effect (from the
        declaration and the parameter files), for ``--show-args``.
    """

    name: str
    description: str
    args: list[LaunchArg]
    build: Callable[[dict[str, str]], list[NodeSpec]]
    run_dir: Callable[[dict[str, str]], str] | None = None
    progress_file: Callable[[dict[str, str]], str] | None = None
    prepare: Callable[[dict[str, str]], dict[str, str]] | None = None
    effective: Callable[[dict[str, str]], dict[str, str]] | None = None

    def show_args(self, given: dict[str, str]) -> str:
        """List the arguments, the value each takes when not given, and their descriptions."""
        shown = self.effective(given) if self.effective else {}
        return '\n'.join(f'{a.name}:={shown.get(a.name, a.default)!r}\n    {a.description}'
                         for a in self.args)

    def resume_args(self, run_dir: str, given: dict[str, str]) -> dict[str, str]:
        """Launch arguments that continue the run in ``run_dir`` (its saved arguments + given)."""
        names = {a.name for a in self.args}
        if not {'output_dir', 'resume'} <= names:
            raise ValueError(f'graph {self.name!r} cannot resume a run')
        saved = Path(run_dir) / 'launch_args.yaml'
        if not saved.is_file():
            raise FileNotFoundError(f'{saved} not found: {run_dir} is not a {self.name} run')
        values = {k: str(v) for k, v in (yaml.safe_load(saved.read_text()) or {}).items()
                  if k in names}
        values.update(given)
        values.update(output_dir=str(Path(run_dir).resolve()), resume='true')
        return values

    def resolve_args(self, given: dict[str, str]) -> dict[str, str]:
        """Fill defaults; reject unknown argument names (with the list of known ones)."""
        known = {a.name: a.default for a in self.args}
        unknown = sorted(set(given) - set(known))
        if unknown:
            raise ValueError(f'unknown launch argument(s) {unknown} for graph {self.name!r}; '
                             f'known: {sorted(known)}')
        values = {**known, **given}
        return self.prepare(values) if self.prepare else values

    def nodes(self, given: dict[str, str]) -> list[NodeSpec]:
        return self.build(self.resolve_args(given))


_GRAPHS: dict[str, Graph] = {}


def register(graph: Graph) -> Graph:
    _GRAPHS[graph.name] = graph
    return graph


def get_graph(name: str) -> Graph:
    _load_builtin_graphs()
    if name not in _GRAPHS:
        raise KeyError(f'unknown graph {name!r}; available: {sorted(_GRAPHS)}')
    return _GRAPHS[name]


def graph_names() -> list[str]:
    _load_builtin_graphs()
    return sorted(_GRAPHS)


def _load_builtin_graphs() -> None:
    # Each graph lives next to the nodes it starts; importing registers it (by name, because the
    # graph modules import this one).
    for module in ('tgrpo_ros.ros.graphs.sim_train', 'tgrpo_ros.ros.graphs.real_deploy',
                   'tgrpo_ros.ros.graphs.real_train', 'tgrpo_ros.ros.graphs.sim_rollout_host'):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
