# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Helpers for tests that start nodes in separate processes (import as ``from helpers import``)."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
import signal
import subprocess
import sys

REPO_ROOT = Path(__file__).resolve().parents[1]


def benchmark_script(name: str):
    """Import benchmarks/<name>.py (scripts, not a package) as a module for its functions."""
    spec = importlib.util.spec_from_file_location(name, REPO_ROOT / 'benchmarks' / f'{name}.py')
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def child_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """Environment for a child process: the repository's sources first on PYTHONPATH.

    The generated interfaces come from install/ (via tgrpo_ros.__path__ merging), our modules
    from the working tree, so tests never run stale installed copies.
    """
    env = dict(os.environ)
    env['PYTHONPATH'] = os.pathsep.join(
        p for p in (str(REPO_ROOT), env.get('PYTHONPATH', '')) if p)
    env.setdefault('PYTHONUNBUFFERED', '1')
    if extra:
        env.update(extra)
    return env


def start_node(module: str, *args: str, extra_env: dict[str, str] | None = None,
               log_path: Path | None = None) -> subprocess.Popen:
    """Start ``python -m <module> [args]`` as a separate process (stdout/stderr to log_path)."""
    out = open(log_path, 'w') if log_path else subprocess.DEVNULL
    return subprocess.Popen([sys.executable, '-m', module, *args], env=child_env(extra_env),
                            stdout=out, stderr=subprocess.STDOUT, cwd=str(REPO_ROOT))


def stop_process(proc: subprocess.Popen, timeout: float = 10.0) -> int:
    """SIGINT, then SIGTERM, then SIGKILL; return the exit code."""
    for sig, wait in ((signal.SIGINT, timeout), (signal.SIGTERM, 5.0)):
        if proc.poll() is not None:
            break
        proc.send_signal(sig)
        try:
            proc.wait(wait)
        except subprocess.TimeoutExpired:
            continue
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    return proc.returncode
