# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""camera_state_bridge + arm_adapter across processes with a scripted stand-in policy.

The test process plays camera, arm driver, operator and policy, so it can send exactly the
actions a safety case needs: NaN, a target outside the workspace, a wall-clock stamp under sim
time. Run once on wall time and once on sim time (/clock from the test, starting at 1000 s).
"""

from __future__ import annotations

import math
import time

import numpy as np
import pytest
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy
from std_msgs.msg import String
import yaml

from helpers import start_node, stop_process
from real_standins import clean_exit, Spinner, StandIns, start_rclpy, stop_rclpy, wait_for, WATCHED
from tgrpo_ros.real.robot_profile import load_profile, resolve_profile_path

pytestmark = pytest.mark.ros
_SIM_TEST = load_profile('sim_test')
LIN = _SIM_TEST.linear_scale_m[0] / 0.05     # m/s for action 1 (every axis alike)
ANG = _SIM_TEST.angular_scale_rad[0] / 0.05  # rad/s for action 1
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def _vec(m):
    t = m.twist
    return np.array([t.linear.x, t.linear.y, t.linear.z, t.angular.x, t.angular.y, t.angular.z])


def _halted_once_then_silent(stand, since: float, window: float = 1.0) -> None:
    wait_for(lambda: any(not _vec(m).any() for _, m in stand.commands_since(since)), 10.0,
             'the zero command of the halt')
    t_zero = [r for r, m in stand.commands_since(since) if not _vec(m).any()][0]
    time.sleep(window)  # observe: nothing may follow the zero command
    assert stand.commands_since(t_zero + 1e-6) == []
    assert len([m for _, m in stand.commands_since(since) if not _vec(m).any()]) == 1


def _start(tmp_path, sim_time: bool):
    start_rclpy()
    stand = StandIns(sim_time=sim_time, camera_encoding='rgb8')
    spinner = Spinner(stand)
    extra = ['-p', 'use_sim_time:=true'] if sim_time else []
    procs = [
        start_node('tgrpo_ros.ros.nodes.camera_state_bridge', '--ros-args',
                   '-p', 'robot_profile:=sim_test', '-p', 'instruction:=lift the red cube',
                   *extra, log_path=tmp_path / 'bridge.log'),
        start_node('tgrpo_ros.ros.nodes.arm_adapter', '--ros-args',
                   '-p', 'robot_profile:=sim_test',
                   '-p', 'env_id:=real0', *extra, log_path=tmp_path / 'adapter.log'),
    ]
    WATCHED[:] = procs
    return stand, spinner, procs


def _stop(tmp_path, spinner, procs):
    WATCHED.clear()
    codes = [stop_process(p) for p in procs]
    spinner.stop()
    stop_rclpy()
    logs = [(tmp_path / f'{n}.log').read_text() for n in ('bridge', 'adapter')]
    assert all(clean_exit(c, t) for c, t in zip(codes, logs)), \
        f'exit codes {codes}; logs: {[t[-3000:] for t in logs]}'


@pytest.fixture
def wall(ros_domain, tmp_path):
    stand, spinner, procs = _start(tmp_path, sim_time=False)
    try:
        yield stand
    finally:
        _stop(tmp_path, spinner, procs)


@pytest.fixture
def sim(ros_domain, tmp_path):
    stand, spinner, procs = _start(tmp_path, sim_time=True)
    try:
        yield stand
    finally:
        _stop(tmp_path, spinner, procs)


def _arm_and_move(stand, action):
    wait_for(lambda: len(stand.snapshot('observations')) >= 3, 30.0, 'observations')
    stand.deadman_on = True
    stand.scripted_action = action
    assert stand.call('arm').success
    return wait_for(lambda: [m for _, m in stand.snapshot('commands') if _vec(m).any()], 10.0,
                    'motion commands after arming')


def test_nan_workspace_home_and_disarm_on_wall_time(wall):
    stand = wall
    moving = _arm_and_move(stand, [0.1, 0.0, -0.2, 0.0, 0.0, 0.1, 1.0])
    # Action x the profile's scale per 0.05 s step, within the limits.
    np.testing.assert_allclose(_vec(moving[-1]), np.array([0.1, 0.0, -0.2, 0.0, 0.0, 0.1])
                               * [LIN, LIN, LIN, ANG, ANG, ANG], atol=1e-9)
    wait_for(lambda: stand.snapshot('gripper_commands'), 5.0, 'gripper command')
    assert stand.snapshot('gripper_commands')[0][1] == [0.0]  # action +1: closed position

    # NaN: rejected, one zero command, silence while NaNs keep coming; a good action resumes.
    t = time.monotonic()
    stand.scripted_action = [math.nan, 0, 0, 0, 0, 0, 1.0]
    stand.wait_status('arm_adapter: safety', 'NONFINITE_ACTION', t)
    _halted_once_then_silent(stand, t)
    stand.scripted_action = [0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    wait_for(lambda: any(_vec(m).any() for _, m in stand.commands_since(time.monotonic() - 0.1)),
             10.0, 'motion after the NaN stopped')

    # Target outside the workspace box (x max 0.5 m): halt, silence, inward motion resumes.
    t = time.monotonic()
    stand.eef_position = [0.499, 0.0, 0.4]
    stand.scripted_action = [0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    status = stand.wait_status('arm_adapter: safety', 'WORKSPACE_LIMIT', t)
    assert "['x']" in status[0].message
    _halted_once_then_silent(stand, t)
    stand.scripted_action = [-0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    inward = wait_for(lambda: [m for _, m in stand.commands_since(time.monotonic() - 0.1)
                               if _vec(m)[0] < 0], 10.0, 'inward motion')
    np.testing.assert_allclose(_vec(inward[-1])[0], -0.1 * LIN)

    # A policy that falls behind: actions answering 0.6 s old observations (hold timeout 0.3 s)
    # are refused even though each action itself is freshly stamped.
    t = time.monotonic()
    stand.scripted_lag_s = 0.6
    status = stand.wait_status('arm_adapter: safety', 'ACTION_TIMEOUT', t)
    assert 'by the stamp of the data it answers' in status[0].message
    _halted_once_then_silent(stand, t)
    stand.scripted_lag_s = 0.0
    wait_for(lambda: any(_vec(m).any() for _, m in stand.commands_since(time.monotonic() - 0.1)),
             10.0, 'motion after the policy caught up')

    # Home: moves toward the home pose (0.3, 0, 0.4) within the speed limit, actions ignored.
    stand.scripted_action = [0.1, 0.0, 0.0, 0.0, 0.0, 0.0, 1.0]
    t = time.monotonic()
    assert stand.call('home').success
    stand.wait_status('arm_adapter: safety', 'HOMING', t)
    homing = wait_for(lambda: [m for _, m in stand.commands_since(t + 0.2)][5:], 10.0,
                      'homing commands')
    v = np.array([_vec(m) for m in homing])
    assert np.all(v[:, 0] < 0) and np.all(np.abs(v[:, :3]) <= 0.5 + 1e-9)

    # Disarm: one zero command, then nothing.
    t = time.monotonic()
    assert stand.call('disarm').success
    _halted_once_then_silent(stand, t)


def test_sim_time_commands_and_staleness_use_the_sim_clock(sim):
    stand = sim
    moving = _arm_and_move(stand, [0.2, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0])
    stamps = [m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in moving]
    # Stamped on the sim clock (started at 1000 s), not wall time.
    assert all(1000.0 < s < 1000.0 + 600.0 for s in stamps)
    time.sleep(1.0)  # let a run of commands accumulate
    run = [m for _, m in stand.snapshot('commands')][-10:]
    steps = np.diff([m.header.stamp.sec + m.header.stamp.nanosec * 1e-9 for m in run])
    np.testing.assert_allclose(steps, 0.05, atol=0.011)  # one command per 50 ms of sim time
    # A stale camera is measured on the sim clock: the observation goes stale, the arm halts.
    t = time.monotonic()
    stand.camera_on = False
    status = stand.wait_status('arm_adapter: safety', 'OBSERVATION_STALE', t)
    assert 'newest observation is 0.' in status[0].message
    stand.wait_status('camera_state_bridge: inputs', 'INPUT_STALE camera:agentview', t)
    _halted_once_then_silent(stand, t)
    # Camera back; then actions stamped with WALL time under sim time: refused, never executed.
    stand.camera_on = True
    wait_for(lambda: any(_vec(m).any() for _, m in stand.commands_since(time.monotonic() - 0.1)),
             10.0, 'motion after the camera came back')
    t = time.monotonic()
    stand.scripted_wall_stamps = True
    stand.wait_status('arm_adapter: safety', 'STAMP_IN_FUTURE', t)
    _halted_once_then_silent(stand, t)


def test_bridge_decodes_a_compressed_camera(ros_domain, tmp_path):
    """A compressed camera (JPEG) is decoded; a pose in a foreign frame stops observations."""
    data = yaml.safe_load(open(resolve_profile_path('sim_test')))
    data['cameras'] = {'agentview': {'topic': 'camera/agentview/image_raw/compressed',
                                     'compressed': True}}
    profile = tmp_path / 'sim_test_jpeg.yaml'
    profile.write_text(yaml.safe_dump(data))
    start_rclpy()
    stand = StandIns(camera_encoding='bgr8')
    stand.camera_compressed = True
    spinner = Spinner(stand)
    bridge = start_node('tgrpo_ros.ros.nodes.camera_state_bridge', '--ros-args',
                        '-p', f'robot_profile:={profile}', '-p', 'instruction:=lift it',
                        log_path=tmp_path / 'bridge.log')
    WATCHED[:] = [bridge]
    try:
        obs = wait_for(lambda: stand.snapshot('observations'), 30.0, 'observations')[-1][1]
        img = obs.images[0]
        assert (img.encoding, img.height, img.width) == ('rgb8', 32, 32)
        pixels = np.frombuffer(img.data, np.uint8).reshape(32, 32, 3).astype(int)
        assert abs(pixels[16, 16, 1] - 200) < 12 and pixels[2, 2, 1] < 12  # JPEG is lossy
        assert img.header.frame_id == 'agentview_optical_frame'
        assert (obs.instruction, obs.ids.episode_id) == ('lift it', 1)
        # A new instruction on ~/instruction starts a new episode from step 0.
        pub = stand.create_publisher(String, 'camera_state_bridge/instruction', LATCHED)
        wait_for(lambda: pub.get_subscription_count() > 0, 10.0, 'instruction subscriber')
        pub.publish(String(data='put it down'))
        new = wait_for(lambda: [o for _, o in stand.snapshot('observations')
                                if o.instruction == 'put it down'], 10.0, 'new instruction')
        assert new[0].ids.episode_id == 2 and new[0].ids.step == 0
        # A pose in another frame than the profile's base frame: reported, no observation.
        t = time.monotonic()
        stand.eef_frame = 'world'
        status = stand.wait_status('camera_state_bridge: inputs', 'FRAME_MISMATCH', t)
        assert "pose is in frame 'world', profile base frame is 'base_link'" in status[0].message
        time.sleep(0.3)  # observations already in flight may still arrive
        t = time.monotonic()
        time.sleep(0.5)
        assert [o for r, o in stand.snapshot('observations') if r > t] == []
    finally:
        WATCHED.clear()
        code = stop_process(bridge)
        spinner.stop()
        stop_rclpy()
    assert clean_exit(code, (tmp_path / 'bridge.log').read_text())


def test_pose_interface_sends_one_step_targets_and_holds_on_halt(ros_domain, tmp_path):
    """command.interface pose: PoseStamped targets one control period ahead.

    A halt sends the current pose once (hold here), then nothing.
    """
    data = yaml.safe_load(open(resolve_profile_path('sim_test')))
    data['command'] = {'interface': 'pose', 'topic': 'cartesian_pose_controller/target_pose',
                       'frame': 'base_link'}
    profile = tmp_path / 'sim_test_pose.yaml'
    profile.write_text(yaml.safe_dump(data))
    start_rclpy()
    stand = StandIns(camera_encoding='rgb8')
    spinner = Spinner(stand)
    procs = [start_node('tgrpo_ros.ros.nodes.camera_state_bridge', '--ros-args', '-p',
                        f'robot_profile:={profile}', '-p', 'instruction:=lift it',
                        log_path=tmp_path / 'bridge.log'),
             start_node('tgrpo_ros.ros.nodes.arm_adapter', '--ros-args', '-p',
                        f'robot_profile:={profile}', log_path=tmp_path / 'adapter.log')]
    WATCHED[:] = procs
    try:
        wait_for(lambda: len(stand.snapshot('observations')) >= 3, 30.0, 'observations')
        stand.deadman_on = True
        stand.scripted_action = [0.1, 0.0, 0.0, 0.0, 0.0, 0.05, 1.0]
        assert stand.call('arm').success
        targets = wait_for(lambda: stand.snapshot('pose_commands')[2:], 10.0, 'pose targets')
        m = targets[-1][1]
        assert m.header.frame_id == 'base_link'
        p, q = m.pose.position, m.pose.orientation
        # From (0, 0, 0.4), one step of action 0.1 ahead; tool-down quaternion turned by one
        # step of action 0.05 about z.
        np.testing.assert_allclose([p.x, p.y, p.z], [0.1 * LIN * 0.05, 0.0, 0.4], atol=1e-9)
        half = 0.05 * ANG * 0.05 / 2
        expected = [math.cos(half), math.sin(half), 0.0, 0.0]  # (0,0,sin,cos) * (1,0,0,0)
        np.testing.assert_allclose([q.x, q.y, q.z, q.w], expected, atol=1e-9)
        t = time.monotonic()
        stand.deadman_on = False
        stand.wait_status('arm_adapter: safety', 'DEADMAN_TIMEOUT', t)
        time.sleep(1.0)  # observe: one hold target, then nothing
        after = [m for r, m in stand.snapshot('pose_commands') if r > t]
        assert len(after) >= 1
        hold = after[-1]
        assert [hold.pose.position.x, hold.pose.position.z] == [0.0, 0.4]  # the current pose
        holds = [m for m in after if m.pose.position.x == 0.0]
        assert len(holds) == 1 and after[-1] is holds[0]
    finally:
        WATCHED.clear()
        codes = [stop_process(p) for p in procs]
        spinner.stop()
        stop_rclpy()
    logs = [(tmp_path / f'{n}.log').read_text() for n in ('bridge', 'adapter')]
    assert all(clean_exit(c, t) for c, t in zip(codes, logs)), codes
