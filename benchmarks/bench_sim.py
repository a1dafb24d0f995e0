# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Simulator measurements: scripted-expert quality, reward shape, and environment throughput.

Two modes, each writing ``benchmarks/results/sim_<mode>.json`` and ``.md``:

``expert``: the scripted expert on LIBERO-Object tasks (benchmark initial states 0..E-1, no
    rendering): success per task, dense return, how often the reward stage goes backwards along
    successful trajectories, and the mean return of uniformly random actions for comparison.
    With ``--noise S`` the results go to ``sim_expert_noiseS.*`` (demonstration quality).
``speed``: environment steps per second of an ``EnvGroup`` with 1, 2 and 4 worker processes and
    one or two 128 px cameras (random actions, whole group stepped in lockstep).

Examples::

    nice python benchmarks/bench_sim.py expert --episodes 20 --random-episodes 3 --jobs 2
    nice python benchmarks/bench_sim.py speed --workers 1 2 4 --steps 60
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tgrpo_ros.sim.expert import ScriptedExpert  # noqa: E402
from tgrpo_ros.sim.libero_env import LiberoEnv, list_tasks  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'


def machine() -> dict:
    cpu = platform.processor() or ''
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    try:
        load = os.getloadavg()[0]
    except OSError:
        load = float('nan')
    return {'cpu': cpu, 'cores': os.cpu_count(), 'platform': platform.platform(),
            'python': platform.python_version(), 'load_1min_at_start': round(load, 2),
            'gpu': None}


def run_episode(env: LiberoEnv, act, init_index: int) -> dict:
    env.reset(init_index)
    rewards, stages = [], []
    out = None
    while not env.done:
        _, out = env.step(act())
        rewards.append(out.reward)
        stages.append(out.stage)
    back = sum(1 for a, b in zip(stages, stages[1:]) if b < a)
    return {'success': bool(out.success), 'steps': len(rewards),
            'return': float(np.sum(rewards)), 'backward_steps': back,
            'max_stage': int(max(stages))}


def expert_task(ti: int, episodes: int, random_episodes: int, noise: float) -> dict:
    """Run the expert and random actions on LIBERO-Object task ``ti`` (own process)."""
    t0 = time.time()
    env = LiberoEnv('libero_object', ti, cameras=())
    expert = ScriptedExpert(noise=noise, seed=ti)
    eps = []
    for k in range(episodes):
        expert.reset()
        eps.append(run_episode(env, lambda: expert.act(env.sim_state()), k))
    rng = np.random.default_rng(1000 + ti)
    rand = [run_episode(env, lambda: rng.uniform(-1, 1, 7), k) for k in range(random_episodes)]
    env.close()
    ok = [e for e in eps if e['success']]
    steps_ok = sum(e['steps'] for e in ok)
    return {
        'task': env.task_name,
        'episodes': len(eps), 'successes': len(ok), 'success_rate': len(ok) / len(eps),
        'failed_init_states': [k for k, e in enumerate(eps) if not e['success']],
        'mean_steps_success': float(np.mean([e['steps'] for e in ok])) if ok else None,
        'expert_mean_return': float(np.mean([e['return'] for e in eps])),
        'stage_backward_fraction': (sum(e['backward_steps'] for e in ok) / steps_ok
                                    if steps_ok else None),
        'random_episodes': len(rand),
        'random_mean_return': float(np.mean([e['return'] for e in rand])) if rand else None,
        'random_successes': sum(e['success'] for e in rand),
        'random_max_stage': max((e['max_stage'] for e in rand), default=None),
        'seconds': round(time.time() - t0, 1),
    }


def bench_expert(args) -> dict:
    chosen = args.tasks if args.tasks else list(range(len(list_tasks('libero_object'))))
    per_task = {}
    ctx = mp.get_context('spawn')
    with ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
        futures = [pool.submit(expert_task, ti, args.episodes, args.random_episodes, args.noise)
                   for ti in chosen]
        for fut in futures:
            r = fut.result()
            per_task[r.pop('task')] = r
            print(f'{list(per_task)[-1]}: {r["successes"]}/{r["episodes"]} backward '
                  f'{r["stage_backward_fraction"]} expert R {r["expert_mean_return"]:.1f} '
                  f'random R {r["random_mean_return"]} ({r["seconds"]} s)', flush=True)
    total_ok = sum(v['successes'] for v in per_task.values())
    total = sum(v['episodes'] for v in per_task.values())
    exp_r = float(np.mean([v['expert_mean_return'] for v in per_task.values()]))
    rand_r = [v['random_mean_return'] for v in per_task.values() if v['random_mean_return']
              is not None]
    back_num = back_den = 0.0
    for v in per_task.values():
        if v['stage_backward_fraction'] is not None:
            n = v['successes'] * v['mean_steps_success']
            back_num += v['stage_backward_fraction'] * n
            back_den += n
    return {
        'what': 'scripted expert on LIBERO-Object, benchmark init states 0..E-1, seed 7, '
                'no rendering; random = uniform actions in [-1, 1]',
        'expert_noise': args.noise, 'machine': machine(), 'per_task': per_task,
        'summary': {
            'success_rate': total_ok / total, 'episodes': total,
            'min_task_success_rate': min(v['success_rate'] for v in per_task.values()),
            'stage_backward_fraction': back_num / back_den if back_den else None,
            'expert_mean_return': exp_r,
            'random_mean_return': float(np.mean(rand_r)) if rand_r else None,
            'random_over_expert': float(np.mean(rand_r)) / exp_r if rand_r else None,
        },
    }


def expert_md(res: dict) -> str:
    s = res['summary']
    title = '# Scripted expert on LIBERO-Object' + (
        f' (action noise std {res["expert_noise"]:g})' if res['expert_noise'] else '')
    lines = [title, '', res['what'] + '.', '',
             f'Machine: {res["machine"]["cpu"]}, {res["machine"]["cores"]} cores, no GPU.', '',
             '| task | success | mean steps | stage backward | expert return | random return |',
             '|---|---|---|---|---|---|']
    for name, v in res['per_task'].items():
        back = v['stage_backward_fraction']
        lines.append(
            f'| {name} | {v["successes"]}/{v["episodes"]} ({100 * v["success_rate"]:.0f}%) | '
            f'{v["mean_steps_success"] or 0:.0f} | '
            f'{"-" if back is None else f"{100 * back:.2f}%"} | '
            f'{v["expert_mean_return"]:.1f} | ' + (
                f'{v["random_mean_return"]:.1f} ({v["random_episodes"]} ep) |'
                if v['random_episodes'] else '- |'))
    lines += ['', f'All tasks: {100 * s["success_rate"]:.1f}% of {s["episodes"]} episodes; '
              f'lowest task {100 * s["min_task_success_rate"]:.0f}%.',
              f'Stage goes backwards in {100 * (s["stage_backward_fraction"] or 0):.2f}% of the '
              'steps of successful expert episodes.',
              (f'Random actions earn {100 * s["random_over_expert"]:.1f}% of the expert\'s '
               f'mean dense return ({s["random_mean_return"]:.1f} vs '
               f'{s["expert_mean_return"]:.1f}).' if s['random_over_expert'] is not None
               else f'Expert mean dense return {s["expert_mean_return"]:.1f}.'), '']
    return '\n'.join(lines)


def bench_speed(args) -> dict:
    from tgrpo_ros.sim.env_group import EnvGroup
    rows = []
    for cams in (('agentview',), ('agentview', 'wrist')):
        for n in args.workers:
            group = EnvGroup(n, suite='libero_object', task=0, cameras=cams, image_size=128,
                             timeout_s=300)
            try:
                group.reset_all(0)
                rng = np.random.default_rng(0)
                for _ in range(3):  # warm up caches and renderers
                    group.step(rng.uniform(-1, 1, (n, 7)) * 0.3)
                t0 = time.perf_counter()
                for _ in range(args.steps):
                    group.step(rng.uniform(-1, 1, (n, 7)) * 0.3)
                dt = time.perf_counter() - t0
            finally:
                group.close()
            row = {'workers': n, 'cameras': list(cams), 'image_size': 128,
                   'group_steps': args.steps, 'env_steps_per_s': n * args.steps / dt,
                   'ms_per_group_step': 1000 * dt / args.steps}
            rows.append(row)
            print(row, flush=True)
    return {'what': 'EnvGroup lockstep throughput, LIBERO-Object task 0, random small actions',
            'machine': machine(), 'rows': rows}


def speed_md(res: dict) -> str:
    m = res['machine']
    lines = ['# LIBERO environment throughput', '', res['what'] + '.', '',
             f'Machine: {m["cpu"]}, {m["cores"]} cores (shared with other jobs; 1-min load '
             f'{m["load_1min_at_start"]} at start), no GPU, EGL (Mesa llvmpipe) rendering.', '',
             '| workers | cameras | env steps/s | ms per group step |', '|---|---|---|---|']
    for r in res['rows']:
        lines.append(f'| {r["workers"]} | {" + ".join(r["cameras"])} | '
                     f'{r["env_steps_per_s"]:.1f} | {r["ms_per_group_step"]:.0f} |')
    lines += ['', "Rendering (CPU rasterisation of a 383k-face scene) is nearly all of a step's "
              'cost; physics alone is ~2 ms. Throughput scales with workers only while free '
              'cores remain: on a 2-core machine already loaded by other jobs, 1 worker '
              'saturates its share and more workers only add latency per group step.']
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='mode', required=True)
    e = sub.add_parser('expert', help='expert success, reward monotonicity, random baseline')
    e.add_argument('--episodes', type=int, default=25)
    e.add_argument('--random-episodes', type=int, default=5)
    e.add_argument('--noise', type=float, default=0.0)
    e.add_argument('--tasks', type=int, nargs='*', help='task indices (default: all 10)')
    e.add_argument('--jobs', type=int, default=2, help='tasks run in parallel processes')
    s = sub.add_parser('speed', help='steps/s for 1, 2, 4 workers and 1 or 2 cameras')
    s.add_argument('--workers', type=int, nargs='+', default=[1, 2, 4])
    s.add_argument('--steps', type=int, default=60)
    p.add_argument('--out', type=Path, default=RESULTS, help='results folder')
    args = p.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.mode == 'expert':
        res = bench_expert(args)
        md = expert_md(res)
    else:
        res = bench_speed(args)
        md = speed_md(res)
    name = f'sim_{args.mode}'
    if args.mode == 'expert' and args.noise > 0:
        name += f'_noise{args.noise:g}'  # keep the clean expert's results
    (args.out / f'{name}.json').write_text(json.dumps(res, indent=2) + '\n')
    (args.out / f'{name}.md').write_text(md)
    print(md)
    return 0


if __name__ == '__main__':
    sys.exit(main())
