# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""One metrics row per iteration, and one row per evaluation, for every collector.

With first-success groups a training group's success rate is 1/N whenever anything succeeds
(the group ends at the first success), so it cannot show learning. What moves: the control
steps to the group's first success (``first_success_step``), and the success rate of a short
sampled evaluation on held-out initial states (``evaluation_row``).
"""

from __future__ import annotations

import math
from typing import Sequence

from tgrpo_ros.training.collector import GroupStats
from tgrpo_ros.training.trainer import UpdateResult
from tgrpo_ros.versioning import PolicyVersion


def metrics_row(iteration: int, task: str, init_state: int, stats: GroupStats,
                update: UpdateResult, version: PolicyVersion, env_steps_total: int,
                lr: float, *, masked_trials: int = 0, group_skipped: bool = False,
                masked_reasons: Sequence[str] = (), acting_version: int,
                staleness: int) -> dict:
    """Flat dict of scalars (CSV/TensorBoard) plus a few ';'-joined per-trajectory lists.

    The keys are the same for every collector and iteration (metrics.csv's columns are fixed
    within a run): ``first_success_step`` is NaN when no trajectory succeeded.
    stats: the valid trials' (``tgrpo_ros.training.trials``); the whole group's when skipped.
    masked_trials: abnormal trials masked out of this iteration's group; group_skipped: 1 when
    fewer than 2 valid trials remained and nothing was learned (update columns NaN);
    masked_reasons: ';'-joined reasons of the masked trials ('' when none).
    acting_version: the policy version that collected the group; staleness: updates the
    learner made after that version (``tgrpo_ros.training.pipeline``; 0 when synchronous).
    """
    n = len(stats.returns)
    hist = [0] * (stats.num_stages + 1)
    for s in stats.max_stage:
        hist[min(max(s, 0), stats.num_stages)] += 1
    return {
        'iteration': iteration,
        'task': task,
        'init_state': init_state,
        'env_steps': stats.env_steps,
        'env_steps_total': env_steps_total,
        'mean_return': sum(stats.returns) / n,
        'min_return': min(stats.returns),
        'max_return': max(stats.returns),
        'returns': ';'.join(f'{r:.4f}' for r in stats.returns),
        'lengths': ';'.join(str(x) for x in stats.lengths),
        'success_rate': sum(stats.success) / n,
        'first_success_step': (math.nan if stats.first_success_step is None
                               else stats.first_success_step),
        'stage_histogram': ';'.join(str(h) for h in hist),
        'loss': update.loss,
        'pg_loss': update.pg_loss,
        'kl_ref': update.kl_ref,
        'approx_kl': update.approx_kl,
        'clip_frac': update.clip_frac,
        'ratio_max': update.ratio_max,
        'first_abs_log_ratio_max': update.first_abs_log_ratio_max,
        'grad_norm': update.grad_norm,
        'value_loss': update.value_loss,
        'lr': lr,
        'rollout_time_s': stats.rollout_time_s,
        'update_time_s': update.update_time_s,
        'stale_actions': stats.stale_actions,
        'masked_trials': int(masked_trials),
        'group_skipped': int(bool(group_skipped)),
        'masked_reasons': ';'.join(masked_reasons),
        'acting_version': int(acting_version),
        'staleness': int(staleness),
        'policy_version': version.version,
        'policy_sha256': version.sha256,
    }


def wilson_interval(successes: int, n: int, z: float = 1.959964) -> tuple[float, float]:
    """95% Wilson score interval of a success rate (sensible at 0/n and n/n, unlike Wald's)."""
    if n <= 0:
        return math.nan, math.nan
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def evaluation_row(iteration: int, version: PolicyVersion, stats: Sequence[GroupStats],
                   init_states: Sequence[int], time_s: float) -> dict:
    """One evaluation: the groups' episodes pooled (all_done groups: every episode whole).

    iteration: the policy evaluated is the one after this iteration's update (0 = the start).
    """
    returns = [r for s in stats for r in s.returns]
    success = [x for s in stats for x in s.success]
    lengths = [x for s in stats for x in s.lengths]
    n, k = len(success), sum(success)
    lo, hi = wilson_interval(k, n)
    return {
        'iteration': iteration,
        'policy_version': version.version,
        'episodes': n,
        'successes': k,
        'success_rate': k / n if n else math.nan,
        'success_ci_low': lo,
        'success_ci_high': hi,
        'mean_return': sum(returns) / n if n else math.nan,
        'mean_length': sum(lengths) / n if n else math.nan,
        'init_states': ';'.join(str(s) for s in init_states),
        'env_steps': sum(s.env_steps for s in stats),
        'time_s': time_s,
    }
