# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""GroupBatcher (tgrpo_ros.policy.batching) with a fake clock: the policy node's batching rule.

The ROS test (test/ros/test_policy_batching.py) checks the same three promises with real
processes: no observation waits more than the window, a dead environment delays its group by
at most the window, a group arriving together is answered by one forward pass.
"""

import heapq
import random

from hypothesis import given, settings
from hypothesis import strategies as st
import pytest

from tgrpo_ros.policy.batching import GroupBatcher

W = 0.05


def _envs(n):
    return [f'env{i}' for i in range(n)]


def _add_step(b, envs, step, group, now, episode=1):
    for e in envs:
        b.add(e, episode, step, group, (e, step), now)


def test_a_group_arriving_together_is_one_batch_once_its_environments_are_known():
    b = GroupBatcher(W, max_batch=16)
    # First group, first step: nothing says how many environments it has, so each observation
    # that arrives with no other member known is answered at once.
    b.add('env0', 1, 0, 7, 'a', 0.0)
    assert [x.items for x in b.take(0.0, complete_only=True)] == [['a']]
    b.add('env1', 1, 0, 7, 'b', 0.001)
    assert [x.items for x in b.take(0.001, complete_only=True)] == [['b']]
    # From then on both are expected: one batch per step, complete before the window closes.
    for step in range(1, 4):
        t = step * 0.1
        b.add('env1', 1, step, 7, ('env1', step), t)
        assert b.take(t, complete_only=True) == []
        b.add('env0', 1, step, 7, ('env0', step), t + 0.002)
        (batch,) = b.take(t + 0.002, complete_only=True)
        assert batch.complete and batch.group_id == 7
        assert batch.items == [('env0', step), ('env1', step)]  # env id order, not arrival
    # The next group of the same environments: batched from its first step (expected size 2).
    b.add('env0', 2, 0, 8, 'c', 1.0)
    assert b.take(1.0, complete_only=True) == []
    b.add('env1', 2, 0, 8, 'd', 1.0)
    assert [x.items for x in b.take(1.0, complete_only=True)] == [['c', 'd']]


def test_a_dead_environment_delays_its_group_by_one_window_once():
    b = GroupBatcher(W, max_batch=16)
    envs = _envs(3)
    _add_step(b, envs, 0, 1, 0.0)
    b.take(0.0)
    _add_step(b, envs, 1, 1, 0.1)
    assert len(b.take(0.1, complete_only=True)) == 1
    # env2 dies after step 1: step 2 of the others waits for it until the window closes ...
    _add_step(b, envs[:2], 2, 1, 0.2)
    assert b.take(0.2, complete_only=True) == []
    assert b.next_deadline() == pytest.approx(0.2 + W)
    assert b.take(0.2 + W - 1e-6) == []
    (late,) = b.take(0.2 + W)
    assert not late.complete and len(late.items) == 2
    # ... and then no more: it missed a window, so it is not waited for until it sends again.
    for step in range(3, 6):
        _add_step(b, envs[:2], step, 1, step * 0.1)
        (batch,) = b.take(step * 0.1, complete_only=True)
        assert batch.complete and len(batch.items) == 2
    # The next group expects 3 (the previous group's size): env2 costs one window at step 0.
    _add_step(b, envs[:2], 0, 2, 1.0, episode=2)
    assert b.take(1.0, complete_only=True) == []
    assert len(b.take(1.0 + W)[0].items) == 2
    _add_step(b, envs[:2], 1, 2, 1.1, episode=2)
    assert len(b.take(1.1, complete_only=True)) == 1


def test_an_ended_episode_is_not_waited_for():
    b = GroupBatcher(W, max_batch=16)
    envs = _envs(2)
    _add_step(b, envs, 0, 3, 0.0)
    b.take(0.0)
    b.ended('env1', 1, 3)  # its done step result
    b.add('env0', 1, 1, 3, 'x', 0.1)
    assert [x.items for x in b.take(0.1, complete_only=True)] == [['x']]
    b.ended('env0', 2, 3)  # another episode's end changes nothing
    b.add('env1', 2, 0, 4, 'y', 0.2)  # env1 moved on to group 4: gone from group 3
    b.take(0.2)
    b.add('env0', 1, 2, 3, 'z', 0.3)
    assert [x.items for x in b.take(0.3, complete_only=True)] == [['z']]


def test_a_straggler_is_answered_without_waiting_for_the_next_step_of_the_others():
    b = GroupBatcher(W, max_batch=16)
    envs = _envs(2)
    _add_step(b, envs, 0, 1, 0.0)
    b.take(0.0)
    b.add('env0', 1, 1, 1, 'a1', 0.1)
    assert [x.items for x in b.take(0.1 + W)] == [['a1']]  # env1 missed the window
    b.add('env1', 1, 1, 1, 'b1', 0.1 + 2 * W)  # late, but alive: env0 is ahead, go at once
    assert [x.items for x in b.take(0.1 + 2 * W, complete_only=True)] == [['b1']]
    # Step 2: env0 waits for env1 again (it sent, so it is expected again); it comes soon.
    b.add('env0', 1, 2, 1, 'a2', 0.3)
    assert b.take(0.3, complete_only=True) == []
    b.add('env1', 1, 2, 1, 'b2', 0.3 + W / 2)
    assert [x.items for x in b.take(0.3 + W / 2, complete_only=True)] == [['a2', 'b2']]


def test_window_zero_is_the_old_rule_and_group_zero_is_not_a_group():
    b = GroupBatcher(0.0, max_batch=3)
    _add_step(b, _envs(2), 0, 1, 0.0)
    b.add('env5', 1, 0, 2, 'other', 0.0)
    assert b.take(0.0, complete_only=True) == []  # nothing waits for a group
    assert sorted(len(x.items) for x in b.take(0.0)) == [1, 2]  # per group, whatever is in
    b = GroupBatcher(W, max_batch=16)
    _add_step(b, _envs(2), 0, 0, 0.0)
    _add_step(b, _envs(2), 0, 0, 1.0)  # previous group 0 had 2: still not waited for
    assert b.take(1.0, complete_only=True) == []
    assert [len(x.items) for x in b.take(1.0)] == [2]


def test_a_group_larger_than_max_batch_is_split_and_newer_observations_replace_older():
    b = GroupBatcher(W, max_batch=2)
    _add_step(b, _envs(5), 0, 1, 0.0)
    b.add('env0', 1, 0, 1, 'newer', 0.0)
    batches = b.take(0.0, complete_only=True)
    assert [len(x.items) for x in batches] == [2, 2, 1]
    assert batches[0].items[0] == 'newer'
    with pytest.raises(ValueError, match='window_s'):
        GroupBatcher(-1.0, 4)


def _simulate(rng, n_envs, window, groups, steps, dead_at, slow):
    """Event simulation: env i steps ``dt`` after its action; returns per-observation holds.

    dead_at: {env index: step} an environment sends nothing from; slow: extra step time.
    A forward pass is instantaneous, so a hold is the batching delay alone.
    """
    b = GroupBatcher(window, max_batch=16)
    events = []  # (time, seq, env, group, step)
    seq = 0
    holds, windows_closed, batches = [], {}, 0
    arrived = {}
    now = 0.0
    for g in range(1, groups + 1):
        start = now + 1.0
        for i in range(n_envs):
            if dead_at.get(i, steps) > 0:
                heapq.heappush(events, (start + rng.uniform(0, 0.01), seq, i, g, 0))
                seq += 1
        while events or b.waiting():
            deadline = b.next_deadline()
            if events and (deadline is None or events[0][0] <= deadline):
                now, _, i, grp, step = heapq.heappop(events)
                b.add(f'env{i}', grp, step, grp, (i, step), now)
                arrived[(i, grp, step)] = now
                ready = b.take(now, complete_only=True)
            else:
                now = deadline
                ready = b.take(now)
            for batch in ready:
                batches += 1
                windows_closed[batch.group_id] = windows_closed.get(batch.group_id, 0) + (
                    not batch.complete)
                for i, step in batch.items:
                    holds.append(now - arrived[(i, batch.group_id, step)])
                    nxt = step + 1
                    if nxt < steps and dead_at.get(i, steps) > nxt:
                        dt = 0.04 + rng.uniform(0, 0.01) + slow.get(i, 0.0)
                        heapq.heappush(events, (now + dt, seq, i, batch.group_id, nxt))
                        seq += 1
    return holds, windows_closed, batches


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10 ** 6), n_envs=st.integers(1, 6),
       window=st.sampled_from([0.0, 0.005, 0.02, 0.05]), dead=st.booleans(),
       slow=st.floats(0.0, 0.1))
def test_no_observation_is_held_longer_than_the_window(seed, n_envs, window, dead, slow):
    rng = random.Random(seed)
    dead_at = {n_envs - 1: rng.randint(0, 5)} if dead and n_envs > 1 else {}
    holds, _, _ = _simulate(rng, n_envs, window, groups=3, steps=12, dead_at=dead_at,
                            slow={0: slow})
    assert holds and max(holds) <= window + 1e-9


@pytest.mark.parametrize('n_envs', [2, 4])
def test_a_dead_environment_costs_its_group_at_most_one_window(n_envs):
    rng = random.Random(3)
    holds, closed, _ = _simulate(rng, n_envs, 0.02, groups=3, steps=30,
                                 dead_at={n_envs - 1: 4}, slow={})
    assert max(holds) <= 0.02 + 1e-9
    # Group 1 waits once when it dies; groups 2 and 3 once each at step 0 (it was in group 1).
    assert all(v <= 1 for v in closed.values()), closed


def test_lockstep_environments_share_one_forward_per_step():
    rng = random.Random(0)
    n, steps, groups = 4, 20, 3
    _, _, batches = _simulate(rng, n, 0.02, groups=groups, steps=steps, dead_at={}, slow={})
    # Every step of every group one batch, except the first step of the first group, where
    # the environments are not known yet (at most one batch each).
    assert batches <= groups * steps + (n - 1)
