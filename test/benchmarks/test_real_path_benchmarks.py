# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The real-path result scripts: an interrupted table resumes, pairs are pairs, intervals hold."""

from __future__ import annotations

import argparse
import csv
import math
from pathlib import Path

from helpers import benchmark_script
import pytest


def _meta(**changes) -> dict:
    meta = {'policy': 'sft:x', 'profile': 'sim_franka', 'machine': {'cores': 2},
            'commit': 'abc', 'date': 'now', 'max_steps': 160, 'temperature': 1.0, 'seed': 7,
            'first_init_state': 25, 'how': 'test'}
    meta.update(changes)
    return meta


def _episode(row: str, i: int, ret: float, success: bool = False) -> dict:
    return {'row': row, 'episode': i, 'init_state': 25 + i, 'success': success, 'steps': 160,
            'dense_return': ret, 'max_stage': 1, 'wall_s': 1.0}


def test_the_gap_table_resumes_and_refuses_a_file_of_other_settings(tmp_path):
    gap = benchmark_script('bench_interface_gap')
    out = tmp_path / 'not_yet' / 'gap'  # a folder that does not exist yet is made
    episodes = [_episode('direct', 0, 10.0), _episode('+mirror', 0, 14.0),
                _episode('direct', 1, 20.0, True)]
    gap.write(out, _meta(), episodes)
    assert gap.earlier_episodes(out, _meta(commit='def', date='later')) == episodes
    assert gap.earlier_episodes(tmp_path / 'other', _meta()) == []
    with pytest.raises(SystemExit, match=r'max_steps: 160 there, 280 here'):
        gap.earlier_episodes(out, _meta(max_steps=280))
    assert '| +mirror | 1 | 0 | 14.0 | +4.0 |' in out.with_suffix('.md').read_text()


def test_the_paired_interval_is_students_t():
    mean, lo, hi = benchmark_script('bench_interface_gap').paired_interval([1.0, 2.0, 3.0])
    half = 4.303 * 1.0 / math.sqrt(3)  # t(0.975, 2 df) x sd / sqrt(n)
    assert mean == 2.0 and lo == pytest.approx(2 - half) and hi == pytest.approx(2 + half)
    assert math.isnan(benchmark_script('bench_interface_gap').paired_interval([1.0])[1])


def _args(tmp_path: Path) -> argparse.Namespace:
    return argparse.Namespace(out=tmp_path, model='sft:x', profile='sim_franka', iterations=1,
                              group_size=2, max_steps=160, lr=1e-4, seed=7,
                              placement_error_m=0.01, eval_episodes=3, first_eval_state=25,
                              temperature=1.0, skip_eval=False)


def test_the_real_train_result_pairs_episodes_by_index(tmp_path):
    rt = benchmark_script('run_real_train')
    run = tmp_path / 'run'
    run.mkdir()
    with open(run / 'metrics.csv', 'w', newline='') as f:
        w = csv.writer(f)
        w.writerow(['iteration', 'init_state', 'returns', 'mean_return', 'success_rate',
                    'masked_trials', 'lengths', 'update_time_s'])
        w.writerow([1, 0, '100.0;50.0', 75.0, 0.5, 0, '120;160', 9.5])

    def ep(policy, i, ret, success):
        return {'policy': policy, 'episode': i, 'init_state': 25 + i, 'success': success,
                'steps': 160, 'dense_return': ret, 'max_stage': 2, 'wall_s': 30.0}

    episodes = [ep('start', 0, 100.0, False), ep('final', 0, 150.0, True),
                ep('start', 1, 200.0, True), ep('final', 1, 180.0, False),
                ep('start', 2, 50.0, False), ep('final', 2, 90.0, True),
                ep('start', 3, 999.0, True)]  # no final episode 3 yet: not paired, left out
    doc = rt.summarise(_args(tmp_path), run, episodes, 600.0)
    assert doc['paired_episodes'] == 3
    assert doc['policies']['start']['successes'] == 1
    assert doc['policies']['final']['successes'] == 2
    assert doc['policies']['start']['mean_dense_return'] == pytest.approx(350 / 3)
    assert doc['paired_return_diff']['mean'] == pytest.approx((50 - 20 + 40) / 3)
    assert doc['success_changes'] == {'start_fail_final_success': 2,
                                      'start_success_final_fail': 1}
    lo, hi = doc['policies']['final']['success_ci95']
    assert 0 < lo < 2 / 3 < hi < 1
    rt.write(tmp_path, doc)
    md = (tmp_path / 'results.md').read_text()
    assert '| final | 2/3 |' in md and '| 1 | 0 | 100.0; 50.0 | 75.0 | 0.5 | 0 | 120;160 |' in md


def test_the_response_summary_reads_speed_rise_and_coast():
    """Steady speed, rise and coast from a known motion; rotations through the quaternions."""
    import numpy as np
    bench = benchmark_script('bench_controller_response')
    # x moves 0, 5, 10, 10, 10 mm per step while held (3 steps + ramp), then 4 and 1 mm of coast
    steps = [0.005, 0.010, 0.010, 0.010, 0.004, 0.001]
    x = np.concatenate([[0.0], np.cumsum(steps)])
    poses = np.zeros((len(x), 7))
    poses[:, 0] = -x  # a negative action: motion along the command counts as positive
    poses[:, 6] = 1.0
    s = bench.summarise(poses, 0, -0.5, hold=4)
    assert s['steady_m_per_step'] == pytest.approx(0.010)
    assert s['steady_per_unit'] == pytest.approx(0.020)
    assert s['rise_steps'] == 2
    assert s['coast_m'] == pytest.approx(0.005)
    # a turn of 0.1 rad per step about z, read back as yaw
    angles = np.arange(4) * 0.1
    quats = np.zeros((4, 7))
    quats[:, 5], quats[:, 6] = np.sin(angles / 2), np.cos(angles / 2)
    assert bench.motion(quats, 5) == pytest.approx([0.1, 0.1, 0.1])
    assert bench.motion(quats, 3) == pytest.approx([0.0, 0.0, 0.0], abs=1e-12)
