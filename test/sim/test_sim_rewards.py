# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Reward specs: the reward formula on hand-made states, validation errors, the shipped specs."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tgrpo_ros.sim.reward_spec import (load_reward_for_task, load_spec, parse_spec,
                                       RewardSpecError, spec_path, StagedReward,
                                       SuccessReward, validate_spec_for_bddl)
from tgrpo_ros.sim.sim_state import LEFT_FINGER, ObjectPose, Region, RIGHT_FINGER, SimState

SPEC_DIR = Path(__file__).resolve().parents[2] / 'config' / 'rewards' / 'libero_object'
KETCHUP = 'pick_up_the_ketchup_and_place_it_in_the_basket'
OBJECTS = ['ketchup_1', 'basket_1', 'milk_1']
REGIONS = ['basket_1_contain_region', 'floor_bin_region']


def box(center, half):
    c, h = np.asarray(center, float), np.asarray(half, float)
    return ObjectPose(pos=c.copy(), quat=np.array([0, 0, 0, 1.0]), bbox_min=c - h,
                      bbox_max=c + h, half_size=h)


def state(ketchup=(0.0, -0.2, 0.07), eef=(0.0, 0.0, 0.3), opening=0.08, contacts=(),
          success=False):
    objects = {'ketchup_1': box(ketchup, (0.02, 0.02, 0.07)),
               'basket_1': box((0.0, 0.25, 0.07), (0.08, 0.08, 0.07)),
               'milk_1': box((-0.2, 0.0, 0.065), (0.025, 0.025, 0.065))}
    regions = {'basket_1_contain_region': Region(np.array([0.0, 0.25, 0.07]),
                                                 np.array([0.06, 0.06, 0.07]), 'basket_1'),
               'floor_bin_region': Region(np.array([0.0, 0.25, 0.02]),
                                          np.array([0.01, 0.01, 0.007]), 'None')}
    return SimState(objects=objects, regions=regions, eef_pos=np.asarray(eef, float),
                    eef_quat=np.array([1.0, 0, 0, 0]),
                    gripper_qpos=np.array([opening / 2, -opening / 2]),
                    gripper_opening=opening,
                    contacts=frozenset(frozenset(c) for c in contacts), success=success,
                    goal=(('in', 'ketchup_1', 'basket_1_contain_region'),))


@pytest.fixture
def reward():
    r = load_reward_for_task(str(SPEC_DIR / f'{KETCHUP}.yaml'), 'libero_object', KETCHUP,
                             OBJECTS, REGIONS)
    r.reset(state())
    return r


GRASP = ((LEFT_FINGER, 'ketchup_1'), (RIGHT_FINGER, 'ketchup_1'))


def test_stages_rise_through_a_pick_and_place(reward):
    path = [
        state(eef=(0.0, 0.0, 0.3)),                                     # far away
        state(eef=(0.0, -0.2, 0.15)),                                   # closer
        state(eef=(0.0, -0.2, 0.08)),                                   # reached
        state(eef=(0.0, -0.2, 0.08), opening=0.04, contacts=GRASP),     # grasped
        state(ketchup=(0, -0.2, 0.15), eef=(0, -0.2, 0.16), contacts=GRASP),   # lifted
        state(ketchup=(0, 0.0, 0.3), eef=(0, 0.0, 0.31), contacts=GRASP),      # carried
        state(ketchup=(0, 0.24, 0.3), eef=(0, 0.24, 0.31), contacts=GRASP),    # over basket
        state(ketchup=(0, 0.25, 0.08), eef=(0, 0.25, 0.15)),                   # placed
        state(ketchup=(0, 0.25, 0.08), eef=(0, 0.25, 0.15), success=True),     # success
    ]
    results = [reward(s) for s in path]
    stages = [r.stage for r in results]
    assert stages == [0, 0, 1, 2, 3, 3, 4, 5, 5]
    values = [r.reward for r in results]
    assert all(b > a for a, b in zip(values, values[1:])), values
    assert all(0 <= r.progress < 1 for r in results)
    assert results[-2].progress == 0.0  # final stage: nothing further to approach
    assert values[-1] == pytest.approx(6.0) and results[-1].success
    assert all(r.num_stages == 5 for r in results)


def test_reward_needs_reset_and_success_only_reward():
    r = load_reward_for_task(str(SPEC_DIR / f'{KETCHUP}.yaml'), 'libero_object', KETCHUP,
                             OBJECTS, REGIONS)
    with pytest.raises(RuntimeError, match='reset'):
        r(state())
    s = SuccessReward()
    assert s(state()).reward == 0.0 and s(state(success=True)).reward == 1.0
    assert s(state()).num_stages == 0
    assert isinstance(load_reward_for_task(None, 'libero_object', KETCHUP, OBJECTS, REGIONS),
                      SuccessReward)


@settings(max_examples=200, deadline=None)
@given(kx=st.floats(-0.3, 0.3), ky=st.floats(-0.3, 0.3), kz=st.floats(0.0, 0.4),
       ex=st.floats(-0.3, 0.3), ey=st.floats(-0.3, 0.3), ez=st.floats(0.0, 0.5),
       opening=st.floats(0.0, 0.08), touch=st.integers(0, 3), success=st.booleans())
def test_reward_is_stage_plus_bounded_progress(kx, ky, kz, ex, ey, ez, opening, touch,
                                               success):
    contacts = [GRASP[i] for i in range(2) if touch >> i & 1]
    r = load_reward_for_task(str(SPEC_DIR / f'{KETCHUP}.yaml'), 'libero_object', KETCHUP,
                             OBJECTS, REGIONS)
    r.reset(state())
    res = r(state((kx, ky, kz), (ex, ey, ez), opening, contacts, success))
    assert 0.0 <= res.reward <= 6.0
    assert res.stage == int(np.floor(res.reward - float(success) + 1e-9))
    assert 0.0 <= res.progress <= 0.99


def minimal(**over):
    raw = {'task': f'libero_object/{KETCHUP}', 'roles': {'target': 'ketchup_1'},
           'stages': [{'name': 'reach',
                       'predicate': {'near': {'a': 'gripper', 'b': 'target', 'within': 0.05}},
                       'progress': {'approach': {'a': 'gripper', 'b': 'target',
                                                 'scale': 0.2}}}]}
    raw.update(over)
    return raw


@pytest.mark.parametrize('raw, message', [
    (minimal(colour='red'), "unknown field 'colour'"),
    (minimal(stages=[]), "'stages' must be a non-empty list"),
    (minimal(stages=[{'name': 'x', 'predicate': {'teleported': {'object': 'target'}}}]),
     "unknown type 'teleported'"),
    (minimal(stages=[{'name': 'x', 'predicate': {'near': {'a': 'gripper', 'b': 'target',
                                                          'within': 0.05, 'radius': 1}}}]),
     r"stages\[0\].predicate.near: unknown field 'radius'"),
    (minimal(stages=[{'name': 'x', 'predicate': {'near': {'a': 'gripper', 'b': 'target'}}}]),
     "missing field 'within'"),
    (minimal(stages=[{'name': 'x', 'predicate': {'near': {'a': 'gripper', 'b': 'target',
                                                          'within': -1}}}]),
     'within: must be > 0'),
    (minimal(stages=[{'name': 'x', 'predicate': {'grasped': {'object': 'target'}},
                      'shaping': {}}]), "unknown field 'shaping'"),
    (minimal(success_bonus=-1), 'success_bonus must be a number >= 0'),
    (minimal(version=3), 'unsupported version 3'),
    # version 1 keeps its vocabulary: the fixture predicates need version: 2
    (minimal(stages=[{'name': 'x', 'predicate': {'open': {'fixture': 'target'}}}]),
     r"unknown type 'open'.*version: 2 adds more"),
    (minimal(version=2, stages=[{'name': 'x', 'predicate': {'articulated': {
        'fixture': 'f', 'toward': 'ajar', 'fraction': 0.5}}}]), 'toward: expected one of'),
    (minimal(version=2, stages=[{'name': 'x', 'predicate': {'all': []}}]),
     'expected a non-empty list'),
    (minimal(generated='x'), r"unknown field 'generated'.*\(version 1\)"),
])
def test_malformed_specs_are_rejected_by_name(raw, message):
    with pytest.raises(RewardSpecError, match=message):
        parse_spec(raw)


def test_unknown_names_are_rejected_when_bound():
    bad_obj = minimal(stages=[{'name': 'x', 'predicate': {'grasped': {'object': 'spam_1'}}}])
    with pytest.raises(RewardSpecError, match="unknown object 'spam_1'"):
        StagedReward(parse_spec(bad_obj), OBJECTS, REGIONS)
    bad_role = minimal(roles={'target': 'spam_1'})
    with pytest.raises(RewardSpecError, match="role 'target' names unknown object 'spam_1'"):
        StagedReward(parse_spec(bad_role), OBJECTS, REGIONS)
    region_as_object = minimal(stages=[{'name': 'x', 'predicate': {
        'grasped': {'object': 'basket_1_contain_region'}}}])
    with pytest.raises(RewardSpecError, match="unknown object 'basket_1_contain_region'"):
        StagedReward(parse_spec(region_as_object), OBJECTS, REGIONS)
    object_as_region = minimal(stages=[{'name': 'x', 'predicate': {
        'inside': {'object': 'target', 'region': 'basket_1'}}}])
    with pytest.raises(RewardSpecError, match="'basket_1' is not a region"):
        StagedReward(parse_spec(object_as_region), OBJECTS, REGIONS)
    with pytest.raises(RewardSpecError, match='spec is for task'):
        load_reward_for_task(minimal(), 'libero_object', 'another_task', OBJECTS, REGIONS)


def test_spec_file_errors_name_the_file(tmp_path):
    p = tmp_path / 'bad.yaml'
    p.write_text(yaml.safe_dump(minimal(stages=[{'name': 'x', 'predicate': {'hovering': {}}}])))
    with pytest.raises(RewardSpecError, match=r'bad.yaml: stages\[0\].predicate: unknown type'):
        load_spec(p)


@pytest.mark.libero
def test_every_libero_object_task_has_a_valid_spec():
    from tgrpo_ros.sim.libero_env import _benchmark
    bench = _benchmark('libero_object')
    assert bench.n_tasks == 10
    for i in range(bench.n_tasks):
        name = bench.get_task(i).name
        path = spec_path('libero_object', name)
        assert path.exists(), f'no reward spec for {name}'
        spec = load_spec(path)
        assert spec.task == f'libero_object/{name}' and spec.num_stages == 5
        bound = validate_spec_for_bddl(spec, bench.get_task_bddl_file_path(i))
        target = spec.roles['target']
        assert name.startswith(f'pick_up_the_{target[:-2]}_'), (name, target)
        assert isinstance(bound, StagedReward)
