# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The safety filter and robot profiles without ROS: every halt, clamp and transition."""

from __future__ import annotations

import copy
import math

import numpy as np
import pytest
import yaml

from tgrpo_ros.real.robot_profile import load_profile, profile_from_dict, resolve_profile_path
from tgrpo_ros.real.safety import (_quat_from_rotvec, _quat_mul, _rotvec_from_quat, HALT_REASONS,
                                   Mode, Reason, SafetyFilter)

DT = 0.05  # sim_test: 20 Hz
DOWN = [1.0, 0.0, 0.0, 0.0]
_SIM_TEST = load_profile('sim_test')
LIN = _SIM_TEST.linear_scale_m[0] / DT     # m/s for action 1 (the same on every axis)
ANG = _SIM_TEST.angular_scale_rad[0] / DT  # rad/s for action 1


def _ready(t0=100.0, pos=(0.0, 0.0, 0.4)):
    """Return a filter armed with a held dead-man, fresh pose and observation at t0."""
    f = SafetyFilter(load_profile('sim_test'))
    f.on_pose(pos, DOWN, t0)
    f.on_observation(t0)
    f.on_deadman(True, t0)
    assert f.arm(t0)[0]
    return f


def _feed(f, t, pos=None):
    """Renew everything that must stay fresh at time t."""
    f.on_deadman(True, t)
    f.on_observation(t)
    f.on_pose(pos if pos is not None else f._pose.value[0], f._pose.value[1], t)


def test_disarmed_commands_nothing_even_with_fresh_inputs():
    f = SafetyFilter(load_profile('sim_test'))
    f.on_pose([0, 0, 0.4], DOWN, 1.0)
    f.on_observation(1.0)
    f.on_deadman(True, 1.0)
    f.on_action([0.5, 0, 0, 0, 0, 0, 1], 1.0)
    for k in range(5):
        d = f.step(1.0 + k * DT)
        assert d.command is None and d.reasons == (Reason.DISARMED,) and d.mode == Mode.DISARMED


def test_armed_action_becomes_si_velocity_and_gripper():
    f = _ready()
    f.on_action([0.1, -0.2, 0.05, 0.02, 0.0, -0.04, 0.7], 100.01, source='ids-3')
    d = f.step(100.02)
    assert not d.halted and d.reasons == (Reason.OK,)
    c = d.command
    # Action x the profile's scale per step / 0.05 s (e.g. 0.1 x 0.0128 m / 0.05 s = 0.0256 m/s).
    np.testing.assert_allclose(c.linear, np.array([0.1, -0.2, 0.05]) * LIN)
    np.testing.assert_allclose(c.angular, np.array([0.02, 0.0, -0.04]) * ANG)
    np.testing.assert_allclose(c.target_position, [0.1 * LIN * DT, -0.2 * LIN * DT,
                                                   0.4 + 0.05 * LIN * DT])
    np.testing.assert_allclose(c.applied_action, [0.1, -0.2, 0.05, 0.02, 0.0, -0.04, 0.7])
    assert c.gripper_closed is True and c.source == 'ids-3' and not c.zero


def test_speed_then_acceleration_clamped_and_reported():
    f = _ready()
    p = f.profile
    a_lin = p.max_linear_accel_mps2[0] * DT  # 0.25 m/s per step
    w_max = p.max_angular_speed_radps[2]     # 1 rad/s
    assert LIN > a_lin and LIN < p.max_linear_speed_mps[0] and ANG > w_max
    f.on_action([1.0, -1.0, 0.0, 0.0, 0.0, 1.0, -1.0], 100.0)
    d = f.step(100.0)
    # Linear: from rest the acceleration limit allows a_lin (both axes alike: the direction is
    # kept). Angular: the yaw request is above the speed limit; reaching it in one step is
    # within the angular acceleration limit (20 rad/s^2 x 0.05 s).
    np.testing.assert_allclose(d.command.linear, [a_lin, -a_lin, 0.0])
    np.testing.assert_allclose(d.command.angular, [0.0, 0.0, w_max])
    assert set(d.reasons) == {Reason.SPEED_CLAMPED, Reason.ACCEL_CLAMPED}
    assert d.command.gripper_closed is False
    _feed(f, 100.05)
    f.on_action([1.0, -1.0, 0.0, 0.0, 0.0, 1.0, -1.0], 100.05)
    d = f.step(100.05)
    np.testing.assert_allclose(d.command.linear, [LIN, -LIN, 0.0])
    np.testing.assert_allclose(d.command.angular, [0.0, 0.0, w_max])
    assert d.reasons == (Reason.SPEED_CLAMPED,)
    np.testing.assert_allclose(d.command.applied_action[:6], [1.0, -1.0, 0, 0, 0, w_max / ANG])


def _run_constant(profile: str, action, steps: int):
    """Send ``action`` every step from rest with a perfect controller; return the decisions."""
    f = SafetyFilter(load_profile(profile))
    pos, quat = np.array(f.profile.home_position_m), np.array(f.profile.home_orientation_xyzw)
    t = 100.0
    f.on_pose(pos, quat, t)
    f.on_observation(t)
    f.on_deadman(True, t)
    assert f.arm(t)[0]
    out = []
    for _ in range(steps):
        t += f.dt
        f.on_deadman(True, t)
        f.on_observation(t)
        f.on_pose(pos, quat, t)
        f.on_action(action, t)
        d = f.step(t)
        assert not d.halted, d.detail
        out.append(d)
        pos, quat = d.command.target_position, d.command.target_quaternion
    return f, out


@pytest.mark.parametrize('profile', ['franka', 'ur'])  # sim_test's limits never saturate
@pytest.mark.parametrize('part', ['linear', 'angular'])
def test_clamps_keep_the_direction_through_the_ramp_and_saturation(profile, part):
    # atan2(0.3, 1) = 16.70 degrees; clipping each axis alone gave 45 degrees once both axes
    # hit their limits (and bent the path during the acceleration ramp).
    action = np.zeros(7)
    first = 0 if part == 'linear' else 3
    action[first:first + 2] = [1.0, 0.3]
    f, decisions = _run_constant(profile, action, 30)
    reasons = [set(d.reasons) for d in decisions]
    assert Reason.ACCEL_CLAMPED in reasons[0], 'the test must pass through the ramp'
    assert Reason.SPEED_CLAMPED in reasons[-1] and Reason.ACCEL_CLAMPED not in reasons[-1], \
        'the test must reach saturation'
    v_max = np.array(f.profile.max_linear_speed_mps if part == 'linear'
                     else f.profile.max_angular_speed_radps)
    for k, d in enumerate(decisions):
        v = d.command.linear if part == 'linear' else d.command.angular
        other = d.command.angular if part == 'linear' else d.command.linear
        angle = math.degrees(math.atan2(v[1], v[0]))
        assert abs(angle - 16.70) <= 0.5, f'step {k}: {angle:.2f} degrees, velocity {v}'
        assert v[2] == 0.0 and np.all(other == 0.0)
        assert np.all(np.abs(v) <= v_max + 1e-12)
    # Saturated: the x axis at its limit, y at 0.3 of it (not at its own limit).
    v = decisions[-1].command.linear if part == 'linear' else decisions[-1].command.angular
    np.testing.assert_allclose(v[:2], [v_max[0], 0.3 * v_max[0]])


@pytest.mark.parametrize('profile', ['franka', 'ur', 'sim_test'])
def test_a_command_within_the_limits_passes_unchanged(profile):
    p = load_profile(profile)
    lin, ang = np.array(p.linear_scale_m), np.array(p.angular_scale_rad)
    dt = 1.0 / p.control_rate_hz
    # Small enough to be under the speed limits and reached in one acceleration step.
    k = 0.5 * min(np.min(np.array(p.max_linear_accel_mps2) * dt * dt / lin),
                  np.min(np.array(p.max_angular_accel_radps2) * dt * dt / ang))
    action = np.array([k, -0.6 * k, 0.3 * k, -0.4 * k, 0.8 * k, k, 1.0])
    f, decisions = _run_constant(profile, action, 5)
    for d in decisions:
        assert d.reasons == (Reason.OK,)
        np.testing.assert_array_equal(d.command.applied_action, action)
        np.testing.assert_allclose(d.command.linear, action[:3] * lin / dt, rtol=1e-12)
        np.testing.assert_allclose(d.command.angular, action[3:6] * ang / dt, rtol=1e-12)


def test_nonfinite_action_halts_once_then_silence_then_resumes_on_a_good_action():
    f = _ready()
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 100.0)
    assert f.step(100.0).command is not None
    for bad in ([math.nan, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 0, math.inf, 0]):
        _feed(f, 100.05)
        assert f.on_action(bad, 100.05) == Reason.NONFINITE_ACTION
        d = f.step(100.05)
        assert d.halted and d.reasons == (Reason.NONFINITE_ACTION,)
        assert 'non-finite' in d.detail
        if bad[0] != bad[0]:  # first time: we were moving -> exactly one zero command
            assert d.command is not None and d.command.zero
            np.testing.assert_array_equal(d.command.linear, 0)
        else:
            assert d.command is None
        for k in range(3):
            assert f.step(100.05 + 0.01 * k).command is None
    _feed(f, 100.1)
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 100.1)
    assert f.step(100.1).command is not None


def test_wrong_size_action_is_rejected():
    f = _ready()
    assert f.on_action([0.1, 0.2], 100.0) == Reason.BAD_ACTION_SIZE
    d = f.step(100.0)
    assert d.reasons == (Reason.BAD_ACTION_SIZE,) and '2 values, expected 7' in d.detail


def test_workspace_halts_outward_motion_and_allows_inward_motion():
    f = _ready(pos=(0.49, 0.0, 0.4))  # x max is 0.5
    f.on_action([0.2, 0, 0, 0, 0, 0, 0], 100.0)  # 0.2 m/s x 0.05 s: target x 0.4999
    d = f.step(100.0)
    assert d.command is not None  # target 0.4999 stays inside
    _feed(f, 100.05, pos=(0.499, 0.0, 0.4))
    f.on_action([0.2, 0, 0, 0, 0, 0, 0], 100.05)
    d = f.step(100.05)
    assert d.halted and d.reasons == (Reason.WORKSPACE_LIMIT,) and "['x']" in d.detail
    assert d.command.zero
    _feed(f, 100.1, pos=(0.499, 0.0, 0.4))
    f.on_action([0.2, 0, 0, 0, 0, 0, 0], 100.1)
    assert f.step(100.1).command is None  # silence after the single zero
    # Already outside the box: moving back in is allowed, staying put or out is not.
    _feed(f, 100.15, pos=(0.52, 0.0, 0.4))
    f.on_action([-0.2, 0, 0, 0, 0, 0, 0], 100.15)
    assert f.step(100.15).command is not None


def test_policy_slower_than_control_rate_holds_then_times_out_once():
    f = _ready()
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 100.0)
    sent = []
    for k in range(10):
        t = 100.0 + k * DT
        _feed(f, t)
        d = f.step(t)
        sent.append(d)
    # Hold timeout 0.3 s: steps at 0.0 .. 0.30 use the action (0.30 is not older than 0.3).
    moving = [d for d in sent if d.command is not None and not d.command.zero]
    assert len(moving) == 7
    assert all(Reason.HOLDING_LAST_ACTION in d.reasons for d in moving[1:])
    assert sent[7].reasons == (Reason.ACTION_TIMEOUT,) and sent[7].command.zero
    assert all(d.command is None and d.reasons == (Reason.ACTION_TIMEOUT,) for d in sent[8:])


@pytest.mark.parametrize('stale,reason', [
    ('observation', Reason.OBSERVATION_STALE), ('pose', Reason.STATE_STALE),
    ('deadman', Reason.DEADMAN_TIMEOUT)])
def test_stale_inputs_halt_with_their_reason(stale, reason):
    f = _ready()
    t = 100.0
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], t)
    assert f.step(t).command is not None
    t = 100.6  # every timeout in sim_test is <= 0.5 s
    if stale != 'observation':
        f.on_observation(t)
    if stale != 'pose':
        f.on_pose([0, 0, 0.4], DOWN, t)
    if stale != 'deadman':
        f.on_deadman(True, t)
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], t)
    d = f.step(t)
    assert d.reasons == (reason,) and d.command.zero
    assert f.step(t + DT).command is None


def test_deadman_release_halts_immediately():
    f = _ready()
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 100.0)
    assert f.step(100.0).command is not None
    f.on_deadman(False, 100.01)
    assert f.step(100.02).reasons == (Reason.DEADMAN_TIMEOUT,)


def test_stamp_far_in_the_future_means_clocks_disagree():
    f = _ready()
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 100.0)
    f.on_observation(105.0)
    assert f.step(100.0).reasons == (Reason.STAMP_IN_FUTURE,)


def test_wall_clock_stamps_against_a_sim_clock_never_command():
    """moveit_servo #772: a filter fed wall-clock stamps while running on sim time halts."""
    f = _ready(t0=12.0)
    wall = 1.7e9
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], wall)
    assert f.step(12.0).reasons == (Reason.STAMP_IN_FUTURE,)


def test_action_from_before_arming_is_not_executed():
    f = SafetyFilter(load_profile('sim_test'))
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 99.9)
    f.on_pose([0, 0, 0.4], DOWN, 100.0)
    f.on_observation(100.0)
    f.on_deadman(True, 100.0)
    f.arm(100.0)
    assert f.step(100.0).reasons == (Reason.NO_ACTION,)


def test_emergency_stop_latches_until_reset_and_reset_leaves_disarmed():
    f = _ready()
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 100.0)
    assert f.step(100.0).command is not None
    f.emergency_stop()
    d = f.step(100.01)
    assert d.reasons == (Reason.ESTOP,) and d.command.zero and d.mode == Mode.ESTOPPED
    _feed(f, 100.02)
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 100.02)
    assert f.step(100.02).command is None
    ok, msg = f.arm(100.03)
    assert not ok and 'reset' in msg
    assert f.step(100.03).reasons == (Reason.ESTOP,)
    assert f.reset()[0] and f.mode == Mode.DISARMED
    assert f.step(100.04).reasons == (Reason.DISARMED,)
    assert f.arm(100.05)[0]
    _feed(f, 100.06)
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 100.06)
    assert f.step(100.06).command is not None


def test_disarm_while_moving_sends_one_zero():
    f = _ready()
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 100.0)
    f.step(100.0)
    f.disarm()
    assert f.step(100.01).command.zero
    assert f.step(100.02).command is None


def test_homing_reaches_home_within_limits_then_waits_for_new_actions():
    f = _ready(pos=(0.1, -0.2, 0.3))
    p = f.profile
    # Start turned 0.3 rad about the base z axis away from "tool down".
    q = _quat_mul(_quat_from_rotvec(np.array([0.0, 0.0, 0.3])), np.array(DOWN))
    pos = np.array([0.1, -0.2, 0.3])
    assert f.request_home(100.0)[0] and f.mode == Mode.HOMING
    t, prev = 100.0, np.zeros(6)
    for _ in range(400):
        _feed(f, t, pos=pos)
        f.on_pose(pos, q, t)
        d = f.step(t)
        if Reason.HOME_REACHED in d.reasons:
            break
        c = d.command
        v = np.concatenate([c.linear, c.angular])
        assert np.all(np.abs(v[:3]) <= np.array(p.max_linear_speed_mps) + 1e-9)
        assert np.all(np.abs(v[3:]) <= np.array(p.max_angular_speed_radps) + 1e-9)
        assert np.all(np.abs(v - prev) <= np.array(
            p.max_linear_accel_mps2 + p.max_angular_accel_radps2) * DT + 1e-9)
        prev = v
        pos, q = c.target_position, c.target_quaternion  # a perfect controller
        t += DT
    else:
        pytest.fail('homing did not finish in 400 steps')
    assert np.linalg.norm(pos - np.array(p.home_position_m)) <= p.home_tolerance_m
    err = _rotvec_from_quat(_quat_mul(np.array(DOWN), np.array([-q[0], -q[1], -q[2], q[3]])))
    assert np.linalg.norm(err) <= p.home_tolerance_rad
    assert f.mode == Mode.ARMED
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], t - 0.01)  # produced before home was reached
    _feed(f, t + DT, pos=pos)
    assert f.step(t + DT).reasons == (Reason.NO_ACTION,)


def test_home_requires_armed():
    f = SafetyFilter(load_profile('sim_test'))
    ok, msg = f.request_home(0.0)
    assert not ok and 'arm first' in msg


def test_pose_target_rotates_in_the_base_frame():
    f = _ready()
    f.on_pose([0, 0, 0.4], [0, 0, 0, 1], 100.0)
    f.on_action([0, 0, 0, 0, 0, 0.05, 0], 100.0)  # yaw 0.05 x 0.114 rad this step
    c = f.step(100.0).command
    turn = 0.05 * ANG * DT
    np.testing.assert_allclose(c.angular, [0, 0, 0.05 * ANG])
    np.testing.assert_allclose(c.target_quaternion,
                               [0, 0, math.sin(turn / 2), math.cos(turn / 2)], atol=1e-12)


def test_every_halt_reason_is_documented_in_the_module():
    import tgrpo_ros.real.safety as s
    for reason in HALT_REASONS:
        assert reason.value in s.__doc__ or reason in (Reason.DISARMED, Reason.ESTOP)


# ---- profiles ---------------------------------------------------------------------------------
def _raw(name='sim_test'):
    with open(resolve_profile_path(name)) as f:
        return yaml.safe_load(f)


@pytest.mark.parametrize('name', ['sim_test', 'franka', 'ur'])
def test_builtin_profiles_load(name):
    p = load_profile(name)
    assert p.control_rate_hz == 20.0 and p.cameras and p.command_interface in ('twist', 'pose')
    if name != 'sim_test':
        assert p.untested, 'real-arm profiles must say what is untested here'
        assert p.command_topic == '/servo_node/delta_twist_cmds'


@pytest.mark.parametrize('path,value,message', [
    (('limits', 'max_linear_speed_mps'), [0.1, -0.1, 0.1],
     r"'limits.max_linear_speed_mps\[1\]' = -0.1 is out of bounds"),
    (('control_rate_hz',), 0, r"'control_rate_hz' = 0 is out of bounds"),
    (('command', 'interface'), 'joint', r"'command.interface' = 'joint' must be one of"),
    (('workspace', 'min_m'), [0.6, -0.5, 0.0], r"'workspace.min_m\[0\]' = 0.6 must be below"),
    (('home', 'orientation_xyzw'), [1.0, 1.0, 0.0, 0.0], r'must be a unit quaternion'),
    (('home', 'position_m'), [0.9, 0.0, 0.4], r"'home.position_m\[0\]' = 0.9 lies outside"),
    (('timeouts', 'action_hold_s'), math.nan, r"'timeouts.action_hold_s' = nan must be a finite"),
])
def test_bad_profile_values_name_file_field_and_value(path, value, message):
    data = copy.deepcopy(_raw())
    node = data
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    with pytest.raises(ValueError, match=message) as err:
        profile_from_dict(data, source='my_robot.yaml')
    assert str(err.value).startswith('my_robot.yaml: ')


def test_missing_field_and_unknown_profile():
    data = _raw()
    del data['frames']['base']
    with pytest.raises(ValueError, match="missing field 'frames.base'"):
        profile_from_dict(data)
    with pytest.raises(FileNotFoundError, match=r"'kuka' not found .* built-in profiles: \[.*"):
        load_profile('kuka')


def test_action_on_old_data_times_out_and_a_foreign_clock_is_caught():
    f = _ready()
    # Freshly produced (100.4) but computed from an observation stamped 100.0: too old at 100.4.
    _feed(f, 100.4)
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 100.05, produced=100.4)
    d = f.step(100.4)
    assert d.reasons == (Reason.ACTION_TIMEOUT,) and 'data it answers' in d.detail
    # Data fresh, but the action is stamped on another clock (wall time under sim time).
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 100.39, produced=1.7e9)
    assert f.step(100.4).reasons == (Reason.STAMP_IN_FUTURE,)
    f.on_action([0.1, 0, 0, 0, 0, 0, 0], 100.39, produced=100.4)
    assert f.step(100.4).command is not None
