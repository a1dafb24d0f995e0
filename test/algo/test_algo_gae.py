# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""GAE on hand-worked trajectories, one of them cut by the mask."""

import pytest
import torch

from tgrpo_ros.algo import compute_advantages, compute_gae, TGRPOConfig

GAMMA, LAM = 0.9, 0.5
# trajectory 0, 3 steps, terminal:   R = [1, 0, 2], V = [0.5, 1, 1]
#   t=2: delta = 2 + 0.9 * 0 - 1 = 1                 A = 1
#   t=1: delta = 0 + 0.9 * 1 - 1 = -0.1              A = -0.1 + 0.45 * 1 = 0.35
#   t=0: delta = 1 + 0.9 * 1 - 0.5 = 1.4             A = 1.4 + 0.45 * 0.35 = 1.5575
#   returns A + V = [2.0575, 1.35, 2.0]
# trajectory 1, cut by the mask after 2 steps (junk in the padding), bootstrapped with 2.0:
#   R = [1, 1, pad], V = [1, 2, pad]
#   t=1: delta = 1 + 0.9 * 2.0 - 2 = 0.8             A = 0.8
#   t=0: delta = 1 + 0.9 * 2 - 1 = 1.8               A = 1.8 + 0.45 * 0.8 = 2.16
#   returns [3.16, 2.8, 0]
REWARDS = torch.tensor([[1.0, 0.0, 2.0], [1.0, 1.0, 100.0]], dtype=torch.float64)
VALUES = torch.tensor([[0.5, 1.0, 1.0], [1.0, 2.0, -50.0]], dtype=torch.float64)
MASK = torch.tensor([[True, True, True], [True, True, False]])


def test_hand_worked_with_a_cut_trajectory_and_bootstrap():
    adv, ret = compute_gae(REWARDS, VALUES, MASK, GAMMA, LAM,
                           last_values=torch.tensor([0.0, 2.0], dtype=torch.float64))
    torch.testing.assert_close(adv, torch.tensor([[1.5575, 0.35, 1.0], [2.16, 0.8, 0.0]],
                                                 dtype=torch.float64))
    torch.testing.assert_close(ret, torch.tensor([[2.0575, 1.35, 2.0], [3.16, 2.8, 0.0]],
                                                 dtype=torch.float64))


def test_without_bootstrap_the_cut_trajectory_is_terminal():
    # trajectory 1: t=1: delta = 1 + 0 - 2 = -1; t=0: 1 + 0.9 * 2 - 1 + 0.45 * -1 = 1.35
    adv, _ = compute_gae(REWARDS, VALUES, MASK, GAMMA, LAM)
    torch.testing.assert_close(adv[1], torch.tensor([1.35, -1.0, 0.0], dtype=torch.float64))


def test_gamma_lambda_one_is_monte_carlo_return_minus_value():
    rewards = torch.tensor([[1.0, 2.0, 3.0, 4.0], [5.0, 6.0, 0.0, 0.0]])
    values = torch.tensor([[0.5, 0.25, 1.0, 2.0], [1.0, 1.0, 0.0, 0.0]])
    mask = torch.tensor([[True] * 4, [True, True, False, False]])
    adv, ret = compute_gae(rewards, values, mask, 1.0, 1.0)
    torch.testing.assert_close(ret, torch.tensor([[10.0, 9.0, 7.0, 4.0], [11.0, 6.0, 0, 0]]))
    torch.testing.assert_close(adv, ret - torch.where(mask, values, 0.0))


def test_lambda_zero_is_one_step_td():
    adv, _ = compute_gae(REWARDS, VALUES, MASK, GAMMA, 0.0)
    torch.testing.assert_close(adv[0], torch.tensor([1.4, -0.1, 1.0], dtype=torch.float64))


def test_gae_estimator_through_compute_advantages():
    cfg = TGRPOConfig(estimator='gae', gamma=GAMMA, gae_lambda=LAM)
    last = torch.tensor([0.0, 2.0])
    adv = compute_advantages(REWARDS.float(), MASK, 'gae', cfg, values=VALUES.float(),
                             last_values=last)
    torch.testing.assert_close(adv, torch.tensor([[1.5575, 0.35, 1.0], [2.16, 0.8, 0.0]]))


def test_a_hole_in_the_mask_is_an_error():
    mask = torch.tensor([[True, False, True], [True, True, False]])
    with pytest.raises(ValueError, match='prefix'):
        compute_gae(REWARDS, VALUES, mask, GAMMA, LAM)


@pytest.mark.parametrize('kwargs, error, match', [
    ({'values': torch.zeros(2, 2)}, ValueError, 'share one'),
    ({'mask': torch.ones(2, 3)}, TypeError, 'bool'),
    ({'gamma': 1.5}, ValueError, r'\[0, 1\]'),
    ({'last_values': torch.zeros(3)}, ValueError, r'last_values must have shape \(2,\)'),
])
def test_bad_input_is_named(kwargs, error, match):
    args = {'rewards': REWARDS, 'values': VALUES, 'mask': MASK, 'gamma': GAMMA, 'lam': LAM}
    last = kwargs.pop('last_values', None)
    args.update(kwargs)
    with pytest.raises(error, match=match):
        compute_gae(**args, last_values=last)
