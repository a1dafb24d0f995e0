# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""How the hand answers the same actions under LIBERO's controller and on the real path.

A policy trained in LIBERO learned how OSC_POSE moves the hand; on a real arm its actions go
through the arm adapter's ``SafetyFilter`` (profile action scale, speed and acceleration limits)
and MoveIt Servo. This benchmark puts both on the same MuJoCo scene state and sends both the same
action sequence: hold one action for ``--hold`` control steps, then a neutral action for
``--coast`` steps: ``--coast-value`` (1e-4) on every motion axis, not an exact zero, because
robosuite's OSC_POSE keeps its rotation goal while the rotation command is exactly zero (the arm
then goes on turning, up to 0.37 rad after an action of 1) and a sampled policy action is never
exactly zero (the SFT policy's neutral bin un-normalises to -1.5e-4, 4.3e-3, -1.2e-3 rad/unit).
The real path is ``SafetyFilter`` (the shipped ``sim_franka`` profile) -> twist -> ``ServoArm``
(the Servo-style Jacobian controller behind ``sim_robot``), one control period at a time, as
``tgrpo_ros.sim.real_path`` runs it.

Two scene states, LIBERO-Object task 0, initial state 0:
- ``free``: after LIBERO's reset (gripper open, nothing held);
- ``carrying``: the scripted expert's grasp, taken when the expert starts its ``carry`` phase
  (the object lifted, the gripper closed); every run restores the same MuJoCo state.

Per run it reports the hand's motion along the commanded axis at each step (metres, or radians
of rotation about a base axis; base frame), and from it: the steady speed (mean over the last
third of the hold, per step and action unit), the rise (steps until 90% of that speed), and the
coast (how far the hand goes after the action returns to zero). Writes
``benchmarks/results/controller_response.json/.md``::

    MUJOCO_GL=egl nice python benchmarks/bench_controller_response.py
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
import time

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_sim import machine  # noqa: E402  (this script's folder is on sys.path)
from calibrate_action_scale import rotvec_between  # noqa: E402
from tgrpo_ros.real.robot_profile import load_profile  # noqa: E402
from tgrpo_ros.sim.expert import ScriptedExpert  # noqa: E402
from tgrpo_ros.sim.libero_env import LiberoEnv  # noqa: E402
from tgrpo_ros.sim.real_path import armed_filter, filter_command, servo_until  # noqa: E402
from tgrpo_ros.sim.servo_arm import ServoArm  # noqa: E402
from tgrpo_ros.training.state_files import write_durably  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'
AXES = {'x': 0, 'y': 1, 'z': 2, 'roll': 3, 'pitch': 4, 'yaw': 5}


class Scene:
    """One LIBERO scene whose MuJoCo state can be saved and restored for either controller."""

    def __init__(self, suite: str, task: int, state: int):
        self.env = LiberoEnv(suite, task, max_steps=10_000)
        self.arm = ServoArm(self.env)
        self.state_index = state
        self.saved: dict[str, tuple[np.ndarray, float]] = {}

    def _sim(self):
        return self.env._env.env.sim

    def save(self, name: str, closed: bool) -> None:
        self.saved[name] = (self._sim().get_state().flatten().copy(), 1.0 if closed else -1.0)

    def restore(self, name: str) -> float:
        """Load a saved state (and the gripper command robosuite integrates); return it."""
        flat, grip = self.saved[name]
        self.env.reset(self.state_index)  # clears the episode's bookkeeping
        self._sim().set_state_from_flattened(flat)
        self._sim().forward()
        for robot in self.env._env.env.robots:
            robot.gripper.current_action = np.full(robot.gripper.dof, grip)
        return grip

    def hand(self) -> np.ndarray:
        """Return the grip site's position [m] and orientation (x, y, z, w), base frame."""
        r = self.arm.read(render=False)
        return np.concatenate([r.eef_position, r.eef_quaternion_xyzw])


def prepare(scene: Scene) -> dict:
    """Save the ``free`` and ``carrying`` states; return what the expert did to get there."""
    scene.env.reset(scene.state_index)
    scene.save('free', closed=False)
    expert = ScriptedExpert()
    steps = 0
    while expert.phase != 'carry':
        action = expert.act(scene.env.sim_state(), scene.env)
        scene.env.step(action)
        steps += 1
        if steps > 400:
            raise RuntimeError('the scripted expert did not reach its carry phase in 400 steps')
    scene.save('carrying', closed=True)
    return {'expert_steps_to_carry': steps}


def neutral(value: float) -> np.ndarray:
    a = np.full(7, float(value))
    a[6] = 0.0
    return a


def run_osc(scene: Scene, state: str, action: np.ndarray, hold: int, coast: int,
            coast_value: float) -> np.ndarray:
    grip = scene.restore(state)
    positions = [scene.hand()]
    for k in range(hold + coast):
        a = action.copy() if k < hold else neutral(coast_value)
        a[6] = grip
        scene.env.step(a)
        positions.append(scene.hand())
    return np.asarray(positions)


def run_real_path(scene: Scene, profile, state: str, action: np.ndarray, hold: int,
                  coast: int, coast_value: float) -> np.ndarray:
    grip = scene.restore(state)
    arm = scene.arm
    arm.take_over()
    g = profile.gripper
    arm.set_gripper(g.closed_position if grip > 0 else g.open_position)
    safety = armed_filter(profile, arm)
    positions = [scene.hand()]
    for k in range(hold + coast):
        now = arm.time_s
        reading = arm.read(render=False)
        a = action.copy() if k < hold else neutral(coast_value)
        a[6] = grip
        cmd = filter_command(safety, reading, a, now)
        if cmd is not None:
            arm.set_twist(cmd.linear, cmd.angular, now)
        servo_until(arm, now + profile.control_period_s)
        positions.append(scene.hand())
    return np.asarray(positions)


def motion(poses: np.ndarray, axis: int) -> np.ndarray:
    """Per-step motion along one action axis: metres (x, y, z) or radians (roll, pitch, yaw)."""
    if axis < 3:
        return np.diff(poses[:, axis])
    return np.array([rotvec_between(a[3:], b[3:])[axis - 3] for a, b in zip(poses, poses[1:])])


def finger_opening(scene: Scene) -> float:
    """Return the mean per-finger opening [m] (0 closed, 0.04 open on the Panda)."""
    return float(np.mean(np.abs(scene.arm.read(render=False).joint_positions[7:9])))


def gripper_response(scene: Scene, profile, steps: int) -> dict:
    """Close the open gripper (action +1) for ``steps`` control steps, then open it again.

    LIBERO: the gripper action through OSC_POSE's env.step. Real path: SafetyFilter's gripper
    decision -> the profile's closed / open position -> ServoArm's finger controller, as
    ``real_path.run_episode`` sends it. Nothing is held (the free state), so the fingers travel
    all the way.
    """
    out = {}
    for name in ('osc', 'real_path'):
        scene.restore('free')
        arm = scene.arm
        if name == 'real_path':
            arm.take_over()
        openings = [finger_opening(scene)]
        for k in range(2 * steps):
            close = k < steps
            if name == 'osc':
                a = np.zeros(7)
                a[6] = 1.0 if close else -1.0
                scene.env.step(a)
            else:
                g = profile.gripper
                arm.set_gripper(g.closed_position if close else g.open_position)
                arm.advance(profile.control_period_s)
            openings.append(finger_opening(scene))
        o = np.asarray(openings)
        full = o[0] - o[steps]
        closed_at = np.flatnonzero(o[:steps + 1] <= o[0] - 0.9 * full)
        opened_at = np.flatnonzero(o[steps:] >= o[steps] + 0.9 * (o[0] - o[steps]))
        out[name] = {'opening_m': [round(float(v), 5) for v in o],
                     'steps_to_90pct_closed': int(closed_at[0]) if len(closed_at) else None,
                     'steps_to_90pct_open': int(opened_at[0]) if len(opened_at) else None}
    return out


def summarise(poses: np.ndarray, axis: int, magnitude: float, hold: int) -> dict:
    step = motion(poses, axis) * np.sign(magnitude)  # along the command [m or rad]
    tail = step[hold - max(1, hold // 3):hold]
    steady = float(np.mean(tail))
    reach = np.flatnonzero(step[:hold] >= 0.9 * steady) if steady > 0 else np.array([])
    return {
        'per_step_m': [round(float(s), 5) for s in step],
        'steady_m_per_step': round(steady, 5),
        'steady_per_unit': round(steady / abs(magnitude), 5),
        'rise_steps': int(reach[0]) + 1 if len(reach) else None,
        'coast_m': round(float(np.sum(step[hold:])), 5),
        'travel_m': round(float(np.sum(step)), 5),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--profile', default='sim_franka')
    ap.add_argument('--hold', type=int, default=12, help='steps the action is held')
    ap.add_argument('--coast', type=int, default=8, help='zero-action steps after it')
    ap.add_argument('--coast-value', type=float, default=1e-4,
                    help='every motion axis after the hold (0: exact zeros)')
    ap.add_argument('--magnitudes', default='0.3,1.0')
    ap.add_argument('--axes', default='x,y,z,roll,pitch,yaw')
    ap.add_argument('--out', default=str(RESULTS / 'controller_response'))
    args = ap.parse_args(argv)
    profile = load_profile(args.profile)
    scene = Scene('libero_object', 0, 0)
    t0 = time.time()
    info = prepare(scene)
    rows = []
    for state in ('free', 'carrying'):
        for axis in args.axes.split(','):
            for mag in [float(m) for m in args.magnitudes.split(',')]:
                for sign in (1.0, -1.0):
                    action = np.zeros(7)
                    action[AXES[axis]] = sign * mag
                    osc = run_osc(scene, state, action, args.hold, args.coast,
                                  args.coast_value)
                    real = run_real_path(scene, profile, state, action, args.hold, args.coast,
                                         args.coast_value)
                    row = {'state': state, 'axis': axis, 'action': sign * mag,
                           'osc': summarise(osc, AXES[axis], sign * mag, args.hold),
                           'real_path': summarise(real, AXES[axis], sign * mag, args.hold),
                           'position_gap_m': round(float(np.max(np.linalg.norm(
                               osc[:, :3] - real[:, :3], axis=1))), 5)}
                    rows.append(row)
                    print(f"{state:8s} {axis} {sign * mag:+.1f}: steady/unit osc "
                          f"{row['osc']['steady_per_unit']:.4f} real "
                          f"{row['real_path']['steady_per_unit']:.4f}; rise osc "
                          f"{row['osc']['rise_steps']} real {row['real_path']['rise_steps']}; "
                          f"coast osc {row['osc']['coast_m']:.4f} real "
                          f"{row['real_path']['coast_m']:.4f}", flush=True)
    gripper = gripper_response(scene, profile, args.hold)
    for name in ('osc', 'real_path'):
        print(f"gripper {name}: 90% closed after {gripper[name]['steps_to_90pct_closed']} "
              f"steps, 90% open again after {gripper[name]['steps_to_90pct_open']}", flush=True)
    result = {'profile': args.profile, 'hold': args.hold, 'coast': args.coast, 'gripper': gripper,
              'coast_value': args.coast_value,
              'control_period_s': profile.control_period_s, 'scene': 'libero_object task 0 '
              'state 0', **info, 'machine': machine(), 'wall_s': round(time.time() - t0, 1),
              'rows': rows}
    out = Path(args.out)
    write_durably(out.with_suffix('.json'), json.dumps(result, indent=1).encode())
    write_durably(out.with_suffix('.md'), render(result).encode())
    print(f'wrote {out}.json and .md')
    return 0


def render(result: dict) -> str:
    lines = [
        '# Hand response to the same actions: LIBERO OSC_POSE vs the real path (issue 18)', '',
        f"Scene: {result['scene']}; profile `{result['profile']}`; each action held "
        f"{result['hold']} control steps ({result['control_period_s'] * 1e3:g} ms), then "
        f"{result['coast_value']:g} on every motion axis for {result['coast']}. `carrying`: "
        "the scripted expert's grasp at the start of its "
        f"carry phase (step {result['expert_steps_to_carry']}). Steady = mean displacement per "
        'step over the last third of the hold, per action unit; rise = steps to 90% of it; '
        'coast = travel after the action returns to neutral (mm, or mrad for roll/pitch/yaw); the '
        'position gap is the largest distance between the two hands over the run. Written by '
        '`benchmarks/bench_controller_response.py`.', '',
        '| state | axis | action | steady/unit OSC | steady/unit real | ratio real/OSC '
        '| rise OSC | rise real | coast OSC | coast real | max position gap [mm] |',
        '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for r in result['rows']:
        o, p = r['osc'], r['real_path']
        ratio = p['steady_per_unit'] / o['steady_per_unit'] if o['steady_per_unit'] else np.nan
        lines.append(
            f"| {r['state']} | {r['axis']} | {r['action']:+.1f} | {o['steady_per_unit']:.4f} | "
            f"{p['steady_per_unit']:.4f} | {ratio:.2f} | {o['rise_steps']} | {p['rise_steps']} | "
            f"{o['coast_m'] * 1e3:.1f} | {p['coast_m'] * 1e3:.1f} | "
            f"{r['position_gap_m'] * 1e3:.1f} |")
    g = result['gripper']
    lines += ['', 'Gripper (free state, open -> closed for the hold, then open again; per-finger '
              'opening in mm at each step):', '',
              '| path | 90% closed after [steps] | 90% open again after [steps] | opening [mm] |',
              '| --- | --- | --- | --- |']
    for name in ('osc', 'real_path'):
        lines.append(f"| {name} | {g[name]['steps_to_90pct_closed']} | "
                     f"{g[name]['steps_to_90pct_open']} | "
                     + ', '.join(f'{v * 1e3:.1f}' for v in g[name]['opening_m']) + ' |')
    m = result['machine']
    lines += ['', f"Machine: {m.get('cpu', '?')}, {m.get('cores', '?')} cores; "
              f"{result['wall_s']} s.", '']
    return '\n'.join(lines)


if __name__ == '__main__':
    sys.exit(main())
