# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros eval-sim``: success rates of a policy, the scripted expert or random actions.

For each chosen task, runs K episodes from the benchmark's initial states (OpenVLA's protocol:
10 wait steps, the suite's max steps, seed 7), prints a success table, writes ``results.json``
and, per task, an image strip of the first episode (``<task>.png``; ``--gif`` adds an animation).
Episodes run in up to ``--num-envs`` environments at once (worker processes); the library is
``tgrpo_ros.sim.eval_sim``.

Several suites (``--suite libero_spatial libero_goal``, or ``--suite all`` for the paper's
four) run one after the other; each gets its task table and its folder under ``--out``, and a
suite table laid out like the paper's (Spatial / Object / Goal / Long / Average) ends the output
and ``results.json`` (``suites``, ``suite_table``).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys
import time
from typing import Sequence

import numpy as np
from tqdm import tqdm

from tgrpo_ros.sim.eval_sim import (ExpertPolicy, format_suite_table, RandomPolicy,
                                    render_strip, run_task, suite_table, VLAPolicyRunner)
from tgrpo_ros.sim.libero_config import ALL_TASKS, PAPER_SUITES
from tgrpo_ros.sim.libero_env import list_tasks, MAX_STEPS, resolve_task, SUITES

EXAMPLES = """
examples:
  # the scripted expert on all 10 LIBERO-Object tasks, 20 episodes each
  tgrpo-ros eval-sim --policy expert --episodes 20 --out runs/eval_expert

  # random actions on two tasks (by index and by name), 5 episodes, 2 worker processes
  tgrpo-ros eval-sim --policy random --tasks 0 pick_up_the_milk_and_place_it_in_the_basket \\
      --episodes 5 --num-envs 2

  # a trained policy folder (a tgrpo checkpoint, an OpenVLA folder or an HF VLM), greedy
  tgrpo-ros eval-sim --policy runs/sim_train/policy_000050 --suite libero_object \\
      --episodes 50 --temperature 0 --num-envs 4 --gif

  # the expert on the paper's four suites: task tables, then Spatial / Object / Goal / Long
  tgrpo-ros eval-sim --policy expert --suite all --episodes 10 --no-strip --out runs/eval_all
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='tgrpo-ros eval-sim', description=__doc__.split('\n\n')[0],
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--policy', default='expert',
                   help="'expert', 'random', or a policy folder for load_policy "
                        '(default: expert)')
    p.add_argument('--suite', nargs='+', default=['libero_object'],
                   choices=SUITES + (ALL_TASKS,), metavar='SUITE',
                   help=f"one or more of {', '.join(SUITES)}, or '{ALL_TASKS}' = the paper's "
                        'four (default: libero_object)')
    p.add_argument('--tasks', nargs='*', default=None,
                   help='task names or indices (default: every task of each suite)')
    p.add_argument('--episodes', type=int, default=10,
                   help='episodes per task, from initial states --first-init-state onward')
    p.add_argument('--first-init-state', type=int, default=0)
    p.add_argument('--num-envs', type=int, default=1,
                   help='environments stepped at once (worker processes when > 1)')
    p.add_argument('--seed', type=int, default=7, help="OpenVLA's evaluation uses 7")
    p.add_argument('--max-steps', type=int, default=None,
                   help="policy steps per episode (default: the suite's, "
                        + ', '.join(f'{k} {v}' for k, v in MAX_STEPS.items()) + ')')
    p.add_argument('--image-size', type=int, default=256,
                   help='render size for a VLA policy [px] (OpenVLA renders 256)')
    p.add_argument('--temperature', type=float, default=0.0,
                   help='sampling temperature for a VLA policy (0 = greedy)')
    p.add_argument('--device', default='cpu', help='torch device for a VLA policy')
    p.add_argument('--expert-noise', type=float, default=0.0,
                   help="std of Gaussian noise on the expert's motion commands")
    p.add_argument('--out', type=Path, default=Path('eval_sim'),
                   help='output folder for results.json and the image strips')
    p.add_argument('--no-strip', action='store_true', help='skip the per-task image strips')
    p.add_argument('--gif', action='store_true', help='also write an animated GIF per task')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tgrpo-ros eval-sim``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.episodes < 1:
        raise SystemExit('--episodes must be >= 1')
    if args.num_envs < 1:
        raise SystemExit('--num-envs must be >= 1')
    suites = _suites(args.suite)
    last = args.first_init_state + args.episodes - 1
    if args.first_init_state < 0 or last >= 50:
        raise SystemExit(f'initial states {args.first_init_state}..{last} out of range '
                         '(LIBERO has 50 per task: 0..49)')
    init_states = list(range(args.first_init_state, last + 1))
    chosen = {suite: _tasks(suite, args.tasks) for suite in suites}

    if args.policy == 'random':
        runner, cameras = RandomPolicy(args.seed), ()
    elif args.policy == 'expert':
        runner, cameras = ExpertPolicy(args.num_envs, args.expert_noise, args.seed), ()
    else:
        if not Path(args.policy).exists():
            raise SystemExit(f"--policy: no such folder {args.policy!r} (or use 'expert' / "
                             "'random')")
        runner = VLAPolicyRunner(args.policy, args.device, args.temperature, args.seed)
        cameras = runner.cameras

    args.out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()
    per_suite = {}
    total = sum(len(t) for t in chosen.values()) * len(init_states)
    with tqdm(total=total, desc='episodes', unit='ep') as bar:
        for suite in suites:
            # One suite keeps the folder layout it always had; several get a folder each.
            out = args.out if len(suites) == 1 else args.out / suite
            out.mkdir(parents=True, exist_ok=True)
            per_suite[suite] = _run_suite(args, suite, chosen[suite], init_states, runner,
                                          cameras, out, bar)
    if len(suites) == 1:
        results = per_suite[suites[0]]
    else:
        table = suite_table({s: r['success_rate'] for s, r in per_suite.items()})
        results = {'policy': args.policy, 'seed': args.seed,
                   'episodes_per_task': args.episodes, 'init_states': init_states,
                   'suites': per_suite, 'suite_table': table,
                   'success_rate': table['average']}
    results['seconds'] = round(time.time() - t0, 1)
    (args.out / 'results.json').write_text(json.dumps(results, indent=2) + '\n')

    for suite, res in per_suite.items():
        _print_tasks(suite, res)
    if len(suites) > 1:
        print()
        print(format_suite_table(args.policy, results['suite_table']))
    print(f'wrote {args.out / "results.json"}')
    return 0


def _suites(names: Sequence[str]) -> list[str]:
    """Return the suites asked for, each once, the paper's first ('all' = its four)."""
    wanted: list[str] = []
    for name in names:
        for suite in (PAPER_SUITES if name == ALL_TASKS else (name,)):
            if suite not in wanted:
                wanted.append(suite)
    order = list(PAPER_SUITES) + [s for s in SUITES if s not in PAPER_SUITES]
    return sorted(wanted, key=order.index)


def _tasks(suite: str, tasks: Sequence[str] | None) -> list[str]:
    names = list_tasks(suite)
    if not tasks or list(tasks) == [ALL_TASKS]:
        return names
    return [resolve_task(suite, t)[1] for t in tasks]


def _run_suite(args, suite: str, chosen: list[str], init_states: list[int], runner, cameras,
               out: Path, bar) -> dict:
    """Run every chosen task of one suite; return its results (the single-suite file's layout)."""
    results = {'policy': args.policy, 'suite': suite, 'seed': args.seed,
               'episodes_per_task': args.episodes, 'init_states': init_states,
               'max_steps': args.max_steps or MAX_STEPS[suite], 'tasks': {}}
    for task in chosen:
        bar.set_postfix_str(task[:40])
        recs = run_task(suite, task, init_states, runner, args.num_envs, cameras,
                        args.image_size, args.max_steps, args.seed, bar)
        entry = {
            'episodes': len(recs), 'successes': sum(r['success'] for r in recs),
            'success_rate': sum(r['success'] for r in recs) / len(recs),
            'mean_return': float(np.mean([r['return'] for r in recs])),
            'mean_steps': float(np.mean([r['steps'] for r in recs])),
            'episodes_detail': [{k: v for k, v in r.items() if k != 'actions'}
                                for r in recs],
        }
        if not args.no_strip:
            png = out / f'{task}.png'
            gif = out / f'{task}.gif' if args.gif else None
            entry['strip'] = png.name
            entry['replay_matches'] = render_strip(suite, task, recs[0], args.seed, png, gif)
        results['tasks'][task] = entry
    total = sum(v['episodes'] for v in results['tasks'].values())
    ok = sum(v['successes'] for v in results['tasks'].values())
    results['episodes'], results['successes'] = total, ok
    results['success_rate'] = ok / total
    return results


def _print_tasks(suite: str, results: dict) -> None:
    tasks = results['tasks']
    width = max(len(t) for t in tasks)
    print(f'\n{suite}\n{"task":<{width}}  success      mean return')
    for task, v in tasks.items():
        print(f'{task:<{width}}  {v["successes"]:>3}/{v["episodes"]:<3} '
              f'{100 * v["success_rate"]:5.1f}%  {v["mean_return"]:9.1f}')
    ok, total = results['successes'], results['episodes']
    print(f'{"all":<{width}}  {ok:>3}/{total:<3} {100 * ok / total:5.1f}%')


if __name__ == '__main__':
    sys.exit(main())
