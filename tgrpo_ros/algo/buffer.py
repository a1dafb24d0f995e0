# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""GroupRolloutBuffer: one group of N trajectories, from collection to shuffled minibatches.

The learner's loop with it::

    buffer.reset(group_id)
    while not buffer.is_complete:                   # steps arrive in any order across envs
        buffer.add(env, step, obs, token_ids, logprobs, reward, success=..., done=...)
    adv = compute_advantages(buffer.rewards, buffer.mask, cfg.estimator, cfg,
                             success=buffer.success)
    for epoch in range(cfg.update_epochs):
        for mb in buffer.minibatches(adv, cfg.minibatch_size, generator=g):
            new = policy.token_logprobs(mb.observations, mb.token_ids, cfg.temperature, grad=True)
            ref = ...(reference=True, grad=False) if cfg.beta > 0 else None
            loss, metrics = policy_loss(new, mb.old_logprobs, mb.advantages, ref_logprobs=ref,
                                        step_weights=mb.step_weights, config=cfg)

When is a group complete (``completion``)?

- 'first_success' (the paper): as soon as one environment succeeds at step s, the group's
  length is M = s + 1. Steps after s are dropped from every trajectory (environments ahead of
  the others may already have sent them), and the group is complete once every environment has
  reached step s or finished earlier. Without any success: when all environments are finished.
- 'all_done': when every environment is finished.

An environment is finished when a step reports ``done`` or ``success``, or after ``max_steps``.

Observations are stored as given, opaque (an ``Observation`` with its images, or a handle to
one). The buffer holds one group: ``reset`` drops the previous group's observations, so the
images of at most one group stay alive. To keep more (several groups per update), keep several
buffers.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
import operator
from typing import Any, Iterator

import torch

from tgrpo_ros.algo.config import GROUP_COMPLETION_RULES


@dataclass
class Minibatch:
    """B (trajectory, step) samples of one group.

    observations: B observations (or handles), as given to ``add``.
    token_ids: (B, K) int64 action tokens taken.
    old_logprobs: (B, K) float32 log-probs recorded when sampling.
    advantages: (B,) float32, one per sample.
    step_weights: (B,) float32, 1 / (valid steps of the sample's trajectory) ('seq-mean').
    env_index: (B,) int64 trajectory (environment) index; step_index: (B,) int64 step.
    old_values: (B,) float32 critic values recorded at rollout, if values were added.
    returns: (B,) float32 value targets, if ``returns`` was given to ``minibatches``.
    """

    observations: list[Any]
    token_ids: torch.Tensor
    old_logprobs: torch.Tensor
    advantages: torch.Tensor
    step_weights: torch.Tensor
    env_index: torch.Tensor
    step_index: torch.Tensor
    old_values: torch.Tensor | None = None
    returns: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.observations)

    def select(self, rows: slice) -> Minibatch:
        """Return the samples ``rows`` of this minibatch (a data-parallel rank's share)."""
        return Minibatch(**{f.name: None if getattr(self, f.name) is None
                            else getattr(self, f.name)[rows] for f in fields(self)})


class GroupRolloutBuffer:
    """Collects one group of ``num_envs`` trajectories of at most ``max_steps`` steps."""

    def __init__(self, num_envs: int, max_steps: int, completion: str = 'first_success',
                 action_tokens: int = 7):
        """Preallocate storage for (num_envs, max_steps) steps of ``action_tokens`` tokens."""
        for name, value, minimum in (('num_envs', num_envs, 2), ('max_steps', max_steps, 1),
                                     ('action_tokens', action_tokens, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ValueError(f'{name} must be an int >= {minimum}; got {value!r}')
        if completion not in GROUP_COMPLETION_RULES:
            raise ValueError(f'completion must be one of {GROUP_COMPLETION_RULES}; '
                             f'got {completion!r}')
        self.num_envs = num_envs
        self.max_steps = max_steps
        self.completion = completion
        self.action_tokens = action_tokens
        self.reset()

    def reset(self, group_id: int = 0) -> None:
        """Forget the current group (observations included) and start group ``group_id``."""
        n, t, k = self.num_envs, self.max_steps, self.action_tokens
        self.group_id = group_id
        self._observations: list[list[Any]] = [[] for _ in range(n)]
        self._token_ids = torch.zeros(n, t, k, dtype=torch.int64)
        self._logprobs = torch.zeros(n, t, k, dtype=torch.float32)
        self._rewards = torch.zeros(n, t, dtype=torch.float32)
        self._success = torch.zeros(n, t, dtype=torch.bool)
        self._values = torch.zeros(n, t, dtype=torch.float32)
        self._has_values: bool | None = None
        self._lengths = [0] * n
        self._finished = [False] * n
        self._first_success: int | None = None

    # --- collection -------------------------------------------------------------------------
    def add(self, env: int, step: int, observation: Any, token_ids: Any, logprobs: Any,
            reward: float, success: bool = False, done: bool = False,
            value: float | None = None) -> None:
        """Record step ``step`` of environment ``env``.

        observation: what the policy acted on (opaque). token_ids: (K,) action tokens taken.
        logprobs: (K,) their log-probs at sampling. reward: dense reward of the state reached.
        success / done: as the environment reported them for that state.
        value: the critic's value of ``observation`` (PPO only; all steps or none).
        Steps of one environment must arrive in order 0, 1, 2, ...; a step for an environment
        that ``is_active`` says is no longer collecting is an error.
        """
        env, step = _index(env, 'env'), _index(step, 'step')
        if not 0 <= env < self.num_envs:
            raise ValueError(f'env must be an index in [0, {self.num_envs}); got {env!r}')
        if not self.is_active(env):
            raise ValueError(f'env {env} is no longer collecting in group {self.group_id} '
                             f'(finished, past the first success, or group complete)')
        if step != self._lengths[env]:
            raise ValueError(f'env {env}: expected step {self._lengths[env]}, got {step} '
                             '(steps of one environment must arrive in order)')
        # Stored on the CPU: a group of a few hundred steps is small, and the learner moves
        # each minibatch to its device.
        tokens = torch.as_tensor(token_ids).detach().cpu()
        logp = torch.as_tensor(logprobs).detach().cpu()
        k = self.action_tokens
        if tokens.shape != (k,) or tokens.is_floating_point() or tokens.is_complex():
            raise ValueError(f'token_ids must be ({k},) integers; got {tokens.dtype} '
                             f'{tuple(tokens.shape)}')
        if logp.shape != (k,) or not torch.isfinite(logp).all() or (logp > 0).any():
            raise ValueError(f'logprobs must be ({k},) finite values <= 0; got {logp.tolist()}')
        if not torch.isfinite(torch.tensor(float(reward))):
            raise ValueError(f'env {env} step {step}: reward must be finite; got {reward!r}')
        if value is not None and not torch.isfinite(torch.tensor(float(value))):
            raise ValueError(f'env {env} step {step}: value must be finite; got {value!r}')
        has_value = value is not None
        if self._has_values is not None and has_value != self._has_values:
            raise ValueError('value must be given for every step of a group or for none')
        self._has_values = has_value

        self._observations[env].append(observation)
        self._token_ids[env, step] = tokens.to(torch.int64)
        self._logprobs[env, step] = logp.to(torch.float32)
        self._rewards[env, step] = float(reward)
        self._success[env, step] = bool(success)
        if value is not None:
            self._values[env, step] = float(value)
        self._lengths[env] = step + 1
        if success or done or step + 1 == self.max_steps:
            self._finished[env] = True
        if success and self.completion == 'first_success' and (
                self._first_success is None or step < self._first_success):
            self._first_success = step

    def stop(self, env: int) -> None:
        """End trajectory ``env`` where it is, without a final step (its trial ended abnormally).

        What it collected stays; the group can complete without it. The caller masks the
        trajectory out of the update (``tgrpo_ros.training.trials``).
        """
        env = _index(env, 'env')
        if not 0 <= env < self.num_envs:
            raise ValueError(f'env must be an index in [0, {self.num_envs}); got {env!r}')
        self._finished[env] = True

    def select(self, keep: list[int]) -> GroupRolloutBuffer:
        """Return a new complete buffer of trajectories ``keep`` (>= 2), as they are now.

        Each kept trajectory keeps its valid steps (after the first-success cut), observations
        and values included; the new buffer's statistics see only them, so advantages are
        computed among the kept trajectories alone.
        """
        keep = [_index(i, 'env') for i in keep]
        if len(set(keep)) != len(keep) or any(not 0 <= i < self.num_envs for i in keep):
            raise ValueError(f'keep must name distinct trajectories of [0, {self.num_envs}); '
                             f'got {keep}')
        lengths = self.lengths.tolist()
        out = GroupRolloutBuffer(len(keep), self.max_steps, self.completion, self.action_tokens)
        out.reset(self.group_id)
        for j, i in enumerate(keep):
            n = lengths[i]
            out._observations[j] = list(self._observations[i][:n])
            for src, dst in ((self._token_ids, out._token_ids), (self._logprobs, out._logprobs),
                             (self._rewards, out._rewards), (self._success, out._success),
                             (self._values, out._values)):
                dst[j, :n] = src[i, :n]
            out._lengths[j] = n
        # Collection is over: every kept trajectory is finished where it stands.
        out._finished = [True] * len(keep)
        out._has_values = self._has_values
        return out

    def is_active(self, env: int) -> bool:
        """Whether environment ``env`` should still act and report steps in this group."""
        if self.is_complete or self._finished[env]:
            return False
        return self._first_success is None or self._lengths[env] <= self._first_success

    @property
    def is_complete(self) -> bool:
        """Whether the group has ended under the completion rule (see the module docstring)."""
        if all(self._finished):
            return True
        if self._first_success is None:
            return False
        return all(finished or length > self._first_success
                   for finished, length in zip(self._finished, self._lengths))

    # --- the group, for the advantage estimator ---------------------------------------------
    @property
    def lengths(self) -> torch.Tensor:
        """Valid steps per trajectory (N,) int64, after the first-success cut."""
        lengths = torch.tensor(self._lengths, dtype=torch.int64)
        if self._first_success is not None:
            lengths = lengths.clamp(max=self._first_success + 1)
        return lengths

    @property
    def mask(self) -> torch.Tensor:
        """Valid steps (N, T) bool, T = the longest valid trajectory."""
        lengths = self.lengths
        t = int(lengths.max())
        return torch.arange(t)[None, :] < lengths[:, None]

    @property
    def rewards(self) -> torch.Tensor:
        """Dense rewards (N, T) float32, 0 where masked."""
        mask = self.mask
        return torch.where(mask, self._rewards[:, :mask.shape[1]], 0.0)

    @property
    def success(self) -> torch.Tensor:
        """Which trajectories succeeded within their valid steps (N,) bool."""
        mask = self.mask
        return (self._success[:, :mask.shape[1]] & mask).any(dim=1)

    @property
    def values(self) -> torch.Tensor | None:
        """Critic values (N, T) float32 recorded at rollout, 0 where masked; None if not given."""
        if not self._has_values:
            return None
        mask = self.mask
        return torch.where(mask, self._values[:, :mask.shape[1]], 0.0)

    def set_values(self, values: torch.Tensor) -> None:
        """Record critic values (N, T) for the group's valid steps after collection.

        For collectors that do not evaluate the critic while acting (the ROS graph): the
        learner computes V(s) of the collected observations under the weights that acted.
        """
        mask = self.mask
        if tuple(values.shape) != tuple(mask.shape):
            raise ValueError(f'values must have the group shape {tuple(mask.shape)}; got '
                             f'{tuple(values.shape)}')
        v = values.detach().to('cpu', torch.float32)
        if not torch.isfinite(v[mask]).all():
            raise ValueError('values must be finite at every valid step')
        self._values.zero_()
        self._values[:, :mask.shape[1]] = torch.where(mask, v, 0.0)
        self._has_values = True

    def steps(self) -> tuple[list[Any], torch.Tensor, torch.Tensor, torch.Tensor]:
        """Every valid step in (trajectory, step) order.

        Returns (observations: B, token_ids: (B, K) int64, env_index: (B,), step_index: (B,)).
        """
        env_index, step_index = self.mask.nonzero(as_tuple=True)
        obs = [self._observations[e][s] for e, s in zip(env_index.tolist(),
                                                        step_index.tolist())]
        return obs, self._token_ids[env_index, step_index], env_index, step_index

    # --- the update -------------------------------------------------------------------------
    def minibatches(self, advantages: torch.Tensor, minibatch_size: int, *,
                    generator: torch.Generator | None = None,
                    returns: torch.Tensor | None = None) -> Iterator[Minibatch]:
        """Yield every valid (trajectory, step) sample once, shuffled, in minibatches.

        advantages: (N, T) from ``compute_advantages(buffer.rewards, buffer.mask, ...)``.
        returns: (N, T) value targets (PPO), carried along when given.
        The last minibatch holds the remainder (smaller than ``minibatch_size``). Call once
        per update epoch; each call draws a new order from ``generator``. All tensors are on
        the CPU; the learner moves them to its device.
        """
        if not self.is_complete:
            raise RuntimeError(f'group {self.group_id} is not complete; collect until '
                               'is_complete before updating')
        if isinstance(minibatch_size, bool) or not isinstance(minibatch_size, int) \
                or minibatch_size < 1:
            raise ValueError(f'minibatch_size must be an int >= 1; got {minibatch_size!r}')
        mask = self.mask
        if advantages.shape != mask.shape:
            raise ValueError(f'advantages must have the group shape {tuple(mask.shape)} '
                             f'(buffer.mask); got {tuple(advantages.shape)}')
        if returns is not None and returns.shape != mask.shape:
            raise ValueError(f'returns must have the group shape {tuple(mask.shape)}; got '
                             f'{tuple(returns.shape)}')
        advantages = advantages.detach().to('cpu', torch.float32)
        if returns is not None:
            returns = returns.detach().to('cpu', torch.float32)
        env_index, step_index = mask.nonzero(as_tuple=True)
        weights = 1.0 / self.lengths.to(torch.float32)
        order = torch.randperm(env_index.numel(), generator=generator)
        for start in range(0, order.numel(), minibatch_size):
            pick = order[start:start + minibatch_size]
            envs, steps = env_index[pick], step_index[pick]
            yield Minibatch(
                observations=[self._observations[e][s] for e, s in zip(envs.tolist(),
                                                                       steps.tolist())],
                token_ids=self._token_ids[envs, steps],
                old_logprobs=self._logprobs[envs, steps],
                advantages=advantages[envs, steps],
                step_weights=weights[envs],
                env_index=envs,
                step_index=steps,
                old_values=self._values[envs, steps] if self._has_values else None,
                returns=None if returns is None else returns[envs, steps],
            )

    def __len__(self) -> int:
        """Return the number of valid (trajectory, step) samples in the group."""
        return int(self.lengths.sum())


def _index(value: Any, name: str) -> int:
    # numpy and torch integers are fine; bools and floats are mistakes.
    if isinstance(value, bool):
        raise ValueError(f'{name} must be an integer index; got {value!r}')
    try:
        return operator.index(value)
    except TypeError:
        raise ValueError(f'{name} must be an integer index; got {value!r}') from None
