# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Generalised Advantage Estimation (Schulman et al. 2016) over masked trajectories.

The PPO baseline's advantage. Unlike the group-relative estimators it needs a critic, and it
needs each trajectory's valid steps to be one unbroken run from step 0: a trajectory "cut by
the mask" ends at its last valid step, and its GAE recursion starts there.

    delta[t] = R[t] + gamma * V[t + 1] - V[t]
    A[t]     = delta[t] + gamma * lambda * A[t + 1]           (A after the last step = 0)
    return   = A[t] + V[t]                                     (the value target)

After the last valid step, V[t + 1] is ``last_values[i]``: 0 when the episode terminated
(success or failure), the critic's value of the next state when it was cut short (time limit,
or the group ended on another environment's success), so the truncated tail is bootstrapped.
"""

from __future__ import annotations

import torch


def compute_gae(rewards: torch.Tensor, values: torch.Tensor, mask: torch.Tensor,
                gamma: float, lam: float, *,
                last_values: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """GAE advantages and value targets for N masked trajectories.

    rewards: (N, T) float, R[i, t] the reward of the state reached at step t.
    values: (N, T) float, the critic's V(s[i, t]) of the state step t acted in.
    mask: (N, T) bool, each row True on a prefix (the valid steps) and False after it.
    gamma, lam: discount and GAE lambda, both in [0, 1].
    last_values: (N,) value of the state after each trajectory's last valid step
        (0 = terminal); None means every trajectory terminated.
    Returns (advantages, returns), both (N, T) in the dtype of ``rewards``, 0 where masked.
    """
    if rewards.dim() != 2 or values.shape != rewards.shape or mask.shape != rewards.shape:
        raise ValueError('rewards, values and mask must share one (N, T) shape; got '
                         f'{tuple(rewards.shape)}, {tuple(values.shape)}, {tuple(mask.shape)}')
    if mask.dtype != torch.bool:
        raise TypeError(f'mask must be a bool tensor; got {mask.dtype}')
    if not (0 <= gamma <= 1 and 0 <= lam <= 1):
        raise ValueError(f'gamma and lam must be in [0, 1]; got {gamma}, {lam}')
    n, t_max = rewards.shape
    lengths = mask.sum(dim=1)
    steps = torch.arange(t_max, device=mask.device)
    if not torch.equal(mask, steps[None, :] < lengths[:, None]):
        raise ValueError("GAE needs each trajectory's valid steps to be a prefix of its row "
                         '(mask True from step 0, then False); a gap inside a trajectory '
                         'has no defined next state')
    if last_values is None:
        last_values = torch.zeros(n, dtype=rewards.dtype, device=rewards.device)
    elif last_values.shape != (n,):
        raise ValueError(f'last_values must have shape ({n},); got {tuple(last_values.shape)}')

    zero = torch.zeros((), dtype=rewards.dtype, device=rewards.device)
    rewards = torch.where(mask, rewards, zero)
    values = torch.where(mask, values.to(rewards.dtype), zero)
    last_values = last_values.to(rewards.dtype)
    advantages = torch.zeros_like(rewards)
    next_advantage = torch.zeros(n, dtype=rewards.dtype, device=rewards.device)
    # Backwards over steps, vectorised over trajectories; T is a few hundred at most.
    for t in reversed(range(t_max)):
        is_last = lengths == t + 1
        following = values[:, t + 1] if t + 1 < t_max else zero.expand(n)
        next_value = torch.where(is_last, last_values, following)
        next_adv = torch.where(is_last, zero, next_advantage)
        delta = rewards[:, t] + gamma * next_value - values[:, t]
        advantages[:, t] = torch.where(mask[:, t], delta + gamma * lam * next_adv, zero)
        next_advantage = advantages[:, t]
    returns = torch.where(mask, advantages + values, zero)
    return advantages, returns
