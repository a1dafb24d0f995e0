# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Style, licence and manifest checks in place of ament_flake8/pep257/copyright/xmllint.

ament's linters are not installable from the wheels, so ruff runs with ament's settings
(ruff.toml) and the licence check is our own.
"""

from __future__ import annotations

from pathlib import Path
import shutil
import subprocess
import sys

from helpers import REPO_ROOT
import pytest

PY_DIRS = ('tgrpo_ros', 'test', 'launch', 'benchmarks', 'scripts')
LICENCE_LINES = ('# Copyright 2026 tgrpo_ros contributors',
                 '# SPDX-License-Identifier: Apache-2.0')


def _python_files() -> list[Path]:
    files = []
    for d in PY_DIRS:
        files += sorted((REPO_ROOT / d).rglob('*.py'))
    # Executables without the .py suffix (node wrappers, the CLI).
    for exe in sorted((REPO_ROOT / 'scripts').rglob('*')):
        if exe.is_file() and exe.suffix == '' and exe.read_bytes()[:40].startswith(b'#!') \
                and b'python' in exe.read_bytes().split(b'\n', 1)[0]:
            files.append(exe)
    return files


def test_ruff_flake8_and_pep257_rules_pass():
    ruff = shutil.which('ruff') or str(Path(sys.executable).with_name('ruff'))
    result = subprocess.run([ruff, 'check', '--no-cache', *PY_DIRS], cwd=REPO_ROOT,
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_python_file_carries_the_licence_header():
    missing = []
    for path in _python_files():
        lines = path.read_text(encoding='utf-8').splitlines()
        if lines and lines[0].startswith('#!'):
            lines = lines[1:]
        if tuple(lines[:2]) != LICENCE_LINES:
            missing.append(str(path.relative_to(REPO_ROOT)))
    assert not missing, f'files without the licence header: {missing}'


def test_package_xml_is_well_formed_and_valid_format_3():
    xmllint = shutil.which('xmllint')
    assert xmllint, 'xmllint missing: scripts/setup.sh installs libxml2-utils'
    result = subprocess.run([xmllint, '--noout', str(REPO_ROOT / 'package.xml')],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    from catkin_pkg.package import parse_package
    warnings: list[str] = []
    pkg = parse_package(str(REPO_ROOT / 'package.xml'), warnings=warnings)
    assert not warnings, warnings
    assert pkg.package_format == 3 and pkg.name == 'tgrpo_ros'
    assert pkg.get_build_type() == 'ament_cmake'
    assert pkg.licenses == ['Apache-2.0']


def test_package_xml_declares_every_ros_package_the_code_imports():
    import ast
    from catkin_pkg.package import parse_package
    pkg = parse_package(str(REPO_ROOT / 'package.xml'))
    declared = {d.name for d in pkg.build_depends + pkg.exec_depends + pkg.buildtool_depends
                + pkg.test_depends}
    ros_pkgs = {'rclpy', 'std_msgs', 'sensor_msgs', 'geometry_msgs', 'std_srvs',
                'diagnostic_msgs', 'builtin_interfaces', 'lifecycle_msgs', 'launch', 'launch_ros',
                'ament_index_python', 'rosgraph_msgs', 'tf2_ros', 'control_msgs', 'rosbags'}
    used = set()
    for path in _python_files():
        tree = ast.parse(path.read_text(encoding='utf-8'))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                used |= {a.name.split('.')[0] for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                used.add(node.module.split('.')[0])
    undeclared = sorted((used & ros_pkgs) - declared - {'rosbags'})
    assert not undeclared, f'imported but not in package.xml: {undeclared}'


@pytest.mark.parametrize('area', ['algo', 'policy', 'sim'])
def test_algorithm_policy_and_simulator_import_no_ros(area):
    offenders = []
    for path in sorted((REPO_ROOT / 'tgrpo_ros' / area).rglob('*.py')):
        text = path.read_text(encoding='utf-8')
        for bad in ('import rclpy', 'from rclpy', 'tgrpo_ros.msg', 'tgrpo_ros.srv',
                    'from tgrpo_ros.ros.nodes', 'sensor_msgs'):
            if bad in text:
                offenders.append(f'{path.relative_to(REPO_ROOT)}: {bad}')
    assert not offenders, offenders
