# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The learning experiment: SFT vs TGRPO, its ablations, GRPO on 0/1 success and PPO.

From one SFT policy, for each method and seed, the same number of iterations (each one group of
``--group-size`` episodes of at most ``--max-steps`` steps, so at most the same budget of
environment steps; the steps actually used are reported) of in-process training
(``train_in_process``), then an evaluation on HELD-OUT initial states with
``tgrpo-ros eval-sim``'s episode runner, greedy by default (OpenVLA's protocol) or sampled at
``--eval-temperature`` (the stochastic policy RL optimises). The SFT policy itself is evaluated
the same way.

Methods (``SimTrainSettings.algo``):
    tgrpo         fused step + trajectory advantage (0.3 / 0.7), first-success groups (paper)
    traj          trajectory-level only on the dense return ("without step advantage")
    step          step-level only ("without trajectory advantage")
    tgrpo_overlap tgrpo with overlapped updates (run.max_staleness 1: each group but the first
                  acted by the policy one update behind); not run by default
    grpo_outcome  trajectory-level on 0/1 success (SimpleVLA-RL's GRPO), all_done groups
    ppo           value head + GAE + clipped value loss, all_done groups, rewards scaled by the
                  running std of the return (``algo.reward_scaling``)
    ppo_unscaled  the same on raw rewards (not run by default; what the experiments before
                  reward scaling measured as ``ppo``)

Never tuned on evaluation states: training uses ``--train-states`` (default 0-24), evaluation
``--eval-states`` (default 25-44, i.e. 20 episodes per task per seed); the two are checked to be
disjoint. With ``--train-init-file`` the training indices point into a file of generated states
(``tgrpo-ros init-states``, which never repeats a benchmark state) instead. Every setting
is fixed before the run and written to the results.

Outputs under ``--out`` (default benchmarks/results/experiment_object_task0)::

    runs/<method>_s<seed>/         run folders (metrics.csv, adapters, resume state)
    eval/<name>/results.json       held-out evaluations (sft, <method>_s<seed>)
    results.json, results.md       table: held-out success and dense return, mean +- std over
                                   seeds, env steps, wall time, machine
    curves.png                     training-group success and dense return against env steps
                                   and wall time (mean over seeds), held-out success bars

Resumable: rerun the same command; finished evaluations are kept, runs continue after their last
complete iteration (``--resume`` is implied), and the table is rewritten from what exists.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import os
from pathlib import Path
import platform
import sys
import time
from typing import Sequence

METHODS = {
    'tgrpo': {'algo.estimator': 'tgrpo', 'algo.group_completion': 'first_success'},
    'traj': {'algo.estimator': 'traj', 'algo.group_completion': 'first_success'},
    'step': {'algo.estimator': 'step', 'algo.group_completion': 'first_success'},
    # TGRPO with the next group collected while the learner updates on the last (#21).
    'tgrpo_overlap': {'algo.estimator': 'tgrpo', 'algo.group_completion': 'first_success',
                      'run.max_staleness': 1},
    'grpo_outcome': {'algo.estimator': 'grpo_outcome', 'algo.group_completion': 'all_done'},
    'ppo': {'algo.estimator': 'gae', 'algo.group_completion': 'all_done'},
    'ppo_unscaled': {'algo.estimator': 'gae', 'algo.group_completion': 'all_done',
                     'algo.reward_scaling': False},
}
DEFAULT_METHODS = ['tgrpo', 'traj', 'step', 'grpo_outcome', 'ppo']

EXAMPLES = """
examples:
  # the committed run (benchmarks/results/experiment_object_task0_state_6it/results.md; its
  # runs resumed the 2-iteration runs of experiment_object_task0_state, NOTES.md says how)
  python benchmarks/run_experiment.py --model sft:object_task0_state --task 0 --seeds 0 1 2 \\
      --iterations 6 --group-size 4 --max-steps 160 --eval-max-steps 160 --eval-envs 4 \\
      --lr 3e-4 --out benchmarks/results/experiment_object_task0_state_6it

  # a smoke run of the whole pipeline in a few minutes (NOT a result: tiny budget)
  python benchmarks/run_experiment.py --iterations 1 --group-size 2 --max-steps 8 \\
      --eval-states 25-26 --eval-max-steps 8 --seeds 0 --out /tmp/exp_smoke
"""


def parse_range(text: str) -> list[int]:
    from tgrpo_ros.sim.demonstrations import parse_range as _parse
    return _parse(text)


def model_cameras(model: str) -> list[str]:
    """Return the cameras the start policy reads: a saved policy's own, agentview for tiny."""
    if model.startswith('tiny:'):
        return ['agentview']
    from tgrpo_ros.policy.checkpoint import saved_cameras
    from tgrpo_ros.policy.model_location import resolve_model
    return saved_cameras(resolve_model(model)) or ['agentview']


def run_settings(args, method: str, seed: int, out: Path) -> dict:
    flat = {
        'env.suite': args.suite, 'env.tasks': [str(t) for t in args.tasks],
        'env.init_states': args.train_states, 'run.iterations': args.iterations,
        'env.max_steps': args.max_steps, 'policy.model': args.model,
        'env.image_size': args.image_size, 'env.cameras': list(args.cameras),
        'policy.lora_rank': args.lora_rank, 'run.seed': seed,
        'run.output_dir': str(out), 'run.resume': True, 'algo.group_size': args.group_size,
        'algo.lr': args.lr, 'algo.minibatch_size': args.minibatch_size,
        'algo.update_epochs': args.update_epochs,
        'env.init_states_file': str(args.train_init_file or ''),
        # The experiment evaluates every run itself, on its own held-out states and episode
        # count; the driver's short evaluation during training would only cost time here.
        'eval.every': 0,
    }
    flat.update(METHODS[method])
    return flat


def train_run(args, method: str, seed: int, out: Path, log) -> None:
    from tgrpo_ros.training.driver import train_in_process
    from tgrpo_ros.training.run_folder import RunFolder
    from tgrpo_ros.training.settings import SimTrainSettings
    last = RunFolder(out, args.iterations).last_complete() if out.exists() else None
    if last is not None and last['iteration'] >= args.iterations:
        return
    settings = SimTrainSettings.from_flat(run_settings(args, method, seed, out))
    train_in_process(settings, log=log)


def export_policy(args, run: Path, folder: Path) -> None:
    """Save the SFT policy + the run's final adapter as one policy folder (eval-sim loads it)."""
    from tgrpo_ros.policy.checkpoint import save_policy
    from tgrpo_ros.training.policy_setup import build_policy
    from tgrpo_ros.training.run_folder import RunFolder
    last = RunFolder(run, args.iterations).last_complete()
    policy = build_policy(args.model, cameras=tuple(args.cameras), lora_rank=args.lora_rank,
                          adapter=last['adapter'])
    save_policy(policy, folder)


def evaluate(args, policy_folder: str, out: Path, log, task: str | None = None) -> dict:
    """Held-out evaluation of one task (eval-sim's runner) at ``--eval-temperature``.

    ``task``: default the first of ``--tasks``. Cached in out/results.json, which is reused only
    if it was measured at the same temperature.
    """
    task = str(args.tasks[0] if task is None else task)
    result = out / 'results.json'
    if result.is_file():
        doc = json.loads(result.read_text())
        cached = doc.get('temperature', 0.0)  # evaluations before the option were greedy
        if cached != args.eval_temperature:
            raise SystemExit(f'{result} was evaluated at temperature {cached}, this experiment '
                             f'asks for {args.eval_temperature}: use another --out (or delete '
                             'that evaluation to redo it)')
        return doc
    from tqdm import tqdm

    from tgrpo_ros.policy.model_location import resolve_model
    from tgrpo_ros.sim.eval_sim import run_task, VLAPolicyRunner
    out.mkdir(parents=True, exist_ok=True)
    runner = VLAPolicyRunner(resolve_model(policy_folder), 'cpu', args.eval_temperature,
                             args.eval_seed)
    t0 = time.monotonic()
    with tqdm(total=len(args.eval_states), desc=f'eval {out.name}', unit='ep',
              disable=not sys.stderr.isatty()) as bar:
        recs = run_task(args.suite, task, args.eval_states, runner, args.eval_envs,
                        runner.cameras, args.image_size, args.eval_max_steps, args.eval_seed,
                        bar)
    doc = {'policy': policy_folder, 'task': task, 'init_states': args.eval_states,
           'episodes': len(recs), 'successes': sum(r['success'] for r in recs),
           'success_rate': sum(r['success'] for r in recs) / len(recs),
           'mean_return': sum(r['return'] for r in recs) / len(recs),
           'mean_steps': sum(r['steps'] for r in recs) / len(recs),
           'max_steps': args.eval_max_steps, 'temperature': args.eval_temperature,
           'seconds': round(time.monotonic() - t0, 1),
           'episodes_detail': [{k: v for k, v in r.items() if k != 'actions'} for r in recs]}
    tmp = result.with_suffix('.tmp')
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, result)
    log(f'[experiment] eval {out.name}: success {doc["successes"]}/{doc["episodes"]}, '
        f'return {doc["mean_return"]:.1f} ({doc["seconds"]:.0f}s)')
    return doc


def evaluate_tasks(args, policy_folder: str, out: Path, log) -> dict:
    """Held-out evaluation on every task of ``--tasks``; one task keeps the one-task layout.

    Several tasks: each is evaluated (and cached) in out/task<t>/results.json, and
    out/results.json holds the totals over the tasks (the table's pooled numbers) with the
    per-task counts under 'per_task'. A cut-short evaluation resumes at the first missing task.
    """
    tasks = [str(t) for t in args.tasks]
    if len(tasks) == 1:
        return evaluate(args, policy_folder, out, log, tasks[0])
    result = out / 'results.json'
    if result.is_file():
        doc = json.loads(result.read_text())
        if doc.get('temperature', 0.0) == args.eval_temperature and \
                [p['task'] for p in doc.get('per_task', [])] == tasks:
            return doc
    per = [evaluate(args, policy_folder, out / f'task{t}', log, t) for t in tasks]
    episodes = sum(d['episodes'] for d in per)
    doc = {'policy': policy_folder, 'tasks': tasks, 'init_states': args.eval_states,
           'episodes': episodes, 'successes': sum(d['successes'] for d in per),
           'success_rate': sum(d['successes'] for d in per) / episodes,
           'mean_return': sum(d['mean_return'] * d['episodes'] for d in per) / episodes,
           'mean_steps': sum(d['mean_steps'] * d['episodes'] for d in per) / episodes,
           'max_steps': args.eval_max_steps, 'temperature': args.eval_temperature,
           'seconds': round(sum(d['seconds'] for d in per), 1),
           'per_task': [{'task': t, 'episodes': d['episodes'], 'successes': d['successes'],
                         'mean_return': d['mean_return']} for t, d in zip(tasks, per)]}
    tmp = result.with_suffix('.tmp')
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, result)
    log(f'[experiment] eval {out.name} (all tasks): success {doc["successes"]}/{episodes}')
    return doc


def read_rows(run: Path) -> list[dict]:
    f = run / 'metrics.csv'
    if not f.is_file():
        return []
    with open(f, newline='') as fh:
        return list(csv.DictReader(fh))


def run_wall_s(run: Path, rows: list[dict]) -> float:
    """Return a run's training wall time [s] over its iterations, start-up excluded.

    Each row's rollout + update is the wall time of a synchronous iteration; with overlapped
    updates (run.max_staleness) the two run at the same time and their sum overcounts, so the
    run's own clock is used where it covers every row: summary.json's throughput (iterations
    2..K, wall-clock) plus the first iteration, which nothing overlaps before it ends.
    """
    summed = sum(float(r['rollout_time_s']) + float(r['update_time_s']) for r in rows)
    summary = run / 'summary.json'
    if not rows or not summary.is_file():
        return summed
    measured = json.loads(summary.read_text()).get('throughput') or {}
    if not measured.get('first_iteration_excluded') or \
            measured.get('iterations') != len(rows) - 1:
        return summed  # e.g. a resumed run: its summary covers the last launch only
    return float(rows[0]['rollout_time_s']) + float(rows[0]['update_time_s']) + \
        float(measured['wall_s'])


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """95% Wilson score interval of a success rate k/n (sensible at 0/n and n/n)."""
    if n == 0:
        return math.nan, math.nan
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def _mean_std(xs: list[float]) -> tuple[float, float]:
    if not xs:
        return math.nan, math.nan
    m = sum(xs) / len(xs)
    s = math.sqrt(sum((x - m) ** 2 for x in xs) / (len(xs) - 1)) if len(xs) > 1 else 0.0
    return m, s


def _add_per_task(entry: dict, doc: dict) -> None:
    """Append one evaluation's per-task counts (several-task evaluations) to a table entry."""
    for p in doc.get('per_task', []):
        t = entry['per_task'].setdefault(p['task'], {'successes': [], 'episodes': [],
                                                     'return': []})
        t['successes'].append(p['successes'])
        t['episodes'].append(p['episodes'])
        t['return'].append(p['mean_return'])


def per_task_lines(table: dict) -> list[str]:
    """Markdown rows: each method on each task, per-seed counts, pooled over seeds [95% CI]."""
    lines = ['| method | task | successes per run (of episodes) | pooled over runs [95% CI %] | '
             'dense return (mean +- std over runs) |', '| --- | --- | --- | --- | --- |']
    for name, e in table.items():
        for task, t in e['per_task'].items():
            k, n = sum(t['successes']), sum(t['episodes'])
            lo, hi = wilson(k, n)
            r_m, r_s = _mean_std(t['return'])
            counts = ', '.join(f'{a}/{b}' for a, b in zip(t['successes'], t['episodes']))
            lines.append(f'| {name} | {task} | {counts} | {k}/{n} [{100 * lo:.0f}-{100 * hi:.0f}]'
                         f' | {r_m:.1f} +- {r_s:.1f} |')
    return lines


def summarise(args, out: Path, wall_s: float) -> dict:
    """Table from whatever exists (complete or not), as JSON, Markdown and a plot."""
    sft = out / 'eval' / 'sft' / 'results.json'
    table = {'sft': {'success': [], 'return': [], 'env_steps': [], 'wall_s': [], 'runs': 0,
                     'successes': 0, 'episodes': 0, 'eval_s': [], 'per_task': {}}}
    if sft.is_file():
        d = json.loads(sft.read_text())
        table['sft'].update(success=[d['success_rate']], **{'return': [d['mean_return']]},
                            successes=d.get('successes', 0), episodes=d.get('episodes', 0),
                            eval_s=[d['seconds']] if 'seconds' in d else [])
        _add_per_task(table['sft'], d)
    curves = {}
    for method in args.methods:
        entry = {'success': [], 'return': [], 'env_steps': [], 'wall_s': [], 'runs': 0,
                 'iterations_done': [], 'successes': 0, 'episodes': 0, 'eval_s': [],
                 'per_seed': [], 'per_task': {}}
        for seed in args.seeds:
            name = f'{method}_s{seed}'
            rows = read_rows(out / 'runs' / name)
            entry['iterations_done'].append(len(rows))
            if rows:
                curves.setdefault(method, []).append((rows, run_wall_s(out / 'runs' / name,
                                                                         rows)))
            ev = out / 'eval' / name / 'results.json'
            if ev.is_file():
                d = json.loads(ev.read_text())
                entry['success'].append(d['success_rate'])
                entry['return'].append(d['mean_return'])
                entry['env_steps'].append(int(float(rows[-1]['env_steps_total'])))
                entry['wall_s'].append(run_wall_s(out / 'runs' / name, rows))
                entry['successes'] += d.get('successes', 0)
                entry['episodes'] += d.get('episodes', 0)
                if 'seconds' in d:
                    entry['eval_s'].append(d['seconds'])
                entry['runs'] += 1
                entry['per_seed'].append([seed, d.get('successes', 0), d.get('episodes', 0)])
                _add_per_task(entry, d)
        table[method] = entry
    doc = {'settings': {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()},
           'machine': f'{platform.node() or "?"}: {platform.machine()}, {os.cpu_count()} CPUs, '
                      'no GPU',
           'wall_time_s_this_invocation': round(wall_s, 1),
           # survives reruns that only rebuild the table: training + evaluation of every run
           'total_run_time_s': round(sum(sum(e['wall_s']) + sum(e['eval_s'])
                                         for e in table.values()), 1),
           'table': table}
    (out / 'results.json').write_text(json.dumps(doc, indent=2))
    source = (f'generated: {args.train_init_file}' if args.train_init_file else 'benchmark')
    decoding = ('greedy' if args.eval_temperature == 0 else
                f'sampled (temperature {args.eval_temperature:g})')
    tasks = [str(t) for t in args.tasks]
    per_run = 'per run' if len(tasks) == 1 else f'per task per run, {len(tasks)} tasks'
    lines = [f'# Experiment: LIBERO {args.suite} task{"s" * (len(tasks) > 1)} '
             f'{", ".join(tasks)}, model {args.model}', '',
             f'- training states {args.train_states[0]}..{args.train_states[-1]} ({source}), '
             'held-out benchmark '
             f'evaluation states {args.eval_states[0]}..{args.eval_states[-1]} '
             f'({len(args.eval_states)} {decoding} episodes {per_run}, at most '
             f'{args.eval_max_steps} '
             'steps)',
             f'- per run: {args.iterations} iterations x group {args.group_size} x at most '
             f'{args.max_steps} steps (budget {args.iterations * args.group_size * args.max_steps}'
             ' env steps)',
             f'- cameras {", ".join(args.cameras)}; seeds {args.seeds}; machine: {doc["machine"]}',
             f'- time: {doc["total_run_time_s"] / 60:.1f} min of training and evaluation in all '
             f'({wall_s / 60:.1f} min in the invocation that wrote this table)', '',
             '| method | runs evaluated | held-out success % (mean +- std over seeds) | '
             'pooled successes [95% CI %] | dense return | env steps used | '
             'train wall time [s] | eval wall time [s] |',
             '| --- | --- | --- | --- | --- | --- | --- | --- |']
    for name, e in table.items():
        s_m, s_s = _mean_std([100 * x for x in e['success']])
        r_m, r_s = _mean_std(e['return'])
        steps = _mean_std([float(x) for x in e['env_steps']])[0]
        wall = _mean_std(e['wall_s'])[0]
        runs = e['runs'] if name != 'sft' else len(e['success'])
        lo, hi = wilson(e['successes'], e['episodes'])
        pooled = (f'{e["successes"]}/{e["episodes"]} [{100 * lo:.0f}-{100 * hi:.0f}]'
                  if e['episodes'] else '-')
        ev = _mean_std(e['eval_s'])[0]
        lines.append(f'| {name} | {runs} | {s_m:.1f} +- {s_s:.1f} | {pooled} | '
                     f'{r_m:.1f} +- {r_s:.1f} | {steps:.0f} | {wall:.0f} | {ev:.0f} |')
    if any(e['per_task'] for e in table.values()):
        lines += ['', '## Per task (held-out success, pooled over seeds)', '']
        lines += per_task_lines(table)
    lines += ['', '![curves](curves.png)', '']
    (out / 'results.md').write_text('\n'.join(lines))
    plot(out, curves, table)
    return doc


def plot(out: Path, curves: dict, table: dict) -> None:
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np
    fig, axes = plt.subplots(2, 3, figsize=(14, 7))
    for method, pairs in curves.items():
        runs = [rows for rows, _ in pairs]
        n = min(len(r) for r in runs)
        if n == 0:
            continue
        steps = np.mean([[float(r['env_steps_total']) for r in rows[:n]] for rows in runs], 0)
        # Elapsed time per iteration: rollout + update, scaled so each run ends at its measured
        # wall time (exact at the end; overlapped runs have no per-iteration clock).
        elapsed = []
        for rows, total in pairs:
            cum = np.cumsum([float(r['rollout_time_s']) + float(r['update_time_s'])
                             for r in rows])
            elapsed.append((cum * (total / cum[-1] if cum[-1] > 0 else 1.0))[:n])
        wall = np.mean(elapsed, 0)
        succ = np.mean([[float(r['success_rate']) for r in rows[:n]] for rows in runs], 0)
        ret = np.mean([[float(r['mean_return']) for r in rows[:n]] for rows in runs], 0)
        for ax, x, y in ((axes[0, 0], steps, succ), (axes[0, 1], steps, ret),
                         (axes[1, 0], wall, succ), (axes[1, 1], wall, ret)):
            ax.plot(x, y, marker='o', label=method)
    for ax, xl, yl in ((axes[0, 0], 'env steps', 'training-group success'),
                       (axes[0, 1], 'env steps', 'training-group dense return'),
                       (axes[1, 0], 'wall time [s]', 'training-group success'),
                       (axes[1, 1], 'wall time [s]', 'training-group dense return')):
        ax.set_xlabel(xl)
        ax.set_ylabel(yl)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    names = [k for k, e in table.items() if e['success']]
    for col, key, label in ((0, 'success', 'held-out success %'),
                            (1, 'return', 'held-out dense return')):
        ax = axes[col, 2]
        vals = [(100 if key == 'success' else 1) * np.mean(table[k][key]) for k in names]
        errs = [(100 if key == 'success' else 1) * (np.std(table[k][key], ddof=1)
                                                     if len(table[k][key]) > 1 else 0)
                for k in names]
        ax.bar(names, vals, yerr=errs, capsize=3)
        ax.set_ylabel(label)
        ax.tick_params(axis='x', rotation=30)
    fig.tight_layout()
    tmp = out / 'curves.tmp.png'
    fig.savefig(tmp, dpi=90)
    plt.close(fig)
    os.replace(tmp, out / 'curves.png')


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0], epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--model', default='sft:object_task0_state_short',
                   help='the SFT policy (start point)')
    p.add_argument('--suite', default='libero_object')
    p.add_argument('--tasks', nargs='+', default=None,
                   help='tasks (indices or names) of --suite; training groups cycle through them '
                        'and every run is evaluated on each (default: task 0)')
    p.add_argument('--task', default=None, help='one task (the same as --tasks TASK)')
    p.add_argument('--methods', nargs='+', default=DEFAULT_METHODS, choices=list(METHODS))
    p.add_argument('--seeds', nargs='+', type=int, default=[0, 1, 2])
    p.add_argument('--iterations', type=int, default=6, help='iterations per run (budget)')
    p.add_argument('--group-size', type=int, default=4)
    p.add_argument('--max-steps', type=int, default=160, help='episode limit in training')
    p.add_argument('--train-states', type=parse_range, default=parse_range('0-24'))
    p.add_argument('--train-init-file', type=Path, default=None,
                   help='train on the generated initial states of this .npz (tgrpo-ros '
                        "init-states); default: the benchmark's")
    p.add_argument('--eval-states', type=parse_range, default=parse_range('25-44'))
    p.add_argument('--eval-max-steps', type=int, default=160,
                   help='episode limit in evaluation (the same for SFT and every method)')
    p.add_argument('--eval-envs', type=int, default=1, help='evaluation worker processes')
    p.add_argument('--eval-seed', type=int, default=7)
    p.add_argument('--eval-temperature', type=float, default=0.0,
                   help='sampling temperature of the held-out evaluation (0 = greedy, '
                        "OpenVLA's protocol; 1 = the policy RL samples and optimises)")
    p.add_argument('--image-size', type=int, default=128, help='render size (as the demos)')
    p.add_argument('--cameras', nargs='+', default=None,
                   help="cameras rendered for the policy (default: the saved policy's own, "
                        'agentview for tiny:<size>)')
    p.add_argument('--lr', type=float, default=1e-4)
    p.add_argument('--lora-rank', type=int, default=8)
    p.add_argument('--minibatch-size', type=int, default=64)
    p.add_argument('--update-epochs', type=int, default=1)
    p.add_argument('--out', type=Path, default=Path('benchmarks/results/experiment_object_task0'))
    return p


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Parse the command line; the cameras default to the start policy's own."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.task is not None and args.tasks is not None:
        parser.error('give --task or --tasks, not both')
    args.tasks = [str(t) for t in (args.tasks or [args.task if args.task is not None else '0'])]
    if len(set(args.tasks)) != len(args.tasks):
        parser.error(f'a task is named twice in --tasks {args.tasks}')
    args.task = args.tasks[0] if len(args.tasks) == 1 else None
    if args.cameras is None:
        args.cameras = model_cameras(args.model)
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    # Generated states are other states by construction; benchmark indices must not overlap.
    overlap = ([] if args.train_init_file else
               sorted(set(args.train_states) & set(args.eval_states)))
    if overlap:
        raise SystemExit(f'training and evaluation initial states overlap: {overlap}')
    out = args.out
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.monotonic()
    log_file = open(out / 'experiment.log', 'a')

    def log(msg: str) -> None:
        print(msg, flush=True)
        log_file.write(f'{time.strftime("%H:%M:%S", time.gmtime())} {msg}\n')
        log_file.flush()

    from tgrpo_ros.policy.model_location import resolve_model
    evaluate_tasks(args, resolve_model(args.model), out / 'eval' / 'sft', log)
    summarise(args, out, time.monotonic() - t0)
    for seed in args.seeds:           # seeds outermost: every method gets a seed before any
        for method in args.methods:   # gets a second, so a cut-short run is still comparable
            name = f'{method}_s{seed}'
            if (out / 'eval' / name / 'results.json').is_file():
                continue
            run = out / 'runs' / name
            train_run(args, method, seed, run, log)
            export_policy(args, run, run / 'final_policy')
            evaluate_tasks(args, str(run / 'final_policy'), out / 'eval' / name, log)
            summarise(args, out, time.monotonic() - t0)
    doc = summarise(args, out, time.monotonic() - t0)
    log(f'[experiment] done; table in {out / "results.md"}')
    print((out / 'results.md').read_text())
    return 0 if doc else 1


if __name__ == '__main__':
    sys.exit(main())
