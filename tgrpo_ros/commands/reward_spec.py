# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros reward-spec``: generate dense reward specs from LIBERO goals, and validate them.

``generate --suite S`` writes ``config/rewards/S/<task>.yaml`` for every task of the suite from
the task's BDDL goal (``tgrpo_ros.sim.reward_generation``); hand-written files (without the
``generated:`` field) are kept. ``validate --suite S --task T`` builds the live environment,
binds the task's spec to it (every object, region and fixture it names must exist, each fixture
with the state asked of it), resets it and prints the stages with which ones hold.
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
from typing import Sequence

from tgrpo_ros.sim.libero_env import LiberoEnv, SUITES
from tgrpo_ros.sim.reward_generation import generate_suite
from tgrpo_ros.sim.reward_spec import load_spec, RewardSpecError, spec_path

EXAMPLES = """
examples:
  # write (or refresh) the generated specs of a suite; hand-written files are kept
  tgrpo-ros reward-spec generate --suite libero_goal
  tgrpo-ros reward-spec generate --suite libero_10 --check   # exit 1 if any file is stale

  # bind a task's spec to the live simulator, reset, print its stages
  tgrpo-ros reward-spec validate --suite libero_goal --task turn_on_the_stove
  tgrpo-ros reward-spec validate --suite libero_10 --task 3 --init-state 5
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='tgrpo-ros reward-spec', description=__doc__.split('\n\n')[0],
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest='action', required=True)
    g = sub.add_parser('generate', help='write generated specs for every task of suites')
    g.add_argument('--suite', action='append', required=True, choices=SUITES,
                   help='suite (repeat for several)')
    g.add_argument('--out', type=Path, default=None,
                   help='folder to write into (default config/rewards/<suite>; with several '
                        'suites, <out>/<suite>)')
    g.add_argument('--check', action='store_true',
                   help='write nothing; exit 1 if a generated file is missing or stale')
    v = sub.add_parser('validate', help="check a task's spec against the live environment")
    v.add_argument('--suite', required=True, choices=SUITES)
    v.add_argument('--task', required=True, help='task name or index in the suite')
    v.add_argument('--spec', type=Path, default=None,
                   help="spec file (default: the task's file in config/rewards)")
    v.add_argument('--init-state', type=int, default=0, help='initial state to reset to')
    return p


def _generate(args: argparse.Namespace) -> int:
    bad = 0
    for suite in args.suite:
        out = None
        if args.out is not None:
            out = args.out / suite if len(args.suite) > 1 else args.out
        r = generate_suite(suite, out_dir=out, dry_run=args.check)
        verb = 'stale or missing' if args.check else 'written'
        print(f'{suite}: {len(r.written)} {verb}, {len(r.unchanged)} unchanged, '
              f'{len(r.hand_written)} hand-written kept, {len(r.failed)} without a rule; '
              f'stages per task {min(r.stages.values(), default=0)}..'
              f'{max(r.stages.values(), default=0)}')
        for name in r.written if args.check else ():
            print(f'  stale: {name}')
        for name, why in r.failed.items():
            print(f'  no spec for {name}: {why}', file=sys.stderr)
        bad += len(r.failed) + (len(r.written) if args.check else 0)
    return 1 if bad else 0


def _validate(args: argparse.Namespace) -> int:
    task = int(args.task) if args.task.isdigit() else args.task
    env = None
    try:
        spec = str(args.spec) if args.spec is not None else 'auto'
        env = LiberoEnv(args.suite, task, cameras=(), reward_spec=spec)
        env.reset(args.init_state)
        state = env.sim_state()
        reward = env.reward
        loaded = load_spec(args.spec or spec_path(args.suite, env.task_name))
        print(f'{env.task_id}: {loaded.source}')
        print(f'  version {loaded.version}, {reward.num_stages} stages, success bonus '
              f'{loaded.success_bonus}' + (' (generated)' if loaded.generated else
                                           ' (hand-written)'))
        print(f'  objects: {", ".join(env.object_names)}')
        print('  fixtures that open/close or turn on/off: '
              + (', '.join(f'{k} ({"/".join(v)})' for k, v in env.articulations.items())
                 or '(none)'))
        holds = reward.stage_predicates(state)
        for i, (st, ok) in enumerate(zip(loaded.stages, holds), start=1):
            print(f'  {i:2d}. [{"x" if ok else " "}] {st.name}')
        r = reward(state)
        print(f'  at reset (initial state {args.init_state}): stage {r.stage}/{r.num_stages}, '
              f'progress {r.progress:.3f}, reward {r.reward:.3f}, success {r.success}')
    except (RewardSpecError, FileNotFoundError, ValueError, IndexError) as e:
        print(f'tgrpo-ros reward-spec validate: {e}', file=sys.stderr)
        return 1
    finally:
        if env is not None:
            env.close()
    print('  ok')
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return _generate(args) if args.action == 'generate' else _validate(args)


if __name__ == '__main__':
    sys.exit(main())
