# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Each goal predicate kind, in the live simulator.

Put the scene in the goal state by setting object poses and fixture joints directly, and see
LIBERO's own success and the spec's last stage.

One module, one LIBERO environment at a time (each holds ~2.2 GB), closed before the next.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import yaml

from tgrpo_ros.sim.libero_env import LiberoEnv
from tgrpo_ros.sim.reward_spec import load_spec, spec_path

WAIT = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.0])
SETTLE_STEPS = 30


def _on_top(state, region: str, dz: float) -> np.ndarray:
    r = state.regions[region]
    return r.center + np.array([0.0, 0.0, r.half_size[2] + dz])


def _in_region(state, region: str) -> np.ndarray:
    r = state.regions[region]
    return r.center - np.array([0.0, 0.0, r.half_size[2] - 0.01])  # near its floor


def _open_drawer_put_bowl(env, s):
    env.set_joint_positions({'wooden_cabinet_1_top_level': -0.15})
    env.set_object_pose('akita_black_bowl_1',
                        _in_region(env.sim_state(), 'wooden_cabinet_1_top_region'))


def _mug_in_closed_microwave(env, s):
    env.set_object_pose('white_yellow_mug_1', _in_region(s, 'microwave_1_heating_region'))
    env.set_joint_positions(dict.fromkeys(s.articulations['microwave_1'].joints, 0.0))


def _stove_on_moka_on_it(env, s):
    env.set_joint_positions({'flat_stove_1_button': 1.0})
    env.set_object_pose('moka_pot_1', _on_top(s, 'flat_stove_1_cook_region', 0.02))


# (kind, suite, task, how to reach the goal state)
CASES = [
    ('Open (drawer)', 'libero_goal', 'open_the_middle_drawer_of_the_cabinet',
     lambda env, s: env.set_joint_positions({'wooden_cabinet_1_middle_level': -0.15})),
    # LIBERO's Close of a drawer needs its joint past 0 (the range ends at +0.01)
    ('Close (drawer)', 'libero_90', 'KITCHEN_SCENE10_close_the_top_drawer_of_the_cabinet',
     lambda env, s: env.set_joint_positions({'wooden_cabinet_1_top_level': 0.006})),
    ('TurnOn (stove knob)', 'libero_goal', 'turn_on_the_stove',
     lambda env, s: env.set_joint_positions({'flat_stove_1_button': 1.0})),
    ('TurnOff (stove knob)', 'libero_90', 'KITCHEN_SCENE8_turn_off_the_stove',
     lambda env, s: env.set_joint_positions({'flat_stove_1_button': -0.003})),
    ('On (region of a fixture)', 'libero_goal', 'put_the_bowl_on_the_stove',
     lambda env, s: env.set_object_pose('akita_black_bowl_1',
                                        _on_top(s, 'flat_stove_1_cook_region', 0.02))),
    ('On another object (stack)', 'libero_goal', 'put_the_bowl_on_the_plate',
     lambda env, s: env.set_object_pose('akita_black_bowl_1',
                                        s.objects['plate_1'].pos + [0.0, 0.0, 0.03])),
    ('push to a region', 'libero_goal', 'push_the_plate_to_the_front_of_the_stove',
     lambda env, s: env.set_object_pose('plate_1',
                                        _on_top(s, 'main_table_stove_front_region', 0.01))),
    ('In (a drawer, opened first)', 'libero_goal', 'open_the_top_drawer_and_put_the_bowl_inside',
     _open_drawer_put_bowl),
    ('In + Close (microwave, reordered)', 'libero_10',
     'KITCHEN_SCENE6_put_the_yellow_and_white_mug_in_the_microwave_and_close_it',
     _mug_in_closed_microwave),
    ('TurnOn + On (conjunction)', 'libero_10',
     'KITCHEN_SCENE3_turn_on_the_stove_and_put_the_moka_pot_on_it', _stove_on_moka_on_it),
]


@pytest.mark.parametrize('kind,suite,task,to_goal', CASES, ids=[c[0] for c in CASES])
def test_goal_state_reaches_libero_success_and_the_last_stage(kind, suite, task, to_goal):
    spec = load_spec(spec_path(suite, task))
    assert spec.version == 2 and spec.generated, f'{suite}/{task}: expected a generated spec'
    with LiberoEnv(suite, task, cameras=()) as env:
        env.reset(0)
        s = env.sim_state()
        first = env.reward(s)
        assert not s.success and first.stage < first.num_stages == spec.num_stages
        to_goal(env, s)
        out = None
        for _ in range(SETTLE_STEPS):  # let the moved object settle; stops on success
            _, out = env.step(WAIT)
            if out.done:
                break
        s = env.sim_state()
        assert out.success and s.success, f'{kind}: LIBERO does not see the goal state'
        assert out.stage == out.num_stages == spec.num_stages, (
            f'{kind}: stage {out.stage} of {out.num_stages}; stage predicates '
            f'{env.reward.stage_predicates(s)}')
        assert env.reward.stage_predicates(s)[-1]
        assert out.reward == pytest.approx(spec.num_stages + spec.success_bonus)


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, '-m', 'tgrpo_ros.commands.cli', 'reward-spec', *args],
                          capture_output=True, text=True, timeout=600)


def test_validate_command_binds_a_spec_to_the_live_environment(tmp_path):
    out = _cli('validate', '--suite', 'libero_goal', '--task', 'turn_on_the_stove')
    assert out.returncode == 0, out.stderr[-2000:]
    assert 'libero_goal/turn_on_the_stove' in out.stdout and '(generated)' in out.stdout
    assert ' 3. [ ] turn on flat_stove_1' in out.stdout and 'stage 0/3' in out.stdout
    # a spec asking a drawer to turn on is refused with the stage and the fixture's states
    bad = tmp_path / 'bad.yaml'
    bad.write_text(yaml.safe_dump({
        'version': 2, 'task': 'libero_goal/turn_on_the_stove',
        'stages': [{'name': 'knob', 'predicate': {
            'turned_on': {'fixture': 'wooden_cabinet_1_top_region'}}}]}))
    out = _cli('validate', '--suite', 'libero_goal', '--task', 'turn_on_the_stove',
               '--spec', str(bad))
    assert out.returncode == 1
    assert 'stages[0] (knob)' in out.stderr and "has no state 'on'" in out.stderr


def test_generate_command_writes_and_keeps_hand_written_specs(tmp_path):
    from tgrpo_ros.commands.reward_spec import main
    out = tmp_path / 'goal'
    out.mkdir()
    mine = out / 'turn_on_the_stove.yaml'
    mine.write_text('# hand-written\nversion: 1\ntask: libero_goal/turn_on_the_stove\n'
                    'stages: []\n')
    assert main(['generate', '--suite', 'libero_goal', '--out', str(out)]) == 0
    assert len(list(out.glob('*.yaml'))) == 10
    assert mine.read_text().startswith('# hand-written')  # kept, not regenerated
    assert main(['generate', '--suite', 'libero_goal', '--out', str(out), '--check']) == 0
    (out / 'put_the_bowl_on_the_plate.yaml').write_text('version: 2\ngenerated: old\n')
    assert main(['generate', '--suite', 'libero_goal', '--out', str(out), '--check']) == 1
