# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Reward scaling for the PPO baseline: rewards divided by a running std of the return.

The dense multi-stage rewards sum to returns of a few hundred per episode, so an unscaled
critic regresses targets of that size: its squared error (~800 measured on LIBERO-Object)
dominates the gradient of the trunk it shares with the policy, and clipping the global norm then
shrinks the policy's share to almost nothing (measured: grad norm ~84 for PPO against ~0.2 for
TGRPO on the same groups). Dividing every reward by the standard deviation of the discounted
return, estimated over all groups seen so far, keeps the value targets O(1) whatever the reward
scale, as PPO implementations do (the "reward scaling" of Engstrom et al. 2020). Only the scale
changes (no mean is subtracted), so the sign of each reward and the task are unchanged.
"""

from __future__ import annotations

import math

import torch


class ReturnScaler:
    """Running mean/variance (Chan et al.'s parallel update) of per-step discounted returns."""

    def __init__(self, gamma: float, epsilon: float = 1e-8):
        self.gamma, self.epsilon = float(gamma), float(epsilon)
        self.count, self.mean, self.var = 0, 0.0, 1.0

    @property
    def scale(self) -> float:
        """sqrt(var + epsilon): what rewards are divided by (1.0 before any data)."""
        return math.sqrt(self.var + self.epsilon) if self.count else 1.0

    def discounted_returns(self, rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """G_t = gamma * G_{t-1} + r_t along each trajectory's valid steps; (k,) flattened."""
        g = torch.zeros(rewards.shape[0], dtype=torch.float64)
        out = []
        for t in range(rewards.shape[1]):
            valid = mask[:, t]
            g = torch.where(valid, self.gamma * g + rewards[:, t].double(), g)
            out.append(g[valid])
        return torch.cat(out) if out else torch.zeros(0, dtype=torch.float64)

    def update(self, rewards: torch.Tensor, mask: torch.Tensor) -> None:
        """Fold one group's returns (N, T) rewards with its (N, T) bool mask into the stats."""
        x = self.discounted_returns(rewards, mask)
        if not torch.isfinite(x).all():
            raise ValueError('rewards hold NaN or inf; the return statistics would be lost')
        n = int(x.numel())
        if n == 0:
            return
        batch_mean = float(x.mean())
        batch_var = float(x.var(unbiased=False))
        if self.count == 0:
            self.count, self.mean, self.var = n, batch_mean, batch_var
            return
        total = self.count + n
        delta = batch_mean - self.mean
        m2 = self.var * self.count + batch_var * n + delta * delta * self.count * n / total
        self.count, self.mean, self.var = total, self.mean + delta * n / total, m2 / total

    def __call__(self, rewards: torch.Tensor) -> torch.Tensor:
        return rewards / self.scale

    def state_dict(self) -> dict:
        return {'count': self.count, 'mean': self.mean, 'var': self.var}

    def load_state_dict(self, state: dict) -> None:
        self.count, self.mean, self.var = int(state['count']), float(state['mean']), \
            float(state['var'])
