# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The reward rebuilt from perceived poses agrees with the simulator's own reward."""

import numpy as np
import pytest
import yaml

from tgrpo_ros.sim.expert import ScriptedExpert
from tgrpo_ros.sim.libero_env import LiberoEnv
from tgrpo_ros.sim.perceived_state import (GraspInference, PerceivedStateBuilder, TaskGeometry,
                                           WORLD)
from tgrpo_ros.sim.reward_spec import StagedReward
from tgrpo_ros.sim.sim_state import ObjectPose, Region, SimState

TASK = 'pick_up_the_alphabet_soup_and_place_it_in_the_basket'


def perceived_inputs(s: SimState):
    """Return what perception and the joint states give: poses and finger positions only."""
    return (s.eef_pos, s.eef_quat, {k: (o.pos, o.quat) for k, o in s.objects.items()},
            s.gripper_qpos)


@pytest.mark.libero
def test_perceived_stage_matches_the_simulator_on_ten_expert_episodes():
    env = LiberoEnv('libero_object', TASK, cameras=())
    try:
        same = total = 0
        per_episode = []
        for episode in range(10):
            env.reset(init_state_index=episode)
            start = env.sim_state()
            geometry = TaskGeometry.from_sim_state(start)
            builder = PerceivedStateBuilder(geometry, goal=start.goal)
            reward = StagedReward(env.reward.spec, list(start.objects), list(start.regions))
            reward.reset(builder.build(*perceived_inputs(start)))
            expert = ScriptedExpert()
            agree = steps = 0
            while not env.done:
                _, out = env.step(expert.act(env.sim_state()))
                seen = reward(builder.build(*perceived_inputs(env.sim_state())))
                agree += seen.stage == out.stage
                steps += 1
            assert out.success
            per_episode.append(agree / steps)
            same, total = same + agree, total + steps
        assert same / total >= 0.95, per_episode
        assert min(per_episode) >= 0.85, per_episode
    finally:
        env.close()


def _state(obj_pos, eef, opening):
    box = ObjectPose(pos=np.asarray(obj_pos, float), quat=np.array([0, 0, 0, 1.0]),
                     bbox_min=np.asarray(obj_pos) - 0.02, bbox_max=np.asarray(obj_pos) + 0.02,
                     half_size=np.full(3, 0.02))
    return SimState(objects={'can_1': box},
                    regions={'bin': Region(center=np.array([0.3, 0, 0.05]),
                                           half_size=np.full(3, 0.05), parent='world')},
                    eef_pos=np.asarray(eef, float), eef_quat=np.array([0, 0, 0, 1.0]),
                    gripper_qpos=np.array([opening / 2, -opening / 2]),
                    gripper_opening=opening, goal=(('In', 'can_1', 'bin'),))


def test_grasp_needs_closed_fingers_and_the_object_following_the_hand():
    geo = TaskGeometry.from_sim_state(_state([0, 0, 0.02], [0, 0, 0.02], 0.08))
    assert geo.regions['bin'].parent == WORLD
    b = PerceivedStateBuilder(geo, goal=(('In', 'can_1', 'bin'),))
    ident = np.array([0, 0, 0, 1.0])

    def step(obj, eef, opening):
        return b.build(eef, ident, {'can_1': (obj, ident)}, [opening / 2, -opening / 2])

    assert not step([0, 0, 0.02], [0, 0, 0.02], 0.08).grasped('can_1')  # open
    assert not step([0, 0, 0.02], [0, 0, 0.02], 0.05).grasped('can_1')  # still closing
    assert step([0, 0, 0.02], [0, 0, 0.02], 0.04).grasped('can_1') is False  # still closing
    assert step([0, 0, 0.02], [0, 0, 0.02], 0.04).grasped('can_1')  # stopped on the can
    assert step([0, 0, 0.07], [0, 0, 0.07], 0.04).grasped('can_1')  # lifted with the hand
    s = step([0, 0, 0.07], [0, 0, 0.12], 0.04)  # the hand moved on, the can did not
    assert not s.grasped('can_1')
    assert not step([0, 0, 0.07], [0, 0, 0.07], 0.0).grasped('can_1')  # closed on nothing
    assert step([0.3, 0, 0.03], [0.3, 0, 0.2], 0.08).success  # in the bin: LIBERO's In


def test_geometry_round_trips_and_bad_geometry_is_named():
    geo = TaskGeometry.from_sim_state(_state([0.1, 0.2, 0.02], [0, 0, 0.3], 0.08))
    again = TaskGeometry.from_dict(yaml.safe_load(yaml.safe_dump(geo.to_dict())))
    np.testing.assert_allclose(again.objects['can_1'].half_size, 0.02)
    np.testing.assert_allclose(again.regions['bin'].offset, [0.3, 0, 0.05])
    with pytest.raises(ValueError, match=r'objects.can_1.half_size'):
        TaskGeometry.from_dict({'objects': {'can_1': {'half_size': [0.1, float('nan'), 0]}}})
    with pytest.raises(ValueError, match=r"regions.bin.parent: 'plate_1'"):
        TaskGeometry.from_dict({'objects': {}, 'regions': {'bin': {
            'parent': 'plate_1', 'offset': [0, 0, 0], 'size': [1, 1, 1]}}})
    b = PerceivedStateBuilder(geo)
    with pytest.raises(ValueError, match='no pose for object'):
        b.build([0, 0, 0], [0, 0, 0, 1], {}, [0.04, -0.04])
    assert GraspInference().empty_width < GraspInference().open_width


def test_poses_in_a_robot_base_frame_give_the_same_regions_as_in_the_world():
    world = _state([0.3, 0.02, 0.03], [0.3, 0, 0.2], 0.08)
    t = np.array([-0.5, 0.1, 0.9])
    rz = np.array([[0.0, -1, 0], [1, 0, 0], [0, 0, 1]])  # the base turned 90 deg about z
    geo = TaskGeometry.from_sim_state(world, base_pos=t, base_rot=rz)
    b = PerceivedStateBuilder(geo, goal=world.goal)
    q = np.array([0, 0, np.sin(np.pi / 4), np.cos(np.pi / 4)])  # rz, expressed as (x, y, z, w)
    obj_base = rz.T @ (world.objects['can_1'].pos - t)
    s = b.build(rz.T @ (world.eef_pos - t), q, {'can_1': (obj_base, q)}, [0.04, -0.04])
    np.testing.assert_allclose(s.regions['bin'].center, rz.T @ (np.array([0.3, 0, 0.05]) - t))
    np.testing.assert_allclose(s.regions['bin'].half_size, 0.05)
    assert s.in_region('can_1', 'bin') and s.success
    moved = b.build(rz.T @ (world.eef_pos - t), q, {'can_1': (obj_base + [0, 0.2, 0], q)},
                    [0.04, -0.04])
    assert not moved.success
