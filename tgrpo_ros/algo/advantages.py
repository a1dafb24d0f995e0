# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Advantage estimators, registered by name (``registry``), and the entry ``compute_advantages``.

A group is N trajectories from the same initial state, padded to T steps. Every estimator takes

    rewards: (N, T) float, R[i, t] = dense reward of the state reached at step t of trajectory i
    mask:    (N, T) bool, True where step t of trajectory i happened (False = padding)

and returns advantages (N, T) with 0 wherever ``mask`` is False. Masked steps take no part in any
mean or deviation, so trajectories of unequal length are handled exactly.

Group-relative estimators (TGRPO paper, arXiv 2506.08440; ``tgrpo_ros.contract``):

    step level        S[i, t] = (R[i, t] - mean_j R[j, t]) / std_j R[j, t]   over valid j at t
    trajectory level  T[i]    = (G[i] - mean_j G[j]) / std_j G[j],  G[i] = sum of i's valid R
    'tgrpo'           alpha_step * S[i, t] + alpha_traj * T[i]      (paper: 0.3 and 0.7)
    'step'            S[i, t]
    'traj'            T[i] at every valid step of i     (the paper's "without step advantage")
    'grpo_outcome'    standardised 0/1 success at every valid step  (SimpleVLA-RL's GRPO)

Standard deviations use N - 1 and no epsilon. Where fewer than 2 entries are valid, or the
standard deviation is below 1e-8 (all rewards equal), the advantage is 0, never NaN or inf.
A trajectory with no valid step takes no part in the trajectory-level statistics.

G[i] sums the rewards of i's valid steps, as the paper defines it. The paper samples until one
environment completes the task or all reach the step limit, so its trajectories end together
and share one length (its post-training framework, section C), and the sum compares like with
like; it says nothing of groups whose trajectories end apart. With unequal lengths (an
'all_done' group) a plain sum pays for lasting: a failure that wanders 160 steps at stage 4
out-scores a success in 40 steps. Where ``success`` (N,) is known, two rules depart from the
paper for that case only:

    held success   success is absorbing: a successful trajectory counts its last (success)
                   reward again for every step up to the group's longest valid length L_max,
                   G[i] += (L_max - L_i) * R[i, last valid step]   (the success reward is the
                   top of the reward scale, ``config/rewards/FORMAT.md``)
    success floor  each success then scores at least as much as every failure longer than it,
                   G[i] = max(G[i], max{G[j] : j failed, L_j > L_i})

so a quicker success never ranks below a slower failure, whatever the rewards along the way.
In a 'first_success' group every success has length L_max and no failure is longer, so both
rules leave the paper's G unchanged there. A constant added to every reward still changes T[i]
when lengths differ (summing rewards means that).

'gae' (PPO baseline) is registered here too, so one config field selects any estimator; it needs
the critic's ``values`` (see ``tgrpo_ros.algo.gae``).
"""

from __future__ import annotations

from typing import Callable

import torch

from tgrpo_ros.algo.config import TGRPOConfig
from tgrpo_ros.algo.gae import compute_gae
from tgrpo_ros.algo.registry import ADVANTAGE_ESTIMATORS, register_estimator

# Below this the spread is floating-point noise, not a difference between trajectories.
MIN_STD = 1e-8


def standardize(x: torch.Tensor, valid: torch.Tensor, dim: int) -> torch.Tensor:
    """Z-score ``x`` along ``dim`` over its ``valid`` entries; 0 elsewhere.

    x: float tensor, any shape; valid: bool tensor of the same shape.
    Returns a tensor shaped like x: (x - mean) / std with std over the valid entries using
    count - 1 and no epsilon; 0 where ``valid`` is False, and 0 along every slice with fewer than
    2 valid entries or a standard deviation below ``MIN_STD``. Invalid entries may hold anything
    (NaN padding included).
    """
    x = torch.where(valid, x, torch.zeros((), dtype=x.dtype))
    count = valid.sum(dim=dim, keepdim=True)
    mean = x.sum(dim=dim, keepdim=True) / count.clamp(min=1)
    centred = torch.where(valid, x - mean, torch.zeros((), dtype=x.dtype))
    var = (centred ** 2).sum(dim=dim, keepdim=True) / (count - 1).clamp(min=1)
    std = var.sqrt()
    usable = (count >= 2) & (std >= MIN_STD)
    # Divide by 1 where the slice is unusable so no inf or NaN is ever formed.
    z = centred / torch.where(usable, std, torch.ones((), dtype=x.dtype))
    return torch.where(valid & usable, z, torch.zeros((), dtype=x.dtype))


def step_advantages(rewards: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Step-level advantage S (N, T): rewards standardised across the group at each step."""
    return standardize(rewards, mask, dim=0)


def trajectory_returns(rewards: torch.Tensor, mask: torch.Tensor,
                       success: torch.Tensor | None = None) -> torch.Tensor:
    """Return the trajectory score G (N,) that T standardises (module docstring).

    rewards: (N, T) float; mask: (N, T) bool; success: (N,) bool or None. Without ``success``
    G is the plain sum of valid rewards (the paper); with it, the held-success and
    success-floor rules apply.
    """
    zero = torch.zeros((), dtype=rewards.dtype)
    returns = torch.where(mask, rewards, zero).sum(dim=1)
    if success is None:
        return returns
    lengths = mask.sum(dim=1)                                                   # (N,)
    won = success & (lengths > 0)
    last = (mask.shape[1] - 1) - mask.flip(dims=[1]).to(torch.int64).argmax(dim=1)
    last_reward = rewards.gather(1, last[:, None])[:, 0]                        # (N,)
    held = (lengths.max() - lengths).to(rewards.dtype) * last_reward
    returns = torch.where(won, returns + held, returns)
    # floor[i] = best G of a failure longer than i: (N_i, N_j) pairs, then max over j.
    lost = ~success & (lengths > 0)
    longer = lost[None, :] & (lengths[None, :] > lengths[:, None])              # (N, N)
    floor = torch.where(longer, returns[None, :], torch.full((), -torch.inf,
                                                             dtype=rewards.dtype))
    floor = floor.max(dim=1).values                                             # (N,)
    return torch.where(won, torch.maximum(returns, floor), returns)


def trajectory_advantages(rewards: torch.Tensor, mask: torch.Tensor,
                          success: torch.Tensor | None = None) -> torch.Tensor:
    """Trajectory-level advantage T (N,): the scores G (N,) standardised across the group.

    rewards: (N, T) float; mask: (N, T) bool; success: (N,) bool or None
    (``trajectory_returns``).
    """
    return standardize(trajectory_returns(rewards, mask, success), mask.any(dim=1), dim=0)


def _broadcast(per_trajectory: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Put a (N,) value on every valid step of its trajectory: (N, T), 0 where masked."""
    return torch.where(mask, per_trajectory[:, None], torch.zeros((), dtype=per_trajectory.dtype))


# --- the registry ---------------------------------------------------------------------------
# Every estimator: fn(rewards (N, T) float64, mask (N, T) bool, config, *, success (N,) bool or
# None, values (N, T) float64 or None, last_values (N,) float64 or None) -> (N, T) float64.
# Keywords an estimator does not use are ignored, so a learner passes the same ones whatever the
# configured estimator. The table itself is ``registry.ADVANTAGE_ESTIMATORS``.
AdvantageEstimator = Callable[..., torch.Tensor]


@register_estimator('tgrpo')
def tgrpo_advantages(rewards: torch.Tensor, mask: torch.Tensor, config: TGRPOConfig, *,
                     success: torch.Tensor | None = None, **_unused) -> torch.Tensor:
    """Fused TGRPO advantage alpha_step * S[i, t] + alpha_traj * T[i], (N, T).

    success: (N,) bool or None; T uses it as ``trajectory_returns`` says.
    """
    traj = trajectory_advantages(rewards, mask, success)
    return (config.alpha_step * step_advantages(rewards, mask)
            + config.alpha_traj * _broadcast(traj, mask))


@register_estimator('traj')
def traj_advantages(rewards: torch.Tensor, mask: torch.Tensor, config: TGRPOConfig, *,
                    success: torch.Tensor | None = None, **_unused) -> torch.Tensor:
    """Trajectory-level advantage T[i] on every valid step of i, (N, T); success (N,) or None."""
    return _broadcast(trajectory_advantages(rewards, mask, success), mask)


@register_estimator('step')
def step_only_advantages(rewards: torch.Tensor, mask: torch.Tensor, config: TGRPOConfig,
                         **_unused) -> torch.Tensor:
    """Step-level advantage S[i, t] alone, (N, T)."""
    return step_advantages(rewards, mask)


@register_estimator('grpo_outcome')
def grpo_outcome_advantages(rewards: torch.Tensor, mask: torch.Tensor, config: TGRPOConfig, *,
                            success: torch.Tensor | None = None,
                            **_unused) -> torch.Tensor:
    """Standardised 0/1 success of each trajectory on every valid step of it, (N, T).

    ``success`` (N,) bool says which trajectories succeeded. Without it, success is derived as
    "the last valid reward is >= config.success_reward_threshold" when that threshold is set;
    otherwise this is an error, since the dense reward alone does not say what success is.
    """
    valid = mask.any(dim=1)
    if success is None:
        if config.success_reward_threshold is None:
            raise ValueError("estimator 'grpo_outcome' needs success=(N,) bool, or "
                             'config.success_reward_threshold to derive it from the last reward')
        last = (mask.shape[1] - 1) - mask.flip(dims=[1]).to(torch.int64).argmax(dim=1)
        last_reward = rewards.gather(1, last[:, None])[:, 0]
        success = valid & (last_reward >= config.success_reward_threshold)
    outcome = success.to(rewards.dtype)
    return _broadcast(standardize(outcome, valid, dim=0), mask)


@register_estimator('gae')
def gae_advantages(rewards: torch.Tensor, mask: torch.Tensor, config: TGRPOConfig, *,
                   values: torch.Tensor | None = None,
                   last_values: torch.Tensor | None = None, **_unused) -> torch.Tensor:
    """GAE(gamma, lambda) of PPO with the critic's ``values`` (N, T); see ``compute_gae``."""
    if values is None:
        raise ValueError("estimator 'gae' needs values=(N, T), the critic's value estimates")
    advantages, _ = compute_gae(rewards, values, mask, config.gamma, config.gae_lambda,
                                last_values=last_values)
    return advantages


# --- the entry point ------------------------------------------------------------------------
def compute_advantages(rewards: torch.Tensor, mask: torch.Tensor, estimator: str = 'tgrpo',
                       config: TGRPOConfig | None = None, *,
                       success: torch.Tensor | None = None,
                       values: torch.Tensor | None = None,
                       last_values: torch.Tensor | None = None) -> torch.Tensor:
    """Advantages (N, T) of one group by the named estimator; 0 where ``mask`` is False.

    rewards: (N, T) float, dense reward of the state reached at each step (N >= 2).
    mask: (N, T) bool, True for steps that happened.
    estimator: a name in ``ADVANTAGE_ESTIMATORS``: 'tgrpo', 'traj', 'step', 'grpo_outcome',
        'gae'. With a config it must equal ``config.estimator`` (a learner passes
        ``config.estimator``), so a config never silently trains with another estimator.
    config: alpha weights, success threshold, gamma/lambda; ``TGRPOConfig()`` when None.
    success: (N,) bool, which trajectories succeeded: 'grpo_outcome' needs it (or the config's
        threshold); 'tgrpo' and 'traj' use it to rank a quicker success above a slower
        failure in groups of unequal lengths (module docstring).
    values: (N, T) float critic values; last_values: (N,) bootstrap values ('gae' only).

    Statistics are computed in float64 (float32 rounding of a mean of equal rewards can exceed
    the 1e-8 zero-spread threshold); the result has the dtype of ``rewards``.
    """
    if estimator not in ADVANTAGE_ESTIMATORS:
        raise ValueError(f'unknown advantage estimator {estimator!r}; known: '
                         f'{", ".join(sorted(ADVANTAGE_ESTIMATORS))}')
    if config is None:
        # Paper defaults for the named estimator ('all_done' only so that 'grpo_outcome',
        # which rejects 'first_success', gets a valid config; completion plays no part here).
        config = TGRPOConfig(estimator=estimator, group_completion='all_done')
    elif config.estimator != estimator:
        raise ValueError(f'estimator {estimator!r} differs from config.estimator '
                         f'{config.estimator!r}; pass estimator=config.estimator, or a config '
                         'made for this estimator (dataclasses.replace)')
    _check_group(rewards, mask)
    n, t = rewards.shape
    if success is not None:
        success = torch.as_tensor(success, device=rewards.device)
        if success.shape != (n,) or success.dtype != torch.bool:
            raise ValueError(f'success must be a bool tensor of shape ({n},); got '
                             f'{success.dtype} {tuple(success.shape)}')
    if values is not None:
        values = _float64_like(values, (n, t), 'values', mask)
    if last_values is not None:
        last_values = _float64_like(last_values, (n,), 'last_values', None)
    advantages = ADVANTAGE_ESTIMATORS[estimator](
        rewards.to(torch.float64), mask, config,
        success=success, values=values, last_values=last_values)
    return torch.where(mask, advantages, torch.zeros((), dtype=advantages.dtype)).to(rewards.dtype)


def _check_group(rewards: torch.Tensor, mask: torch.Tensor) -> None:
    if not isinstance(rewards, torch.Tensor) or not isinstance(mask, torch.Tensor):
        raise TypeError('rewards and mask must be torch tensors; got '
                        f'{type(rewards).__name__} and {type(mask).__name__}')
    if rewards.dim() != 2:
        raise ValueError(f'rewards must be (N trajectories, T steps); got shape '
                         f'{tuple(rewards.shape)}')
    if mask.shape != rewards.shape:
        raise ValueError(f'mask shape {tuple(mask.shape)} differs from rewards shape '
                         f'{tuple(rewards.shape)}')
    if not rewards.is_floating_point():
        raise TypeError(f'rewards must be a float tensor; got {rewards.dtype}')
    if mask.dtype != torch.bool:
        raise TypeError(f'mask must be a bool tensor; got {mask.dtype}')
    if rewards.shape[0] < 2:
        raise ValueError(f'a group needs N >= 2 trajectories to compare; got N = '
                         f'{rewards.shape[0]}')
    if not torch.isfinite(rewards[mask]).all():
        raise ValueError('rewards hold NaN or inf at valid (mask True) steps')


def _float64_like(x: torch.Tensor, shape: tuple[int, ...], name: str,
                  mask: torch.Tensor | None) -> torch.Tensor:
    x = torch.as_tensor(x)
    if tuple(x.shape) != shape:
        raise ValueError(f'{name} must have shape {shape}; got {tuple(x.shape)}')
    x = x.to(torch.float64)
    if not torch.isfinite(x if mask is None else x[mask]).all():
        raise ValueError(f'{name} hold NaN or inf' + ('' if mask is None else ' at valid steps'))
    return x
