# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Hand-worked numbers for every advantage estimator, its edge cases and its errors.

The expected values are worked out in the comments; the last test compares the vectorised code
with a plain loop written here from the paper's equations.
"""

import math
import random

import pytest
import torch

from tgrpo_ros.algo import ADVANTAGE_ESTIMATORS, compute_advantages, TGRPOConfig

R2 = math.sqrt(2.0)
R3 = math.sqrt(3.0)
NAN = float('nan')


def full(n, t):
    return torch.ones(n, t, dtype=torch.bool)


def close(actual, expected):
    torch.testing.assert_close(actual, torch.tensor(expected, dtype=actual.dtype),
                               rtol=0, atol=1e-6)


def test_registry_has_the_contract_names():
    assert {'tgrpo', 'traj', 'step', 'grpo_outcome', 'gae'} == set(ADVANTAGE_ESTIMATORS)


# --- a full group, N = 3 --------------------------------------------------------------------
# R = [[1, 2, 3], [2, 2, 5], [0, 2, 1]]
# step 0: [1, 2, 0], mean 1, std sqrt((0 + 1 + 1) / 2) = 1      -> S = [0, 1, -1]
# step 1: [2, 2, 2], std 0                                       -> S = [0, 0, 0]
# step 2: [3, 5, 1], mean 3, std sqrt((0 + 4 + 4) / 2) = 2      -> S = [0, 1, -1]
# G = [6, 9, 3], mean 6, std sqrt((0 + 9 + 9) / 2) = 3          -> T = [0, 1, -1]
FULL_R = [[1.0, 2.0, 3.0], [2.0, 2.0, 5.0], [0.0, 2.0, 1.0]]


def test_full_group_all_estimators():
    r = torch.tensor(FULL_R)
    m = full(3, 3)
    close(compute_advantages(r, m, 'step'), [[0, 0, 0], [1, 0, 1], [-1, 0, -1]])
    close(compute_advantages(r, m, 'traj'), [[0, 0, 0], [1, 1, 1], [-1, -1, -1]])
    close(compute_advantages(r, m, 'tgrpo'),
          [[0, 0, 0], [1.0, 0.7, 1.0], [-1.0, -0.7, -1.0]])


def test_tgrpo_uses_the_configured_alphas():
    r = torch.tensor(FULL_R)
    cfg = TGRPOConfig(alpha_step=0.5, alpha_traj=2.0)
    close(compute_advantages(r, full(3, 3), 'tgrpo', cfg),
          [[0, 0, 0], [2.5, 2.0, 2.5], [-2.5, -2.0, -2.5]])


def test_default_estimator_is_tgrpo():
    r = torch.tensor(FULL_R)
    assert torch.equal(compute_advantages(r, full(3, 3)),
                       compute_advantages(r, full(3, 3), 'tgrpo', TGRPOConfig()))


# --- a masked trajectory ---------------------------------------------------------------------
# R = [[1, 3, 2], [2, 1, pad], [0, 2, 4]]   (trajectory 1 ended after 2 steps; pad = NaN)
# step 0: [1, 2, 0], mean 1, std 1                      -> S = [0, 1, -1]
# step 1: [3, 1, 2], mean 2, std sqrt((1 + 1 + 0) / 2) = 1 -> S = [1, -1, 0]
# step 2: valid [2, 4], mean 3, std sqrt(2 / 1)          -> S = [-1/sqrt2, 0, 1/sqrt2]
# G = [6, 3, 6], mean 5, std sqrt((1 + 4 + 1) / 2) = sqrt3 -> T = [1, -2, 1] / sqrt3
def test_masked_trajectory():
    r = torch.tensor([[1.0, 3.0, 2.0], [2.0, 1.0, NAN], [0.0, 2.0, 4.0]])
    m = torch.tensor([[True, True, True], [True, True, False], [True, True, True]])
    close(compute_advantages(r, m, 'step'),
          [[0, 1, -1 / R2], [1, -1, 0], [-1, 0, 1 / R2]])
    t0, t1 = 1 / R3, -2 / R3
    close(compute_advantages(r, m, 'traj'), [[t0, t0, t0], [t1, t1, 0], [t0, t0, t0]])
    close(compute_advantages(r, m, 'tgrpo'),
          [[0.7 * t0, 0.3 + 0.7 * t0, -0.3 / R2 + 0.7 * t0],
           [0.3 + 0.7 * t1, -0.3 + 0.7 * t1, 0.0],
           [-0.3 + 0.7 * t0, 0.7 * t0, 0.3 / R2 + 0.7 * t0]])


def test_padding_values_do_not_matter():
    m = torch.tensor([[True, True, True], [True, True, False], [True, False, False]])
    base = torch.tensor([[1.0, 3.0, 2.0], [2.0, 1.0, 0.0], [0.0, 0.0, 0.0]])
    junk = base.clone()
    junk[1, 2], junk[2, 1], junk[2, 2] = 1e30, -7.0, float('inf')
    for name in ('tgrpo', 'traj', 'step'):
        assert torch.equal(compute_advantages(base, m, name), compute_advantages(junk, m, name))


# --- zero spread -----------------------------------------------------------------------------
def test_zero_spread_group_gives_zero_not_nan():
    # 1.7 is not exact in float32; a float32 mean of equal values can be off by one ulp,
    # which would pass a 1e-8 threshold. All four trajectories identical: advantage 0.
    r = torch.full((4, 5), 1.7, dtype=torch.float32)
    for name in ('tgrpo', 'traj', 'step'):
        adv = compute_advantages(r, full(4, 5), name)
        assert adv.dtype == torch.float32
        assert torch.equal(adv, torch.zeros(4, 5))


def test_zero_spread_at_one_step_only():
    # step 1 equal across the group (S = 0 there); T is still defined: G = [3, 4, 5] -> [-1, 0, 1]
    r = torch.tensor([[1.0, 2.0], [2.0, 2.0], [3.0, 2.0]], dtype=torch.float64)
    close(compute_advantages(r, full(3, 2), 'step'), [[-1, 0], [0, 0], [1, 0]])
    close(compute_advantages(r, full(3, 2), 'tgrpo'),
          [[-1.0, -0.7], [0.0, 0.0], [1.0, 0.7]])


def test_spread_below_threshold_counts_as_zero():
    r = torch.tensor([[1.0], [1.0 + 1e-9]], dtype=torch.float64)
    assert torch.equal(compute_advantages(r, full(2, 1), 'step'), torch.zeros(2, 1,
                                                                              dtype=torch.float64))


# --- a step with a single valid entry --------------------------------------------------------
# R = [[1, 1, 5], [0, 2, pad], [2, 0, pad]]
# step 0: [1, 0, 2], mean 1, std 1 -> S = [0, -1, 1]
# step 1: [1, 2, 0], mean 1, std 1 -> S = [0, 1, -1]
# step 2: only trajectory 0 valid   -> S = 0
# G = [7, 2, 2], mean 11/3, deviations [10/3, -5/3, -5/3], var (100 + 25 + 25) / 9 / 2 = 25/3,
# std 5/sqrt3 -> T = [2, -1, -1] / sqrt3
def test_step_with_single_valid_entry():
    r = torch.tensor([[1.0, 1.0, 5.0], [0.0, 2.0, 0.0], [2.0, 0.0, 0.0]])
    m = torch.tensor([[True, True, True], [True, True, False], [True, True, False]])
    close(compute_advantages(r, m, 'step'), [[0, 0, 0], [-1, 1, 0], [1, -1, 0]])
    a, b = 2 / R3, -1 / R3
    close(compute_advantages(r, m, 'traj'), [[a, a, a], [b, b, 0], [b, b, 0]])
    close(compute_advantages(r, m, 'tgrpo'),
          [[0.7 * a] * 3, [-0.3 + 0.7 * b, 0.3 + 0.7 * b, 0], [0.3 + 0.7 * b, -0.3 + 0.7 * b, 0]])


def test_trajectory_without_valid_steps_takes_no_part():
    # Trajectory 2 never happened: the statistics are those of trajectories 0 and 1 (N = 2).
    r = torch.tensor([[1.0, 0.0], [3.0, 2.0], [100.0, 100.0]])
    m = torch.tensor([[True, True], [True, True], [False, False]])
    h = 1 / R2
    close(compute_advantages(r, m, 'traj'), [[-h, -h], [h, h], [0, 0]])


# --- N = 2 -----------------------------------------------------------------------------------
# R = [[1, 0], [3, 2]]: every step and G = [1, 5] have two values, mean in the middle and
# std |d| / sqrt2 (N - 1 = 1), so each z-score is -+1/sqrt2.
def test_group_of_two():
    r = torch.tensor([[1.0, 0.0], [3.0, 2.0]])
    h = 1 / R2
    close(compute_advantages(r, full(2, 2), 'step'), [[-h, -h], [h, h]])
    close(compute_advantages(r, full(2, 2), 'traj'), [[-h, -h], [h, h]])
    close(compute_advantages(r, full(2, 2), 'tgrpo'), [[-h, -h], [h, h]])


def test_estimator_must_match_the_config():
    with pytest.raises(ValueError, match="estimator 'step' differs from config.estimator"):
        compute_advantages(torch.tensor(FULL_R), full(3, 3), 'step', TGRPOConfig())


def test_group_of_one_is_an_error():
    with pytest.raises(ValueError, match='N >= 2'):
        compute_advantages(torch.zeros(1, 4), full(1, 4))


# --- grpo_outcome ----------------------------------------------------------------------------
# success [1, 0, 0, 1]: mean 0.5, std sqrt(4 * 0.25 / 3) = 1/sqrt3 -> +-0.5 * sqrt3
def test_grpo_outcome_with_success_tensor():
    r = torch.tensor([[0.0, 9.0], [5.0, 1.0], [2.0, 0.0], [1.0, 0.0]])
    m = torch.tensor([[True, True], [True, True], [True, True], [True, False]])
    success = torch.tensor([True, False, False, True])
    a = 0.5 * R3
    close(compute_advantages(r, m, 'grpo_outcome', success=success),
          [[a, a], [-a, -a], [-a, -a], [a, 0]])


def test_grpo_outcome_all_failed_gives_zero():
    r = torch.rand(4, 3)
    adv = compute_advantages(r, full(4, 3), 'grpo_outcome', success=torch.zeros(4, dtype=bool))
    assert torch.equal(adv, torch.zeros(4, 3))


def test_grpo_outcome_derives_success_from_threshold():
    # last valid rewards: 10 (step 1), 3, 10 (step 0, then padding) -> success [T, F, T]
    r = torch.tensor([[0.0, 10.0, 0.0], [1.0, 2.0, 3.0], [10.0, 0.0, 0.0]])
    m = torch.tensor([[True, True, False], [True, True, True], [True, False, False]])
    cfg = TGRPOConfig(estimator='grpo_outcome', group_completion='all_done',
                      success_reward_threshold=10.0)
    derived = compute_advantages(r, m, 'grpo_outcome', cfg)
    given = compute_advantages(r, m, 'grpo_outcome', success=torch.tensor([True, False, True]))
    assert torch.equal(derived, given)
    assert derived[0, 0] > 0 and derived[1, 0] < 0


def test_grpo_outcome_without_success_or_threshold_is_an_error():
    with pytest.raises(ValueError, match='success'):
        compute_advantages(torch.rand(3, 2), full(3, 2), 'grpo_outcome')


def test_success_changes_no_dense_estimator_when_lengths_are_equal():
    # As in the paper's groups: success only matters where trajectories end apart.
    r = torch.tensor(FULL_R)
    s = torch.tensor([True, False, False])
    assert torch.equal(compute_advantages(r, full(3, 3), 'tgrpo', success=s),
                       compute_advantages(r, full(3, 3), 'tgrpo'))


# --- errors ----------------------------------------------------------------------------------
@pytest.mark.parametrize('rewards, mask, kwargs, error, match', [
    (torch.zeros(3, 2), torch.ones(3, 2), {}, TypeError, 'mask must be a bool'),
    (torch.zeros(3, 2, dtype=torch.int64), full(3, 2), {}, TypeError, 'float tensor'),
    (torch.zeros(3, 2), full(3, 3), {}, ValueError, 'differs from rewards shape'),
    (torch.zeros(3), torch.ones(3, dtype=bool), {}, ValueError, r'\(N trajectories, T steps\)'),
    (torch.tensor([[0.0, NAN], [1.0, 1.0]]), full(2, 2), {}, ValueError, 'NaN or inf'),
    (torch.zeros(3, 2), full(3, 2), {'estimator': 'ppo'}, ValueError,
     "unknown advantage estimator 'ppo'"),
    (torch.zeros(3, 2), full(3, 2), {'estimator': 'grpo_outcome', 'success': torch.ones(2)},
     ValueError, r'success must be a bool tensor of shape \(3,\)'),
    (torch.zeros(3, 2), full(3, 2), {'estimator': 'gae'}, ValueError, 'needs values'),
])
def test_bad_input_is_named(rewards, mask, kwargs, error, match):
    with pytest.raises(error, match=match):
        compute_advantages(rewards, mask, **kwargs)


# --- the vectorised code equals a plain loop -------------------------------------------------
def loop_tgrpo(rewards, mask, a1, a2):
    """Compute the paper's equations entry by entry, with the contract's edge cases."""
    n, t_max = len(rewards), len(rewards[0])

    def zscores(values):
        if len(values) < 2:
            return [0.0] * len(values)
        mean = sum(values) / len(values)
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / (len(values) - 1))
        if std < 1e-8:
            return [0.0] * len(values)
        return [(v - mean) / std for v in values]

    step = [[0.0] * t_max for _ in range(n)]
    for t in range(t_max):
        rows = [i for i in range(n) if mask[i][t]]
        for i, z in zip(rows, zscores([rewards[i][t] for i in rows])):
            step[i][t] = z
    rows = [i for i in range(n) if any(mask[i])]
    returns = [sum(rewards[i][t] for t in range(t_max) if mask[i][t]) for i in rows]
    traj = [0.0] * n
    for i, z in zip(rows, zscores(returns)):
        traj[i] = z
    return [[a1 * step[i][t] + a2 * traj[i] if mask[i][t] else 0.0 for t in range(t_max)]
            for i in range(n)]


def test_vectorised_equals_plain_loop():
    rng = random.Random(3)
    for _ in range(60):
        n, t_max = rng.randint(2, 6), rng.randint(1, 8)
        rewards = [[rng.choice([0.0, 0.5, 1.0, rng.uniform(-3, 3)]) for _ in range(t_max)]
                   for _ in range(n)]
        lengths = [rng.randint(0, t_max) for _ in range(n)]
        mask = [[t < lengths[i] for t in range(t_max)] for i in range(n)]
        if rng.random() < 0.3:  # holes too, not only prefixes
            mask = [[rng.random() < 0.7 for _ in range(t_max)] for _ in range(n)]
        a1, a2 = rng.choice([(0.3, 0.7), (1.0, 0.0), (0.0, 1.0), (0.25, 2.0)])
        expected = loop_tgrpo(rewards, mask, a1, a2)
        cfg = TGRPOConfig(alpha_step=a1, alpha_traj=a2) if a1 + a2 > 0 else None
        actual = compute_advantages(torch.tensor(rewards, dtype=torch.float64),
                                    torch.tensor(mask), 'tgrpo', cfg)
        torch.testing.assert_close(actual, torch.tensor(expected, dtype=torch.float64),
                                   rtol=1e-9, atol=1e-9)
