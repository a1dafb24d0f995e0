# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The sim_train graph, as separate processes with real rclpy and real LIBERO (issue E).

Each test starts the whole graph with ``tgrpo-ros launch sim_train`` on a random ROS domain,
listens to its topics from this process, and checks what the learner did against what the
environments and the policy node actually published.
"""

from __future__ import annotations

import csv
import math
import subprocess
import sys
import threading
import time

from helpers import child_env, REPO_ROOT, stop_process
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from safetensors.torch import load_file

from tgrpo_ros.msg import Action, IterationMetrics, PolicyVersion, StepResult
from tgrpo_ros.training.run_folder import RunFolder
from tgrpo_ros.versioning import sha256_file

pytestmark = [pytest.mark.ros, pytest.mark.libero, pytest.mark.slow]
RELIABLE = QoSProfile(depth=1000, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


class Listener(Node):
    """Records what the graph publishes."""

    def __init__(self):
        super().__init__('test_listener')
        self.actions: list[Action] = []
        self.results: list[StepResult] = []
        self.metrics: list[IterationMetrics] = []
        self.versions: list[PolicyVersion] = []
        self.create_subscription(Action, '/action', self.actions.append, RELIABLE)
        self.create_subscription(StepResult, '/step_result', self.results.append, RELIABLE)
        self.create_subscription(IterationMetrics, '/metrics', self.metrics.append, RELIABLE)
        self.create_subscription(PolicyVersion, '/policy_version', self.versions.append, LATCHED)


def _run_graph(tmp_path, placement: str, *extra: str, max_steps: int = 6):
    out = tmp_path / f'run_{placement}'
    cmd = [sys.executable, '-m', 'tgrpo_ros.commands.cli', 'launch', 'sim_train', 'group_size:=2',
           'iterations:=2', f'max_steps:={max_steps}', f'placement:={placement}',
           f'output_dir:={out}', 'completion:=all_done', *extra]
    rclpy.init()
    listener = Listener()
    executor = SingleThreadedExecutor()
    executor.add_node(listener)
    spinner = threading.Thread(target=executor.spin, daemon=True)
    spinner.start()
    proc = subprocess.Popen(cmd, env=child_env({'MUJOCO_GL': 'egl'}), cwd=REPO_ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        output, _ = proc.communicate(timeout=600)
    except subprocess.TimeoutExpired:
        stop_process(proc)
        raise
    finally:
        time.sleep(0.5)  # let the last messages drain into the listener
        executor.shutdown()
        spinner.join(5)
        listener.destroy_node()
        rclpy.try_shutdown()
    assert proc.returncode == 0, output + ''.join(
        p.read_text() for p in sorted((out / 'logs').glob('*.log')))
    # at the end the launcher says where the wall time went (the learner's summary.json)
    assert '[launch] throughput: ' in output and 'env steps/s over ' in output, output
    return out, listener


@pytest.mark.parametrize('placement', ['separate', 'shared'])
def test_two_tgrpo_iterations_over_topics(tmp_path, ros_domain, placement):
    out, seen = _run_graph(tmp_path, placement)
    with open(out / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [int(r['iteration']) for r in rows] == [1, 2]
    assert [m.iteration for m in seen.metrics] == [1, 2]

    for row in rows:
        group = int(row['iteration'])
        # Every step each environment applied in this group reached the learner.
        applied = {}
        for r in seen.results:
            if r.ids.group_id == group and r.done_reason != 'ended':
                applied[r.ids.env_id] = applied.get(r.ids.env_id, 0) + 1
        lengths = [int(x) for x in row['lengths'].split(';')]
        assert [applied.get(f'env{i}', 0) for i in range(2)] == lengths == [6, 6]
        assert int(row['env_steps']) == sum(lengths)
        # Sampler and learner agree before the first gradient step.
        assert float(row['first_abs_log_ratio_max']) < 1e-4

    # Group 2 was sampled by the adapter of iteration 1, and every action says so.
    v1 = (out / 'adapters' / 'iter_0001' / 'adapter_model.safetensors')
    group2 = [a for a in seen.actions if a.ids.group_id == 2]
    assert group2 and {a.policy_version.version for a in group2} == {1}
    assert {a.policy_version.sha256 for a in group2} == {sha256_file(v1)}
    group1 = [a for a in seen.actions if a.ids.group_id == 1]
    assert {a.policy_version.version for a in group1} == {0}
    assert int(rows[1]['stale_actions']) == 0

    # The adapter on disk changed: LoRA's B matrices start at zero and were trained.
    w1 = load_file(str(v1))
    w2 = load_file(str(out / 'adapters' / 'iter_0002' / 'adapter_model.safetensors'))
    lora_b = [k for k in w1 if 'lora_B' in k]
    assert lora_b and any(w1[k].abs().max() > 0 for k in lora_b)
    assert any((w1[k] - w2[k]).abs().max() > 0 for k in w1)
    assert rows[0]['policy_sha256'] != rows[1]['policy_sha256']
    assert (out / 'progress.png').is_file() and (out / 'summary.json').is_file()

    # The driver's evaluation ran through the same graph: the start policy and the end, each
    # eval.episodes (4) whole episodes on the held-out states, in groups of their own.
    with open(out / 'evaluation.csv', newline='') as f:
        evals = list(csv.DictReader(f))
    assert [(int(e['iteration']), int(e['policy_version']), int(e['episodes'])) for e in evals] \
        == [(0, 0, 4), (2, 2, 4)]
    assert {e['init_states'] for e in evals} == {'25;26;27;28'}
    eval_groups = {r.ids.group_id for r in seen.results} - {1, 2}
    assert len(eval_groups) == 4  # 2 evaluations x 2 groups of 2
    applied = [r for r in seen.results if r.ids.group_id in eval_groups
               and r.done_reason != 'ended']
    assert len(applied) == sum(int(e['env_steps']) for e in evals)  # every step was joined


def test_ppo_trains_over_the_graph(tmp_path, ros_domain):
    """PPO (estimator gae) through the learner node: the driver computes the critic's values."""
    out, seen = _run_graph(tmp_path, 'separate', 'estimator:=gae', 'model:=tiny:test',
                           max_steps=4)
    with open(out / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [int(r['iteration']) for r in rows] == [1, 2]
    assert all(math.isfinite(float(r['value_loss'])) for r in rows)
    assert all(float(r['first_abs_log_ratio_max']) < 1e-4 for r in rows)
    assert [m.iteration for m in seen.metrics] == [1, 2]
    state = RunFolder(out, 2).load_trainer_state()
    assert 'value_head' in state and state['return_scaler']['count'] == 16  # 2 x 2 x 4 steps


def test_overlapped_updates_over_topics(tmp_path, ros_domain):
    """max_staleness:=1: the learner updates while the next group runs, one version behind.

    Every action of group g carries the version the pipeline served for it (a(g): 0, 0, 1),
    never a mix (versions change between groups only); the row records the staleness, and
    the stale groups start their update off-policy (the learner had moved since they were
    sampled), the on-policy one at ratio 1.
    """
    out, seen = _run_graph(tmp_path, 'separate', 'max_staleness:=1', 'iterations:=3',
                           max_steps=4)
    with open(out / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [int(r['iteration']) for r in rows] == [1, 2, 3]
    assert [int(r['acting_version']) for r in rows] == [0, 0, 1]
    assert [int(r['staleness']) for r in rows] == [0, 1, 1]
    for g, row in enumerate(rows, start=1):
        versions = {a.policy_version.version for a in seen.actions if a.ids.group_id == g}
        assert versions == {int(row['acting_version'])}
        assert int(row['stale_actions']) == 0
        assert (float(row['first_abs_log_ratio_max']) > 1e-4) == (row['staleness'] == '1')
    with open(out / 'evaluation.csv', newline='') as f:
        evals = list(csv.DictReader(f))
    assert [(int(e['iteration']), int(e['policy_version'])) for e in evals] == [(0, 0), (3, 3)]


def test_two_groups_at_once_over_topics(tmp_path, ros_domain):
    """concurrent_groups:=2: four environments, two groups collected together.

    The launch starts G x N = 4 environment nodes; the groups of iterations 1 and 2 run at the
    same time on disjoint environments (every step result of a group comes from its own
    two), both acted by version 0; the learner updates on each in turn (staleness 0, 1).
    """
    out, seen = _run_graph(tmp_path, 'separate', 'concurrent_groups:=2', max_steps=4)
    with open(out / 'metrics.csv', newline='') as f:
        rows = list(csv.DictReader(f))
    assert [int(r['iteration']) for r in rows] == [1, 2]
    assert [int(r['acting_version']) for r in rows] == [0, 0]
    assert [int(r['staleness']) for r in rows] == [0, 1]
    envs = {g: {r.ids.env_id for r in seen.results if r.ids.group_id == g} for g in (1, 2)}
    assert len(envs[1]) == len(envs[2]) == 2 and not envs[1] & envs[2], envs
    assert envs[1] | envs[2] == {'env0', 'env1', 'env2', 'env3'}
    for g in (1, 2):
        assert {a.policy_version.version for a in seen.actions if a.ids.group_id == g} == {0}
    # together: each group's first step came before the other group's last
    first = {g: min(i for i, r in enumerate(seen.results) if r.ids.group_id == g) for g in (1, 2)}
    last = {g: max(i for i, r in enumerate(seen.results) if r.ids.group_id == g) for g in (1, 2)}
    assert first[2] < last[1] and first[1] < last[2]
