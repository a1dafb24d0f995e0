# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros init-states``: sample LIBERO initial states beyond the benchmark's 50 into a file.

The file (``tgrpo_ros.sim.init_states`` documents it) is what ``LiberoEnv(init_states_file=...)``,
the ``init_states_file`` setting of training and the sim_train graph read. States equal to a
benchmark state are skipped, so training on the file never touches an evaluation state.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
from typing import Sequence

from tgrpo_ros.sim.init_states import generate_init_states, save_init_states
from tgrpo_ros.sim.libero_env import LiberoEnv

EXAMPLES = """
examples:
  # 30 new states of LIBERO-Object task 0, placement seeds from 1000 on
  tgrpo-ros init-states --suite libero_object --task 0 --count 30 --seed 1000 \\
      --out data/object_task0_generated.npz

  # then train on them (their indices 0..29 replace the benchmark's)
  tgrpo-ros train --set init_states_file=data/object_task0_generated.npz
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='tgrpo-ros init-states', description=__doc__.split('\n\n')[0],
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--suite', default='libero_object')
    p.add_argument('--task', default='0', help='task name or index in the suite')
    p.add_argument('--count', type=int, required=True, help='how many states')
    p.add_argument('--seed', type=int, required=True,
                   help='first placement seed (state i uses seed + i, repeats skipped)')
    p.add_argument('--out', type=Path, required=True, help='.npz file to write')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    task = int(args.task) if args.task.isdigit() else args.task
    with LiberoEnv(args.suite, task, cameras=()) as env:
        states, seeds = generate_init_states(env, args.count, args.seed)
        save_init_states(args.out, states, seeds, env.task_id)
        print(f'{env.task_id}: {len(states)} initial states (seeds {seeds[0]}..{seeds[-1]}) '
              f'-> {args.out}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
