# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros launch`` killed outright (SIGKILL, out of memory): its nodes die with it."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

from helpers import child_env, REPO_ROOT, stop_process
import pytest

pytestmark = pytest.mark.ros

# Two real (cheap) nodes: environment nodes build no simulator until a reset asks for one.
_LAUNCHER = r"""
import sys
from tgrpo_ros.ros.graph import Graph, LaunchArg, NodeSpec, register
from tgrpo_ros.ros.runner import run_graph
register(Graph('two_envs', 'test graph', [LaunchArg('out', '', 'run folder')],
               build=lambda v: [NodeSpec('sim_env_node', 'sim_env', namespace='a'),
                                NodeSpec('sim_env_node', 'sim_env', namespace='b')],
               run_dir=lambda v: v['out']))
sys.exit(run_graph('two_envs', {'out': sys.argv[1]}))
"""


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
        with open(f'/proc/{pid}/stat') as f:  # a zombie waiting to be reaped counts as gone
            return f.read().split(') ')[1][0] == 'Z'
    except (ProcessLookupError, FileNotFoundError):
        return True


def test_sigkill_of_the_launcher_takes_every_node_with_it(tmp_path, ros_domain):
    proc = subprocess.Popen([sys.executable, '-c', _LAUNCHER, str(tmp_path)], env=child_env(),
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True)
    pids: dict[str, int] = {}
    try:
        deadline = time.monotonic() + 60
        while len(pids) < 2:
            assert time.monotonic() < deadline, 'launcher did not start both nodes'
            m = re.search(r'started (/\w+/sim_env) \(pid (\d+)\)', proc.stdout.readline())
            if m:
                pids[m.group(1)] = int(m.group(2))
        for name in ('a__sim_env', 'b__sim_env'):  # both up and spinning
            log = tmp_path / 'logs' / f'{name}.log'
            while 'ready' not in (log.read_text() if log.exists() else ''):
                assert time.monotonic() < deadline, f'{name} did not come up'
                time.sleep(0.2)
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 5.0
        while not all(_gone(p) for p in pids.values()) and time.monotonic() < deadline:
            time.sleep(0.1)
        alive = [k for k, p in pids.items() if not _gone(p)]
        assert not alive, f'nodes {alive} outlived the launcher killed with SIGKILL (orphans)'
    finally:
        stop_process(proc)
        for p in pids.values():  # never leave orphans behind, whatever the result
            if not _gone(p):
                os.kill(p, signal.SIGKILL)
