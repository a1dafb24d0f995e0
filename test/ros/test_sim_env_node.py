# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""sim_env_node applies each action once, to the step it names, and counts the rest.

A real sim_env_node process with a real LIBERO environment; this test plays the policy and the
learner over real topics and services.
"""

from __future__ import annotations

import time

from diagnostic_msgs.msg import DiagnosticArray
from helpers import start_node, stop_process
import pytest
import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from tgrpo_ros.msg import Action, Ids, Observation, PolicyVersion, StepResult
from tgrpo_ros.srv import EndEpisode, ResetEnv

pytestmark = [pytest.mark.ros, pytest.mark.libero]
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _spin_until(node, predicate, timeout=60.0, what='condition'):
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f'timed out waiting for {what}'
        rclpy.spin_once(node, timeout_sec=0.05)


def test_late_duplicate_mismatched_and_stale_actions(tmp_path, ros_domain):
    proc = start_node('tgrpo_ros.ros.nodes.sim_env_node', '--ros-args', '-r', '__ns:=/env0',
                      '-p', 'env.image_size:=32', extra_env={'MUJOCO_GL': 'egl'},
                      log_path=tmp_path / 'env.log')
    rclpy.init()
    node = Node('test_driver')
    obs, results, counters = [], [], {}

    def on_diag(msg: DiagnosticArray):
        for st in msg.status:
            if st.hardware_id == 'env0':
                counters.update({kv.key: int(kv.value) for kv in st.values})

    node.create_subscription(Observation, '/env0/observation', obs.append, RELIABLE)
    node.create_subscription(StepResult, '/env0/step_result', results.append, RELIABLE)
    node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
    act_pub = node.create_publisher(Action, '/env0/action', RELIABLE)
    ver_pub = node.create_publisher(PolicyVersion, '/env0/policy_version', LATCHED)
    reset = node.create_client(ResetEnv, '/env0/reset')
    end = node.create_client(EndEpisode, '/env0/end_episode')

    def call(client, req):
        assert client.wait_for_service(timeout_sec=120), (tmp_path / 'env.log').read_text()
        fut = client.call_async(req)
        _spin_until(node, fut.done, 300, f'{client.srv_name}')
        return fut.result()

    def action(episode, step, version=1):
        return Action(ids=Ids(env_id='env0', episode_id=episode, step=step, group_id=1),
                      action=[0.0, 0.0, 0.1, 0.0, 0.0, 0.0, -1.0], token_ids=[31872] * 7,
                      token_logprobs=[-5.5] * 7,
                      policy_version=PolicyVersion(version=version, sha256='x'))

    def send(msg, expect_result: bool):
        n = len(results)
        act_pub.publish(msg)
        if expect_result:
            _spin_until(node, lambda: len(results) == n + 1, 60, 'a step result')
        else:  # nothing may come: give a wrongly applied action ample time to show up
            end_t = time.monotonic() + 2.0
            while time.monotonic() < end_t:
                rclpy.spin_once(node, timeout_sec=0.05)
            assert len(results) == n, f'action {msg.ids} was applied'

    try:
        res = call(reset, ResetEnv.Request(suite='libero_object', task='0', init_state_index=0,
                                           seed=7, group_id=1, max_steps=10))
        assert res.success, res.message
        first = res.episode_id
        _spin_until(node, lambda: len(obs) == 1, 60, 'the first observation')
        assert (obs[0].ids.episode_id, obs[0].ids.step) == (first, 0)
        _spin_until(node, lambda: act_pub.get_subscription_count() > 0, 30, 'discovery')

        send(action(first, 0), expect_result=True)           # applied
        assert results[-1].ids.step == 0
        send(action(first, 0), expect_result=False)          # duplicate: already applied
        send(action(first, 5), expect_result=False)          # mismatched: not this step
        send(action(first - 1 if first > 1 else first + 7, 1), expect_result=False)  # late
        ver_pub.publish(PolicyVersion(version=3, sha256='y'))
        time.sleep(0.5)
        _spin_until(node, lambda: ver_pub.get_subscription_count() > 0, 30, 'discovery')
        time.sleep(0.5)
        send(action(first, 1, version=2), expect_result=True)  # stale version: counted
        assert results[-1].ids.step == 1

        # A second episode: actions for the first one are now late.
        second = ResetEnv.Request(suite='libero_object', task='0', init_state_index=1, seed=7,
                                  group_id=2, max_steps=10)
        res = call(reset, second)
        assert res.success and res.episode_id == first + 1
        # The learner asks again when no answer came in time (a node that died with the
        # request never answers): the same request while the episode runs is that episode.
        _spin_until(node, lambda: any(o.ids.episode_id == res.episode_id for o in obs), 60,
                    "the second episode's first observation")
        n_obs = len(obs)
        again = call(reset, second)
        assert again.success and again.episode_id == res.episode_id
        assert again.instruction == res.instruction
        end_t = time.monotonic() + 1.0
        while time.monotonic() < end_t:
            rclpy.spin_once(node, timeout_sec=0.05)
        assert len(obs) == n_obs  # no new reset, no new first observation
        send(action(first, 2), expect_result=False)
        ended = call(end, EndEpisode.Request(episode_id=res.episode_id, reason='test'))
        assert ended.success
        _spin_until(node, lambda: results[-1].done_reason == 'ended', 30, 'the end result')
        send(action(res.episode_id, 0), expect_result=False)  # after the end
        bad = call(reset, ResetEnv.Request(suite='libero_object', task='no_such_task'))
        assert not bad.success and 'no_such_task' in bad.message

        _spin_until(node, lambda: counters.get('dropped_after_done', 0) == 1, 10,
                    'diagnostics')
        assert counters['applied'] == 2
        assert counters['dropped_duplicate'] == 1
        assert counters['dropped_mismatch'] == 1
        assert counters['dropped_late'] == 2
        assert counters['stale_version'] == 1
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        stop_process(proc)


def test_reset_loads_generated_initial_states_from_the_parameter_file(tmp_path, ros_domain):
    import numpy as np

    from tgrpo_ros.commands import init_states
    from tgrpo_ros.sim.libero_env import LiberoEnv
    states = tmp_path / 'gen.npz'
    assert init_states.main(['--task', '0', '--count', '2', '--seed', '900',
                             '--out', str(states)]) == 0
    with LiberoEnv('libero_object', 0, cameras=('agentview',), image_size=32,
                   init_states_file=states) as env:
        expected = env.reset(1, seed=7).images['agentview']
    proc = start_node('tgrpo_ros.ros.nodes.sim_env_node', '--ros-args', '-r', '__ns:=/env0',
                      '-p', 'env.image_size:=32', '-p', f'env.init_states_file:={states}',
                      extra_env={'MUJOCO_GL': 'egl'}, log_path=tmp_path / 'env.log')
    rclpy.init()
    node = Node('test_driver')
    obs = []
    node.create_subscription(Observation, '/env0/observation', obs.append, RELIABLE)
    reset = node.create_client(ResetEnv, '/env0/reset')

    def call(index):
        assert reset.wait_for_service(timeout_sec=120), (tmp_path / 'env.log').read_text()
        fut = reset.call_async(ResetEnv.Request(suite='libero_object', task='0',
                                                init_state_index=index, seed=7))
        _spin_until(node, fut.done, 300, 'reset')
        return fut.result()

    try:
        res = call(1)
        assert res.success, res.message
        _spin_until(node, lambda: len(obs) == 1, 60, 'the first observation')
        image = obs[0].images[0]
        got = np.frombuffer(bytes(image.data), np.uint8).reshape(image.height, image.width, 3)
        np.testing.assert_array_equal(got, expected)  # the file's state 1, not benchmark 1
        # a benchmark index that the 2-state file does not have is refused with the reason
        res = call(2)
        assert not res.success and 'out of range' in res.message
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        stop_process(proc)
