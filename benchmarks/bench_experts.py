# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The scripted expert on every task of the LIBERO suites: success, and the dense reward's shape.

For each suite and task: the expert (``sim/expert.py``, driven by the task's BDDL goal) runs
from benchmark initial states 0..E-1 (seed 7, no rendering: physics only), and we record

* success over the episodes (targets: >= 90% on every Spatial and Object task, >= 70% on every
  Goal and LIBERO-10 task);
* the fraction of steps where the dense reward's stage goes backwards along successful expert
  trajectories (target <= 5%), and
* random actions' mean reward per step as a fraction of the expert's (target <= 25%),

the last two only for tasks with a dense reward spec (``config/rewards/<suite>/<task>.yaml``);
without one (``--success-only``, or no spec yet) those columns stay empty and a later run fills
them in. Results merge into ``benchmarks/results/experts.json`` (per suite, per task, with
machine, commit and date) and ``experts.md`` is rewritten from it, so suites can be measured in
separate runs.

Examples::

    nice -n 10 python benchmarks/bench_experts.py --suite libero_spatial --episodes 10 --jobs 2
    nice -n 10 python benchmarks/bench_experts.py --suite libero_goal --tasks 0 3 --episodes 10
"""

from __future__ import annotations

import argparse
import datetime
import json
import multiprocessing as mp
import os
import platform
import subprocess
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tgrpo_ros.sim.expert import ScriptedExpert  # noqa: E402
from tgrpo_ros.sim.libero_env import list_tasks, LiberoEnv, MAX_STEPS  # noqa: E402

RESULTS = Path(__file__).resolve().parent / 'results'
SUITES = ('libero_spatial', 'libero_object', 'libero_goal', 'libero_10')
TARGET = {'libero_spatial': 0.9, 'libero_object': 0.9, 'libero_goal': 0.7, 'libero_10': 0.7}
MAX_BACKWARD, MAX_RANDOM_RATIO = 0.05, 0.25


def machine() -> dict:
    cpu = platform.processor() or ''
    try:
        for line in Path('/proc/cpuinfo').read_text().splitlines():
            if line.startswith('model name'):
                cpu = line.split(':', 1)[1].strip()
                break
    except OSError:
        pass
    return {'cpu': cpu, 'cores': os.cpu_count(), 'platform': platform.platform(),
            'python': platform.python_version(),
            'load_1min_at_start': round(os.getloadavg()[0], 2), 'gpu': None}


def commit() -> str:
    root = Path(__file__).resolve().parents[1]
    try:
        out = subprocess.run(['git', 'rev-parse', '--short', 'HEAD'], cwd=root,
                             capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(['git', 'status', '--porcelain', '--', 'tgrpo_ros'], cwd=root,
                               capture_output=True, text=True).stdout.strip()
        return out + ('+dirty' if dirty else '')
    except (OSError, subprocess.CalledProcessError):
        return 'unknown'


def make_env(suite: str, ti: int, success_only: bool) -> tuple[LiberoEnv, bool]:
    """Return the task's env with its dense spec when there is one: ``(env, has_stages)``."""
    if not success_only:
        try:
            env = LiberoEnv(suite, ti, cameras=(), reward_spec='auto')
            if env.reward.num_stages > 0 if hasattr(env.reward, 'num_stages') else True:
                return env, True
            env.close()
        except Exception as exc:  # no spec for this task yet: measure success only
            print(f'{suite} task {ti}: no dense reward ({exc}); success only', flush=True)
    return LiberoEnv(suite, ti, cameras=(), reward_spec=None), False


def run_episode(env: LiberoEnv, act, init_index: int, max_steps: int | None = None) -> dict:
    env.reset(init_index)
    rewards, stages = [], []
    out = None
    while not env.done and (max_steps is None or len(rewards) < max_steps):
        _, out = env.step(act())
        rewards.append(out.reward)
        stages.append(out.stage)
    back = sum(1 for a, b in zip(stages, stages[1:]) if b < a)
    return {'success': bool(out.success), 'steps': len(rewards),
            'reward_sum': float(np.sum(rewards)), 'backward_steps': back,
            'max_stage': int(max(stages)), 'num_stages': int(out.num_stages)}


def task_run(suite: str, ti: int, episodes: int, random_episodes: int, random_steps: int,
             success_only: bool) -> dict:
    """Run the expert (and random actions) on one task, in its own process."""
    t0 = time.time()
    env, staged = make_env(suite, ti, success_only)
    try:
        expert = ScriptedExpert()
        eps, errors = [], []
        for k in range(episodes):
            expert.reset()
            try:
                eps.append(run_episode(env, lambda: expert.act(env.sim_state(), env), k))
            except Exception as exc:  # a goal the expert cannot script: a failed episode
                errors.append(f'{type(exc).__name__}: {exc}')
                eps.append({'success': False, 'steps': 0, 'reward_sum': 0.0,
                            'backward_steps': 0, 'max_stage': 0, 'num_stages': 0})
            print(f'  {suite}/{ti} ep {k}: success {eps[-1]["success"]} steps '
                  f'{eps[-1]["steps"]}', flush=True)
        rand = []
        if staged:
            rng = np.random.default_rng(1000 + ti)
            rand = [run_episode(env, lambda: rng.uniform(-1, 1, 7), k, random_steps)
                    for k in range(random_episodes)]
        name = env.task_name
    finally:
        env.close()
    ok = [e for e in eps if e['success']]
    steps_ok = sum(e['steps'] for e in ok)
    exp_rps = (sum(e['reward_sum'] for e in eps) / max(sum(e['steps'] for e in eps), 1))
    rand_rps = (sum(e['reward_sum'] for e in rand) / sum(e['steps'] for e in rand)
                if rand else None)
    return {
        'suite': suite, 'index': ti, 'task': name,
        'episodes': len(eps), 'successes': len(ok), 'success_rate': len(ok) / len(eps),
        'failed_init_states': [k for k, e in enumerate(eps) if not e['success']],
        'mean_steps_success': float(np.mean([e['steps'] for e in ok])) if ok else None,
        'dense_reward': staged,
        'num_stages': max(e['num_stages'] for e in eps) if staged else None,
        'expert_errors': sorted(set(errors)),
        'stage_backward_fraction': (sum(e['backward_steps'] for e in ok) / steps_ok
                                    if staged and steps_ok else None),
        'expert_reward_per_step': exp_rps if staged else None,
        'random_episodes': len(rand), 'random_steps_cap': random_steps if rand else None,
        'random_reward_per_step': rand_rps,
        'random_over_expert': (rand_rps / exp_rps if rand and exp_rps > 0 else None),
        'seconds': round(time.time() - t0, 1),
    }


def load(path: Path) -> dict:
    if path.exists():
        return json.loads(path.read_text())
    return {'what': '', 'suites': {}}


def summary(tasks: dict, suite: str) -> dict:
    rows = list(tasks.values())
    back = [(r['stage_backward_fraction'], r['successes'] * (r['mean_steps_success'] or 0))
            for r in rows if r['stage_backward_fraction'] is not None]
    ratios = [r['random_over_expert'] for r in rows if r['random_over_expert'] is not None]
    return {
        'tasks_measured': len(rows),
        'success_rate': sum(r['successes'] for r in rows) / max(sum(r['episodes'] for r in
                                                                     rows), 1),
        'min_task_success_rate': min((r['success_rate'] for r in rows), default=None),
        'tasks_below_target': [r['index'] for r in rows if r['success_rate'] < TARGET[suite]],
        'stage_backward_fraction': (sum(b * n for b, n in back) / sum(n for _, n in back)
                                    if back and sum(n for _, n in back) else None),
        'max_task_random_over_expert': max(ratios) if ratios else None,
    }


def to_md(res: dict) -> str:
    lines = ['# Scripted expert on the LIBERO suites', '', res['what'], '']
    for suite in SUITES:
        if suite not in res['suites']:
            continue
        s = res['suites'][suite]
        m = s['machine']
        lines += [f'## {suite}', '',
                  f'Last run: commit {s["commit"]}, {s["date"]}; {m["cpu"]}, {m["cores"]} cores '
                  f'(1-min load {m["load_1min_at_start"]} at start), no GPU. Target: '
                  f'success >= {100 * TARGET[suite]:.0f}% per task.', '',
                  '| # | task | success | mean steps | stage backward | random / expert '
                  'reward per step | commit |', '|---|---|---|---|---|---|---|']
        for key in sorted(s['tasks'], key=int):
            r = s['tasks'][key]
            back = r['stage_backward_fraction']
            ratio = r['random_over_expert']
            flag = '' if r['success_rate'] >= TARGET[suite] else ' **below target**'
            if r.get('expert_errors'):
                flag += ' (not scripted: ' + '; '.join(r['expert_errors']) + ')'
            lines.append(
                f'| {r["index"]} | {r["task"]} | {r["successes"]}/{r["episodes"]} '
                f'({100 * r["success_rate"]:.0f}%){flag} | '
                f'{r["mean_steps_success"] or 0:.0f} | '
                f'{"-" if back is None else f"{100 * back:.2f}%"} | '
                f'{"-" if ratio is None else f"{100 * ratio:.1f}%"} | '
                f'{r.get("commit", s["commit"])} |')
        sm = s['summary']
        lines += ['', f'Suite: {100 * sm["success_rate"]:.1f}% of the episodes of '
                  f'{sm["tasks_measured"]} tasks; lowest task '
                  f'{100 * (sm["min_task_success_rate"] or 0):.0f}%; below target: '
                  f'{sm["tasks_below_target"] or "none"}.']
        if sm['stage_backward_fraction'] is not None:
            lines.append(f'Stage goes backwards in {100 * sm["stage_backward_fraction"]:.2f}% '
                         'of the steps of successful expert episodes (target <= 5%).')
        if sm['max_task_random_over_expert'] is not None:
            lines.append('Random actions earn at most '
                         f'{100 * sm["max_task_random_over_expert"]:.1f}% of the expert\'s '
                         'reward per step on any task (target <= 25%).')
        else:
            lines.append('Stage columns empty: no dense reward specs for this suite at the '
                         'time of the run (success only).')
        lines.append('')
    if res.get('status'):
        lines += ['## Status of these results', '', res['status'].strip(), '']
    return '\n'.join(lines) + '\n'


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--suite', choices=SUITES, nargs='+', default=list(SUITES))
    p.add_argument('--tasks', type=int, nargs='*', help='task indices (default: all)')
    p.add_argument('--episodes', type=int, default=10, help='init states 0..E-1 per task')
    p.add_argument('--random-episodes', type=int, default=2)
    p.add_argument('--random-steps', type=int, default=150,
                   help='steps per random episode (reward per step is what is compared)')
    p.add_argument('--success-only', action='store_true',
                   help='measure success only, even where a dense spec exists')
    p.add_argument('--jobs', type=int, default=2, help='tasks run in parallel processes')
    p.add_argument('--out', type=Path, default=RESULTS, help='results folder')
    p.add_argument('--status', type=Path,
                   help="a Markdown file whose text becomes the results' status section "
                        '(what was and was not measured, known gaps); kept until replaced')
    p.add_argument('--no-run', action='store_true',
                   help='run nothing: rewrite experts.md from experts.json (with --status)')
    args = p.parse_args(argv)
    if args.episodes < 1:
        p.error('--episodes must be >= 1')
    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / 'experts.json'
    jobs = [] if args.no_run else [(suite, ti) for suite in args.suite
            for ti in (args.tasks if args.tasks is not None and args.tasks != []
                       else range(len(list_tasks(suite))))]
    res = load(path)
    if args.status is not None:
        res['status'] = args.status.read_text()
    res['what'] = ("Scripted expert (tgrpo_ros/sim/expert.py, driven by each task's BDDL goal) "
                   'from benchmark initial states 0..E-1, seed 7, physics only (no rendering), '
                   "max steps per suite as in OpenVLA's evaluation "
                   f'({", ".join(f"{s} {MAX_STEPS[s]}" for s in SUITES)}). Stage backward: '
                   'fraction of steps of successful expert episodes where the dense stage '
                   'drops. Random / expert: mean reward per step of uniform random actions in '
                   '[-1, 1] (first --random-steps steps of a few episodes) over the '
                   "expert's (all its episodes). Written by benchmarks/bench_experts.py.")
    info = {'machine': machine(), 'commit': commit(),
            'date': datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M UTC')}
    ctx = mp.get_context('spawn')
    with ProcessPoolExecutor(args.jobs, mp_context=ctx) as pool:
        futures = [pool.submit(task_run, suite, ti, args.episodes, args.random_episodes,
                               args.random_steps, args.success_only) for suite, ti in jobs]
        for fut in futures:
            r = fut.result()
            r.update(commit=info['commit'], date=info['date'])
            suite = r['suite']
            s = res['suites'].setdefault(suite, {'tasks': {}})
            s.update(info)
            s['tasks'][str(r['index'])] = r
            s['summary'] = summary(s['tasks'], suite)
            path.write_text(json.dumps(res, indent=2) + '\n')  # nothing lost on a crash
            (args.out / 'experts.md').write_text(to_md(res))
            print(f'{suite}/{r["index"]} {r["task"]}: {r["successes"]}/{r["episodes"]} '
                  f'backward {r["stage_backward_fraction"]} random/expert '
                  f'{r["random_over_expert"]} ({r["seconds"]} s)', flush=True)
    path.write_text(json.dumps(res, indent=2) + '\n')
    (args.out / 'experts.md').write_text(to_md(res))
    print(to_md(res))
    return 0


if __name__ == '__main__':
    sys.exit(main())
