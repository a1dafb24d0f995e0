# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""EnvGroup: N real LIBERO environments in worker processes, same initial state, failures."""

import os
import signal
import time

import numpy as np
import pytest

from tgrpo_ros.sim.env_group import EnvGroup, WorkerError

pytestmark = pytest.mark.libero


@pytest.fixture(scope='module')
def group():
    g = EnvGroup(2, suite='libero_object', task=3, cameras=('agentview',), image_size=32,
                 timeout_s=60)
    yield g
    g.close()


def test_group_resets_to_the_same_state_and_steps_in_parallel(group):
    assert group.task_id == 'libero_object/pick_up_the_bbq_sauce_and_place_it_in_the_basket'
    obs = group.reset_all(init_state_index=4, seed=7)
    assert len(obs) == 2
    np.testing.assert_allclose(obs[0].state, obs[1].state, atol=1e-5)
    assert np.abs(obs[0].images['agentview'].astype(int)
                  - obs[1].images['agentview']).mean() < 1.0
    s0, s1 = group.sim_states()
    for name in s0.objects:
        np.testing.assert_allclose(s0.objects[name].pos, s1.objects[name].pos, atol=1e-5)
    # Different actions: the two arms go different ways.
    actions = np.zeros((2, 7))
    actions[0, 0], actions[1, 0] = 1.0, -1.0
    for _ in range(5):
        obs, outs = group.step(actions)
    assert all(o is not None and not o.done for o in outs)
    s0, s1 = group.sim_states()
    assert s0.eef_pos[0] - s1.eef_pos[0] > 0.05
    # A masked env is not stepped.
    before = group.sim_states([1])[0].eef_pos.copy()
    obs, outs = group.step(actions, active=[True, False])
    assert obs[1] is None and outs[1] is None and outs[0] is not None
    np.testing.assert_array_equal(group.sim_states([1])[0].eef_pos, before)


def test_bad_input_is_named(group):
    group.reset_all(0)
    with pytest.raises(ValueError, match=r'actions must have shape \(2, 7\)'):
        group.step(np.zeros((3, 7)))
    with pytest.raises(ValueError, match='NaN'):
        group.step(np.full((2, 7), np.nan))
    with pytest.raises(WorkerError, match='worker 0: raised during reset.*init_state_index 99'):
        group.reset(0, 99)
    group.reset_all(1)  # both workers still serve
    with pytest.raises(ValueError, match='num_envs must be >= 1'):
        EnvGroup(0)


def test_a_dead_worker_is_reported_then_restarted(group):
    group.reset_all(2)
    os.kill(group._procs[1].pid, signal.SIGKILL)  # as if MuJoCo had crashed
    time.sleep(0.5)
    t0 = time.monotonic()
    with pytest.raises(WorkerError, match='worker 1: ') as err:
        group.step(np.zeros((2, 7)))
    assert err.value.worker == 1
    assert time.monotonic() - t0 < 30  # reported, not a hang
    assert not group.alive[1] and group.alive[0]
    with pytest.raises(WorkerError, match=r'worker 1: is dead; call restart\(1\)'):
        group.reset_all(2)
    group.restart(1)
    obs = group.reset_all(2)  # a fresh worker starts exactly like the used one
    np.testing.assert_array_equal(obs[0].state, obs[1].state)
    _, outs = group.step(np.zeros((2, 7)))
    assert all(o is not None for o in outs)


def test_a_worker_that_exits_mid_step_is_reported(group):
    group.reset_all(0)
    group._crash(0)
    with pytest.raises(WorkerError, match=r'worker 0: .*(exit code 3|exited with code 3)'):
        group.step(np.zeros((2, 7)))
    group.restart(0)
    group.reset_all(0)


def test_a_stuck_worker_times_out_instead_of_hanging(group):
    group.reset_all(0)
    group._stall(1, 600)
    group.timeout_s = 3.0
    t0 = time.monotonic()
    try:
        with pytest.raises(WorkerError, match=r'worker 1: did not answer within 3 s during step'):
            group.step(np.zeros((2, 7)), active=[False, True])
    finally:
        group.timeout_s = 60.0
    assert time.monotonic() - t0 < 20 and not group.alive[1]  # killed, not left running
    group.restart(1)
    group.reset_all(0)
