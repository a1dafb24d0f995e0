# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The GPU check script must work before GPU time is spent on it: run it shrunk, in bf16, here."""

import json
import math
from pathlib import Path
import subprocess
import sys

ROOT = Path(__file__).resolve().parents[2]


def test_gpu_policy_check_smoke_runs_on_cpu_in_bf16(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'gpu_policy_check.py'), '--out',
         str(tmp_path), '--smoke', '--device', 'cpu', '--dtype', 'bf16', '--repeats', '1',
         '--batches', '1', '3', '--update-batches', '2', '3'],
        capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / 'gpu_policy_check.json').read_text())
    assert result['smoke'] and result['dtype'] == 'bf16'
    for name in ('1b', 'openvla7b'):
        phase = result['phases'][name]
        assert 'error' not in phase
        assert [s['batch'] for s in phase['sampling']] == [1, 3]
        assert all(s['actions_per_s'] > 0 for s in phase['sampling'])
        assert all(u['samples_per_s'] > 0 for u in phase['update'])
    vla = result['phases']['openvla7b']
    assert vla['action_vocab_size'] == 32000 and vla['image_size'] == 224
    assert [u['batch'] for u in vla['update']] == [2, 3]
    assert [u['batch'] for u in result['phases']['1b']['update']] == [3]
    # bf16 is coarse, but sampling and teacher forcing still compute the same quantity.
    assert vla['logprob_gap_sample_vs_teacher_forced'] < 0.05


def test_update_benchmark_smoke_runs_the_trainer_at_every_size_on_cpu(tmp_path):
    proc = subprocess.run(
        [sys.executable, str(ROOT / 'benchmarks' / 'bench_update.py'), '--out', str(tmp_path),
         '--smoke', '--device', 'cpu', '--dtype', 'bf16', '--steps', '3'],
        capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    result = json.loads((tmp_path / 'update_scaling.json').read_text())
    assert list(result['phases']) == ['cpu-2m', 'cpu-20m', '1b', 'openvla7b']
    for name, phase in result['phases'].items():
        assert 'error' not in phase, name
        assert phase['samples'] == 4 * 3 and phase['update_seconds'] > 0
        # the trainer really ran: minibatches of the size's setting, finite diagnostics
        first = phase['updates'][0]
        assert first['minibatches'] == -(-12 // phase['minibatch_size'])
        assert all(map(math.isfinite, (first['loss'], first['grad_norm'], first['kl_ref'])))
        # the second update starts from moved weights, so the learner saw a new policy
        assert phase['updates'][1]['first_abs_log_ratio_max'] > 0
    assert result['phases']['openvla7b']['built_as'] == 'openvla-smoke'
    assert '| openvla7b |' in (tmp_path / 'update_scaling.md').read_text()
