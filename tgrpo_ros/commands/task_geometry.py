# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros task-geometry``: a LIBERO task's object boxes and goal regions as a YAML file.

The pose reward of a robot (``robot_env``, ``reward_sources`` with ``pose``) needs each
object's collision box, the goal regions and the goal (``tgrpo_ros.sim.perceived_state``). For
the simulated arm they come from the task's scene, in the robot base frame that sim_robot
publishes its poses in; for a real scene write the same file by hand (measured once).
"""

from __future__ import annotations

import argparse
from pathlib import Path
import sys
from typing import Sequence

import yaml

from tgrpo_ros.sim.libero_env import LiberoEnv
from tgrpo_ros.sim.perceived_state import TaskGeometry

EXAMPLES = """
examples:
  # LIBERO-Object task 0, poses in the Panda's base frame (what sim_robot publishes)
  tgrpo-ros task-geometry --suite libero_object --task 0 --out object_task0_geometry.yaml
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='tgrpo-ros task-geometry', description=__doc__.split('\n\n')[0],
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--suite', default='libero_object')
    p.add_argument('--task', default='0', help='task name or index in the suite')
    p.add_argument('--init-state', type=int, default=0,
                   help='initial state the boxes are read in (objects at rest)')
    p.add_argument('--frame', choices=('base', 'world'), default='base',
                   help="the poses' frame: the robot base (sim_robot) or the scene's world")
    p.add_argument('--out', type=Path, required=True, help='YAML file to write')
    return p


def task_geometry(env: LiberoEnv, init_state: int = 0, frame: str = 'base') -> dict:
    """Return the geometry file's content for ``env``'s task (goal included)."""
    env.reset(init_state_index=init_state)
    state = env.sim_state()
    base_pos, base_rot = env.robot_base_pose() if frame == 'base' else (None, None)
    out = TaskGeometry.from_sim_state(state, base_pos, base_rot).to_dict()
    out['goal'] = [list(g) for g in state.goal]
    out['task'] = env.task_id
    out['frame'] = frame
    return out


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    task = int(args.task) if args.task.isdigit() else args.task
    with LiberoEnv(args.suite, task, cameras=()) as env:
        data = task_geometry(env, args.init_state, args.frame)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    body = yaml.safe_dump(data, sort_keys=False, default_flow_style=None)
    args.out.write_text(f'# Task geometry of {data["task"]} (tgrpo-ros task-geometry), poses in '
                        f'the {args.frame} frame.\n' + body)
    print(f'{data["task"]}: {len(data["objects"])} objects, {len(data["regions"])} regions -> '
          f'{args.out}', file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
