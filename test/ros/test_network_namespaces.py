# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Three hosts on one machine: network namespaces joined by veth pairs and a bridge (#22).

Environment nodes run in two namespaces (``sim_rollout_host``, one LIBERO node each), the
policy and the learner in the third (``sim_train local_envs:=0 env_discovery:=graph``); Fast
DDS is held to UDPv4 (its shared-memory transport would otherwise carry the data between
processes of one machine whatever their network). One full TGRPO iteration and its
evaluations run, every step arrives (no trial masked, no timeout), and the data crossed the
bridge. Twice: with multicast discovery, and with multicast switched off on every interface
and discovery through an explicit peers list (ROS_STATIC_PEERS).

Needs root (namespaces, links; ``tgrpo_ros.ros.network_namespaces``); where namespaces cannot
be made the test says why and skips.
"""

from __future__ import annotations

import csv
from pathlib import Path
import random
import subprocess
import sys

from helpers import child_env, REPO_ROOT, stop_process
import pytest

from tgrpo_ros.ros.network_namespaces import hosts_on_one_machine, Unavailable

pytestmark = pytest.mark.ros


@pytest.fixture
def three_hosts():
    """Yield three namespaces on one bridge; skip, saying why, where none can be made."""
    try:
        with hosts_on_one_machine(3) as hosts:
            yield hosts
    except Unavailable as exc:
        pytest.skip(str(exc))


@pytest.mark.libero
@pytest.mark.slow
@pytest.mark.parametrize('discovery', ['multicast', 'peers_list'])
def test_one_iteration_with_environments_in_two_other_namespaces(tmp_path, three_hosts,
                                                                  discovery):
    hosts = three_hosts
    domain = random.SystemRandom().randint(1, 101)
    extra = {'MUJOCO_GL': 'egl', 'ROS_DOMAIN_ID': str(domain),
             'FASTDDS_BUILTIN_TRANSPORTS': 'UDPv4', 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'SUBNET'}
    if discovery == 'peers_list':
        hosts.multicast_off()
        extra.update(ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
                     ROS_STATIC_PEERS=';'.join(hosts.addresses))
    env = child_env(extra)
    launch = ['-m', 'tgrpo_ros.commands.cli', 'launch']
    small = ['image_size:=32', 'max_steps:=8']
    rollout = []
    for i, host in enumerate(('hosta', 'hostb')):
        folder = tmp_path / host
        folder.mkdir()
        rollout.append(subprocess.Popen(
            [*hosts.run_in(i), sys.executable, *launch, 'sim_rollout_host', 'envs:=1',
             f'host:={host}', *small], env=env, cwd=folder, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    out = tmp_path / 'run'
    before = [hosts.link_bytes(i) for i in range(3)]
    try:
        train = subprocess.run(
            [*hosts.run_in(2), sys.executable, *launch, 'sim_train',
             'model:=tiny:test', 'lora_rank:=4', 'iterations:=1', 'group_size:=2',
             'env_discovery:=graph', 'local_envs:=0', f'output_dir:={out}', *small],
            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
        moved = [hosts.link_bytes(i) - b for i, b in enumerate(before)]
    finally:
        for h in rollout:
            stop_process(h)
    learner = Path(out / 'logs' / 'learner.log')
    assert train.returncode == 0, (train.stdout + train.stderr
                                   + (learner.read_text() if learner.exists() else ''))
    log = learner.read_text()
    assert "'hosta_env0' joined" in log and "'hostb_env0' joined" in log
    with open(out / 'metrics.csv', newline='') as f:
        (row,) = list(csv.DictReader(f))
    # every step arrived: nothing masked, both trials whole
    assert row['masked_trials'] == '0' and row['masked_reasons'] == ''
    assert len(row['returns'].split(';')) == 2 and int(row['env_steps']) > 0
    with open(out / 'evaluation.csv', newline='') as f:
        assert [r['iteration'] for r in csv.DictReader(f)] == ['0', '1']
    # The steps crossed the bridge: each rollout host's link carried at least its episodes'
    # 32x32 images (>= 3 kB per step, some tens of steps).
    assert min(moved) > 100_000, moved
