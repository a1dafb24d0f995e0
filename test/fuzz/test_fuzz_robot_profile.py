# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Malformed robot profiles are refused with a ValueError naming the file and the field.

Every field of the sim_test profile is replaced, one at a time, by a value of the wrong kind
(by what the field holds: number, vector, text, choice, list of names, flag), removed when it
is required, or joined by an unknown field; files of garbage and cut-off files are tried too.
"""

from __future__ import annotations

import copy

from hypothesis import given, strategies as st
import pytest
import yaml

from refusal import EACH, FEW, FIELD_NAME, FUZZ, GARBAGE, NON_FINITE, NOT_A_NUMBER, NOT_TEXT
from refusal import never_bare, refused
from tgrpo_ros.real.robot_profile import load_profile, profile_from_dict, resolve_profile_path

SOURCE = 'robot.yaml'
BASE = yaml.safe_load(resolve_profile_path('sim_test').read_text())
CHOICES = {'command.interface': ('twist', 'pose'),
           'gripper.interface': ('topic', 'action', 'none'),
           'state.eef_source': ('topic', 'tf')}
# Fields a profile may leave out (they have defaults).
OPTIONAL = {'untested', 'gripper.open_position',
            'gripper.closed_position', 'gripper.max_effort', 'gripper.threshold',
            'gripper.state_topic', 'gripper.state_joints', 'gripper.state_signs',
            'cameras.agentview.compressed', 'state.joint_states_topic', 'state.arm_joints',
            'state.eef_source'}
# Every bound in the profile format lies within +-1000: these are out of all of them.
OUT_OF_RANGE = st.sampled_from([1e6, -1e6, 1e300])


def _leaves(node: dict, prefix: str = '') -> dict[str, object]:
    out = {}
    for key, value in node.items():
        if isinstance(value, dict):
            out.update(_leaves(value, f'{prefix}{key}.'))
        else:
            out[f'{prefix}{key}'] = value
    return out


LEAVES = _leaves(BASE)


def _bad_values(dotted: str, value) -> st.SearchStrategy:
    """Values that are wrong for this field, judged by what the valid profile holds."""
    if dotted == 'gripper.state_signs':
        return st.one_of(st.lists(st.sampled_from([0, 2, -3, 0.5]), min_size=2, max_size=2),
                         st.lists(st.just(1), min_size=3, max_size=4), st.text(min_size=1))
    if isinstance(value, bool):
        return st.one_of(st.integers(), st.text(), st.lists(st.booleans(), max_size=2))
    if isinstance(value, (int, float)):
        return st.one_of(NOT_A_NUMBER, OUT_OF_RANGE)
    if isinstance(value, list) and value and all(isinstance(v, (int, float)) for v in value):
        n = len(value)
        return st.one_of(
            NOT_A_NUMBER,
            st.lists(st.floats(0.01, 0.02), max_size=n - 1),
            st.lists(st.floats(0.01, 0.02), min_size=n + 1, max_size=n + 3),
            st.tuples(st.integers(0, n - 1), st.one_of(NON_FINITE, OUT_OF_RANGE,
                                                       st.text(max_size=3))).map(
                lambda kv: [kv[1] if k == kv[0] else v for k, v in enumerate(value)]))
    if isinstance(value, list):  # a list of names
        return st.one_of(st.integers(min_value=1), st.text(min_size=1),
                         st.lists(st.integers(), min_size=1, max_size=3))
    if dotted in CHOICES:
        return st.one_of(NOT_TEXT, st.text(max_size=8).filter(lambda v: v not in
                                                             CHOICES[dotted]))
    return st.one_of(NOT_TEXT, st.none())


def _set(path: str, value) -> dict:
    out = copy.deepcopy(BASE)
    node = out
    *parents, last = path.split('.')
    for part in parents:
        node = node[part]
    node[last] = value
    return out


def _named(path: str) -> str:
    """Return the name the error must say (a camera's fields are named by the camera)."""
    return 'cameras.agentview' if path.startswith('cameras.') else path


def test_the_base_profile_is_valid():
    profile_from_dict(copy.deepcopy(BASE), SOURCE)


@pytest.mark.parametrize('path', sorted(LEAVES))
@EACH
@given(data=st.data())
def test_a_wrong_value_is_refused_naming_the_field(path, data):
    value = data.draw(_bad_values(path, LEAVES[path]), label='value')
    raw = _set(path, value)
    exc = refused(lambda: profile_from_dict(raw, SOURCE), SOURCE, _named(path))
    assert isinstance(exc, ValueError)


@pytest.mark.parametrize('path', sorted(set(LEAVES) - OPTIONAL))
def test_a_missing_required_field_is_refused_naming_it(path):
    raw = copy.deepcopy(BASE)
    node = raw
    *parents, last = path.split('.')
    for part in parents:
        node = node[part]
    del node[last]
    refused(lambda: profile_from_dict(raw, SOURCE), SOURCE, _named(path))


@FUZZ
@given(section=st.sampled_from(['', 'limits.', 'timeouts.', 'gripper.', 'home.', 'state.']),
       key=FIELD_NAME)
def test_an_unknown_field_is_refused_naming_it(section, key):
    if (section + key) in LEAVES or (not section and key in BASE) or key == 'notes':
        return
    raw = _set(section + key, 1.0)
    refused(lambda: profile_from_dict(raw, SOURCE), SOURCE, section + key)


@FEW
@given(content=GARBAGE)
def test_a_garbage_file_is_refused_naming_it(tmp_path, content):
    path = tmp_path / 'robot.yaml'
    path.write_bytes(content)
    refused(lambda: load_profile(str(path)), str(path))


@FEW
@given(cut=st.integers(min_value=0, max_value=100_000))
def test_a_truncated_file_is_refused_naming_it(tmp_path, cut):
    text = resolve_profile_path('sim_test').read_bytes()
    path = tmp_path / 'robot.yaml'
    path.write_bytes(text[:cut % len(text)])
    # every field is required or last in its section, so almost any cut is refused; a cut
    # inside the last comment lines leaves a valid profile
    never_bare(lambda: load_profile(str(path)), str(path))


def test_a_missing_profile_is_refused_naming_it(tmp_path):
    refused(lambda: load_profile(str(tmp_path / 'none.yaml')), 'none.yaml')
