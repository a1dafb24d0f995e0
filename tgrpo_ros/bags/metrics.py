# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Offline-evaluation metrics, accumulated batch by batch (per episode and overall).

For N samples with predicted actions p (N, 7) and recorded actions r (N, 7), both in the
environment's action space:

* ``mae`` / ``rmse``: per dimension, in action units; ``mae_physical`` / ``rmse_physical``: the
  first 6 dimensions times the topic map's ``physical_scale`` (m and rad per control step).
* ``gripper_agreement``: fraction of samples where predicted and recorded gripper agree on
  closed (value > 0, LIBERO's +1 = close) versus open.
* ``nll``: mean over samples of the recorded action's negative log-likelihood under the policy,
  ``-sum_k log pi(token_k)`` in nats per action (7 tokens, teacher forced, temperature 1);
  ``nll_per_token`` is that divided by 7.
* ``token_accuracy``: fraction of the 7 tokens where the policy's greedy prediction equals the
  recorded action's token (overall and per dimension, ``token_accuracy_per_dim``).
"""

from __future__ import annotations

import numpy as np

DIM_NAMES = ['x', 'y', 'z', 'roll', 'pitch', 'yaw', 'gripper']


class MetricAccumulator:
    """Sums that give the metrics of any set of samples; add batches, read ``result()``."""

    def __init__(self, physical_scale: list[float]) -> None:
        self.scale = np.asarray(physical_scale, dtype=np.float64)
        self.n = 0
        self.abs = np.zeros(7)
        self.sq = np.zeros(7)
        self.grip_agree = 0
        self.nll = 0.0
        self.tok_hits = np.zeros(7)
        self.sources: dict[str, int] = {}

    def add(self, predicted: np.ndarray, recorded: np.ndarray, pred_tokens: np.ndarray,
            target_tokens: np.ndarray, target_logprobs: np.ndarray, sources: list[str]) -> None:
        err = np.asarray(predicted, np.float64) - np.asarray(recorded, np.float64)
        self.n += len(err)
        self.abs += np.abs(err).sum(0)
        self.sq += (err ** 2).sum(0)
        self.grip_agree += int(((predicted[:, 6] > 0) == (recorded[:, 6] > 0)).sum())
        self.nll += float(-np.asarray(target_logprobs, np.float64).sum())
        self.tok_hits += (np.asarray(pred_tokens) == np.asarray(target_tokens)).sum(0)
        for s in sources:
            self.sources[s] = self.sources.get(s, 0) + 1

    def result(self) -> dict:
        if self.n == 0:
            return {'samples': 0}
        mae, rmse = self.abs / self.n, np.sqrt(self.sq / self.n)
        return {
            'samples': self.n,
            'mae': _named(mae), 'rmse': _named(rmse),
            'mae_mean': float(mae.mean()), 'rmse_mean': float(np.sqrt((self.sq / self.n).mean())),
            'mae_physical': _named(mae[:6] * self.scale),
            'rmse_physical': _named(rmse[:6] * self.scale),
            'gripper_agreement': self.grip_agree / self.n,
            'nll': self.nll / self.n, 'nll_per_token': self.nll / (7 * self.n),
            'token_accuracy': float(self.tok_hits.sum() / (7 * self.n)),
            'token_accuracy_per_dim': _named(self.tok_hits / self.n),
            'token_source': dict(self.sources),
        }


def _named(values: np.ndarray) -> dict[str, float]:
    return {DIM_NAMES[i]: float(v) for i, v in enumerate(values)}
