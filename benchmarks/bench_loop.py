#!/usr/bin/env python3
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The whole training loop's throughput against the machine's limit and an older commit.

In one run, on one machine:

- the limit: bare LIBERO (``EnvGroup``, 4 worker processes, random actions, no policy, no
  ROS) at the loop's image size and camera, measured before and after the loops;
- the whole loop at 4 environments (the main job's settings: the shipped SFT policy, 64 px,
  one camera, 160-step episodes): over ROS 2 (``tgrpo-ros launch sim_train``) and in one
  process (``tgrpo-ros train``), at this checkout (synchronous, and overlapped with
  ``max_staleness:=1``) and at an older commit checked out and set up elsewhere (``--old``,
  e.g. ``git worktree add /tmp/old 189f0c6 && (cd /tmp/old && scripts/setup.sh)``).

The loop's rate is env steps per wall-second over full iterations, updates and saving
included, start-up excluded: this script watches the run's metrics.csv and times each row's
arrival; the rate is the env steps of rows 2..K over the time from row 1 to row K (the first
iteration holds the start-up). Evaluations are off (the older commit's graph had none).

Writes benchmarks/results/<name>.{json,md}. Run on a quiet machine: the numbers are wall-clock.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
from pathlib import Path
import platform
import random
import shutil
import subprocess
import sys
import time

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / 'benchmarks' / 'results'


def limit(image_size: int, steps: int, num_envs: int = 4) -> float:
    """Env steps/s of bare LIBERO in ``num_envs`` worker processes, random actions."""
    import numpy as np

    from tgrpo_ros.sim.env_group import EnvGroup
    envs = EnvGroup(num_envs, suite='libero_object', task=0, cameras=('agentview',),
                    image_size=image_size, max_steps=steps + 10)
    try:
        rng = np.random.default_rng(0)
        envs.reset_all([0] * num_envs, 7)
        active = np.ones(num_envs, dtype=bool)
        t0 = time.monotonic()
        for _ in range(steps):
            actions = rng.uniform(-1, 1, size=(num_envs, 7))
            envs.step(actions, active)
        return num_envs * steps / (time.monotonic() - t0)
    finally:
        envs.close()


def _rows(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def clean_env(**extra: str) -> dict[str, str]:
    """Return this environment without what a prepared shell added (each checkout adds its own)."""
    drop = ('VIRTUAL_ENV', 'PYTHONPATH', 'LD_LIBRARY_PATH', 'AMENT_PREFIX_PATH',
            'COLCON_PREFIX_PATH', 'CMAKE_PREFIX_PATH', 'PKG_CONFIG_PATH', 'ROS_DISTRO',
            'ROS_VERSION', 'ROS_PYTHON_VERSION',
            '_ROS_WHEELS_BOOTSTRAP_COMPLETE')  # else the wheels' library path is not set again
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env['PATH'] = os.pathsep.join(p for p in env.get('PATH', '').split(os.pathsep)
                                  if '/.venv' not in p and '/install' not in p)
    env.update(extra)
    return env


def run_loop(name: str, cwd: Path, command: str, out: Path, iterations: int,
             timeout: float, on_start=None, skip: int = 1) -> dict:
    """Run ``command`` (bash, in ``cwd`` with its prepare_shell.sh); time metrics.csv rows.

    The command is exec'd, so the process's pid is the loop's (``on_start(pid)``, if given,
    is called once it runs: bench_profile attaches its sampler there). The first ``skip``
    rows are start-up (with G groups at once, the first batch's G).
    """
    if out.exists():
        shutil.rmtree(out)
    env = clean_env(ROS_DOMAIN_ID=str(random.randint(101, 200)), MUJOCO_GL='egl')
    log = out.parent / f'{name}.log'
    t_start = time.monotonic()
    with open(log, 'w') as f:
        proc = subprocess.Popen(['bash', '-c',
                                 f'source scripts/prepare_shell.sh && exec {command}'],
                                cwd=cwd, env=env, stdout=f, stderr=subprocess.STDOUT,
                                start_new_session=True)
        if on_start is not None:
            on_start(proc.pid)
        arrivals: list[float] = []
        while proc.poll() is None and time.monotonic() - t_start < timeout:
            n = len(_rows(out / 'metrics.csv'))
            while len(arrivals) < n:
                arrivals.append(time.monotonic())
            time.sleep(0.25)
        if proc.poll() is None:
            os.killpg(proc.pid, 15)
            proc.wait(30)
    rows = _rows(out / 'metrics.csv')
    while len(arrivals) < len(rows):  # rows written in the last quarter second
        arrivals.append(time.monotonic())
    result = {'name': name, 'returncode': proc.returncode, 'iterations': len(rows),
              'wall_s': round(time.monotonic() - t_start, 1), 'log': str(log)}
    if len(rows) < skip + 1:
        result['error'] = f'{len(rows)} of {iterations} iterations finished; see {log}'
        return result
    steps = sum(int(r['env_steps']) for r in rows[skip:])
    span = arrivals[-1] - arrivals[skip - 1]
    result.update({
        'startup_and_first_iteration_s': round(arrivals[skip - 1] - t_start, 1),
        'timed_iterations': len(rows) - skip, 'timed_env_steps': steps,
        'timed_wall_s': round(span, 1), 'env_steps_per_s': round(steps / span, 2),
        'rollout_time_s': [round(float(r['rollout_time_s']), 1) for r in rows],
        'update_time_s': [round(float(r['update_time_s']), 1) for r in rows],
        'staleness': [int(r.get('staleness', 0) or 0) for r in rows],
    })
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--old', type=Path, default=None,
                    help='a set-up checkout of the older commit (scripts/setup.sh run there)')
    ap.add_argument('--iterations', type=int, default=4)
    ap.add_argument('--image-size', type=int, default=64)
    ap.add_argument('--limit-steps', type=int, default=150)
    ap.add_argument('--configs', default='ros_sync,ros_overlap,ros_old,inproc_sync,'
                    'inproc_overlap,inproc_old')
    ap.add_argument('--work', type=Path, default=Path('/tmp/tgrpo_bench_loop'))
    ap.add_argument('--name', default='loop_throughput')
    ap.add_argument('--timeout', type=float, default=1500.0, help='per loop, seconds')
    args = ap.parse_args()
    args.work.mkdir(parents=True, exist_ok=True)
    k = args.iterations
    old_commit = ''
    if args.old is not None:
        old_commit = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=args.old,
                                    capture_output=True, text=True).stdout.strip()
    ros_new = (f'tgrpo-ros launch sim_train iterations:={k} eval_every:=0 '
               f'image_size:={args.image_size} output_dir:={{out}}')
    configs = {
        'ros_sync': (ROOT, ros_new),
        'ros_overlap': (ROOT, ros_new + ' max_staleness:=1'),
        # two groups of 4 at once (8 environment processes), synchronous and overlapped
        'ros_g2': (ROOT, ros_new.replace(f'iterations:={k}', f'iterations:={2 * k}')
                   + ' concurrent_groups:=2'),
        'ros_g2_overlap': (ROOT, ros_new.replace(f'iterations:={k}', f'iterations:={2 * k}')
                           + ' concurrent_groups:=2 max_staleness:=1'),
        # the same, the policy node answering whatever arrived (no group batching window)
        'ros_overlap_w0': (ROOT, ros_new + f' max_staleness:=1 params_file:={_no_window(args)}'),
        # the older graph had no image_size argument: its parameter file, at this size
        'ros_old': (args.old, f'tgrpo-ros launch sim_train iterations:={k} '
                    f'params_file:={_old_params(args)} output_dir:={{out}}'),
        'inproc_sync': (ROOT, f'tgrpo-ros train --set run.iterations={k} eval.every=0 '
                        f'env.image_size={args.image_size} run.output_dir={{out}}'),
        'inproc_overlap': (ROOT, f'tgrpo-ros train --set run.iterations={k} eval.every=0 '
                           f'env.image_size={args.image_size} run.max_staleness=1 '
                           'run.output_dir={out}'),
        'inproc_old': (args.old, f'tgrpo-ros train --set iterations={k} '
                       f'image_size={args.image_size} output_dir={{out}}'),
    }
    t0 = time.time()
    load = os.getloadavg()[0]
    results = {'limit_before': round(limit(args.image_size, args.limit_steps), 2)}
    print(f'limit (bare LIBERO, 4 worker processes, {args.image_size} px): '
          f'{results["limit_before"]} env steps/s', flush=True)
    loops = []
    for name in args.configs.split(','):
        cwd, command = configs[name]
        if cwd is None:
            print(f'{name}: skipped (no --old)', flush=True)
            continue
        out = args.work / name
        g2 = name.startswith('ros_g2')
        r = run_loop(name, cwd, command.format(out=out), out, 2 * k if g2 else k, args.timeout,
                     skip=2 if g2 else 1)
        r['commit'] = old_commit if cwd == args.old else _commit()
        loops.append(r)
        print(f'{name}: {r.get("env_steps_per_s", "-")} env steps/s '
              f'({r.get("error", "")}{r["iterations"]} iterations, {r["wall_s"]} s)', flush=True)
    results['limit_after'] = round(limit(args.image_size, args.limit_steps), 2)
    lim = (results['limit_before'] + results['limit_after']) / 2
    for r in loops:
        if 'env_steps_per_s' in r:
            r['share_of_limit'] = round(r['env_steps_per_s'] / lim, 3)
    by = {r['name']: r for r in loops}
    ratios = {}
    for a, b in (('ros_sync', 'ros_old'), ('ros_overlap', 'ros_old'),
                 ('ros_overlap', 'ros_sync'), ('ros_overlap_w0', 'ros_overlap'),
                 ('ros_g2', 'ros_sync'), ('ros_g2_overlap', 'ros_overlap'),
                 ('inproc_sync', 'inproc_old'),
                 ('inproc_overlap', 'inproc_sync'), ('ros_sync', 'inproc_sync')):
        if 'env_steps_per_s' in by.get(a, {}) and 'env_steps_per_s' in by.get(b, {}):
            ratios[f'{a}/{b}'] = round(by[a]['env_steps_per_s'] / by[b]['env_steps_per_s'], 3)
    report = {
        'benchmark': args.name, 'commit': _commit(), 'old_commit': old_commit,
        'date_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime(t0)),
        'machine': {'platform': platform.platform(), 'cpus': os.cpu_count(),
                    'processor': platform.machine()},
        'load_at_start': round(load, 2), 'iterations_per_loop': k,
        'image_size': args.image_size, 'limit_env_steps_per_s': round(lim, 2), **results,
        'loops': loops, 'ratios': ratios,
        'how': 'env steps of iterations 2..K over the wall time from the first metrics row to '
               'the last (start-up and the first iteration excluded; with two groups at once '
               'iterations 3..2K from the second row), evaluations off; the '
               'limit is bare LIBERO in 4 worker processes with random actions, measured '
               'before and after the loops',
    }
    write_report(args.name, report, _markdown(report))
    return 0


def write_report(name: str, report: dict, markdown: str) -> None:
    """Write results/<name>.json and .md, and print the table."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f'{name}.json').write_text(json.dumps(report, indent=2) + '\n')
    (RESULTS / f'{name}.md').write_text(markdown)
    print(markdown)


def _markdown(r: dict) -> str:
    lines = [f'# Whole-loop throughput ({r["date_utc"]}, commit {r["commit"]}, older commit '
             f'{r["old_commit"] or "-"})', '',
             f'Machine: {r["machine"]["platform"]}, {r["machine"]["cpus"]} CPUs; 1-min load '
             f'at start {r["load_at_start"]}. {r["how"]}.', '',
             f'Limit: {r["limit_before"]} env steps/s before, {r["limit_after"]} after '
             f'({r["image_size"]} px, one camera).', '',
             '| loop | commit | env steps/s | share of limit | timed iterations | '
             'rollout s per iteration | update s per iteration | staleness |',
             '|---|---|---|---|---|---|---|---|']
    for x in r['loops']:
        if 'env_steps_per_s' not in x:
            lines.append(f'| {x["name"]} | {x["commit"]} | failed: {x.get("error")} | | | | | |')
            continue
        lines.append(f'| {x["name"]} | {x["commit"]} | {x["env_steps_per_s"]} | '
                     f'{x["share_of_limit"]:.0%} | {x["timed_iterations"]} | '
                     f'{", ".join(map(str, x["rollout_time_s"]))} | '
                     f'{", ".join(map(str, x["update_time_s"]))} | '
                     f'{", ".join(map(str, x["staleness"]))} |')
    lines += ['', 'Ratios: ' + ', '.join(f'{k} {v}' for k, v in r['ratios'].items()), '']
    return '\n'.join(lines)


def _old_params(args) -> str:
    """Write the older checkout's config/sim_train.yaml with every image_size set to ours."""
    if args.old is None:
        return ''
    text = (args.old / 'config' / 'sim_train.yaml').read_text()
    lines = [(line.split('image_size:')[0] + f'image_size: {args.image_size}')
             if line.strip().startswith('image_size:') else line for line in text.splitlines()]
    path = args.work / 'old_sim_train.yaml'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)


def _no_window(args) -> str:
    """Write a parameter file that turns the policy node's batching window off."""
    path = args.work / 'no_window.yaml'
    path.write_text('/**:\n  ros__parameters:\n    policy.batch_window_s: 0.0\n')
    return str(path)


def _commit() -> str:
    return subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=ROOT,
                          capture_output=True, text=True).stdout.strip()


if __name__ == '__main__':
    sys.exit(main())
