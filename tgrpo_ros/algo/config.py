# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""TGRPOConfig: every setting of the method in one frozen dataclass.

Each field is declared with ``tgrpo_ros.declaration.setting``: a one-line help, unit, allowed
range or choices (the training settings, ROS parameters and CLI flags derive from them) and,
where the TGRPO paper (arXiv 2506.08440 v3) published a value, that value as default. Values the
paper does not publish say so and give the reason for the choice. Invalid values and invalid
combinations are rejected at construction; the config is frozen so nothing mutates it during
training (use ``dataclasses.replace`` to derive a variant).
"""

from __future__ import annotations

from dataclasses import dataclass
import math
from typing import Callable

from tgrpo_ros.algo.registry import ADVANTAGE_ESTIMATORS, LOSS_AGGREGATIONS
from tgrpo_ros.declaration import DIMENSIONLESS, setting

# Group completion rules, used by the rollout buffer.
GROUP_COMPLETION_RULES = ('first_success', 'all_done')


def _estimators() -> tuple[str, ...]:
    # Asked when a value is checked: the registry is filled once tgrpo_ros.algo is imported.
    return tuple(ADVANTAGE_ESTIMATORS)


def _loss_aggregations() -> tuple[str, ...]:
    return tuple(LOSS_AGGREGATIONS)


@dataclass(frozen=True)
class TGRPOConfig:
    """Settings of TGRPO (and of the GRPO/PPO baselines that share its code)."""

    # --- advantages -------------------------------------------------------------------------
    estimator: str = setting(
        'tgrpo', "Advantage estimator: 'tgrpo' (fused), 'traj', 'step', 'grpo_outcome' or "
        "'gae' (PPO).", choices=_estimators, launch_arg='estimator')
    alpha_step: float = setting(
        0.3, 'Weight alpha1 of the step-level advantage in the fused TGRPO advantage '
        '(paper: 0.3).', unit=DIMENSIONLESS, range='[0, inf)')
    alpha_traj: float = setting(
        0.7, 'Weight alpha2 of the trajectory-level advantage in the fused advantage '
        '(paper: 0.7).', unit=DIMENSIONLESS, range='[0, inf)')
    success_reward_threshold: float | None = setting(
        None, "For 'grpo_outcome' without an explicit success tensor: a trajectory succeeded "
        "when its last valid reward is >= this (set it to the reward spec's success bonus).",
        unit='reward', range='(-inf, inf)', none_as=0.0)
    gamma: float = setting(
        0.99, "Discount factor of GAE ('gae' estimator, PPO baseline; PPO's usual 0.99).",
        unit=DIMENSIONLESS, range='[0, 1]')
    gae_lambda: float = setting(
        0.95, "GAE lambda ('gae' estimator, PPO baseline; PPO's usual 0.95).",
        unit=DIMENSIONLESS, range='[0, 1]')

    # --- group rollouts ---------------------------------------------------------------------
    group_size: int = setting(
        4, 'Environments N per group, all reset to the same initial state (paper: 4).',
        unit='environments', range='[2, 1024]', launch_arg='group_size')
    group_completion: str = setting(
        'first_success', "When a group ends: 'first_success' (paper: when one environment "
        "succeeds, or all are done) or 'all_done' (every environment ran until done).",
        choices=GROUP_COMPLETION_RULES, launch_arg='completion')

    # --- policy objective -------------------------------------------------------------------
    clip_eps: float = setting(
        0.2, 'PPO clip range: ratio clipped to [1 - eps, 1 + eps] (not published; PPO '
        'default).', unit=DIMENSIONLESS, range='(0, 1)')
    clip_eps_high: float | None = setting(
        None, 'Upper clip range if asymmetric (DAPO clip-higher, e.g. 0.28); None = clip_eps.',
        unit=DIMENSIONLESS, range='(0, inf)', none_as=0.0)
    beta: float = setting(
        0.04, 'Weight of the k3 KL to the reference policy (not published; 0.04 as in '
        'DeepSeekMath GRPO, whose objective TGRPO adopts; 0 drops the reference forward pass).',
        unit=DIMENSIONLESS, range='[0, inf)')
    loss_aggregation: str = setting(
        'token-mean', "'token-mean': every valid action token weighs the same; 'seq-mean': "
        'every trajectory weighs the same (mean over its steps, then over trajectories, as the '
        'paper writes it).', choices=_loss_aggregations)
    temperature: float = setting(
        1.0, 'Sampling temperature of rollouts; the learner recomputes log-probs at the same '
        'one.', unit=DIMENSIONLESS, range='(0, inf)')

    # --- optimisation -----------------------------------------------------------------------
    lr: float = setting(1e-5, 'AdamW learning rate (paper: 1e-5).', unit=DIMENSIONLESS,
                        range='(0, inf)', launch_arg='lr')
    update_epochs: int = setting(
        1, 'Passes over one group per update (not published; 1 as in GRPO, so the ratio departs '
        'from 1 only across minibatches).', unit='passes', range='[1, 1000]')
    minibatch_size: int = setting(
        16, '(trajectory, step) samples per gradient step (not published; bounded by GPU '
        'memory).', unit='samples', range='[1, 1000000]')
    recompute_old_logprobs: bool = setting(
        False, "Before the update, recompute the samples' old log-probs with the learner's "
        "current weights (one no-grad pass over the group) instead of using the sampler's: in "
        'bfloat16 the two differ by a few hundredths of a nat, which the ratio would count as '
        "policy change. Off: the sampler's (exact in float32, no extra pass).")
    max_grad_norm: float | None = setting(
        1.0, 'Clip the global gradient norm to this (not published; common 1.0); None = no '
        'clipping.', unit=DIMENSIONLESS, range='(0, inf)', none_as=0.0)

    # --- PPO baseline (value head) ----------------------------------------------------------
    value_loss_coef: float = setting(
        0.5, "Weight of the value loss in PPO's total loss (PPO's usual 0.5).",
        unit=DIMENSIONLESS, range='[0, inf)')
    value_clip: float | None = setting(
        0.2, 'Clip of the value change in the clipped value loss; None = unclipped squared '
        'error.', unit='return', range='(0, inf)', none_as=0.0)
    reward_scaling: bool = setting(
        True, 'PPO only: divide rewards by the running std of the discounted return before '
        'GAE, so the value targets are O(1) and the value loss does not swamp the shared '
        'trunk.')

    def __post_init__(self):
        _one_of('estimator', self.estimator, tuple(ADVANTAGE_ESTIMATORS))
        _one_of('loss_aggregation', self.loss_aggregation, tuple(LOSS_AGGREGATIONS))
        _one_of('group_completion', self.group_completion, GROUP_COMPLETION_RULES)

        _check('alpha_step', self.alpha_step, lambda v: v >= 0, 'must be >= 0')
        _check('alpha_traj', self.alpha_traj, lambda v: v >= 0, 'must be >= 0')
        if self.estimator == 'tgrpo' and self.alpha_step + self.alpha_traj == 0:
            raise ValueError("alpha_step and alpha_traj are both 0: the 'tgrpo' advantage "
                             'would be 0 everywhere and nothing would be learned')
        if self.success_reward_threshold is not None:
            _check('success_reward_threshold', self.success_reward_threshold, math.isfinite,
                   'must be finite (or None)')
        _check('gamma', self.gamma, lambda v: 0 <= v <= 1, 'must be in [0, 1]')
        _check('gae_lambda', self.gae_lambda, lambda v: 0 <= v <= 1, 'must be in [0, 1]')

        _check_int('group_size', self.group_size, 2,
                   'must be >= 2: group-relative advantages compare trajectories')
        if self.estimator == 'grpo_outcome' and self.group_completion == 'first_success':
            raise ValueError("estimator 'grpo_outcome' with group_completion 'first_success' "
                             'cuts the other trajectories off before they could succeed and '
                             "labels them failures; use group_completion='all_done'")

        _check('clip_eps', self.clip_eps, lambda v: 0 < v < 1, 'must be in (0, 1)')
        if self.clip_eps_high is not None:
            _check('clip_eps_high', self.clip_eps_high,
                   lambda v: self.clip_eps <= v < math.inf,
                   f'must be finite and >= clip_eps ({self.clip_eps})')
        _check('beta', self.beta, lambda v: 0 <= v < math.inf, 'must be finite and >= 0')
        _check('temperature', self.temperature, lambda v: 0 < v < math.inf,
               'must be finite and > 0 (greedy actions have no distribution to learn from)')

        _check('lr', self.lr, lambda v: 0 < v < math.inf, 'must be finite and > 0')
        _check_int('update_epochs', self.update_epochs, 1, 'must be >= 1')
        _check_int('minibatch_size', self.minibatch_size, 1, 'must be >= 1')
        if self.max_grad_norm is not None:
            _check('max_grad_norm', self.max_grad_norm, lambda v: 0 < v < math.inf,
                   'must be finite and > 0 (or None for no clipping)')

        _check('value_loss_coef', self.value_loss_coef, lambda v: 0 <= v < math.inf,
               'must be finite and >= 0')
        if self.value_clip is not None:
            _check('value_clip', self.value_clip, lambda v: 0 < v < math.inf,
                   'must be finite and > 0 (or None for no clipping)')
        if not isinstance(self.recompute_old_logprobs, bool):
            raise ValueError('recompute_old_logprobs must be true or false; got '
                             f'{self.recompute_old_logprobs!r}')
        if not isinstance(self.reward_scaling, bool):
            raise ValueError(f'reward_scaling must be true or false; got {self.reward_scaling!r}')

    @property
    def clip_range(self) -> tuple[float, float]:
        """The ratio interval (1 - clip_eps, 1 + clip_eps_high or clip_eps)."""
        high = self.clip_eps if self.clip_eps_high is None else self.clip_eps_high
        return 1.0 - self.clip_eps, 1.0 + high


def _one_of(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f'{name} must be one of {", ".join(map(repr, allowed))}; '
                         f'got {value!r}')


def _check(name: str, value: float, ok: Callable[[float], bool], requirement: str) -> None:
    # Type first, so a string is reported as such; comparisons with NaN are False, so NaN
    # fails every predicate written as `ok`.
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise TypeError(f'{name} must be a number; got {type(value).__name__} {value!r}')
    if not ok(value):
        raise ValueError(f'{name} {requirement}; got {value!r}')


def _check_int(name: str, value: int, minimum: int, requirement: str) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f'{name} must be an int; got {type(value).__name__} {value!r}')
    if value < minimum:
        raise ValueError(f'{name} {requirement}; got {value}')
