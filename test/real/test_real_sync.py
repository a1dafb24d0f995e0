# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Pairing camera frames with robot state by stamp, and the named state vector (no ROS)."""

from __future__ import annotations

import pytest

from tgrpo_ros.real.input_sync import (INPUT_MISSING, INPUT_STALE, InputSynchronizer, state_vector,
                                  UNPAIRED)


def _sync():
    return InputSynchronizer(['camera:agentview', 'eef_pose', 'joint_states'],
                             tolerance_s=0.03, stale_s=0.2)


def test_missing_inputs_are_named_and_nothing_is_paired():
    s = _sync()
    s.add('camera:agentview', 10.0, 'frame')
    paired, problems = s.pair(10.01)
    assert paired is None
    assert [(p.input, p.code) for p in problems] == [('eef_pose', INPUT_MISSING),
                                                     ('joint_states', INPUT_MISSING)]


def test_pairs_nearest_stamp_within_tolerance_once_per_frame():
    s = _sync()
    for t, v in ((9.90, 'e0'), (9.98, 'e1'), (10.02, 'e2')):
        s.add('eef_pose', t, v)
    s.add('joint_states', 10.025, 'j0')
    s.add('camera:agentview', 10.0, 'f0')
    paired, problems = s.pair(10.05)
    assert problems == [] and paired.reference_stamp == 10.0
    assert paired.items['eef_pose'] == (9.98, 'e1')  # 0.02 away beats 0.02+ away
    assert paired.items['joint_states'] == (10.025, 'j0')
    assert s.pair(10.06) == (None, [])  # same frame: no second observation
    s.add('camera:agentview', 10.04, 'f1')
    paired, _ = s.pair(10.07)
    assert paired.items['eef_pose'] == (10.02, 'e2')


def test_unpaired_input_names_the_offset_and_tolerance():
    s = _sync()
    s.add('eef_pose', 9.95, 'e')  # 50 ms before the frame; tolerance 30 ms
    s.add('joint_states', 10.0, 'j')
    s.add('camera:agentview', 10.0, 'f')
    paired, problems = s.pair(10.01)
    assert paired is None and len(problems) == 1
    assert problems[0].code == UNPAIRED and problems[0].input == 'eef_pose'
    assert '-0.050 s from the camera:agentview frame (tolerance 0.03 s)' in problems[0].detail


def test_stale_input_is_reported_against_the_clock_of_the_stamps():
    s = _sync()
    s.add('camera:agentview', 1000.0, 'f')  # sim time
    s.add('eef_pose', 1000.3, 'e')
    s.add('joint_states', 1000.3, 'j')
    paired, problems = s.pair(1000.3)
    assert paired is None
    assert [(p.input, p.code) for p in problems] == [('camera:agentview', INPUT_STALE)]
    assert '0.300 s old > 0.2 s' in problems[0].detail


def test_time_going_backwards_restarts_the_buffer():
    s = _sync()
    s.add('eef_pose', 50.0, 'late')
    s.add('eef_pose', 1.0, 'after reset')
    s.add('joint_states', 1.0, 'j')
    s.add('camera:agentview', 1.0, 'f')
    paired, problems = s.pair(1.0)
    assert problems == [] and paired.items['eef_pose'] == (1.0, 'after reset')


def test_bad_construction():
    with pytest.raises(ValueError, match='unique'):
        InputSynchronizer(['a', 'a'], 0.1, 0.1)
    with pytest.raises(KeyError, match="unknown input 'b'"):
        InputSynchronizer(['a'], 0.1, 0.1).add('b', 0.0, None)


def test_state_vector_libero_order_signs_and_arm_joints():
    names, values = state_vector(
        (0.1, 0.2, 0.3), (1.0, 0.0, 0.0, 0.0),
        (['finger_joint_2', 'finger_joint_1'], [0.03, 0.04]), ['finger_joint_1',
                                                              'finger_joint_2'], [1.0, -1.0],
        (['j2', 'j1', 'x'], [0.2, 0.1, 9.0]), ['j1', 'j2'])
    assert names == ['eef_pos_x', 'eef_pos_y', 'eef_pos_z', 'eef_quat_x', 'eef_quat_y',
                     'eef_quat_z', 'eef_quat_w', 'gripper_qpos_0', 'gripper_qpos_1',
                     'joint_pos_j1', 'joint_pos_j2']
    assert values == [0.1, 0.2, 0.3, 1.0, 0.0, 0.0, 0.0, 0.04, -0.03, 0.1, 0.2]


def test_state_vector_missing_joint_names_it_and_what_is_there():
    with pytest.raises(KeyError, match=r"arm joint\(s\) \['j3'\] not in the joint state message"
                                       r" \(it has \['j1', 'j2'\]\)"):
        state_vector((0, 0, 0), (0, 0, 0, 1), None, (), (), (['j1', 'j2'], [0, 0]),
                     ['j1', 'j3'])
