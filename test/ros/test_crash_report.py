# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A node that crashes under ``tgrpo-ros launch``: its whole traceback reaches the user.

The learner used to print one line (``[learner] error: ...``) and drop the traceback; the
launcher showed the last 25 lines of a node's log, cutting a long traceback. Now the learner's
log holds the traceback, the launcher prints it whole, and a one-line summary ends both.
"""

from __future__ import annotations

from pathlib import Path
import subprocess
import sys

from helpers import child_env, REPO_ROOT
import pytest

from tgrpo_ros.ros.runner import _error_line, _tail

_LAUNCHER = r"""
import sys
from tgrpo_ros.ros.graph import Graph, LaunchArg, NodeSpec, register
from tgrpo_ros.ros.runner import run_graph
register(Graph('bad_learner', 'test graph', [LaunchArg('out', '', 'run folder')],
               build=lambda v: [NodeSpec('learner_node', 'learner', parameters={
                   'policy.model': '/no/such/model', 'run.output_dir': v['out']})],
               run_dir=lambda v: v['out']))
sys.exit(run_graph('bad_learner', {'out': sys.argv[1]}, quiet=True))
"""


@pytest.mark.ros
def test_learner_crash_shows_the_whole_traceback_and_a_summary(tmp_path, ros_domain):
    proc = subprocess.run([sys.executable, '-c', _LAUNCHER, str(tmp_path)], env=child_env(),
                          cwd=REPO_ROOT, capture_output=True, text=True, timeout=180)
    assert proc.returncode == 1, proc.stderr
    log = (tmp_path / 'logs' / 'learner.log').read_text()
    for text in (log, proc.stderr):
        assert 'Traceback (most recent call last):' in text
        # the frames from the node down to where it failed, not just the last line
        assert 'in run_learner' in text and 'in resolve_model' in text
    summary = 'FileNotFoundError: model folder /no/such/model does not exist'
    assert f'[learner] error: {summary}' in log
    assert proc.stderr.rstrip().splitlines()[-1] == f'[launch] /learner failed: {summary}'


def _deep_traceback(depth: int) -> str:
    frames = ''.join(f'  File "/x/m.py", line {i}, in f{i}\n    f{i + 1}()\n'
                     for i in range(depth))
    return f'Traceback (most recent call last):\n{frames}'


def test_a_long_chained_traceback_is_shown_whole(tmp_path):
    log = Path(tmp_path / 'node.log')
    log.write_text('starting\n' * 50 + _deep_traceback(30) + 'KeyError: 1\n\nDuring handling of '
                   'the above exception, another exception occurred:\n\n' + _deep_traceback(20)
                   + 'ValueError: bad value\n[node] shutting down\n')
    shown = _tail(log).splitlines()
    assert shown[0] == 'Traceback (most recent call last):'  # the chain's first traceback
    assert 'in f0' in shown[1] and 'KeyError: 1' in shown and 'starting' not in shown
    assert shown[-2:] == ['ValueError: bad value', '[node] shutting down']
    assert _error_line(log) == 'ValueError: bad value'
    log.write_text('line\n' * 100)  # no traceback: the last lines, as before
    assert _tail(log) == '\n'.join(['line'] * 25) and _error_line(log) == ''
