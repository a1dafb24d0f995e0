# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Online TGRPO on the simulated arm: the real_train graph with a scripted operator.

The whole loop as separate processes with real rclpy and a real LIBERO scene behind sim_robot:
the learner asks robot_env for each trial's start, robot_env asks the (scripted) operator, the
operator resets sim_robot (objects put back with an error) and arms the adapter; the policy
node's actions reach the arm as TwistStamped through the safe adapter; rewards come from the
pose topics. One trial is aborted by the operator: masked out of its group, and the group still
updates (2 valid trials remain). Everything is recorded to a bag with the operator's labels.
"""

from __future__ import annotations

import csv
import subprocess
import sys

from helpers import child_env, REPO_ROOT, stop_process
import pytest

from tgrpo_ros.bags.reader import open_bag
from tgrpo_ros.commands.task_geometry import main as task_geometry

pytestmark = [pytest.mark.ros, pytest.mark.libero, pytest.mark.slow]


def test_a_group_of_trials_with_an_abort_updates_serves_and_is_recorded(tmp_path, ros_domain):
    geometry = tmp_path / 'geometry.yaml'
    assert task_geometry(['--suite', 'libero_object', '--task', '0', '--out',
                          str(geometry)]) == 0
    out = tmp_path / 'run'
    cmd = [sys.executable, '-m', 'tgrpo_ros.commands.cli', 'launch', 'real_train',
           'model:=tiny:test', 'group_size:=3', 'max_steps:=10', 'iterations:=1',
           'eval_every:=0', 'completion:=all_done', f'task_geometry:={geometry}',
           'abort_trials:=1:2', f'output_dir:={out}']
    proc = subprocess.Popen(cmd, env=child_env({'MUJOCO_GL': 'egl'}), cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate(timeout=900)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        raise
    logs = ''.join(p.read_text() for p in sorted((out / 'logs').glob('*.log')))
    assert proc.returncode == 0, output + logs

    # One group of three trials, the second cut short by the operator's abort and masked: the
    # update saw the two others (metrics report the valid trials).
    with open(out / 'metrics.csv') as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == 1
    assert [int(x) for x in rows[0]['lengths'].split(';')] == [10, 10]
    assert int(rows[0]['masked_trials']) == 1 and int(rows[0]['group_skipped']) == 0
    assert rows[0]['masked_reasons'] == 'operator_abort'
    assert float(rows[0]['first_abs_log_ratio_max']) < 1e-4  # sampler and learner agree
    # The update's adapter was saved and served.
    assert (out / 'adapters' / 'iter_0001' / 'adapter_model.safetensors').is_file()
    assert 'now serving version 1' in (out / 'logs' / 'policy.log').read_text()
    # The adapter armed only when the operator armed it, and the dead-man held throughout.
    adapter_log = (out / 'logs' / 'arm_adapter.log').read_text()
    assert 'DISARMED' in adapter_log and 'armed: commands flow' in adapter_log
    assert 'deadman' not in adapter_log.split('armed: commands flow', 1)[1].lower()

    # Every trial is in the bag with its label, reward and policy version.
    with open_bag(out / 'bags') as bag:
        labels = [m for _, _, m in bag.messages(['/operator/labels'])]
        results = [m for _, _, m in bag.messages(['/step_result'])]
    finals = {m.ids.episode_id: m for m in results if m.done}
    assert len(finals) == 3
    aborted = [e for e, m in finals.items() if m.done_reason == 'operator_abort']
    assert len(aborted) == 1 and finals[aborted[0]].ids.step < 9  # cut short
    by_episode = {m.ids.episode_id: m.label for m in labels}
    assert by_episode[aborted[0]] == 'abort'
    assert all(by_episode[e] in ('success', 'failure') for e in finals if e not in aborted)
    assert all(m.policy_version.version == 0 for m in results)
    assert any(m.reward > 0 for m in results)  # the pose reward moves (reach progress)
