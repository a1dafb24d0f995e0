# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Reward specs: the reward formula on hand-made states, validation errors, the shipped specs."""

from pathlib import Path

import numpy as np
import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from tgrpo_ros.sim.reward_spec import (load_reward_for_task, load_spec, MissingSpecError,
                                       parse_spec, RewardSpecError, spec_path, StagedReward,
                                       SuccessReward, validate_spec_for_bddl)
from tgrpo_ros.sim.sim_state import (Articulation, LEFT_FINGER, ObjectPose, Region,
                                     RIGHT_FINGER, SimState)

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


# -- version 2: fixtures, on/stacked, pushed, combinations (hand-made states) ------------------
DRAWER = 'cabinet_1_top_region'


def fixture_state(drawer_q=0.0, knob_q=0.0, bowl=(0.0, -0.2, 0.03), plate=(0.2, 0.0, 0.01),
                  contacts=(), eef=(0.0, 0.0, 0.3)):
    objects = {'bowl_1': box(bowl, (0.04, 0.04, 0.03)),
               'plate_1': box(plate, (0.08, 0.08, 0.01)),
               'cabinet_1': box((0.0, 0.3, 0.15), (0.1, 0.1, 0.15))}
    regions = {'stove_1_cook_region': Region(np.array([-0.2, 0.0, 0.02]),
                                             np.array([0.07, 0.07, 0.0025]), 'stove_1'),
               'table_front_region': Region(np.array([0.0, -0.2, 0.0]),
                                            np.array([0.05, 0.05, 0.007]), ''),
               DRAWER: Region(np.array([0.0, 0.3 + drawer_q, 0.25]),
                              np.array([0.1, 0.07, 0.03]), 'cabinet_1',
                              joints=('cabinet_1_top_level',))}
    drawer = Articulation(('cabinet_1_top_level',), np.array([drawer_q]),
                          {'open': drawer_q < -0.14, 'closed': drawer_q > 0.0},
                          {'open': -0.14, 'closed': 0.0}, np.array([0.0, 0.18 + drawer_q, 0.25]))
    knob = Articulation(('stove_1_button',), np.array([knob_q]),
                        {'on': knob_q >= 0.5, 'off': knob_q < 0.0}, {'on': 0.5, 'off': 0.0},
                        np.array([-0.3, 0.0, 0.03]))
    return SimState(objects=objects, regions=regions, eef_pos=np.asarray(eef, float),
                    eef_quat=np.array([1.0, 0, 0, 0]), gripper_qpos=np.array([0.04, -0.04]),
                    gripper_opening=0.08,
                    contacts=frozenset(frozenset(c) for c in contacts),
                    articulations={DRAWER: drawer, 'stove_1': knob})


FIXTURE_OBJECTS = ['bowl_1', 'plate_1', 'cabinet_1', 'stove_1']
FIXTURE_REGIONS = ['stove_1_cook_region', 'table_front_region', DRAWER]
ARTICULATIONS = {DRAWER: ('open', 'closed'), 'stove_1': ('on', 'off')}


def bind_v2(stages):
    spec = parse_spec({'version': 2, 'task': 'x/y', 'stages': stages})
    r = StagedReward(spec, FIXTURE_OBJECTS, FIXTURE_REGIONS, ARTICULATIONS)
    r.reset(fixture_state())
    return r


def holds(reward, s):
    return reward.stage_predicates(s)


def test_fixture_predicates_follow_the_joints():
    r = bind_v2([
        {'name': 'reach', 'predicate': {'near': {'a': 'gripper', 'b': f'{DRAWER}.handle',
                                                 'within': 0.05}}},
        {'name': 'half', 'predicate': {'articulated': {'fixture': DRAWER, 'toward': 'open',
                                                       'fraction': 0.5}},
         'progress': {'articulate': {'fixture': DRAWER, 'toward': 'open'}}},
        {'name': 'open', 'predicate': {'open': {'fixture': DRAWER}}},
        {'name': 'closed', 'predicate': {'closed': {'fixture': DRAWER}}},
        {'name': 'on', 'predicate': {'turned_on': {'fixture': 'stove_1'}}},
        {'name': 'off', 'predicate': {'turned_off': {'fixture': 'stove_1'}}},
    ])
    assert holds(r, fixture_state(eef=(0.0, 0.18, 0.27))) == [True] + [False] * 5
    assert holds(r, fixture_state(drawer_q=-0.08)) == [False, True] + [False] * 4
    assert holds(r, fixture_state(drawer_q=-0.15)) == [False, True, True, False, False, False]
    assert holds(r, fixture_state(drawer_q=0.004, knob_q=-0.002))[3:] == [True, False, True]
    assert holds(r, fixture_state(knob_q=1.0))[4:] == [True, False]
    # the handle moves with the drawer: reaching it at the closed position no longer counts
    assert not holds(r, fixture_state(drawer_q=-0.15, eef=(0.0, 0.18, 0.27)))[0]
    # progress toward 'half' is the fraction of the way from closed (0) to open (-0.14)
    res = r(fixture_state(drawer_q=-0.035, eef=(0.0, 0.18, 0.27)))
    assert res.stage == 1 and res.progress == pytest.approx(0.25)


def test_on_stacked_pushed_and_combinations():
    r = bind_v2([
        {'name': 'on stove', 'predicate': {'on': {'object': 'bowl_1',
                                                  'support': 'stove_1_cook_region'}}},
        {'name': 'stacked', 'predicate': {'stacked': {'object': 'bowl_1', 'support': 'plate_1'}}},
        {'name': 'pushed', 'predicate': {'pushed': {'object': 'bowl_1', 'distance': 0.02}}},
        {'name': 'not on', 'predicate': {'not': {'on': {'object': 'bowl_1',
                                                        'support': 'table_front_region'}}}},
        {'name': 'any', 'predicate': {'any': [{'open': {'fixture': DRAWER}},
                                              {'turned_on': {'fixture': 'stove_1'}}]}},
        {'name': 'all', 'predicate': {'all': [{'pushed': {'object': 'bowl_1', 'distance': 0.02}},
                                              {'turned_on': {'fixture': 'stove_1'}}]}},
    ])
    # on a fixture's region: within its footprint, just above it, touching the fixture
    on_stove = (-0.2, 0.01, 0.03)
    assert holds(r, fixture_state(bowl=on_stove, contacts=[('bowl_1', 'stove_1')]))[0]
    assert not holds(r, fixture_state(bowl=on_stove))[0]                  # not touching
    assert not holds(r, fixture_state(bowl=(-0.2, 0.01, 0.2),
                                      contacts=[('bowl_1', 'stove_1')]))[0]  # far above
    # stacking: touching, not below, roots within 3 cm
    assert holds(r, fixture_state(bowl=(0.21, 0.0, 0.04), contacts=[('bowl_1', 'plate_1')]))[1]
    assert not holds(r, fixture_state(bowl=(0.25, 0.0, 0.04),
                                      contacts=[('bowl_1', 'plate_1')]))[1]
    # pushed: moved 2 cm on the table without a grasp; not when lifted or held
    assert holds(r, fixture_state(bowl=(0.03, -0.2, 0.03)))[2]
    assert not holds(r, fixture_state(bowl=(0.01, -0.2, 0.03)))[2]
    assert not holds(r, fixture_state(bowl=(0.03, -0.2, 0.1)))[2]
    assert not holds(r, fixture_state(bowl=(0.03, -0.2, 0.03), contacts=GRASP_BOWL))[2]
    # a table region has no owner to touch; 'not' inverts it
    assert not holds(r, fixture_state())[3]
    assert holds(r, fixture_state(bowl=(0.0, 0.0, 0.03)))[3]
    assert holds(r, fixture_state(drawer_q=-0.15))[4:] == [True, False]
    assert holds(r, fixture_state(bowl=(0.03, -0.2, 0.03), knob_q=1.0))[4:] == [True, True]


GRASP_BOWL = ((LEFT_FINGER, 'bowl_1'), (RIGHT_FINGER, 'bowl_1'))


@pytest.mark.parametrize('stage,message', [
    ({'turned_on': {'fixture': DRAWER}}, "has no state 'on'"),
    ({'open': {'fixture': 'plate_1'}}, "'plate_1' is not a fixture or region that opens"),
    ({'stacked': {'object': 'bowl_1', 'support': 'table_front_region'}}, 'is not an object'),
    ({'near': {'a': 'gripper', 'b': 'plate_1.handle', 'within': 0.1}}, 'a handle names a fixture'),
])
def test_v2_names_are_checked_when_bound(stage, message):
    with pytest.raises(RewardSpecError, match=message):
        bind_v2([{'name': 'x', 'predicate': stage}])


def test_a_task_without_a_spec_is_an_error_naming_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv('TGRPO_ROS_REWARDS_DIR', str(tmp_path))
    with pytest.raises(MissingSpecError, match=r'task libero_goal/turn_on_the_stove has no '
                                               r'reward spec.*tgrpo-ros reward-spec generate '
                                               r'--suite libero_goal.*success_only'):
        load_reward_for_task('auto', 'libero_goal', 'turn_on_the_stove', OBJECTS, REGIONS)
    assert isinstance(load_reward_for_task('success_only', 'libero_goal', 'turn_on_the_stove',
                                           OBJECTS, REGIONS), SuccessReward)


# -- generation from BDDL goals ------------------------------------------------------------------
GENERATED_SUITES = ('libero_spatial', 'libero_goal', 'libero_10', 'libero_90')


@pytest.mark.libero
def test_generated_specs_are_committed_up_to_date_and_valid():
    from tgrpo_ros.sim.reward_generation import generate_suite
    for suite in GENERATED_SUITES + ('libero_object',):
        report = generate_suite(suite, dry_run=True)
        assert not report.failed, report.failed
        assert not report.written, f'{suite}: stale or missing specs {report.written}; run ' \
                                   f'tgrpo-ros reward-spec generate --suite {suite}'
        n = 90 if suite == 'libero_90' else 10
        assert len(report.unchanged) + len(report.hand_written) == n
        if suite == 'libero_object':
            assert len(report.hand_written) == 10  # the hand-written specs win


@pytest.mark.libero
def test_generated_stages_follow_the_goal():
    from tgrpo_ros.sim.bddl_task import read_bddl_task
    from tgrpo_ros.sim.reward_generation import bddl_file_of, spec_for_task

    def names(suite, task):
        spec = spec_for_task(suite, task, read_bddl_task(bddl_file_of(suite, task)))
        return [s['name'].split()[0] for s in spec['stages']], spec

    got, _ = names('libero_spatial', 'pick_up_the_black_bowl_on_the_ramekin_and_place_it_on_'
                                     'the_plate')
    assert got == ['reach', 'grasp', 'lift', 'carry', 'stack']
    got, _ = names('libero_goal', 'push_the_plate_to_the_front_of_the_stove')
    assert got == ['reach', 'push', 'plate_1']
    # BDDL lists the Close first; the bowl goes in before the drawer is closed
    got, spec = names('libero_10', 'KITCHEN_SCENE4_put_the_black_bowl_in_the_bottom_drawer_of_'
                                   'the_cabinet_and_close_it')
    assert got == ['reach', 'grasp', 'lift', 'carry', 'place', 'reach', 'push', 'close']
    assert 'inside' in spec['stages'][-1]['predicate']['all'][0]  # gated on the first goal
    # the goal states only the In; the closed drawer is opened first
    got, spec = names('libero_goal', 'open_the_top_drawer_and_put_the_bowl_inside')
    assert got == ['reach', 'pull', 'open', 'reach', 'grasp', 'lift', 'carry', 'place']
    assert list(spec['stages'][-1]['predicate']) == ['inside']  # the final test is LIBERO's


def test_a_task_without_a_spec_refuses_to_train(tmp_path, monkeypatch):
    from tgrpo_ros.training.driver import train_in_process
    from tgrpo_ros.training.settings import SimTrainSettings
    monkeypatch.setenv('TGRPO_ROS_REWARDS_DIR', str(tmp_path / 'no_specs'))
    flat = {'policy.model': 'tiny:test', 'policy.lora_rank': 4, 'run.iterations': 1,
            'env.suite': 'libero_goal', 'env.tasks': ['turn_on_the_stove'],
            'env.max_steps': 4, 'env.image_size': 32, 'run.output_dir': str(tmp_path / 'run'),
            'algo.group_size': 2, 'policy.torch_threads': 1}
    with pytest.raises(MissingSpecError, match=r'libero_goal/turn_on_the_stove has no reward '
                                               r'spec.*reward-spec generate --suite libero_goal'):
        train_in_process(SimTrainSettings.from_flat(flat), log=lambda s: None)
    # asking for the success-only reward by name passes the same check
    from tgrpo_ros.sim.libero_env import check_reward_spec
    check_reward_spec('libero_goal', 'turn_on_the_stove', 'success_only')
    with pytest.raises(MissingSpecError):
        check_reward_spec('libero_goal', 'turn_on_the_stove', 'dense')
