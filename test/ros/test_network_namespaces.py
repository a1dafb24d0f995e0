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

Needs root (namespaces, links); where ``ip netns add`` is refused the test says so and skips.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
import random
import shutil
import subprocess
import sys

from helpers import child_env, REPO_ROOT, stop_process
import pytest

pytestmark = pytest.mark.ros


def _ip(*args: str) -> None:
    subprocess.run(['ip', *args], check=True, capture_output=True, text=True)


@pytest.fixture
def three_hosts():
    """Yield (namespaces, addresses, bridge-side veth names); removes them afterwards."""
    if shutil.which('ip') is None or os.geteuid() != 0:
        pytest.skip('network namespaces need root and iproute2 (ip)')
    tag = f'{random.SystemRandom().randrange(16 ** 4):04x}'
    subnet = f'10.{random.SystemRandom().randint(100, 250)}.{random.randint(1, 250)}'
    names = [f'tgns{tag}{i}' for i in range(3)]
    outer = [f'tgo{tag}{i}' for i in range(3)]
    bridge = f'tgbr{tag}'
    made = []
    try:
        try:
            _ip('netns', 'add', names[0])
        except subprocess.CalledProcessError as exc:
            pytest.skip(f'ip netns add refused here: {exc.stderr.strip()}')
        made.append(names[0])
        _ip('link', 'add', bridge, 'type', 'bridge')
        _ip('link', 'set', bridge, 'up')
        for i, ns in enumerate(names):
            if ns not in made:
                _ip('netns', 'add', ns)
                made.append(ns)
            inner = f'tgi{tag}{i}'
            _ip('link', 'add', inner, 'type', 'veth', 'peer', 'name', outer[i])
            _ip('link', 'set', inner, 'netns', ns)
            _ip('link', 'set', outer[i], 'master', bridge)
            _ip('link', 'set', outer[i], 'up')
            _ip('-n', ns, 'addr', 'add', f'{subnet}.{i + 1}/24', 'dev', inner)
            _ip('-n', ns, 'link', 'set', inner, 'up')
            _ip('-n', ns, 'link', 'set', 'lo', 'up')
            _ip('-n', ns, 'route', 'add', 'default', 'dev', inner)  # multicast needs a route
        yield names, [f'{subnet}.{i + 1}' for i in range(3)], [f'tgi{tag}{i}' for i in range(3)]
    finally:
        for ns in made:
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)
        subprocess.run(['ip', 'link', 'del', bridge], capture_output=True)


def _bytes(ns: str, dev: str) -> int:
    out = subprocess.run(['ip', 'netns', 'exec', ns, 'cat', f'/sys/class/net/{dev}/statistics/'
                          'rx_bytes', f'/sys/class/net/{dev}/statistics/tx_bytes'],
                         check=True, capture_output=True, text=True).stdout.split()
    return sum(int(x) for x in out)


@pytest.mark.libero
@pytest.mark.slow
@pytest.mark.parametrize('discovery', ['multicast', 'peers_list'])
def test_one_iteration_with_environments_in_two_other_namespaces(tmp_path, three_hosts,
                                                                  discovery):
    names, addresses, devices = three_hosts
    domain = random.SystemRandom().randint(1, 101)
    extra = {'MUJOCO_GL': 'egl', 'ROS_DOMAIN_ID': str(domain),
             'FASTDDS_BUILTIN_TRANSPORTS': 'UDPv4', 'ROS_AUTOMATIC_DISCOVERY_RANGE': 'SUBNET'}
    if discovery == 'peers_list':
        for ns, dev in zip(names, devices):
            _ip('-n', ns, 'link', 'set', dev, 'multicast', 'off')
        extra.update(ROS_AUTOMATIC_DISCOVERY_RANGE='LOCALHOST',
                     ROS_STATIC_PEERS=';'.join(addresses))
    env = child_env(extra)
    launch = ['-m', 'tgrpo_ros.commands.cli', 'launch']
    small = ['image_size:=32', 'max_steps:=8']
    hosts = []
    for ns, host in zip(names[:2], ('hosta', 'hostb')):
        folder = tmp_path / host
        folder.mkdir()
        hosts.append(subprocess.Popen(
            ['ip', 'netns', 'exec', ns, sys.executable, *launch, 'sim_rollout_host', 'envs:=1',
             f'host:={host}', *small], env=env, cwd=folder, stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT, text=True))
    out = tmp_path / 'run'
    before = [_bytes(ns, dev) for ns, dev in zip(names, devices)]
    try:
        train = subprocess.run(
            ['ip', 'netns', 'exec', names[2], sys.executable, *launch, 'sim_train',
             'model:=tiny:test', 'lora_rank:=4', 'iterations:=1', 'group_size:=2',
             'env_discovery:=graph', 'local_envs:=0', f'output_dir:={out}', *small],
            env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=600)
        moved = [_bytes(ns, dev) - b for ns, dev, b in zip(names, devices, before)]
    finally:
        for h in hosts:
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
