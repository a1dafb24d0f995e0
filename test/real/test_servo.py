# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Servo's twist -> joint velocity math (tgrpo_ros.real.servo) and the sim_franka profile."""

from __future__ import annotations

import numpy as np
import pytest
import yaml

from tgrpo_ros.real.robot_profile import load_profile, profile_from_dict, resolve_profile_path
from tgrpo_ros.real.servo import (damped_least_squares, nullspace_projection,
                                  quat_xyzw_to_matrix, rotate_jacobian, rotation_error,
                                  scale_to_limits, twist_to_joint_velocities)
from tgrpo_ros.real.sim_robot_config import sim_config


def _jacobian(seed=0, n=7):
    return np.random.default_rng(seed).normal(size=(6, n))


def test_dls_reproduces_the_twist_away_from_singularities():
    j = _jacobian()
    v = np.array([0.1, -0.05, 0.02, 0.3, 0.0, -0.1])
    qdot = damped_least_squares(j, v, damping=1e-3)
    np.testing.assert_allclose(j @ qdot, v, atol=1e-6)
    # undamped it is the minimum-norm solution: no component in the null space
    assert np.linalg.norm(nullspace_projection(j, qdot, 1e-6)) < 1e-6


def test_dls_bounds_joint_speed_at_a_singularity():
    j = _jacobian(1)
    j[:, :] = np.outer(j[:, 0], np.ones(7))  # rank 1: almost every twist is unreachable
    v = np.array([0.0, 0.0, 0.1, 0.0, 0.0, 0.0])
    plain = np.linalg.pinv(j, rcond=1e-15) @ (v + 1e-9)
    damped = damped_least_squares(j, v, damping=0.05)
    assert np.all(np.isfinite(damped))
    assert np.linalg.norm(damped) <= 0.1 / 0.05  # |qdot| <= |v| / (2 lambda) for DLS
    assert np.linalg.norm(damped) <= np.linalg.norm(plain) + 1e-9


def test_nullspace_posture_does_not_move_the_hand():
    j = _jacobian(2)
    v = np.array([0.05, 0.0, 0.0, 0.0, 0.0, 0.0])
    posture = np.linspace(-1, 1, 7)
    qdot = twist_to_joint_velocities(j, v, damping=1e-4, posture=posture)
    np.testing.assert_allclose(j @ qdot, v, atol=1e-5)
    assert not np.allclose(qdot, damped_least_squares(j, v, 1e-4))


def test_joint_speed_limits_scale_the_whole_vector():
    qdot = np.array([4.0, 1.0, -2.0, 0.0, 0.0, 0.0, 0.0])
    limits = np.full(7, 2.0)
    scaled, factor = scale_to_limits(qdot, limits)
    assert factor == pytest.approx(0.5)
    np.testing.assert_allclose(scaled, qdot * 0.5)
    assert np.all(np.abs(scaled) <= limits + 1e-12)
    same, one = scale_to_limits(np.ones(7), limits)
    assert one == 1.0 and np.all(same == 1.0)
    with pytest.raises(ValueError, match='limits must be > 0'):
        scale_to_limits(qdot, np.zeros(7))


def test_rotate_jacobian_expresses_twists_in_the_base_frame():
    j = _jacobian(3)
    yaw = np.pi / 2
    r = np.array([[np.cos(yaw), -np.sin(yaw), 0], [np.sin(yaw), np.cos(yaw), 0], [0, 0, 1]])
    jb = rotate_jacobian(j, r)
    qdot = np.arange(7, dtype=float) / 10
    np.testing.assert_allclose(r @ (jb @ qdot)[:3], (j @ qdot)[:3], atol=1e-12)
    np.testing.assert_allclose(r @ (jb @ qdot)[3:], (j @ qdot)[3:], atol=1e-12)


def test_bad_inputs_are_refused_by_name():
    with pytest.raises(ValueError, match='do not match'):
        damped_least_squares(_jacobian(), np.zeros(5))
    with pytest.raises(ValueError, match='finite'):
        damped_least_squares(_jacobian(), np.full(6, np.nan))
    with pytest.raises(ValueError, match='damping'):
        damped_least_squares(_jacobian(), np.zeros(6), damping=-1)


def test_rotation_error_is_the_rotation_vector_between_orientations():
    down = np.array([1.0, 0.0, 0.0, 0.0])  # tool pointing down
    half = 0.2
    yawed = np.array([np.cos(half), np.sin(half), 0.0, 0.0])  # rotated 0.4 rad about base z
    np.testing.assert_allclose(quat_xyzw_to_matrix(yawed) @ quat_xyzw_to_matrix(down).T,
                               [[np.cos(0.4), -np.sin(0.4), 0], [np.sin(0.4), np.cos(0.4), 0],
                                [0, 0, 1]], atol=1e-12)
    np.testing.assert_allclose(rotation_error(down, yawed), [0, 0, 0.4], atol=1e-9)
    np.testing.assert_allclose(rotation_error(down, down), 0, atol=1e-12)


def test_sim_franka_profile_mirrors_its_camera_and_describes_the_simulation():
    p = load_profile('sim_franka')
    assert p.cameras[0].mirror is True
    assert not load_profile('franka').cameras[0].mirror  # a plain camera unless asked
    c = sim_config(p)
    assert (c.suite, c.task, c.image_encoding) == ('libero_object', '0', 'bgr8')
    assert c.object_topic('basket_1') == '/objects/basket_1/pose'
    data = yaml.safe_load(resolve_profile_path('sim_franka').read_text())
    data['cameras']['agentview']['mirror'] = 'yes'
    with pytest.raises(ValueError, match=r'cameras.agentview.mirror.*must be true or false'):
        profile_from_dict(data, 'x.yaml')
    data['cameras']['agentview']['mirror'] = True
    data['sim']['image_encoding'] = 'mono8'
    with pytest.raises(ValueError, match=r'sim.image_encoding.*must be one of'):
        sim_config(profile_from_dict(data, 'x.yaml'))
    with pytest.raises(ValueError, match="has no 'sim' section"):
        sim_config(load_profile('franka'))
