# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""LIBERO's config file, made before LIBERO is first imported (it otherwise asks on stdin).

Its own module so that everything that imports LIBERO (the environment adapter, the reward
spec's BDDL check) can prepare it without importing each other.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import sys


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
