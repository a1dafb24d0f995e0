# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros launch``: a dead required node stops the graph; Ctrl-C stops every node."""

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
                                NodeSpec('sim_env_node', 'sim_env', namespace='b',
                                         required=False)],
               run_dir=lambda v: v['out']))
sys.exit(run_graph('two_envs', {'out': sys.argv[1]}))
"""


def _ignore_sigint():
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _start(tmp_path, ignore_sigint: bool = False):
    # ignore_sigint: how a background job of a non-interactive shell (CI) starts its children
    proc = subprocess.Popen([sys.executable, '-c', _LAUNCHER, str(tmp_path)], env=child_env(),
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True, preexec_fn=_ignore_sigint if ignore_sigint else None)
    pids: dict[str, int] = {}
    deadline = time.monotonic() + 60
    while len(pids) < 2:
        assert time.monotonic() < deadline, 'launcher did not start both nodes'
        line = proc.stdout.readline()
        m = re.search(r'started (/\w+/sim_env) \(pid (\d+)\)', line)
        if m:
            pids[m.group(1)] = int(m.group(2))
    # Wait until both nodes are up (their logs say so), so signals reach running nodes.
    for name in ('a__sim_env', 'b__sim_env'):
        log = tmp_path / 'logs' / f'{name}.log'
        while 'ready' not in (log.read_text() if log.exists() else ''):
            assert time.monotonic() < deadline, f'{name} did not come up'
            time.sleep(0.2)
    return proc, pids


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by the launcher) counts as gone.
    with open(f'/proc/{pid}/stat') as f:
        return f.read().split(') ')[1][0] != 'Z'


def test_dead_required_node_stops_the_graph_and_reports_it(tmp_path, ros_domain):
    proc, pids = _start(tmp_path)
    try:
        os.kill(pids['/a/sim_env'], signal.SIGKILL)
        out, _ = proc.communicate(timeout=60)
    finally:
        stop_process(proc)
    assert proc.returncode == 1
    assert 'required node /a/sim_env exited with code -9' in out
    assert not _alive(pids['/b/sim_env'])


def test_optional_node_death_leaves_the_graph_running_and_ctrl_c_stops_all(tmp_path,
                                                                           ros_domain):
    proc, pids = _start(tmp_path)
    try:
        os.kill(pids['/b/sim_env'], signal.SIGKILL)
        time.sleep(2.0)
        assert proc.poll() is None and _alive(pids['/a/sim_env'])
        proc.send_signal(signal.SIGINT)  # what Ctrl-C in the terminal does
        out, _ = proc.communicate(timeout=60)
    finally:
        stop_process(proc)
    assert proc.returncode == 130, out
    assert 'Ctrl-C' in out
    assert not _alive(pids['/a/sim_env'])


@pytest.mark.parametrize('signum,ignore_sigint,code,says', [
    (signal.SIGTERM, False, 143, 'SIGTERM: stopping all nodes'),  # kill, docker/systemd stop
    (signal.SIGINT, True, 130, 'Ctrl-C: stopping all nodes'),     # launched with SIGINT ignored
])
def test_stop_signals_stop_every_node_before_the_launcher_exits(tmp_path, ros_domain, signum,
                                                                 ignore_sigint, code, says):
    proc, pids = _start(tmp_path, ignore_sigint)
    try:
        proc.send_signal(signum)
        out, _ = proc.communicate(timeout=60)
    finally:
        stop_process(proc)
    assert proc.returncode == code, out
    assert says in out
    assert not _alive(pids['/a/sim_env']) and not _alive(pids['/b/sim_env'])
