# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Nodes keep serving good input after bad: real node processes, real rclpy messages.

Each node gets malformed messages of the kinds refused by ``tgrpo_ros.ros.conversions`` (and
by the safety filter for the arm), mixed with good ones, and must answer every good one, answer
no bad one, and log an error naming the field.
"""

from __future__ import annotations

import math
import time

from diagnostic_msgs.msg import DiagnosticArray
import pytest
import rclpy
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import Image

from helpers import start_node, stop_process
from real_standins import clean_exit, Spinner, StandIns, start_rclpy, stop_rclpy, wait_for
from real_standins import WATCHED
from tgrpo_ros.msg import Action, Ids, Observation, PolicyVersion, StepResult
from tgrpo_ros.ros.collector import RosCollector
from tgrpo_ros.srv import ResetEnv

pytestmark = pytest.mark.ros
RELIABLE = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _spin_until(node, predicate, timeout: float, what: str, proc=None, log=None):
    deadline = time.monotonic() + timeout
    while not predicate():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f'node exited ({proc.returncode}) waiting for {what}: '
                                 + (log.read_text()[-3000:] if log else ''))
        assert time.monotonic() < deadline, f'timed out waiting for {what}' + (
            f': {log.read_text()[-3000:]}' if log else '')
        rclpy.spin_once(node, timeout_sec=0.05)


# --- the policy node ----------------------------------------------------------------------
def _image(height=16, width=16, encoding='rgb8', channels=3, data=None) -> Image:
    data = bytes(height * width * channels) if data is None else data
    return Image(height=height, width=width, encoding=encoding, step=width * channels,
                 data=data)


def _observation(env_id: str, **change) -> Observation:
    msg = Observation(ids=Ids(env_id=env_id, episode_id=1, step=0), instruction='pick it up')
    msg.camera_names = ['agentview']
    msg.images = [_image()]
    msg.state_names = ['eef_pos_x', 'eef_pos_y']
    msg.state = [0.1, 0.2]
    for key, value in change.items():
        setattr(msg, key, value)
    return msg


# (what is wrong, field the log must name, the changed fields)
BAD_OBSERVATIONS = [
    ('NaN state', 'Observation.state[1]', {'state': [0.1, math.nan]}),
    ('state longer than its names', 'Observation.state', {'state': [0.1, 0.2, 0.3]}),
    ('repeated state name', 'Observation.state_names[1]',
     {'state_names': ['eef_pos_x', 'eef_pos_x']}),
    ('two names, one image', 'Observation.camera_names',
     {'camera_names': ['agentview', 'wrist']}),
    ('no image', 'Observation.images', {'camera_names': [], 'images': []}),
    ('unknown encoding', 'Observation.images[0]', {'images': [_image(encoding='yuv422')]}),
    ('depth image', 'Observation.images[0]',
     {'images': [_image(encoding='32FC1', channels=4)]}),
    ('data cut short', 'Observation.images[0]', {'images': [_image(data=bytes(100))]}),
    ('1 x 1 image', 'Observation.images[0]', {'images': [_image(1, 1)]}),
    ('a camera the policy does not read', "lacks camera(s) ['agentview']",
     {'camera_names': ['wrist']}),
]


def test_policy_node_refuses_bad_observations_and_answers_the_good(tmp_path, ros_domain):
    log = tmp_path / 'policy.log'
    proc = start_node('tgrpo_ros.ros.nodes.policy_node', '--ros-args',
                      '-p', 'policy.model:=tiny:test', '-p', 'policy.temperature:=0.0',
                      log_path=log)
    rclpy.init()
    node = Node('bad_observations')
    actions: dict[str, Action] = {}
    versions = []
    try:
        node.create_subscription(Action, '/action', lambda m: actions.setdefault(
            m.ids.env_id, m), RELIABLE)
        node.create_subscription(PolicyVersion, '/policy_version', versions.append, LATCHED)
        pub = node.create_publisher(Observation, '/observation', RELIABLE)
        _spin_until(node, lambda: versions and pub.get_subscription_count(), 300,
                    'the policy node', proc, log)
        # Round 1: bad and good interleaved, published at once, so that they share batches.
        for k, (_, _, change) in enumerate(BAD_OBSERVATIONS):
            pub.publish(_observation(f'bad{k}', **change))
            pub.publish(_observation(f'good{k}'))
        goods = {f'good{k}' for k in range(len(BAD_OBSERVATIONS))}
        _spin_until(node, lambda: goods <= set(actions), 180, 'actions for every good one',
                    proc, log)
        # Round 2: after all that, a good observation alone is still answered.
        pub.publish(_observation('after'))
        _spin_until(node, lambda: 'after' in actions, 60, 'the last good observation', proc,
                    log)
        time.sleep(0.5)
        rclpy.spin_once(node, timeout_sec=0.1)
        answered_bad = sorted(a for a in actions if a.startswith('bad'))
        assert not answered_bad, f'actions for malformed observations: {answered_bad}'
        for k in range(len(BAD_OBSERVATIONS)):
            assert len(actions[f'good{k}'].action) == 7
            assert all(math.isfinite(v) for v in actions[f'good{k}'].action)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        code = stop_process(proc, timeout=30.0)  # a loaded machine shuts down slowly
    text = log.read_text()
    assert clean_exit(code, text), text[-3000:]
    for k, (what, field, _) in enumerate(BAD_OBSERVATIONS):
        lines = [ln for ln in text.splitlines() if f"observation of 'bad{k}'" in ln]
        assert lines and field in lines[0] and 'ERROR' in lines[0], \
            f'{what}: no error naming {field!r} in the log: {lines}'


# --- the arm adapter ----------------------------------------------------------------------
BAD_ACTIONS = [
    ('empty', [], 'BAD_ACTION_SIZE'),
    ('six values', [0.1] * 6, 'BAD_ACTION_SIZE'),
    ('eight values', [0.1] * 8, 'BAD_ACTION_SIZE'),
    ('NaN', [0.1, math.nan, 0, 0, 0, 0, 1], 'NONFINITE_ACTION'),
    ('infinity', [0.1, 0, 0, 0, 0, -math.inf, 1], 'NONFINITE_ACTION'),
]


def _moving(stand, since):
    return [m for r, m in stand.snapshot('commands') if r >= since and (
        m.twist.linear.x or m.twist.linear.y or m.twist.linear.z)]


def test_arm_adapter_refuses_bad_actions_and_moves_on_good_ones(tmp_path, ros_domain):
    start_rclpy()
    stand = StandIns(camera_encoding='rgb8')
    spinner = Spinner(stand)
    procs = [
        start_node('tgrpo_ros.ros.nodes.camera_state_bridge', '--ros-args',
                   '-p', 'robot_profile:=sim_test', '-p', 'instruction:=lift the red cube',
                   log_path=tmp_path / 'bridge.log'),
        start_node('tgrpo_ros.ros.nodes.arm_adapter', '--ros-args',
                   '-p', 'robot_profile:=sim_test', '-p', 'env_id:=real0',
                   log_path=tmp_path / 'adapter.log'),
    ]
    WATCHED[:] = procs
    good = [0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    try:
        wait_for(lambda: len(stand.snapshot('observations')) >= 3, 60.0, 'observations')
        stand.deadman_on = True
        stand.scripted_action = good
        assert stand.call('arm').success
        wait_for(lambda: _moving(stand, 0.0), 10.0, 'motion on a good action')
        for what, values, code in BAD_ACTIONS:
            t = time.monotonic()
            stand.scripted_action = values
            stand.wait_status('arm_adapter: safety', code, t)
            t = time.monotonic()
            stand.scripted_action = good
            wait_for(lambda: _moving(stand, t), 10.0, f'motion on a good action after {what}')
    finally:
        WATCHED.clear()
        codes = [stop_process(p, timeout=30.0) for p in procs]
        spinner.stop()
        stop_rclpy()
    text = (tmp_path / 'adapter.log').read_text()
    assert all(clean_exit(c, (tmp_path / f'{n}.log').read_text())
               for c, n in zip(codes, ('bridge', 'adapter'))), text[-3000:]
    for what, values, code in BAD_ACTIONS:
        assert any(code in ln and 'Action.action' in ln and 'ERROR' in ln
                   and f'{len(values)} values' in ln for ln in text.splitlines()), \
            f'{what}: no error naming Action.action in the log'


# --- the simulated environment ------------------------------------------------------------
BAD_RESETS = [
    ('unknown suite', {'suite': 'libero_nope', 'task': '0'}, 'ResetEnv.suite'),
    ('empty task', {'task': ''}, 'ResetEnv.task'),
    ('too many steps', {'task': '0', 'max_steps': 1_000_000}, 'ResetEnv.max_steps'),
    ('negative seed', {'task': '0', 'seed': -5}, 'ResetEnv.seed'),
    ('unknown task', {'task': 'fly_to_the_moon'}, "unknown task 'fly_to_the_moon'"),
    ('task index out of range', {'task': '99'}, 'task index 99'),
    ('initial state out of range', {'task': '0', 'init_state_index': 100_000},
     'init_state_index 100000'),
]
BAD_ENV_ACTIONS = [
    ('six values', {'action': [0.0] * 6}, 'Action.action has 6 values'),
    ('NaN', {'action': [0.0, math.nan, 0, 0, 0, 0, -1]}, 'Action.action[1]'),
    ('tokens without log-probs', {'token_ids': list(range(7))}, 'Action.token_logprobs'),
    ('positive log-prob', {'token_ids': list(range(7)), 'token_logprobs': [0.5] * 7},
     'Action.token_logprobs[0]'),
    ('negative temperature', {'temperature': -1.0}, 'Action.temperature'),
]


@pytest.mark.libero
def test_sim_env_node_refuses_bad_actions_and_resets_and_goes_on(tmp_path, ros_domain):
    log = tmp_path / 'env.log'
    proc = start_node('tgrpo_ros.ros.nodes.sim_env_node', '--ros-args', '-r', '__ns:=/env0',
                      '-p', 'env.image_size:=32', extra_env={'MUJOCO_GL': 'egl'}, log_path=log)
    rclpy.init()
    node = Node('bad_env_input')
    observations, results, counters = [], [], {}

    def on_diag(msg: DiagnosticArray):
        for st in msg.status:
            if st.hardware_id == 'env0':
                counters.update({kv.key: int(kv.value) for kv in st.values})
    try:
        node.create_subscription(Observation, '/env0/observation', observations.append,
                                 RELIABLE)
        node.create_subscription(StepResult, '/env0/step_result', results.append, RELIABLE)
        node.create_subscription(DiagnosticArray, '/diagnostics', on_diag, 10)
        act = node.create_publisher(Action, '/env0/action', RELIABLE)
        reset = node.create_client(ResetEnv, '/env0/reset')
        assert reset.wait_for_service(timeout_sec=120), log.read_text()[-3000:]

        def call(**fields) -> ResetEnv.Response:
            fields.setdefault('task', '0')
            future = reset.call_async(ResetEnv.Request(suite=fields.pop('suite', ''),
                                                       **fields))
            _spin_until(node, future.done, 300, f'reset {fields}', proc, log)
            return future.result()

        first = call()
        assert first.success, first.message
        _spin_until(node, lambda: observations, 30, 'the first observation', proc, log)
        _spin_until(node, lambda: act.get_subscription_count(), 30, 'the action subscription')
        ids = observations[-1].ids

        # Malformed actions for the current step: each refused, the episode waits.
        for what, change, _ in BAD_ENV_ACTIONS:
            msg = Action(ids=ids, action=[0.0] * 6 + [-1.0])
            for key, value in change.items():
                setattr(msg, key, value)
            act.publish(msg)
        _spin_until(node, lambda: counters.get('dropped_malformed') == len(BAD_ENV_ACTIONS),
                    30, 'every malformed action counted', proc, log)
        assert not results, 'a malformed action was applied'
        act.publish(Action(ids=ids, action=[0.0] * 6 + [-1.0]))
        _spin_until(node, lambda: results, 60, 'the step result of a good action', proc, log)
        assert results[0].ids.step == ids.step and counters.get('applied', 0) <= 1

        # Malformed resets: each answered with success false and a message naming the field.
        for what, fields, name in BAD_RESETS:
            answer = call(**fields)
            assert not answer.success and name in answer.message, (what, answer.message)
        # The failed resets to other tasks closed the simulator: the old episode is over, and
        # its next action is dropped (it once stepped a closed environment and killed the node).
        act.publish(Action(ids=Ids(env_id='env0', episode_id=ids.episode_id, step=ids.step + 1),
                           action=[0.0] * 6 + [-1.0]))
        _spin_until(node, lambda: counters.get('dropped_after_done', 0) >= 1, 30,
                    'the action of the ended episode dropped', proc, log)
        again = call()
        assert again.success and again.episode_id == first.episode_id + 1, again.message
        _spin_until(node, lambda: observations[-1].ids.episode_id == again.episode_id, 30,
                    'the new episode', proc, log)
        ids = observations[-1].ids
        act.publish(Action(ids=ids, action=[0.0] * 6 + [-1.0]))
        _spin_until(node, lambda: any(r.ids.episode_id == ids.episode_id for r in results), 60,
                    'a step of the new episode', proc, log)
    finally:
        node.destroy_node()
        rclpy.shutdown()
        code = stop_process(proc, timeout=30.0)  # a loaded machine shuts down slowly
    text = log.read_text()
    assert clean_exit(code, text), text[-3000:]
    for what, _, name in BAD_ENV_ACTIONS:
        assert any(name in ln and 'ERROR' in ln for ln in text.splitlines()), \
            f'{what}: no error naming {name!r} in the log'
    for what, _, name in BAD_RESETS:
        assert any(name in ln and 'reset failed' in ln for ln in text.splitlines()), \
            f'{what}: no error naming {name!r} in the log'


# --- the learner's collector --------------------------------------------------------------
def test_learner_collector_drops_a_bad_observation_and_takes_the_next(ros_domain):
    # Dropped (its step goes missing, as a lost message would), never raised in the
    # subscription callback, which would end the learner's spin. The callbacks are called as
    # the executor calls them.
    rclpy.init()
    node = Node('learner_collector')
    try:
        collector = RosCollector(node, ['env0'], 'libero_object')
        fed = []
        collector._wants = lambda msg: True                  # every step of a running group
        collector._feed = lambda msg, add: fed.append(msg)
        for k, (what, _, change) in enumerate(BAD_OBSERVATIONS[:-1]):  # the last is well-formed
            collector._on_observation(_observation(f'bad{k}', **change))
        assert fed == []
        collector._on_observation(_observation('good'))
        assert len(fed) == 1
    finally:
        node.destroy_node()
        rclpy.shutdown()
