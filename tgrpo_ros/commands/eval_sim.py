# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros eval-sim``: success rates of a policy, the scripted expert or random actions.

For each chosen task, runs K episodes from the benchmark's initial states (OpenVLA's protocol:
10 wait steps, the suite's max steps, seed 7), prints a success table, writes ``results.json``
and, per task, an image strip of the first episode (``<task>.png``; ``--gif`` adds an animation).
Episodes run in up to ``--num-envs`` environments at once (worker processes); the library is
``tgrpo_ros.sim.eval_sim``.
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

from tgrpo_ros.sim.eval_sim import (ExpertPolicy, RandomPolicy, render_strip, run_task,
                                    VLAPolicyRunner)
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
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='tgrpo-ros eval-sim', description=__doc__.split('\n\n')[0],
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--policy', default='expert',
                   help="'expert', 'random', or a policy folder for load_policy "
                        '(default: expert)')
    p.add_argument('--suite', default='libero_object', choices=SUITES)
    p.add_argument('--tasks', nargs='*', default=None,
                   help='task names or indices (default: every task of the suite)')
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
    names = list_tasks(args.suite)
    chosen = names if not args.tasks else [resolve_task(args.suite, t)[1] for t in args.tasks]
    last = args.first_init_state + args.episodes - 1
    if args.first_init_state < 0 or last >= 50:
        raise SystemExit(f'initial states {args.first_init_state}..{last} out of range '
                         '(LIBERO has 50 per task: 0..49)')
    init_states = list(range(args.first_init_state, last + 1))

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
    results = {'policy': args.policy, 'suite': args.suite, 'seed': args.seed,
               'episodes_per_task': args.episodes, 'init_states': init_states,
               'max_steps': args.max_steps or MAX_STEPS[args.suite], 'tasks': {}}
    t0 = time.time()
    with tqdm(total=len(chosen) * len(init_states), desc='episodes', unit='ep') as bar:
        for task in chosen:
            bar.set_postfix_str(task[:40])
            recs = run_task(args.suite, task, init_states, runner, args.num_envs, cameras,
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
                png = args.out / f'{task}.png'
                gif = args.out / f'{task}.gif' if args.gif else None
                entry['strip'] = png.name
                entry['replay_matches'] = render_strip(args.suite, task, recs[0], args.seed,
                                                       png, gif)
            results['tasks'][task] = entry
    total = sum(v['episodes'] for v in results['tasks'].values())
    ok = sum(v['successes'] for v in results['tasks'].values())
    results['success_rate'] = ok / total
    results['seconds'] = round(time.time() - t0, 1)
    (args.out / 'results.json').write_text(json.dumps(results, indent=2) + '\n')

    width = max(len(t) for t in chosen)
    print(f'\n{"task":<{width}}  success      mean return')
    for task, v in results['tasks'].items():
        print(f'{task:<{width}}  {v["successes"]:>3}/{v["episodes"]:<3} '
              f'{100 * v["success_rate"]:5.1f}%  {v["mean_return"]:9.1f}')
    print(f'{"all":<{width}}  {ok:>3}/{total:<3} {100 * ok / total:5.1f}%')
    print(f'wrote {args.out / "results.json"}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
