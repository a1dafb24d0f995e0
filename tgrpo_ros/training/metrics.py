# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""One metrics row per iteration, the same for the in-process loop and the learner node."""

from __future__ import annotations

from tgrpo_ros.training.rollout import GroupStats
from tgrpo_ros.training.trainer import UpdateResult
from tgrpo_ros.versioning import PolicyVersion


def metrics_row(iteration: int, task: str, init_state: int, stats: GroupStats,
                update: UpdateResult, version: PolicyVersion, env_steps_total: int,
                lr: float) -> dict:
    """Flat dict of scalars (CSV/TensorBoard) plus a few ';'-joined per-trajectory lists."""
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
        'policy_version': version.version,
        'policy_sha256': version.sha256,
    }
