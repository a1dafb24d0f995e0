# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The GPU check script must work before GPU time is spent on it: run it shrunk, in bf16, here."""

import json
from pathlib import Path
import subprocess
import sys

ROOT = Path(__file__).resolve().parents[1]


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
