# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""GroupRolloutBuffer: completion rules, step ordering, and minibatches over one group."""

import gc
import weakref

import pytest
import torch

from tgrpo_ros.algo import compute_advantages, GroupRolloutBuffer

LP = [-0.5] * 7


def tokens(env, step):
    return [31744 + 10 * env + step] * 7


def add(buf, env, step, reward=0.0, **kwargs):
    buf.add(env, step, ('obs', env, step), tokens(env, step), LP, reward, **kwargs)


def test_first_success_cuts_every_trajectory_at_that_step():
    buf = GroupRolloutBuffer(3, max_steps=10)
    for step in range(2):
        for env in range(3):
            add(buf, env, step)
    add(buf, 0, 2)
    add(buf, 1, 2, reward=5.0, success=True, done=True)
    assert not buf.is_complete  # env 2 has not reached step 2 yet
    assert buf.is_active(2) and not buf.is_active(0) and not buf.is_active(1)
    add(buf, 2, 2)
    assert buf.is_complete
    assert buf.lengths.tolist() == [3, 3, 3]
    assert buf.mask.shape == (3, 3) and buf.mask.all()
    assert buf.success.tolist() == [False, True, False]
    assert buf.rewards[1, 2] == 5.0
    with pytest.raises(ValueError, match='no longer collecting'):
        add(buf, 2, 3)


def test_first_success_drops_steps_an_environment_sent_ahead():
    buf = GroupRolloutBuffer(2, max_steps=10)
    for step in range(4):  # env 0 runs ahead; its success at step 3 comes after the cut
        add(buf, 0, step, reward=float(step), success=step == 3, done=step == 3)
    add(buf, 1, 0)
    add(buf, 1, 1, success=True, done=True)
    assert buf.is_complete
    assert buf.lengths.tolist() == [2, 2]
    assert buf.rewards.tolist() == [[0.0, 1.0], [0.0, 0.0]]
    assert buf.success.tolist() == [False, True]
    assert len(buf) == 4


def test_first_success_without_success_waits_for_all_to_finish():
    buf = GroupRolloutBuffer(2, max_steps=3)
    add(buf, 0, 0, done=True)  # ended early (e.g. an error)
    for step in range(2):
        add(buf, 1, step)
    assert not buf.is_complete
    add(buf, 1, 2)  # max_steps reached
    assert buf.is_complete
    assert buf.lengths.tolist() == [1, 3]
    assert buf.mask.tolist() == [[True, False, False], [True, True, True]]


def test_all_done_lets_every_environment_finish():
    buf = GroupRolloutBuffer(3, max_steps=4, completion='all_done')
    add(buf, 0, 0)
    add(buf, 0, 1, reward=1.0, success=True, done=True)
    assert not buf.is_complete and not buf.is_active(0)
    for step in range(4):
        add(buf, 1, step)
    for step in range(3):
        add(buf, 2, step, success=step == 2, done=step == 2)
    assert buf.is_complete
    assert buf.lengths.tolist() == [2, 4, 3]
    assert buf.success.tolist() == [True, False, True]


@pytest.mark.parametrize('call, error, match', [
    (lambda b: add(b, 0, 1), ValueError, 'expected step 0, got 1'),
    (lambda b: add(b, 3, 0), ValueError, r'env must be an index in \[0, 2\)'),
    (lambda b: add(b, 0.0, 0), ValueError, 'env must be an integer index'),
    (lambda b: b.add(0, 0, None, [1] * 7, LP, 0.0, value=float('inf')), ValueError,
     'value must be finite'),
    (lambda b: b.add(0, 0, None, [1] * 6, LP, 0.0), ValueError, r'token_ids must be \(7,\)'),
    (lambda b: b.add(0, 0, None, [1.5] * 7, LP, 0.0), ValueError, 'integers'),
    (lambda b: b.add(0, 0, None, [1] * 7, [0.1] * 7, 0.0), ValueError, 'finite values <= 0'),
    (lambda b: b.add(0, 0, None, [1] * 7, LP, float('nan')), ValueError, 'reward must be'),
    (lambda b: b.minibatches(torch.zeros(2, 1), 4).__next__(), RuntimeError, 'not complete'),
])
def test_bad_input_is_named(call, error, match):
    with pytest.raises(error, match=match):
        call(GroupRolloutBuffer(2, max_steps=5))


def test_numpy_and_torch_integer_indices_are_accepted():
    buf = GroupRolloutBuffer(2, max_steps=5)
    buf.add(torch.tensor(1), torch.tensor(0), None, torch.ones(7, dtype=torch.int32), LP, 0.0)
    assert buf.lengths.tolist() == [0, 1]


def test_values_for_all_steps_or_none():
    buf = GroupRolloutBuffer(2, max_steps=5)
    buf.add(0, 0, None, [1] * 7, LP, 0.0, value=0.5)
    with pytest.raises(ValueError, match='every step of a group or for none'):
        buf.add(1, 0, None, [1] * 7, LP, 0.0)


def test_constructor_validation():
    with pytest.raises(ValueError, match='num_envs must be an int >= 2'):
        GroupRolloutBuffer(1, 10)
    with pytest.raises(ValueError, match='completion must be one of'):
        GroupRolloutBuffer(2, 10, completion='first')


def unequal_group():
    buf = GroupRolloutBuffer(3, max_steps=5, completion='all_done')
    for env, length in enumerate([5, 2, 4]):
        for step in range(length):
            add(buf, env, step, reward=float(env + step), done=step == length - 1)
    return buf


def test_minibatches_cover_each_valid_step_once_per_epoch():
    buf = unequal_group()
    adv = compute_advantages(buf.rewards, buf.mask, 'tgrpo')
    g = torch.Generator().manual_seed(0)
    orders = []
    for _ in range(2):
        seen = []
        sizes = []
        for mb in buf.minibatches(adv, 4, generator=g):
            sizes.append(len(mb))
            for i in range(len(mb)):
                env, step = int(mb.env_index[i]), int(mb.step_index[i])
                assert mb.observations[i] == ('obs', env, step)
                assert mb.token_ids[i].tolist() == tokens(env, step)
                assert mb.old_logprobs[i].tolist() == LP
                assert mb.advantages[i] == adv[env, step]
                assert mb.step_weights[i] == pytest.approx(1 / [5, 2, 4][env])
                seen.append((env, step))
            assert mb.token_ids.shape == (len(mb), 7) and mb.old_logprobs.dtype == torch.float32
        assert sizes == [4, 4, 3]
        assert sorted(seen) == [(e, s) for e, n in enumerate([5, 2, 4]) for s in range(n)]
        orders.append(seen)
    assert orders[0] != orders[1]  # reshuffled each epoch


def test_minibatch_order_is_reproducible_with_a_seeded_generator():
    buf = unequal_group()
    adv = torch.zeros(3, 5)

    def order(seed):
        g = torch.Generator().manual_seed(seed)
        return [mb.env_index.tolist() + mb.step_index.tolist()
                for mb in buf.minibatches(adv, 3, generator=g)]
    assert order(7) == order(7)


def test_minibatches_check_the_advantage_shape():
    buf = unequal_group()
    with pytest.raises(ValueError, match=r'group shape \(3, 5\)'):
        next(buf.minibatches(torch.zeros(3, 4), 2))


def test_values_and_returns_travel_with_the_samples():
    buf = GroupRolloutBuffer(2, max_steps=2)
    for env in range(2):
        for step in range(2):
            buf.add(env, step, None, [1] * 7, LP, 1.0, value=10 * env + step)
    returns = torch.tensor([[5.0, 6.0], [7.0, 8.0]])
    assert buf.values.tolist() == [[0.0, 1.0], [10.0, 11.0]]
    for mb in buf.minibatches(torch.zeros(2, 2), 4, returns=returns):
        for i in range(len(mb)):
            env, step = int(mb.env_index[i]), int(mb.step_index[i])
            assert mb.old_values[i] == 10 * env + step
            assert mb.returns[i] == returns[env, step]


def test_reset_releases_the_observations():
    class Image:
        pass

    buf = GroupRolloutBuffer(2, max_steps=1)
    image = Image()
    ref = weakref.ref(image)
    buf.add(0, 0, image, [1] * 7, LP, 0.0)
    buf.add(1, 0, Image(), [1] * 7, LP, 0.0)
    del image
    gc.collect()
    assert ref() is not None  # held while the group is in the buffer
    buf.reset(group_id=2)
    gc.collect()
    assert ref() is None
    assert buf.group_id == 2 and len(buf) == 0 and not buf.is_complete
    assert buf.is_active(0)
