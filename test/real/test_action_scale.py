# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The shipped robot profiles move the arm per action unit as LIBERO's controller does.

The figures come from benchmarks/calibrate_action_scale.py (results/action_scale.json); a
profile edited away from them, or a new measurement not carried into the profiles, fails here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from tgrpo_ros.real.robot_profile import load_profile

MEASURED = Path(__file__).resolve().parents[2] / 'benchmarks' / 'results' / 'action_scale.json'
# The profiles carry the measurement rounded to 3 significant digits (< 0.5 % off); 1 % leaves
# room for that and nothing for a hand-picked value.
RTOL = 0.01


def _measured() -> dict:
    return json.loads(MEASURED.read_text())


@pytest.mark.parametrize('name', ['franka', 'ur', 'sim_test'])
def test_profile_scale_matches_the_libero_measurement(name):
    m = _measured()
    p = load_profile(name)
    # One figure per kind on every axis (the mean over axes), so an action keeps its direction.
    np.testing.assert_allclose(p.linear_scale_m, [m['linear_m_per_step']] * 3, rtol=RTOL,
                               err_msg=f'{name}: linear_m_per_step vs {MEASURED.name}')
    np.testing.assert_allclose(p.angular_scale_rad, [m['angular_rad_per_step']] * 3, rtol=RTOL,
                               err_msg=f'{name}: angular_rad_per_step vs {MEASURED.name}')
    # The measurement is per LIBERO control step (20 Hz): it only holds at that rate.
    assert p.control_rate_hz == m['control_rate_hz']


def test_the_measurement_is_a_real_libero_run():
    m = _measured()
    assert m['suite'] == 'libero_object' and m['frame'] == 'robot base'
    runs = {(r['axis'], r['action']) for r in m['runs']}
    for axis in ('x', 'y', 'z', 'roll', 'pitch', 'yaw'):
        for mag in m['magnitudes']:
            assert (axis, mag) in runs and (axis, -mag) in runs
    for r in m['runs']:
        # Each run moved along the commanded axis, in the commanded direction, every step.
        assert len(r['per_step']) == m['steps']
        assert all(np.sign(v) == np.sign(r['action']) for v in r['per_step'])
    # The isotropic figure is the mean of the per-axis ones, which lie close to it (a large
    # spread would mean a blocked run or a pose effect, and one figure would not do).
    for kind, bound in (('linear_m_per_step', 0.05), ('angular_rad_per_step', 0.10)):
        axes = np.array(m[f'{kind}_per_axis'])
        assert m[kind] == pytest.approx(axes.mean(), abs=1e-5)
        assert np.all(np.abs(axes / m[kind] - 1.0) < bound), (kind, axes)
    # Per action unit LIBERO moves the hand about 0.013 m per step, far below the controller's
    # nominal 0.05 m (the scale the profiles had before they were calibrated).
    assert 0.008 < m['linear_m_per_step'] < 0.02
