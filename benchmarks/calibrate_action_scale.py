# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Measure how far LIBERO's controller moves the hand per control step for one action unit.

The robot profiles' ``action_scale`` (config/robots/*.yaml) turns a policy action into metres
and radians per control step on a real arm. A policy trained in LIBERO learned what its actions
do there, so the scale must match what LIBERO's OSC_POSE controller actually does once the hand
is moving, not the controller's nominal output range (0.05 m, 0.5 rad), which the arm never
reaches in one 50 ms step.

Method: for each axis (x, y, z translation; rotation about the base x, y, z axes), each sign and
each magnitude, reset ``LiberoEnv`` (LIBERO-Object task 0, benchmark initial state 0, no
rendering), send the same action for ``--steps`` control steps (gripper open, every other entry
zero), and read the hand's pose from the observation state (robot base frame, what a real
arm's profile is expressed in). The first ``--settle`` steps (the acceleration from rest) are
left out; the displacement per step over the rest, along the commanded axis and divided by the
action magnitude, is the scale (mean over steps; the spread over steps and runs is reported).
Rotation is the rotation vector of q_{t+1} * conj(q_t) in the base frame (OSC_POSE applies
rotation deltas in the base/world frame). The per-axis figure is the least-squares slope through
the origin over both signs and every magnitude up to ``--fit-max`` (0.3): displacement/step =
scale x action. Translation is linear in the action, but rotation is not (LIBERO's controller
turns less per unit at large actions), so the fit keeps to small actions: the range LIBERO
policies mostly use, and the only one a real profile passes unclipped (Franka: 0.5 rad/s is
0.025 rad per step, an action of about 0.2). The slope over all magnitudes is reported too.

The profiles use one figure for the three translation axes and one for the three rotation axes
(``linear_m_per_step``, ``angular_rad_per_step``: the mean of the per-axis slopes, also
reported): OSC_POSE has the same gains on every axis, the differences between axes come from
the arm's configuration at this start pose, and an isotropic scale keeps an action's direction
(an action (1, 0.3, 0) moves at 16.7 degrees, as in the safety filter's tests).

Writes ``benchmarks/results/action_scale.json`` and ``.md``::

    MUJOCO_GL=egl nice python benchmarks/calibrate_action_scale.py
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_sim import machine  # noqa: E402  (this script's folder is on sys.path)
from tgrpo_ros.sim.libero_env import LiberoEnv, STATE_NAMES  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'
AXES = ('x', 'y', 'z', 'roll', 'pitch', 'yaw')
POS = slice(STATE_NAMES.index('eef_pos_x'), STATE_NAMES.index('eef_pos_z') + 1)
QUAT = slice(STATE_NAMES.index('eef_quat_x'), STATE_NAMES.index('eef_quat_w') + 1)


def rotvec_between(q0: np.ndarray, q1: np.ndarray) -> np.ndarray:
    """Return the rotation vector of q1 * conj(q0) (x, y, z, w): the rotation from q0 to q1."""
    x0, y0, z0, w0 = -q0[0], -q0[1], -q0[2], q0[3]
    x1, y1, z1, w1 = q1
    d = np.array([w1 * x0 + x1 * w0 + y1 * z0 - z1 * y0,
                  w1 * y0 - x1 * z0 + y1 * w0 + z1 * x0,
                  w1 * z0 + x1 * y0 - y1 * x0 + z1 * w0,
                  w1 * w0 - x1 * x0 - y1 * y0 - z1 * z0])
    if d[3] < 0:
        d = -d  # shortest rotation
    s = float(np.linalg.norm(d[:3]))
    return np.zeros(3) if s < 1e-12 else d[:3] / s * 2.0 * math.atan2(s, d[3])


def run(env: LiberoEnv, axis: int, value: float, steps: int, settle: int) -> dict:
    """Hold action ``value`` on ``axis`` for ``steps`` steps; return per-step motion."""
    obs = env.reset(0)
    action = np.zeros(7)
    action[axis] = value
    action[6] = -1.0  # gripper open, as in LiberoEnv's wait steps
    poses = [obs.state]
    for _ in range(steps):
        obs, _ = env.step(action)
        poses.append(obs.state)
    along, across = [], []
    for a, b in zip(poses, poses[1:]):
        if axis < 3:
            d = b[POS] - a[POS]
        else:
            d = rotvec_between(a[QUAT], b[QUAT])
        k = axis % 3
        along.append(float(d[k]))
        across.append(float(np.linalg.norm(np.delete(d, k))))
    steady = np.array(along[settle:])
    return {'axis': AXES[axis], 'action': value, 'per_step': along,
            'steady_mean': float(steady.mean()), 'steady_std': float(steady.std()),
            'steady_per_unit': float(steady.mean() / value),
            'max_cross_axis': float(max(across[settle:]))}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    ap.add_argument('--magnitudes', type=float, nargs='+', default=[0.1, 0.3, 0.6, 1.0])
    ap.add_argument('--steps', type=int, default=16,
                    help='control steps per run (more reach the table)')
    ap.add_argument('--settle', type=int, default=6,
                    help='first steps left out (acceleration from rest)')
    ap.add_argument('--fit-max', type=float, default=0.3,
                    help='largest |action| in the fitted scale (rotation is not linear)')
    ap.add_argument('--out', default=str(RESULTS / 'action_scale'))
    args = ap.parse_args(argv)
    if not 0 < args.settle < args.steps:
        ap.error('need 0 < --settle < --steps')
    info = machine()
    t0 = time.time()
    env = LiberoEnv('libero_object', 0, cameras=())
    runs = []
    try:
        for axis in range(6):
            for mag in args.magnitudes:
                for sign in (1.0, -1.0):
                    r = run(env, axis, sign * mag, args.steps, args.settle)
                    runs.append(r)
                    unit = 'm' if axis < 3 else 'rad'
                    print(f'{r["axis"]:>5} action {r["action"]:+.1f}: '
                          f'{r["steady_mean"]:+.5f} {unit}/step '
                          f'({r["steady_per_unit"]:.5f} {unit}/step per unit, '
                          f'std {r["steady_std"]:.5f}, cross-axis {r["max_cross_axis"]:.5f})',
                          flush=True)
    finally:
        env.close()
    scale = {}
    for name in AXES:
        xs = np.array([r['action'] for r in runs if r['axis'] == name])
        ys = np.array([r['steady_mean'] for r in runs if r['axis'] == name])
        fit = np.abs(xs) <= args.fit_max + 1e-9
        if not np.any(fit):
            raise SystemExit(f'no magnitude <= --fit-max {args.fit_max}')
        per_unit = ys / xs
        scale[name] = {
            'per_step_per_unit': float(xs[fit] @ ys[fit] / (xs[fit] @ xs[fit])),
            'all_magnitudes_slope': float(xs @ ys / (xs @ xs)),
            'per_unit_by_magnitude': {f'{m:g}': float(per_unit[np.abs(xs) == m].mean())
                                      for m in args.magnitudes},
            'per_unit_min': float(per_unit.min()), 'per_unit_max': float(per_unit.max()),
            'unit': 'm' if name in ('x', 'y', 'z') else 'rad'}
    dt = 1.0 / 20.0  # LIBERO's control rate, 20 Hz
    lin = [scale[a]['per_step_per_unit'] for a in AXES[:3]]
    ang = [scale[a]['per_step_per_unit'] for a in AXES[3:]]
    result = {
        'what': 'LIBERO OSC_POSE hand motion per control step for a constant action, '
                'after the first steps of acceleration (calibrate_action_scale.py)',
        'suite': 'libero_object', 'task': 0, 'init_state': 0, 'frame': 'robot base',
        'control_rate_hz': 1.0 / dt, 'steps': args.steps, 'settle_steps_left_out': args.settle,
        'magnitudes': args.magnitudes, 'fit_max_action': args.fit_max,
        'linear_m_per_step': round(float(np.mean(lin)), 5),
        'angular_rad_per_step': round(float(np.mean(ang)), 5),
        'linear_m_per_step_per_axis': [round(v, 5) for v in lin],
        'angular_rad_per_step_per_axis': [round(v, 5) for v in ang],
        'per_axis': scale, 'runs': runs, 'seconds': round(time.time() - t0, 1),
        'machine': info}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix('.json').write_text(json.dumps(result, indent=1) + '\n')
    lines = [
        "# Action scale of LIBERO's controller",
        '',
        f'LIBERO-Object task 0, initial state 0, no rendering; each action held for '
        f'{args.steps} control steps (20 Hz) from rest, the first {args.settle} left out; '
        f'magnitudes {args.magnitudes}, both signs. Written by '
        '`benchmarks/calibrate_action_scale.py`.',
        '',
        f'Machine: {info["cpu"]}, {info["cores"]} cores.',
        '',
        f'Scale: least-squares slope over |action| <= {args.fit_max:g} (per control step, '
        'per action unit); then the figure per unit at each magnitude.',
        '',
        '| axis | scale | as speed | slope, all magnitudes | '
        + ' | '.join(f'at {m:g}' for m in args.magnitudes) + ' |',
        '|---' * (4 + len(args.magnitudes)) + '|']
    for name in AXES:
        s = scale[name]
        u = s['unit']
        lines.append(f'| {name} | {s["per_step_per_unit"]:.5f} {u} | '
                     f'{s["per_step_per_unit"] / dt:.3f} {u}/s | '
                     f'{s["all_magnitudes_slope"]:.5f} {u} | '
                     + ' | '.join(f'{v:.5f}' for v in s['per_unit_by_magnitude'].values())
                     + ' |')
    lin_s, ang_s = result['linear_m_per_step'], result['angular_rad_per_step']
    lines += ['', f"Profiles' scale (mean over axes): {lin_s:.5f} m and {ang_s:.5f} rad per "
              f'step per action unit ({lin_s / dt:.3f} m/s, {ang_s / dt:.2f} rad/s at action 1).',
              '', "The robot profiles' `action_scale` (config/robots/*.yaml) use these figures; "
              'test/real/test_action_scale.py checks that they agree.', '']
    out.with_suffix('.md').write_text('\n'.join(lines))
    print(json.dumps({'linear_m_per_step': result['linear_m_per_step'],
                      'angular_rad_per_step': result['angular_rad_per_step']}))
    return 0


if __name__ == '__main__':
    sys.exit(main())
