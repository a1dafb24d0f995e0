# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The one interface between the training driver and whatever runs the episodes.

The driver (``tgrpo_ros.training.driver``) asks a ``Collector`` for groups and never steps an
environment itself. Two collectors exist:

- ``tgrpo_ros.training.rollout.InProcessCollector``: an ``EnvGroup`` (worker processes) or a
  ``LocalEnvGroup`` and the policy object the trainer updates;
- ``tgrpo_ros.ros.collector.RosCollector``: the ROS graph (``sim_env`` nodes, the policy node),
  steps joined by ``tgrpo_ros.training.step_assembler.StepAssembler``.

Shapes (N = ``request.num_envs`` trajectories, T = the longest valid trajectory, K = 7 action
tokens, ``tgrpo_ros.contract.ACTION_DIM``)::

    GroupRequest  ->  collect  ->  Group
                                    .buffer              GroupRolloutBuffer: rewards (N, T),
                                                         mask (N, T), token_ids (N, T, K),
                                                         old log-probs (N, T, K), lengths (N,)
                                    .stats               GroupStats (per-trajectory lists of N)
                                    .final_observations  N entries: the observation after each
                                                         trajectory's last valid step, or None
                                    .valid               (N,) bool per trial

How the cases the interface is meant for fit:

- Trials run one after another on one robot (sim-to-real): a collector that runs the N trials
  of a request in sequence on its one arm and fills trajectory i with trial i. Nothing in
  ``Group`` assumes the N trajectories ran at the same time; ``valid`` lets it mark a trial an
  operator aborted, and the driver masks it (``tgrpo_ros.training.trials``).
- Several groups at once (throughput): ``collect_many(requests)`` returns one ``Group`` per
  request; a collector with more environments than N overrides it to run them concurrently
  (group ids keep their messages apart). The default collects them one after another.
- Environments joining and leaving (scale-out): the ROS collector picks the N env ids of each
  request from those alive at that moment; a request names N, never which environments.

Group ids (``tgrpo_ros.contract``): a training group's id is the iteration that collects it;
evaluation groups take ids from ``EVAL_GROUP_ID_BASE`` upwards, so their messages can never be
joined into a training group's.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
import hashlib
import math
from typing import Any, Literal, Sequence

from tgrpo_ros.algo import GroupRolloutBuffer
from tgrpo_ros.algo.config import GROUP_COMPLETION_RULES
from tgrpo_ros.versioning import PolicyVersion

Purpose = Literal['train', 'eval']
PURPOSES = ('train', 'eval')
# Evaluation groups are numbered from here: far above any iteration count, below 2**63.
EVAL_GROUP_ID_BASE = 1_000_000_000


def sampler_seed(run_seed: int, version: int, group_id: int) -> int:
    """Seed of the sampling noise for ``group_id`` acted by policy ``version`` (63 bits).

    Derived, not carried: a policy node started again (a crash, a resumed run) draws the same
    noise for the same group and version as one that ran all along, without any state to save.
    A hash rather than arithmetic so neighbouring groups get unrelated streams.
    """
    digest = hashlib.sha256(f'{int(run_seed)}/{int(version)}/{int(group_id)}'.encode()).digest()
    return int.from_bytes(digest[:8], 'little') >> 1


@dataclass(frozen=True)
class GroupRequest:
    """One group to collect: N episodes, each reset to its initial state with one seed.

    group_id: the id every message of the group carries (``tgrpo_ros.contract``).
    task: task name or index (decimal string) within the run's suite.
    init_states: N initial-state indices, one per trajectory (a training group repeats one
        index N times; an evaluation may spread its episodes over several held-out states).
    seed: the environments' seed; in-process also the sampler's, so a group is reproducible.
    num_envs: N trajectories (>= 2: ``GroupRolloutBuffer`` compares within the group).
    max_steps: control steps per episode at most (0 = the suite's maximum).
    completion: 'first_success' or 'all_done' (``GroupRolloutBuffer``).
    temperature: sampling temperature of the actions.
    purpose: 'train' (the driver updates on it) or 'eval' (measured only).
    """

    group_id: int
    task: str
    init_states: tuple[int, ...]
    seed: int
    num_envs: int
    max_steps: int
    completion: str
    temperature: float
    purpose: Purpose = 'train'

    def __post_init__(self):
        if self.num_envs < 2:
            raise ValueError(f'num_envs must be >= 2, got {self.num_envs}')
        if len(self.init_states) != self.num_envs:
            raise ValueError(f'{len(self.init_states)} initial states for {self.num_envs} '
                             'trajectories')
        if self.completion not in GROUP_COMPLETION_RULES:
            raise ValueError(f'completion must be one of {GROUP_COMPLETION_RULES}, got '
                             f'{self.completion!r}')
        if self.purpose not in PURPOSES:
            raise ValueError(f'purpose must be one of {PURPOSES}, got {self.purpose!r}')
        if self.max_steps < 0:
            raise ValueError(f'max_steps must be >= 0, got {self.max_steps}')


@dataclass
class GroupStats:
    """What a group's episodes produced; built once, by ``group_stats``.

    returns, lengths, success, max_stage: N entries, one per trajectory (after the group's
        completion rule: a first-success group cuts every trajectory at the first success).
    first_success_step: control steps to the group's first success (the length of the
        shortest successful trajectory), None when no trajectory succeeded.
    env_steps: valid (trajectory, step) samples the group holds.
    stale_actions: steps acted by another policy version than the one served for the group.
    """

    returns: list[float]
    lengths: list[int]
    success: list[bool]
    max_stage: list[int]
    num_stages: int
    env_steps: int
    rollout_time_s: float
    first_success_step: int | None = None
    stale_actions: int = 0

    @property
    def mean_return(self) -> float:
        return sum(self.returns) / len(self.returns) if self.returns else math.nan


def group_stats(buffer: GroupRolloutBuffer, max_stage: Sequence[int], num_stages: int,
                rollout_time_s: float, stale_actions: int = 0) -> GroupStats:
    """Summarise a complete buffer: rewards (N, T) * mask (N, T) summed per trajectory."""
    rewards, mask = buffer.rewards, buffer.mask
    lengths = buffer.lengths.tolist()
    success = buffer.success.tolist()
    won = [n for n, s in zip(lengths, success) if s]
    return GroupStats(returns=(rewards * mask).sum(1).tolist(), lengths=lengths,
                      success=success, max_stage=list(max_stage), num_stages=int(num_stages),
                      env_steps=len(buffer), rollout_time_s=float(rollout_time_s),
                      first_success_step=min(won) if won else None,
                      stale_actions=int(stale_actions))


@dataclass
class Group:
    """One collected group.

    buffer: the complete ``GroupRolloutBuffer`` (N trajectories; see the module docstring).
    final_observations: N entries, the observation reached by each trajectory's last valid
        step (what PPO bootstraps from), or None where the collector never saw it (over ROS an
        environment publishes no observation after its episode ended at its time limit).
    valid: (N,) whether each trial ran normally. False: it ended abnormally (an environment
        error, its environment died, a step timed out, an emergency stop or operator abort);
        the driver masks it out by the one rule in ``tgrpo_ros.training.trials``.
    reasons: (N,) why each invalid trial is invalid (``trials.REASONS``), '' for valid ones.
    """

    request: GroupRequest
    buffer: GroupRolloutBuffer
    stats: GroupStats
    final_observations: list[Any]
    valid: list[bool] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)

    def __post_init__(self):
        n = self.request.num_envs
        if not self.valid:
            self.valid = [True] * n
        if not self.reasons:
            self.reasons = ['' if ok else 'error' for ok in self.valid]
        if len(self.final_observations) != n or len(self.valid) != n or len(self.reasons) != n:
            raise ValueError(f'a group of {n} needs {n} final observations, validity flags and '
                             'reasons')


class Collector(ABC):
    """Runs groups of episodes for the driver.

    An abstract base rather than a Protocol so ``collect_many`` and ``close`` have defaults;
    a collector implements ``collect`` and ``serve``.
    """

    @abstractmethod
    def collect(self, request: GroupRequest) -> Group:
        """Run the request's N episodes until its completion rule ends the group."""

    def collect_many(self, requests: Sequence[GroupRequest]) -> list[Group]:
        """Collect several groups; here one after another, a collector may overlap them."""
        return [self.collect(r) for r in requests]

    @abstractmethod
    def serve(self, version: PolicyVersion, adapter_path: str) -> None:
        """Return once ``version`` (saved at ``adapter_path``; '' = the start) is acting."""

    def close(self) -> None:
        """Release the environments (idempotent)."""
