# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Where the package's files are: ``config/`` and ``models/`` of the checkout or the install.

The code and the files it reads always come from the same tree: a source checkout reads its own
``config/``, an installed package its share folder.
"""

from __future__ import annotations

import os
from pathlib import Path

PACKAGE = 'tgrpo_ros'


def share_dir() -> Path:
    """Return the folder holding ``config/``.

    That is the source checkout this module runs from, else the installed share folder, so code
    and parameter files always come from the same tree.
    """
    source = Path(__file__).resolve().parents[1]
    here = Path(__file__).parents[1]
    if (here / 'package.xml').is_file():
        return here
    try:
        # optional: the ament index exists on full ROS 2 installs, not with the PyPI wheels
        from ament_index_python.packages import get_package_share_directory
        return Path(get_package_share_directory(PACKAGE))
    except Exception:  # noqa: BLE001 - no ament index: fall back to the sources
        return source


def config_file(relative: str) -> str:
    """Absolute path of a file under the package's ``config/`` folder (must exist)."""
    path = Path(relative) if os.path.isabs(relative) else share_dir() / 'config' / relative
    if not path.is_file():
        raise FileNotFoundError(f'parameter file not found: {path}')
    return str(path)
