# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The LIBERO adapter on a real LIBERO-Object environment (CPU, EGL rendering)."""

import numpy as np
import pytest

from tgrpo_ros.observation import Observation, StepOutcome
from tgrpo_ros.sim.libero_env import (LiberoEnv, MAX_STEPS, NUM_WAIT_STEPS, resolve_task,
                                      STATE_NAMES)
from tgrpo_ros.sim.reward_spec import RewardSpecError

pytestmark = pytest.mark.libero

TASK = 'pick_up_the_alphabet_soup_and_place_it_in_the_basket'
TARGET = 'alphabet_soup_1'


@pytest.fixture(scope='module')
def env():
    e = LiberoEnv('libero_object', TASK, cameras=('agentview', 'wrist'), image_size=64)
    yield e
    e.close()


def test_reset_then_50_actions(env):
    obs = env.reset(init_state_index=3, seed=7)
    assert isinstance(obs, Observation)
    assert obs.task == f'libero_object/{TASK}'
    assert obs.instruction == 'pick up the alphabet soup and place it in the basket'
    assert set(obs.images) == {'agentview', 'wrist'}
    for img in obs.images.values():
        assert img.shape == (64, 64, 3) and img.dtype == np.uint8
        assert img.std() > 5  # a rendered scene, not a blank buffer
    assert obs.state.shape == (len(STATE_NAMES),) and obs.state_names == list(STATE_NAMES)
    q = obs.state[STATE_NAMES.index('eef_quat_x'):STATE_NAMES.index('eef_quat_w') + 1]
    assert abs(np.linalg.norm(q) - 1) < 1e-6
    assert env.max_steps == MAX_STEPS['libero_object'] == 280
    first = obs.images['agentview']
    rng = np.random.default_rng(0)
    eef0 = env.sim_state().eef_pos.copy()
    for t in range(50):
        a = rng.uniform(-1, 1, 7)
        a[2] = 0.5  # drift up so the random arm does not knock objects around
        obs, out = env.step(a)
        assert isinstance(out, StepOutcome)
        assert out.num_stages == 5 and 0 <= out.stage <= 5
        assert 0.0 <= out.reward < out.num_stages + 1
        assert not out.done and out.done_reason == ''
    assert env.steps == 50
    assert np.linalg.norm(env.sim_state().eef_pos - eef0) > 0.05  # the arm moved
    assert np.abs(obs.images['agentview'].astype(int) - first).mean() > 0.5


def test_reset_is_reproducible_and_waits(env):
    env.reset(init_state_index=1)
    a = env.sim_state()
    for _ in range(8):  # end the episode with the gripper closing: must not leak into the next
        env.step([0.5, 0, 0, 0, 0, 0, 1])
    b = env.reset(init_state_index=1)
    c = env.sim_state()
    for name in a.objects:  # exactly: the fixture's first episode, and a reused env
        np.testing.assert_array_equal(a.objects[name].pos, c.objects[name].pos)
    np.testing.assert_array_equal(a.eef_pos, c.eef_pos)
    np.testing.assert_array_equal(a.gripper_qpos, c.gripper_qpos)
    assert env.steps == 0 and b.images['agentview'].shape == (64, 64, 3)
    # The wait steps let the dropped objects settle: nothing is still falling.
    env.step([0, 0, 0, 0, 0, 0, -1])
    d = env.sim_state()
    for name in a.objects:
        assert np.linalg.norm(d.objects[name].pos - c.objects[name].pos) < 2e-3, name
    assert NUM_WAIT_STEPS == 10


def _blob_centroid(img, background):
    diff = np.abs(img.astype(int) - background.astype(int)).sum(axis=2) > 30
    rows, cols = np.nonzero(diff)
    assert rows.size > 5, 'the moved object is not visible'
    return rows.mean(), cols.mean()


def test_images_are_upright(env):
    """Raise the object in the world: it must move up in the image (the floor is below it).

    Left-right: MuJoCo renders come out upside down; the contract flips BOTH axes, as OpenVLA
    did when it regenerated LIBERO's training images, so a checkpoint sees what it was trained
    on. A both-axes flip is a 180-degree rotation, which leaves the view mirrored left-right
    compared with a real camera at the same pose; the test pins that convention too.
    """
    env.reset(0)
    s = env.sim_state()
    p = s.objects[TARGET].pos.copy()
    sim = env._env.env.sim
    cam = sim.model.camera_name2id('agentview')
    # The viewer's right = forward x world up (MuJoCo cameras look along their -z axis).
    forward = -sim.data.cam_xmat[cam].reshape(3, 3)[:, 2]
    right = np.cross(forward, [0.0, 0.0, 1.0])
    right /= np.linalg.norm(right)
    env.set_object_pose(TARGET, [5.0, 5.0, 1.0])  # out of view: the background
    bg = env.render('agentview')
    env.set_object_pose(TARGET, p)
    r0, c0 = _blob_centroid(env.render('agentview'), bg)
    env.set_object_pose(TARGET, p + [0, 0, 0.12])
    r1, c1 = _blob_centroid(env.render('agentview'), bg)
    env.set_object_pose(TARGET, p + 0.10 * right)
    r2, c2 = _blob_centroid(env.render('agentview'), bg)
    assert r1 < r0 - 2, 'up in the world is not up in the image'
    assert c2 < c0 - 2, 'not the OpenVLA (180-degree) convention: expected a mirrored view'


def test_object_in_basket_is_success_at_final_stage(env):
    env.reset(2)
    s = env.sim_state()
    assert not s.success
    r0 = env.reward(s)
    assert r0.stage == 0 and r0.reward < 1.0
    region = s.regions['basket_1_contain_region']
    env.set_object_pose(TARGET, region.center + [0, 0, 0.02])
    out = None
    for _ in range(5):
        _, out = env.step([0, 0, 0, 0, 0, 0, -1])
        if out.done:
            break
    assert out.success and out.done and out.done_reason == 'success'
    assert out.stage == out.num_stages == 5
    assert out.reward == pytest.approx(5 + 1.0)  # final stage, no further progress, bonus 1
    with pytest.raises(RuntimeError, match='episode is over'):
        env.step(np.zeros(7))


def test_sim_state_sees_gripper_and_contacts(env):
    env.reset(0)
    s = env.sim_state()
    assert 0.06 < s.gripper_opening < 0.09  # open after the wait steps
    assert s.touching(TARGET, 'floor') and not s.grasped(TARGET)
    obj = s.objects[TARGET]
    assert obj.bbox_min[2] < 0.01 < obj.bbox_max[2]  # standing on the floor (z = 0)
    for _ in range(15):
        env.step([0, 0, 0, 0, 0, 0, 1])
    assert env.sim_state().gripper_opening < 0.01  # closed on nothing


def test_episode_ends_at_max_steps():
    e = LiberoEnv('libero_object', 0, cameras=(), max_steps=3)
    try:
        obs = e.reset(0)
        assert obs.images == {}
        outs = [e.step(np.zeros(7))[1] for _ in range(3)]
        assert [o.done for o in outs] == [False, False, True]
        assert outs[-1].done_reason == 'max_steps'
    finally:
        e.close()


def test_bad_input_is_named(env):
    env.reset(0)
    with pytest.raises(ValueError, match='shape'):
        env.step(np.zeros(6))
    with pytest.raises(ValueError, match='NaN'):
        env.step([0, 0, np.nan, 0, 0, 0, 0])
    with pytest.raises(IndexError, match='init_state_index 50 out of range'):
        env.reset(50)
    with pytest.raises(ValueError, match="unknown LIBERO suite 'libero_objects'"):
        resolve_task('libero_objects', 0)
    with pytest.raises(ValueError, match="unknown task 'pick_up_the_spam'"):
        resolve_task('libero_object', 'pick_up_the_spam')
    with pytest.raises(IndexError, match='task index 10 out of range'):
        resolve_task('libero_object', 10)
    with pytest.raises(ValueError, match="unknown camera 'topview'"):
        LiberoEnv('libero_object', 0, cameras=('topview',))
    with pytest.raises(ValueError, match="unknown object 'spam_1'"):
        env.set_object_pose('spam_1', [0, 0, 0])
    spec = {'task': f'libero_object/{TASK}', 'stages': [
        {'name': 'grasp', 'predicate': {'grasped': {'object': 'ketchup_1'}}}]}
    with pytest.raises(RewardSpecError, match="unknown object 'ketchup_1'"):
        LiberoEnv('libero_object', TASK, cameras=(), reward_spec=spec)
