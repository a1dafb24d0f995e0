# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The interface gap: the shipped SFT policy in LIBERO directly vs through the real-robot path.

Rows (each on the same initial states, the same scene seed and the same policy sampling seed
per episode, so every row is paired with the direct row episode by episode):

- ``direct``: LiberoEnv (LIBERO's OSC_POSE controller, LIBERO's images), the reference;
- ``before``: the real path as it was before issue 18's fixes: the profile's old action scale
  (0.05 m and 0.5 rad per step per action unit, the controller's nominal range) and the camera
  image as a camera sees it;
- ``+scale``: the action scale calibrated to what LIBERO's controller does (0.0128 m, 0.114 rad;
  benchmarks/results/action_scale.json);
- ``+mirror``: the bridge mirrors the image left-right (LIBERO's convention, profile
  ``cameras.<name>.mirror``): the shipped sim_franka profile;
- ``+latency50``, ``+jitter``, ``+drop10``: the shipped profile with 50 ms from frame to arm,
  with 0-50 ms of jitter, with 10% of the frames lost.

The real path is ``tgrpo_ros.sim.real_path`` (the bridge's conversion, the adapter's
SafetyFilter with the robot profile, sim_robot's ServoArm), run in lockstep in one process; the
ROS graph itself is exercised by test/ros/test_sim_robot.py. Episodes are interleaved across
rows (episode i of every row before episode i + 1), so a run stopped early still has paired
rows of equal size; results are rewritten after every episode. ``--shard k/n`` runs every n-th
episode (merge with ``--merge``)::

    MUJOCO_GL=egl nice -n 10 python benchmarks/bench_interface_gap.py --episodes 20
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
from pathlib import Path
import subprocess
import sys
import time

import numpy as np

# The repository and this folder (bench_sim, ...), also when a test imports the script.
sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parent)]

from bench_sim import machine  # noqa: E402  (this script's folder is on sys.path)
from tgrpo_ros.real.robot_profile import load_profile  # noqa: E402
from tgrpo_ros.sim.libero_env import LiberoEnv  # noqa: E402
from tgrpo_ros.sim.real_path import PathOptions, run_direct_episode, run_episode  # noqa: E402
from tgrpo_ros.sim.servo_arm import ServoArm  # noqa: E402
from tgrpo_ros.training.state_files import write_durably  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'
ROWS = {
    'direct': None,
    'before': ('uncalibrated', PathOptions(mirror_images=False)),
    '+scale': ('calibrated', PathOptions(mirror_images=False)),
    '+mirror': ('calibrated', PathOptions(mirror_images=True)),
    '+latency50': ('calibrated', PathOptions(mirror_images=True, latency_s=0.05)),
    '+jitter': ('calibrated', PathOptions(mirror_images=True, jitter_s=0.05)),
    '+drop10': ('calibrated', PathOptions(mirror_images=True, drop_rate=0.1)),
}
# Two-sided 95% Student t quantiles by degrees of freedom (1..30); beyond, the normal 1.96.
T95 = [12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179,
       2.160, 2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064,
       2.060, 2.056, 2.052, 2.048, 2.045, 2.042]


def paired_interval(diffs: list[float]) -> tuple[float, float, float]:
    """Mean of paired differences and its 95% t interval (nan for fewer than 2 pairs)."""
    d = np.asarray(diffs, dtype=float)
    if d.size < 2:
        return (float(d.mean()) if d.size else math.nan), math.nan, math.nan
    t = T95[d.size - 2] if d.size - 1 <= len(T95) else 1.96
    half = t * d.std(ddof=1) / math.sqrt(d.size)
    return float(d.mean()), float(d.mean() - half), float(d.mean() + half)


def summarise(episodes: list[dict]) -> dict:
    by_row: dict[str, dict[int, dict]] = {}
    for e in episodes:
        by_row.setdefault(e['row'], {})[e['episode']] = e
    direct = by_row.get('direct', {})
    rows = {}
    for name in ROWS:
        eps = by_row.get(name, {})
        paired = sorted(set(eps) & set(direct))
        diffs = [eps[i]['dense_return'] - direct[i]['dense_return'] for i in paired]
        mean, lo, hi = paired_interval(diffs)
        rows[name] = {'episodes': len(eps), 'successes': sum(e['success'] for e in eps.values()),
                      'mean_dense_return': float(np.mean([e['dense_return'] for e in
                                                          eps.values()])) if eps else math.nan,
                      'paired_episodes': len(paired), 'paired_diff_mean': mean,
                      'paired_diff_ci95': [lo, hi]}
    return rows


def write(out: Path, meta: dict, episodes: list[dict]) -> dict:
    rows = summarise(episodes)
    data = {**meta, 'rows': rows, 'episodes': episodes}
    out.parent.mkdir(parents=True, exist_ok=True)
    # Atomic, so a kill mid-write never loses the episodes already run.
    write_durably(out.with_suffix('.json'), json.dumps(data, indent=1).encode())
    lines = [f'# Interface gap: {meta["policy"]}, direct LIBERO vs the real path', '',
             f'{meta["how"]}', '',
             'Machine: ' + ', '.join(f'{k} {v}' for k, v in meta['machine'].items())
             + f'. Commit {meta["commit"]}, {meta["date"]}.', '',
             '| row | episodes | successes | mean dense return | paired diff vs direct '
             '(95% CI) |', '| --- | --- | --- | --- | --- |']
    ran = {name: r for name, r in rows.items() if r['episodes']}  # a row not run: no line
    for name, r in ran.items():
        lo, hi = r['paired_diff_ci95']
        ci = '' if math.isnan(lo) else f' [{lo:+.1f}, {hi:+.1f}]'
        diff = '' if name == 'direct' else f'{r["paired_diff_mean"]:+.1f}{ci}'
        lines.append(f'| {name} | {r["episodes"]} | {r["successes"]} | '
                     f'{r["mean_dense_return"]:.1f} | {diff} |')
    short = [name for name, r in ran.items() if r['episodes'] < 20]
    if short:
        lines += ['', f'Rows with fewer than 20 episodes ({", ".join(short)}) are a partial '
                  'measurement: issue 18 asks for at least 20 per row; rerun longer.']
    out.with_suffix('.md').write_text('\n'.join(lines) + '\n')
    return rows


# What must match for episodes of an earlier run to be kept by a rerun into the same file.
SAME_RUN = ('policy', 'profile', 'max_steps', 'temperature', 'seed', 'first_init_state')


def earlier_episodes(out: Path, meta: dict) -> list[dict]:
    """Return the episodes of an earlier run into ``out`` with the same settings (to resume).

    Hours of episodes are not thrown away by a kill; a file from other settings is an error
    naming what differs rather than a silent mix or overwrite.
    """
    path = out.with_suffix('.json')
    if not path.exists():
        return []
    old = json.loads(path.read_text())
    differ = [f'{k}: {old.get(k)!r} there, {meta[k]!r} here' for k in SAME_RUN
              if old.get(k) != meta[k]]
    if differ:
        raise SystemExit(f'{path} holds episodes of other settings ({"; ".join(differ)}); '
                         'choose another --out or move it away')
    return old['episodes']


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--policy', default='sft:object_task0_state_short')
    p.add_argument('--profile', default='sim_franka')
    p.add_argument('--episodes', type=int, default=20, help='per row')
    p.add_argument('--first-init-state', type=int, default=25,
                   help='episode i uses initial state first + i (25-44: held out)')
    p.add_argument('--max-steps', type=int, default=160, help='as the main job')
    p.add_argument('--temperature', type=float, default=1.0, help='as the main job samples')
    p.add_argument('--seed', type=int, default=7, help='scene seed (OpenVLA: 7)')
    p.add_argument('--rows', nargs='+', default=list(ROWS), choices=list(ROWS))
    p.add_argument('--shard', default='0/1', help='k/n: run episodes i with i %% n == k')
    p.add_argument('--out', type=Path, default=RESULTS / 'interface_gap')
    p.add_argument('--merge', nargs='+', type=Path, help='merge shard JSON files into --out')
    args = p.parse_args(argv)
    commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], capture_output=True,
                            text=True, cwd=Path(__file__).parent).stdout.strip()
    meta = {'policy': args.policy, 'profile': args.profile, 'machine': machine(),
            'commit': commit, 'date': time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime()),
            'max_steps': args.max_steps, 'temperature': args.temperature, 'seed': args.seed,
            'first_init_state': args.first_init_state,
            'how': (f'Episode i: LIBERO-Object task 0, initial state {args.first_init_state} + '
                    f'i, scene seed {args.seed}, policy sampling seed 1000 + i, temperature '
                    f'{args.temperature}, at most {args.max_steps} control steps (20 Hz). Real '
                    'path: tgrpo_ros/sim/real_path.py in lockstep (bridge conversion, '
                    'SafetyFilter with the profile, ServoArm: twist -> DLS Jacobian -> joint '
                    "impedance; never LIBERO's OSC). Dense return: the task's dense stage "
                    'reward summed over the episode. 95% CI: Student t on the paired '
                    'differences. Rows are cumulative fixes, then faults on the shipped '
                    'profile.')}
    if args.merge:
        episodes = []
        for f in args.merge:
            episodes += json.loads(f.read_text())['episodes']
        rows = write(args.out, meta, episodes)
        print(json.dumps(rows, indent=1))
        return 0
    import torch  # noqa: PLC0415 - only the measuring run needs it
    from tgrpo_ros.training.policy_setup import build_policy  # noqa: PLC0415
    torch.set_num_threads(1)
    k, n = (int(x) for x in args.shard.split('/'))
    policy = build_policy(args.policy, cameras=('agentview',))
    calibrated = load_profile(args.profile)
    profiles = {'calibrated': calibrated,
                'uncalibrated': dataclasses.replace(calibrated, linear_scale_m=(0.05,) * 3,
                                                    angular_scale_rad=(0.5,) * 3)}
    env = LiberoEnv('libero_object', 0, cameras=('agentview',), image_size=128)
    arm = ServoArm(env)
    episodes = earlier_episodes(args.out, meta)
    done = {(e['row'], e['episode']) for e in episodes}
    if done:
        print(f'resuming: {len(done)} episodes already in {args.out.with_suffix(".json")}')
    for i in range(args.episodes):
        if i % n != k:
            continue
        state = args.first_init_state + i
        for name in args.rows:
            if (name, i) in done:
                continue
            gen = torch.Generator().manual_seed(1000 + i)
            t0 = time.time()
            if ROWS[name] is None:
                r = run_direct_episode(policy, env, state, args.seed, args.max_steps,
                                       args.temperature, gen)
            else:
                which, options = ROWS[name]
                r = run_episode(policy, arm, profiles[which], state, args.seed, args.max_steps,
                                args.temperature, gen, options, np.random.default_rng(1000 + i))
            episodes.append({'row': name, 'episode': i, 'init_state': state,
                             **dataclasses.asdict(r), 'wall_s': round(time.time() - t0, 1)})
            print(f'episode {i} state {state} {name}: success {r.success}, steps {r.steps}, '
                  f'dense return {r.dense_return:.1f}, stage {r.max_stage} '
                  f'({time.time() - t0:.0f} s)', flush=True)
            write(args.out, meta, episodes)
    rows = write(args.out, meta, episodes)
    print(json.dumps(rows, indent=1))
    env.close()
    return 0


if __name__ == '__main__':
    sys.exit(main())
