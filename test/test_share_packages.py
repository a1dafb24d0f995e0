# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""scripts/share_packages.py: what setup links from the Kilted venv into a new Jazzy venv."""

from __future__ import annotations

import base64
import hashlib
import importlib.util
import os
from pathlib import Path

from helpers import REPO_ROOT


def load_script():
    spec = importlib.util.spec_from_file_location('share_packages',
                                                  REPO_ROOT / 'scripts' / 'share_packages.py')
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def install(site: Path, name: str, version: str, files: dict[str, bytes]) -> None:
    """Write a wheel-style installation: the files, METADATA and a RECORD naming them all."""
    info = f'{name.replace("-", "_")}-{version}.dist-info'
    files = {**files, f'{info}/METADATA': f'Metadata-Version: 2.1\nName: {name}\n'
             f'Version: {version}\n\nA test package.\n'.encode()}
    rows = []
    for rel, data in files.items():
        path = site / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()
        rows.append(f'{rel},sha256={digest},{len(data)}')
    rows.append(f'{info}/RECORD,,')
    (site / info / 'RECORD').write_text('\n'.join(rows) + '\n')


def venv(root: Path) -> tuple[Path, Path]:
    site = root / 'lib' / 'python3.12' / 'site-packages'
    site.mkdir(parents=True)
    (root / 'bin').mkdir()
    return root, site


def test_packages_are_hard_linked_scripts_repointed_and_ros_left_to_pip(tmp_path):
    share_packages = load_script()
    src, src_site = venv(tmp_path / 'kilted')
    dst, dst_site = venv(tmp_path / 'jazzy')
    install(src_site, 'tiny-lib', '1.2', {'tiny_lib/__init__.py': b'X = 1\n',
                                          '../../../bin/tiny': b'#!' + str(src).encode()
                                          + b'/bin/python\nprint(1)\n'})
    install(src_site, 'ros-rclpy', '9.0', {'rclpy/__init__.py': b''})
    install(src_site, 'already-there', '2.0', {'already_there/__init__.py': b'old = 1\n'})
    install(dst_site, 'already-there', '2.0', {'already_there/__init__.py': b'new = 1\n'})
    outside = tmp_path / 'elsewhere.txt'
    outside.write_text('a file outside the venv\n')
    install(src_site, 'reaches-out', '0.1', {'reaches_out.py': b''})
    with open(next(src_site.glob('reaches_out-*.dist-info')) / 'RECORD', 'a') as f:
        f.write(f'{os.path.relpath(outside, src_site)},,\n')

    count, _ = share_packages.share(src, dst)

    assert count == 1  # tiny-lib only
    linked = dst_site / 'tiny_lib' / '__init__.py'
    assert linked.stat().st_ino == (src_site / 'tiny_lib' / '__init__.py').stat().st_ino
    assert (dst_site / 'tiny_lib-1.2.dist-info' / 'RECORD').is_file()
    script = (dst / 'bin' / 'tiny').read_bytes()
    assert script.startswith(b'#!' + str(dst).encode() + b'/bin/python\n')
    assert (dst / 'bin' / 'tiny').stat().st_ino != (src / 'bin' / 'tiny').stat().st_ino
    assert not (dst_site / 'rclpy').exists()           # ROS packages: pip installs Jazzy's
    assert (dst_site / 'already_there' / '__init__.py').read_bytes() == b'new = 1\n'
    assert not (dst_site / 'reaches_out.py').exists()  # a file outside the venv: left to pip
    assert share_packages.versions(dst_site) == {'tiny-lib': '1.2', 'already-there': '2.0'}
