# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""benchmarks/bench_scaleout.py: the layouts spread the same work, and the figure is honest."""

from __future__ import annotations

import csv
from pathlib import Path

from helpers import benchmark_script
import pytest


def _metrics(folder: Path, rows: list[tuple[int, int, float, str]]) -> Path:
    folder.mkdir()
    with open(folder / 'metrics.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['iteration', 'env_steps', 'rollout_time_s', 'masked_trials'])
        w.writerows(rows)
    return folder


def test_environments_are_spread_round_robin_and_all_placed():
    spread = benchmark_script('bench_scaleout').spread
    assert spread(4, 1) == [4]
    assert spread(4, 2) == [2, 2]
    assert spread(4, 3) == [2, 1, 1]
    assert all(sum(spread(e, k)) == e for e in range(1, 9) for k in range(1, 4))


def test_the_rate_leaves_out_the_first_iteration_and_refuses_masked_trials(tmp_path):
    rate = benchmark_script('bench_scaleout').rollout_rate
    # the first iteration (discovery, warm-up) is slow and must not count
    run = _metrics(tmp_path / 'ok', [(1, 200, 100.0, '0'), (2, 200, 20.0, '0'),
                                     (3, 200, 30.0, '0')])
    assert rate(run) == (8.0, 400, 50.0)
    masked = _metrics(tmp_path / 'masked', [(1, 200, 20.0, '0'), (2, 150, 20.0, '1')])
    with pytest.raises(RuntimeError, match='masked'):
        rate(masked)
    with pytest.raises(RuntimeError, match='no iteration after the first'):
        rate(_metrics(tmp_path / 'short', [(1, 200, 20.0, '0')]))
