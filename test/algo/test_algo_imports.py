# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The algorithm package imports nothing but torch, numpy, the standard library and layer 0.

Layer 0 is the package's pure-Python base (the contract and the setting declaration helper),
which imports nothing of the package itself.

Checked on the source (every import statement of every module), so a ROS import hidden in a
function body is caught too, and in a fresh interpreter (importing it loads no ROS module).
"""

import ast
from pathlib import Path
import subprocess
import sys

ALGO = Path(__file__).resolve().parents[2] / 'tgrpo_ros' / 'algo'
ALLOWED = {'torch', 'numpy', '__future__'} | set(sys.stdlib_module_names)
LAYER_0 = ('tgrpo_ros.contract', 'tgrpo_ros.declaration')


def imported_roots(path):
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            yield node.module


def test_only_torch_numpy_stdlib_and_itself():
    files = sorted(ALGO.glob('*.py'))
    assert len(files) >= 6
    for path in files:
        for name in imported_roots(path):
            if name.startswith('tgrpo_ros.'):
                assert name.startswith(('tgrpo_ros.algo',) + LAYER_0), \
                    f'{path.name} imports {name}'
            else:
                assert name.split('.')[0] in ALLOWED, f'{path.name} imports {name}'


def test_import_loads_no_ros_module():
    code = ('import sys, tgrpo_ros.algo; '
            "bad = sorted(m for m in sys.modules if m.split('.')[0] in "
            "{'rclpy', 'rosidl_runtime_py', 'std_msgs', 'sensor_msgs', 'tgrpo_ros.msg'} "
            "or m.startswith('tgrpo_ros.msg') or m.startswith('tgrpo_ros.ros.nodes')); "
            'print(bad); sys.exit(1 if bad else 0)')
    done = subprocess.run([sys.executable, '-c', code], cwd=ALGO.parents[1],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


def test_public_api():
    import tgrpo_ros.algo as algo
    from tgrpo_ros.algo import compute_advantages  # noqa: F401  (the contract's import)
    for name in algo.__all__:
        assert hasattr(algo, name), name
