# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A training graph whose environments all come from a rollout host's graph (#22).

Two launchers on one machine stand for two hosts: ``sim_rollout_host`` starts two LIBERO
environment nodes with ids prefixed by its host name, and ``sim_train`` starts none of its own
(``local_envs:=0``) and finds them through ROS 2 discovery (``env_discovery:=graph``). One full
TGRPO iteration and both evaluations run on the rollout host's environments.
"""

from __future__ import annotations

import csv
import subprocess
import sys

from helpers import child_env, REPO_ROOT, stop_process
import pytest

pytestmark = pytest.mark.ros


@pytest.mark.libero
@pytest.mark.slow
def test_sim_train_runs_on_a_rollout_hosts_environments(tmp_path, ros_domain):
    launch = [sys.executable, '-m', 'tgrpo_ros.commands.cli', 'launch']
    small = ['image_size:=32', 'max_steps:=8']
    env = child_env({'MUJOCO_GL': 'egl'})
    host = subprocess.Popen(launch + ['sim_rollout_host', 'envs:=2', 'host:=hostb'] + small,
                            env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    out = tmp_path / 'run'
    try:
        train = subprocess.run(
            launch + ['sim_train', 'model:=tiny:test', 'lora_rank:=4', 'iterations:=1',
                      'group_size:=2', 'env_discovery:=graph', 'local_envs:=0',
                      f'output_dir:={out}'] + small,
            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
    finally:
        stop_process(host)
    host_log = host.stdout.read()
    learner = (out / 'logs' / 'learner.log').read_text()
    assert train.returncode == 0, train.stdout + train.stderr + learner
    assert 'started /hostb_env0/sim_env' in host_log and 'started /hostb_env1' in host_log
    assert '/env0/sim_env' not in train.stdout  # the training graph started no environment
    assert "'hostb_env0' joined" in learner and "'hostb_env1' joined" in learner
    with open(out / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [r['iteration'] for r in rows] == ['1']
    assert int(rows[0]['env_steps']) > 0 and len(rows[0]['returns'].split(';')) == 2
    with open(out / 'evaluation.csv', newline='') as f:
        assert [r['iteration'] for r in csv.DictReader(f)] == ['0', '1']
