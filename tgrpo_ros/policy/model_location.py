# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Where a model named in settings lives: ``sft:<name>``, a relative path, or a folder.

Why: the main job's default starting point is a policy shipped with the package
(``models/sft_object_task0``, named ``sft:object_task0``), and a run must find it whether
started from the source tree or from a colcon install (``share/tgrpo_ros/models``) and from
any working directory.

- ``tiny:<size>`` is returned unchanged (built from a config, nothing on disk).
- ``sft:<name>`` means ``models/sft_<name>`` of this package (the SFT policies shipped).
- Any other string: the path itself if it exists (absolute, or relative to the working
  directory), else the same relative path inside the package (e.g. ``models/sft_object_task0``).
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = 'tgrpo_ros'
MODELS_DIR = 'models'


def package_roots() -> list[Path]:
    """Folders that may hold the package's data: the source tree, then ament share folders."""
    roots = [Path(__file__).resolve().parents[2]]  # <repo>/tgrpo_ros/policy/ -> <repo>
    for prefix in os.environ.get('AMENT_PREFIX_PATH', '').split(os.pathsep):
        if prefix:
            roots.append(Path(prefix) / 'share' / PACKAGE)
    return roots


def resolve_model(model: str) -> str:
    """Return a loadable location for ``model`` (see the module docstring); raise if none."""
    if model.startswith('tiny:'):
        return model
    if model.startswith('sft:'):
        rel = Path(MODELS_DIR) / f"sft_{model.split(':', 1)[1]}"
    else:
        if Path(model).expanduser().exists():
            return str(Path(model).expanduser())
        rel = Path(model)
        if rel.is_absolute():
            raise FileNotFoundError(f'model folder {model} does not exist')
    tried = []
    for root in package_roots():
        cand = root / rel
        tried.append(str(cand))
        if cand.is_dir():
            return str(cand)
    raise FileNotFoundError(f'model {model!r} not found; looked in: {", ".join(tried)}')
