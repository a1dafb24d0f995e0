# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""LIBERO's config file, and what settings need to know of the suites without importing LIBERO.

The config file is made before LIBERO is first imported (it otherwise asks on stdin); the
suites' task counts here spare the settings LIBERO's import (seconds).

Its own module so that everything that imports LIBERO (the environment adapter, the reward
spec's BDDL check) can prepare it without importing each other.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import sys
from typing import Iterable

#: Tasks per suite, in LIBERO's benchmark lists (test/sim checks them against LIBERO).
TASK_COUNTS = {'libero_spatial': 10, 'libero_object': 10, 'libero_goal': 10, 'libero_10': 10,
               'libero_90': 90}
#: The tasks entry that stands for every task of the suite.
ALL_TASKS = 'all'
#: The paper's names of the four suites (its table's columns), in its order.
PAPER_SUITES = {'libero_spatial': 'Spatial', 'libero_object': 'Object', 'libero_goal': 'Goal',
                'libero_10': 'Long'}


def expand_tasks(suite: str, tasks: Iterable[str]) -> tuple[str, ...]:
    """Replace ``'all'`` (or the suite's own name) by every task index of ``suite``, in order.

    Other entries (task names or indices) are kept as given. A run trains one suite: naming
    another suite is an error that says which setting to change.
    """
    out: list[str] = []
    for task in tasks:
        if task == ALL_TASKS or task == suite:
            if suite not in TASK_COUNTS:
                raise ValueError(f'env.tasks: unknown suite {suite!r}; known: '
                                 f'{", ".join(TASK_COUNTS)}')
            out.extend(str(i) for i in range(TASK_COUNTS[suite]))
        elif task in TASK_COUNTS:
            raise ValueError(f'env.tasks names the suite {task!r} but env.suite is {suite!r}; '
                             f'a run trains one suite: set env.suite={task} (and tasks=all)')
        else:
            out.append(task)
    return tuple(out)


def ensure_libero_config() -> Path:
    """Make sure LIBERO finds a config file, and pick a headless renderer; return its folder.

    If ``LIBERO_CONFIG_PATH`` is unset it is pointed at ``<sys.prefix>/share/tgrpo_ros/libero``
    (per virtual environment: scripts/setup.sh writes the same file). There, a missing config,
    or one naming another installation, is (re)written from the installed package's location
    (found without importing ``libero.libero``, whose import would prompt on stdin). A config
    the user points to with ``LIBERO_CONFIG_PATH`` is never touched if it exists. ``MUJOCO_GL``
    defaults to ``egl`` (works on CPU-only machines with Mesa).
    """
    os.environ.setdefault('MUJOCO_GL', 'egl')
    ours = 'LIBERO_CONFIG_PATH' not in os.environ
    folder = Path(os.environ.setdefault(
        'LIBERO_CONFIG_PATH', str(Path(sys.prefix) / 'share' / 'tgrpo_ros' / 'libero')))
    cfg = folder / 'config.yaml'
    spec = importlib.util.find_spec('libero')
    if spec is None or not spec.submodule_search_locations:
        raise ImportError('LIBERO is not installed (pip install --no-deps hf-libero==0.1.4; '
                          'see scripts/setup.sh)')
    root = Path(list(spec.submodule_search_locations)[0]) / 'libero'
    if cfg.exists() and (not ours or f'benchmark_root: {root}\n' in cfg.read_text()):
        return folder
    if not (root / 'bddl_files').is_dir():
        raise ImportError(f'LIBERO package at {root} has no bddl_files folder')
    folder.mkdir(parents=True, exist_ok=True)
    text = ''.join(f'{k}: {v}\n' for k, v in (
        ('benchmark_root', root), ('bddl_files', root / 'bddl_files'),
        ('init_states', root / 'init_files'), ('datasets', root.parent / 'datasets'),
        ('assets', root / 'assets')))
    tmp = cfg.with_suffix(f'.tmp{os.getpid()}')
    tmp.write_text(text)
    tmp.replace(cfg)  # atomic: parallel workers may race to write it
    return folder
