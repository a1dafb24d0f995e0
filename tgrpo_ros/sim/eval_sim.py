# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros eval-sim``: success rates of a policy, the scripted expert or random actions.

For each chosen task, runs K episodes from the benchmark's initial states (OpenVLA's protocol:
10 wait steps, the suite's max steps, seed 7), prints a success table, writes ``results.json``
and, per task, an image strip of the first episode (``<task>.png``; ``--gif`` adds an animation).

Episodes run in up to ``--num-envs`` environments at once (worker processes, ``EnvGroup``); the
policy acts on the whole batch in one call. The strip is rendered by replaying the first
episode's actions in a camera-equipped environment (episodes are deterministic given the
initial state and the actions), so the expert and random runs need no rendering.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Sequence

import numpy as np

from tgrpo_ros.sim.libero_env import LiberoEnv, list_tasks, MAX_STEPS, resolve_task, SUITES

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


class RandomPolicy:
    """Uniform actions in [-1, 1]^7 (a floor for every success and reward figure)."""

    needs_states = False

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def act(self, obs, states) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, (len(states), 7))


class ExpertPolicy:
    """The scripted expert (``expert.py``), one instance per environment slot."""

    needs_states = True

    def __init__(self, n: int, noise: float, seed: int):
        from tgrpo_ros.sim.expert import ScriptedExpert
        self.experts = [ScriptedExpert(noise=noise, seed=seed + i) for i in range(n)]

    def reset(self, i: int) -> None:
        self.experts[i].reset()

    def act(self, obs, states) -> np.ndarray:
        return np.stack([e.act(s) if s is not None else np.zeros(7)
                         for e, s in zip(self.experts, states)])


class VLAPolicyRunner:
    """A ``VLAPolicy`` loaded from a folder; samples a batch of observations in one call."""

    needs_states = False

    def __init__(self, path: str, device: str, temperature: float, seed: int):
        try:
            from tgrpo_ros.policy import load_policy
        except ImportError as e:  # the policy package is missing or broken
            raise NotImplementedError(
                f'--policy PATH needs tgrpo_ros.policy.load_policy, which could not be '
                f'imported ({e}); use --policy expert or random') from e
        import torch
        self.policy = load_policy(path, device=device)
        self.cameras = list(self.policy.spec.cameras)
        self.temperature = temperature
        self.generator = torch.Generator().manual_seed(seed)

    def act(self, obs, states) -> np.ndarray:
        idx = [i for i, o in enumerate(obs) if o is not None]
        out = np.zeros((len(obs), 7))
        if idx:
            sample = self.policy.sample([obs[i] for i in idx], temperature=self.temperature,
                                        generator=self.generator)
            out[idx] = np.asarray(sample.actions, dtype=np.float64)
        return out


class _LocalEnvs:
    """One in-process ``LiberoEnv`` behind the ``EnvGroup`` calls eval uses (no worker)."""

    def __init__(self, **kwargs):
        self.env = LiberoEnv(**kwargs)
        self.num_envs = 1
        self.max_steps = self.env.max_steps

    def reset(self, i: int, init_state_index: int, seed: int):
        return self.env.reset(init_state_index, seed)

    def step(self, actions, active):
        if not active[0]:
            return [None], [None]
        o, out = self.env.step(actions[0])
        return [o], [out]

    def sim_states(self, workers):
        return [self.env.sim_state() for _ in workers]

    def close(self) -> None:
        self.env.close()


def run_task(suite: str, task: str, init_states: Sequence[int], runner, num_envs: int,
             cameras: Sequence[str], image_size: int, max_steps: int | None, seed: int,
             progress) -> list[dict]:
    """Run one episode per initial state, ``num_envs`` at a time; return per-episode records."""
    kwargs = {'suite': suite, 'task': task, 'cameras': tuple(cameras),
              'image_size': image_size, 'max_steps': max_steps}
    n = min(num_envs, len(init_states))
    if n == 1:
        envs = _LocalEnvs(**kwargs)
    else:
        from tgrpo_ros.sim.env_group import EnvGroup
        envs = EnvGroup(n, **kwargs)
    records = []
    try:
        for start in range(0, len(init_states), n):
            batch = list(init_states[start:start + n])
            k = len(batch)
            obs: list = [None] * n
            for i, idx in enumerate(batch):
                obs[i] = envs.reset(i, idx, seed)
                if hasattr(runner, 'reset'):
                    runner.reset(i)
            active = np.zeros(n, dtype=bool)
            active[:k] = True
            rec = [{'init_state': idx, 'success': False, 'steps': 0, 'return': 0.0,
                    'max_stage': 0, 'actions': []} for idx in batch]
            while active.any():
                live = [i for i in range(n) if active[i]]
                full_states: list = [None] * n
                if runner.needs_states:
                    for i, s in zip(live, envs.sim_states(live)):
                        full_states[i] = s
                actions = runner.act([o if active[i] else None for i, o in enumerate(obs)],
                                     full_states)
                obs, outs = envs.step(actions, active)
                for i in range(k):
                    out = outs[i]
                    if out is None:
                        continue
                    r = rec[i]
                    r['steps'] += 1
                    r['return'] += out.reward
                    r['max_stage'] = max(r['max_stage'], out.stage)
                    r['actions'].append(np.asarray(actions[i]).tolist())
                    if out.done:
                        r['success'], r['done_reason'] = out.success, out.done_reason
                        active[i] = False
                        progress.update(1)
            records.extend(rec)
    finally:
        envs.close()
    return records


def render_strip(suite: str, task: str, record: dict, seed: int, out_png: Path,
                 gif: Path | None, frames: int = 8, image_size: int = 128) -> bool:
    """Replay an episode's actions with the agentview camera; write a strip (and a GIF).

    Returns whether the replay reproduced the episode's outcome.
    """
    import imageio.v2 as imageio
    env = LiberoEnv(suite, task, cameras=('agentview',), image_size=image_size,
                    max_steps=max(1, len(record['actions'])))
    try:
        images = [env.reset(record['init_state'], seed).images['agentview']]
        out = None
        for a in record['actions']:
            o, out = env.step(a)
            images.append(o.images['agentview'])
    finally:
        env.close()
    pick = np.linspace(0, len(images) - 1, min(frames, len(images))).round().astype(int)
    imageio.imwrite(out_png, np.concatenate([images[i] for i in pick], axis=1))
    if gif is not None:
        imageio.mimsave(gif, images[::2], duration=0.1)
    return out is not None and bool(out.success) == bool(record['success'])


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

    from tqdm import tqdm
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
