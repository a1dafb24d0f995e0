# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A launcher killed outright (SIGKILL, out of memory): its nodes die with it.

tgrpo-ros launch sets their parent-death signal; ros2 launch, through TGRPO_ROS_DIE_WITH_PARENT.
"""

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


# As launch_ros starts a node: a plain child of the launch process, nothing set before exec.
_PLAIN_PARENT = r"""
import subprocess, sys
child = subprocess.Popen([sys.executable, '-m', 'tgrpo_ros.ros.nodes.sim_env_node'])
print('child', child.pid, flush=True)
child.wait()
"""


@pytest.mark.parametrize('die_with_parent', [True, False])
def test_a_node_started_as_ros2_launch_does_dies_with_it(tmp_path, ros_domain, die_with_parent):
    """A ros2 launch killed outright leaves no node behind (launch files set the variable).

    Without the variable the node outlives its parent: what the variable is for, and what
    shows this test can fail.
    """
    from tgrpo_ros.ros.parent_death import DIE_WITH_PARENT_ENV
    env = child_env()
    env.pop(DIE_WITH_PARENT_ENV, None)
    if die_with_parent:
        env[DIE_WITH_PARENT_ENV] = '1'
    proc = subprocess.Popen([sys.executable, '-c', _PLAIN_PARENT], env=env, cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    node = None
    try:
        deadline = time.monotonic() + 60
        ready = False
        while not ready:  # the node's log lines come through the parent's stdout
            assert time.monotonic() < deadline, 'node did not come up'
            line = proc.stdout.readline()
            m = re.match(r'child (\d+)', line)
            node = int(m.group(1)) if m else node
            ready = node is not None and 'ready' in line
        proc.kill()
        proc.wait(10)
        deadline = time.monotonic() + 10.0
        while not _gone(node) and time.monotonic() < deadline:
            time.sleep(0.1)
        if die_with_parent:
            assert _gone(node), 'the node outlived its ros2-launch-like parent (orphan)'
        else:
            assert not _gone(node), 'without the variable the node should have outlived it'
    finally:
        stop_process(proc)
        if node is not None and not _gone(node):
            os.kill(node, signal.SIGKILL)
