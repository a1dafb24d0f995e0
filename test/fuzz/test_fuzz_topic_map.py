# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Malformed topic maps are refused with a TopicMapError naming the file and the key."""

from __future__ import annotations

import copy

from hypothesis import given, strategies as st
import pytest
import yaml

from refusal import EACH, FEW, FIELD_NAME, FUZZ, GARBAGE, NOT_A_NUMBER, NOT_POSITIVE, NOT_TEXT
from refusal import never_bare, refused
from tgrpo_ros.bags.topic_map import load_topic_map, parse_topic_map, TopicMapError

SOURCE = 'map.yaml'
ACTION_MAP = {
    'observation': '/env0/observation', 'action': '/env0/action',
    'step_result': '/env0/step_result',
    'pairing': {'mode': 'auto', 'clock': 'header', 'max_age': 0.2}, 'episode_gap': 2.0,
    'physical_scale': [0.05, 0.05, 0.05, 0.5, 0.5, 0.5],
    'physical_units': ['m', 'm', 'm', 'rad', 'rad', 'rad']}
MOTION_MAP = {
    'cameras': {'agentview': '/camera/image_raw'}, 'joint_states': '/joint_states',
    'gripper_joints': ['finger_1', 'finger_2'],
    'eef_pose': {'parent': 'base_link', 'child': 'tool0', 'tf_topics': ['/tf', '/tf_static']},
    'instruction': {'topic': '/instruction'},
    'action_from_motion': {'rate_hz': 20, 'translation_scale': 0.05, 'rotation_scale': 0.5,
                           'gripper_closed_below': 0.04}}

# Each field with a strategy of values that are wrong for it, and the name the error must say.
TOPICS = st.one_of(NOT_TEXT, st.sampled_from(['', '   ']))
BAD_ACTION_MAP = [
    (('observation',), TOPICS, 'observation'),
    (('action',), TOPICS, 'action'),
    (('step_result',), TOPICS, 'step_result'),
    (('pairing', 'mode'), st.one_of(NOT_TEXT, st.text(max_size=6)).filter(
        lambda v: v not in ('auto', 'ids', 'time')), 'pairing.mode'),
    (('pairing', 'clock'), st.one_of(NOT_TEXT, st.text(max_size=6)).filter(
        lambda v: v not in ('receive', 'header')), 'pairing.clock'),
    (('pairing', 'max_age'), st.one_of(NOT_A_NUMBER, NOT_POSITIVE), 'pairing.max_age'),
    (('pairing',), st.one_of(st.integers(min_value=1), st.text(min_size=1), st.lists(st.integers(),
                                                                          min_size=1)),
     'pairing'),
    (('episode_gap',), st.one_of(NOT_A_NUMBER, NOT_POSITIVE), 'episode_gap'),
    (('physical_scale',), st.one_of(NOT_A_NUMBER, st.lists(st.floats(0.1, 1), max_size=5),
                                    st.lists(st.floats(0.1, 1), min_size=7, max_size=9)),
     'physical_scale'),
    (('physical_scale', 2), st.one_of(NOT_A_NUMBER, NOT_POSITIVE), 'physical_scale[2]'),
    (('physical_units', 4), st.one_of(NOT_TEXT, st.just('')), 'physical_units'),
    (('robot_profile',), st.one_of(st.integers(), st.lists(st.text(), max_size=2),
                                   st.just('no_such_robot')), 'robot_profile'),
]
BAD_MOTION_MAP = [
    (('cameras',), st.one_of(st.integers(min_value=1), st.text(min_size=1), st.lists(st.text(),
                                                                          min_size=1)),
     'cameras'),
    (('cameras', 'agentview'), TOPICS, 'cameras.agentview'),
    (('gripper_joints',), st.one_of(st.integers(min_value=1), st.text(min_size=1),
                                    st.lists(st.integers(), min_size=1)), 'gripper_joints'),
    (('eef_pose', 'parent'), st.one_of(NOT_TEXT, st.just('')), 'eef_pose.parent'),
    (('eef_pose', 'tf_topics'), st.one_of(st.integers(min_value=1), st.just([]), st.lists(
        TOPICS, min_size=1, max_size=2)), 'eef_pose.tf_topics'),
    (('eef_pose', 'frame'), st.text(max_size=4), 'frame'),   # unknown key
    (('instruction',), st.one_of(st.integers(), st.lists(st.text(), max_size=2),
                                 st.booleans()), 'instruction'),
    (('instruction', 'text'), NOT_TEXT, 'instruction.text'),
    (('instruction', 'topic'), TOPICS, 'instruction.topic'),
    (('action_from_motion', 'rate_hz'), st.one_of(NOT_A_NUMBER, NOT_POSITIVE).filter(
        lambda v: v is not None), 'action_from_motion.rate_hz'),
    (('action_from_motion', 'translation_scale'), st.one_of(NOT_A_NUMBER, NOT_POSITIVE).filter(
        lambda v: v is not None), 'action_from_motion.translation_scale'),
    (('action_from_motion', 'gripper_closed_below'), st.one_of(
        NOT_A_NUMBER, NOT_POSITIVE).filter(lambda v: v is not None),
     'action_from_motion.gripper_closed_below'),
    (('action_from_motion', 'speed'), st.floats(), 'speed'),   # unknown key
]


def _set(data: dict, path: tuple, value) -> dict:
    out = copy.deepcopy(data)
    node = out
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return out


def test_the_base_maps_are_valid():
    parse_topic_map(ACTION_MAP, SOURCE)
    parse_topic_map(MOTION_MAP, SOURCE)


CASES = [(ACTION_MAP, *case) for case in BAD_ACTION_MAP] + [
    (MOTION_MAP, *case) for case in BAD_MOTION_MAP]


@pytest.mark.parametrize('base, path, values, name', CASES,
                         ids=['.'.join(map(str, c[1])) for c in CASES])
@EACH
@given(data=st.data())
def test_a_wrong_value_is_refused_naming_the_key(base, path, values, name, data):
    raw = _set(base, path, data.draw(values, label=name))
    exc = refused(lambda: parse_topic_map(raw, SOURCE), SOURCE, name)
    assert isinstance(exc, TopicMapError)


@FUZZ
@given(key=FIELD_NAME, where=st.sampled_from([(), ('pairing',), ('action_from_motion',),
                                              ('instruction',), ('eef_pose',)]))
def test_an_unknown_key_is_refused_naming_it(key, where):
    known = {(): set(MOTION_MAP) | set(ACTION_MAP) | {'robot_profile'},
             ('pairing',): {'mode', 'clock', 'max_age'},
             ('action_from_motion',): set(MOTION_MAP['action_from_motion']),
             ('instruction',): {'topic', 'text'},
             ('eef_pose',): {'parent', 'child', 'tf_topics'}}[where]
    if key in known:
        return
    base = dict(MOTION_MAP, pairing={'mode': 'time'})
    raw = _set(base, where + (key,), 1.0)
    refused(lambda: parse_topic_map(raw, SOURCE), SOURCE, key)


@pytest.mark.parametrize('missing, name', [
    ('action', 'no recorded action'), ('observation', 'no image input')])
def test_a_missing_required_key_is_refused(missing, name):
    raw = {k: v for k, v in ACTION_MAP.items() if k != missing}
    refused(lambda: parse_topic_map(raw, SOURCE), SOURCE, name)


@FEW
@given(content=GARBAGE)
def test_a_garbage_file_is_refused_naming_it(tmp_path, content):
    path = tmp_path / 'garbage.yaml'
    path.write_bytes(content)
    refused(lambda: load_topic_map(path), str(path))


@FEW
@given(cut=st.integers(min_value=0, max_value=10_000))
def test_a_truncated_file_loads_or_is_refused_naming_it(tmp_path, cut):
    text = yaml.safe_dump(MOTION_MAP, sort_keys=False).encode()
    path = tmp_path / 'cut.yaml'
    path.write_bytes(text[:cut % len(text)])
    never_bare(lambda: load_topic_map(path), str(path))


def test_a_missing_file_is_refused_naming_it(tmp_path):
    refused(lambda: load_topic_map(tmp_path / 'none.yaml'), 'none.yaml')
