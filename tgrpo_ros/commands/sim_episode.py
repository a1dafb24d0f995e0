# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros sim-episode``: run one LIBERO episode and save its frames, rewards and actions.

Useful to look at what a policy, the expert or a reward spec does in one episode: every
rendered frame is saved as ``frame_NNNN.png`` (upright, as the policy sees it), plus
``episode.gif`` and ``episode.json`` (per step: action, reward, stage, success).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Sequence

import imageio.v2 as imageio
import numpy as np

from tgrpo_ros.sim.eval_sim import ExpertPolicy, RandomPolicy, VLAPolicyRunner
from tgrpo_ros.sim.libero_env import LiberoEnv, SUITES

EXAMPLES = """
examples:
  # the scripted expert on LIBERO-Object task 4 (ketchup), initial state 0
  tgrpo-ros sim-episode --policy expert --task 4 --out runs/episode_ketchup

  # random actions for 40 steps with both cameras at 128 px
  tgrpo-ros sim-episode --policy random --task 0 --max-steps 40 \\
      --cameras agentview wrist --image-size 128 --out runs/episode_random

  # a policy folder, sampled at temperature 1
  tgrpo-ros sim-episode --policy runs/sim_train/policy_000050 --temperature 1.0 --out ep
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='tgrpo-ros sim-episode',
                                description=__doc__.split('\n\n')[0], epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--policy', default='expert', help="'expert', 'random' or a policy folder")
    p.add_argument('--suite', default='libero_object', choices=SUITES)
    p.add_argument('--task', default='0', help='task name or index')
    p.add_argument('--init-state', type=int, default=0, help='benchmark initial state 0..49')
    p.add_argument('--seed', type=int, default=7)
    p.add_argument('--max-steps', type=int, default=None, help="default: the suite's")
    p.add_argument('--cameras', nargs='+', default=None,
                   help="cameras to save (default: the policy's, else agentview)")
    p.add_argument('--image-size', type=int, default=256)
    p.add_argument('--temperature', type=float, default=0.0)
    p.add_argument('--device', default='cpu')
    p.add_argument('--out', type=Path, default=Path('sim_episode'))
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``tgrpo-ros sim-episode``; returns the process exit code."""
    args = build_parser().parse_args(argv)
    if args.policy == 'expert':
        runner, cameras = ExpertPolicy(1, 0.0, args.seed), ['agentview']
    elif args.policy == 'random':
        runner, cameras = RandomPolicy(args.seed), ['agentview']
    else:
        if not Path(args.policy).exists():
            raise SystemExit(f'--policy: no such folder {args.policy!r}')
        runner = VLAPolicyRunner(args.policy, args.device, args.temperature, args.seed)
        cameras = runner.cameras
    cameras = args.cameras or cameras
    task = int(args.task) if args.task.isdigit() else args.task
    args.out.mkdir(parents=True, exist_ok=True)
    env = LiberoEnv(args.suite, task, cameras=cameras, image_size=args.image_size,
                    max_steps=args.max_steps)
    steps, frames = [], []
    try:
        obs = env.reset(args.init_state, args.seed)
        if hasattr(runner, 'reset'):
            runner.reset(0)
        frames.append(obs)
        while not env.done:
            states = [env.sim_state()] if runner.needs_states else [None]
            action = runner.act([obs], states)[0]
            obs, out = env.step(action)
            frames.append(obs)
            steps.append({'step': len(steps), 'action': np.asarray(action).tolist(),
                          'reward': out.reward, 'stage': out.stage, 'success': out.success})
        summary = {'task': env.task_id, 'instruction': env.instruction,
                   'init_state': args.init_state, 'policy': args.policy,
                   'success': out.success, 'done_reason': out.done_reason,
                   'steps': len(steps), 'return': float(sum(s['reward'] for s in steps)),
                   'num_stages': out.num_stages, 'per_step': steps}
    finally:
        env.close()
    for k, o in enumerate(frames):
        row = np.concatenate([o.images[c] for c in cameras], axis=1)
        imageio.imwrite(args.out / f'frame_{k:04d}.png', row)
        frames[k] = row
    imageio.mimsave(args.out / 'episode.gif', frames[::2], duration=0.1)
    (args.out / 'episode.json').write_text(json.dumps(summary, indent=2) + '\n')
    print(f'{summary["task"]} init {args.init_state}: {summary["done_reason"]} after '
          f'{summary["steps"]} steps, return {summary["return"]:.1f}; frames in {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
