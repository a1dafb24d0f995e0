# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Properties of the group-relative advantages, checked on random groups with hypothesis.

Rewards are drawn on a grid of halves so that any nonzero spread is far above the 1e-8
zero-spread threshold, and scaling by c in [0.01, 100] keeps it so: a property then never
hinges on which side of the threshold a rounding error falls.
"""

from hypothesis import given, settings, strategies as st
import torch

from tgrpo_ros.algo import (compute_advantages, step_advantages, trajectory_advantages,
                            trajectory_returns)

settings.register_profile('algo', max_examples=150, deadline=None)
settings.load_profile('algo')

ATOL = 1e-9


@st.composite
def groups(draw, equal_lengths=False):
    """(rewards (N, T) float64, mask (N, T) bool), N in 2..6, T in 1..7."""
    n = draw(st.integers(2, 6))
    t = draw(st.integers(1, 7))
    halves = draw(st.lists(st.integers(-8, 8), min_size=n * t, max_size=n * t))
    rewards = torch.tensor(halves, dtype=torch.float64).reshape(n, t) / 2
    if equal_lengths:
        mask = torch.ones(n, t, dtype=torch.bool)
    else:
        bits = draw(st.lists(st.booleans(), min_size=n * t, max_size=n * t))
        mask = torch.tensor(bits).reshape(n, t)
    return rewards, mask


def outcome(draw_bits, n):
    return torch.tensor(draw_bits[:n])


@given(groups())
def test_step_component_has_zero_mean_over_valid_entries_of_each_step(group):
    rewards, mask = group
    s = step_advantages(rewards, mask)
    assert torch.equal(s[~mask], torch.zeros_like(s[~mask]))
    per_step_sum = torch.where(mask, s, 0.0).sum(dim=0)
    torch.testing.assert_close(per_step_sum, torch.zeros_like(per_step_sum), rtol=0, atol=ATOL)


@given(groups())
def test_trajectory_component_has_zero_mean_over_trajectories(group):
    rewards, mask = group
    t = trajectory_advantages(rewards, mask)
    assert t.shape == (rewards.shape[0],)
    assert abs(float(t.sum())) < ATOL
    # A trajectory with no valid step takes no part.
    assert torch.equal(t[~mask.any(dim=1)], torch.zeros_like(t[~mask.any(dim=1)]))


@given(groups(), st.sampled_from(['tgrpo', 'traj', 'step']), st.integers(-20, 20))
def test_shift_changes_nothing_with_equal_lengths(group, estimator, shift):
    # With equal lengths every return G_i moves by the same T * shift. (With unequal lengths a
    # shift moves G_i by len_i * shift, which is what summing rewards means; see next test.)
    rewards, _ = group
    mask = torch.ones_like(rewards, dtype=torch.bool)
    base = compute_advantages(rewards, mask, estimator)
    moved = compute_advantages(rewards + shift / 4, mask, estimator)
    torch.testing.assert_close(moved, base, rtol=0, atol=ATOL)


@given(groups(), st.integers(-20, 20))
def test_shift_changes_nothing_in_the_step_component_with_any_mask(group, shift):
    rewards, mask = group
    torch.testing.assert_close(step_advantages(rewards + shift / 4, mask),
                               step_advantages(rewards, mask), rtol=0, atol=ATOL)


@given(groups(), st.sampled_from(['tgrpo', 'traj', 'step', 'grpo_outcome']),
       st.floats(0.01, 100.0), st.lists(st.booleans(), min_size=6, max_size=6))
def test_positive_scale_changes_nothing(group, estimator, scale, bits):
    rewards, mask = group
    success = outcome(bits, rewards.shape[0])
    base = compute_advantages(rewards, mask, estimator, success=success)
    scaled = compute_advantages(rewards * scale, mask, estimator, success=success)
    torch.testing.assert_close(scaled, base, rtol=0, atol=1e-7)


@given(groups(), st.sampled_from(['tgrpo', 'traj', 'step', 'grpo_outcome']), st.randoms(),
       st.lists(st.booleans(), min_size=6, max_size=6))
def test_permuting_trajectories_permutes_advantages(group, estimator, rnd, bits):
    rewards, mask = group
    n = rewards.shape[0]
    success = outcome(bits, n)
    order = list(range(n))
    rnd.shuffle(order)
    perm = torch.tensor(order)
    base = compute_advantages(rewards, mask, estimator, success=success)
    permuted = compute_advantages(rewards[perm], mask[perm], estimator, success=success[perm])
    torch.testing.assert_close(permuted, base[perm], rtol=0, atol=ATOL)


@given(groups(), st.sampled_from(['tgrpo', 'traj', 'step', 'grpo_outcome']),
       st.lists(st.booleans(), min_size=6, max_size=6))
def test_always_finite_and_zero_where_masked(group, estimator, bits):
    rewards, mask = group
    adv = compute_advantages(rewards, mask, estimator, success=outcome(bits, rewards.shape[0]))
    assert torch.isfinite(adv).all()
    assert torch.equal(adv[~mask], torch.zeros_like(adv[~mask]))


@given(groups(), st.sampled_from(['tgrpo', 'traj']),
       st.lists(st.booleans(), min_size=6, max_size=6))
def test_quicker_success_never_ranks_below_a_slower_failure(group, estimator, bits):
    # The property: for every successful i and failed j with 0 < L_i < L_j (L = valid steps),
    # T[i] >= T[j]; with the fused estimator the trajectory part alpha_traj * T is what every
    # step of i and j carries beside its step-level part, so T is checked on both paths.
    rewards, mask = group
    n = rewards.shape[0]
    success = outcome(bits, n)
    lengths = mask.sum(dim=1)
    t = trajectory_advantages(rewards, mask, success)
    adv = compute_advantages(rewards, mask, estimator, success=success)
    fused_t = adv - (0.3 * step_advantages(rewards, mask) if estimator == 'tgrpo' else 0)
    for i in range(n):
        for j in range(n):
            if success[i] and not success[j] and 0 < lengths[i] < lengths[j]:
                assert t[i] >= t[j] - ATOL, (i, j, t)
                scale = 0.7 if estimator == 'tgrpo' else 1.0
                assert fused_t[i][mask[i]].min() >= scale * t[j] - ATOL


@given(groups(), st.lists(st.booleans(), min_size=6, max_size=6))
def test_paper_sums_where_no_success_is_shorter_than_the_longest(group, bits):
    # A 'first_success' group cuts everything at the first success, so every success has the
    # longest length: there the score is the paper's plain sum of rewards.
    rewards, mask = group
    success = outcome(bits, rewards.shape[0])
    lengths = mask.sum(dim=1)
    success = success & (lengths == lengths.max())
    plain = torch.where(mask, rewards, 0.0).sum(dim=1)
    torch.testing.assert_close(trajectory_returns(rewards, mask, success), plain, rtol=0, atol=0)
    torch.testing.assert_close(trajectory_returns(rewards, mask), plain, rtol=0, atol=0)


def test_success_is_held_at_its_reward_to_the_longest_length():
    # Success in 2 steps (reward 6 = success) against a failure that lasts 5 steps at 5:
    # the plain sums 8 < 25 would rank the failure first; held, the success scores 8 + 3 * 6.
    rewards = torch.tensor([[2.0, 6.0, 0, 0, 0], [5.0, 5, 5, 5, 5]], dtype=torch.float64)
    mask = torch.tensor([[1, 1, 0, 0, 0], [1, 1, 1, 1, 1]], dtype=torch.bool)
    success = torch.tensor([True, False])
    assert trajectory_returns(rewards, mask, success).tolist() == [26.0, 25.0]
    t = trajectory_advantages(rewards, mask, success)
    assert t[0] > 0 > t[1]
