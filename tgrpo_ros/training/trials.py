# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The rule for abnormal trials, in one place for every collector and every caller.

A trial (one trajectory of a group) that ends abnormally is masked out of its group: an
emergency stop, an operator abort, the environment's death, a timeout (a step that never
arrives), or an environment error. Its steps are real, but they end where the fault cut them,
not where the task or the completion rule did, so comparing them with the others would
reward or punish the fault.

- The group is kept when at least ``MIN_VALID_TRIALS`` (2) valid trials remain: the update sees
  only them (``GroupRolloutBuffer.select``), so advantages are z-scored among the valid trials
  and a masked trial contributes nothing to the loss.
- Otherwise the group is skipped: no update from it (a lone trial has nothing to be compared
  with).

Both are counted in the metrics (``masked_trials``, ``group_skipped``, ``masked_reasons``
columns of metrics.csv) and printed on the iteration line. Collectors only say which trials were
abnormal and why (``Group.valid``, ``Group.reasons``); they never decide what the update does.
Evaluations drop masked trials from their pooled statistics (``valid_stats``) the same way.

This module is free of ROS, so the rule is unit tested without a graph.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from tgrpo_ros.training.collector import Group, GroupStats

MIN_VALID_TRIALS = 2
# Why a trial is abnormal (``Group.reasons``); a collector may give another short word.
REASONS = ('error', 'timeout', 'env_died', 'emergency_stop', 'operator_abort')


@dataclass
class TrialOutcome:
    """What the rule made of one group.

    group: the group to learn from (valid trials only), or None when it is skipped.
    stats: the statistics to report: the valid trials', or the whole group's when skipped
        (what happened, though nothing is learned from it).
    masked: how many trials were masked out; reasons: their reasons, in trial order.
    """

    group: Group | None
    stats: GroupStats
    masked: int
    reasons: list[str]

    @property
    def skipped(self) -> bool:
        return self.group is None


def valid_indices(group: Group) -> list[int]:
    return [i for i, ok in enumerate(group.valid) if ok]


def subset_stats(stats: GroupStats, keep: list[int]) -> GroupStats:
    """Return ``stats`` of trajectories ``keep`` only (first success and step count redone)."""
    lengths = [stats.lengths[i] for i in keep]
    success = [stats.success[i] for i in keep]
    won = [n for n, s in zip(lengths, success) if s]
    return replace(stats, returns=[stats.returns[i] for i in keep], lengths=lengths,
                   success=success, max_stage=[stats.max_stage[i] for i in keep],
                   env_steps=sum(lengths), first_success_step=min(won) if won else None)


def valid_stats(group: Group) -> GroupStats:
    """Return the group's statistics over its valid trials (evaluations pool these)."""
    keep = valid_indices(group)
    return group.stats if len(keep) == len(group.valid) else subset_stats(group.stats, keep)


def apply_trial_rule(group: Group) -> TrialOutcome:
    """Mask the abnormal trials of ``group``; keep it if >= 2 valid trials remain, else skip."""
    keep = valid_indices(group)
    n = len(group.valid)
    reasons = [group.reasons[i] or 'error' for i in range(n) if not group.valid[i]]
    if len(keep) == n:
        return TrialOutcome(group, group.stats, 0, [])
    if len(keep) < MIN_VALID_TRIALS:
        return TrialOutcome(None, group.stats, n - len(keep), reasons)
    request = replace(group.request, num_envs=len(keep),
                      init_states=tuple(group.request.init_states[i] for i in keep))
    stats = subset_stats(group.stats, keep)
    kept = Group(request=request, buffer=group.buffer.select(keep), stats=stats,
                 final_observations=[group.final_observations[i] for i in keep],
                 valid=[True] * len(keep), reasons=[''] * len(keep))
    return TrialOutcome(kept, stats, n - len(keep), reasons)
