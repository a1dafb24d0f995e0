# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Success rates in LIBERO of a policy, the scripted expert or random actions (the library).

``run_task`` runs one episode per initial state (OpenVLA's protocol: 10 wait steps, the suite's
max steps, seed 7) in up to ``num_envs`` environments at once (worker processes, ``EnvGroup``);
the runner acts on the whole batch in one call. ``render_strip`` replays an episode's actions in
a camera-equipped environment (episodes are deterministic given the initial state and the
actions), so the expert and random runs need no rendering. The command is ``tgrpo-ros
eval-sim`` (``tgrpo_ros.commands.eval_sim``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import imageio.v2 as imageio
import numpy as np
import torch

from tgrpo_ros.contract import ACTION_DIM, DoneReason
from tgrpo_ros.policy import load_policy
from tgrpo_ros.sim.env_group import EnvGroup, LocalEnvGroup
from tgrpo_ros.sim.expert import ScriptedExpert
from tgrpo_ros.sim.libero_config import PAPER_SUITES
from tgrpo_ros.sim.libero_env import LiberoEnv

class RandomPolicy:
    """Uniform actions in [-1, 1]^7 (a floor for every success and reward figure)."""

    needs_states = False

    def __init__(self, seed: int):
        self.rng = np.random.default_rng(seed)

    def act(self, obs, states) -> np.ndarray:
        return self.rng.uniform(-1.0, 1.0, (len(states), ACTION_DIM))


class ExpertPolicy:
    """The scripted expert (``expert.py``), one instance per environment slot."""

    needs_states = True

    def __init__(self, n: int, noise: float, seed: int):
        self.experts = [ScriptedExpert(noise=noise, seed=seed + i) for i in range(n)]

    def reset(self, i: int) -> None:
        self.experts[i].reset()

    def act(self, obs, states) -> np.ndarray:
        return np.stack([e.act(s) if s is not None else np.zeros(ACTION_DIM)
                         for e, s in zip(self.experts, states)])


class VLAPolicyRunner:
    """A ``VLAPolicy`` loaded from a folder; samples a batch of observations in one call."""

    needs_states = False

    def __init__(self, path: str, device: str, temperature: float, seed: int):
        self.policy = load_policy(path, device=device)
        self.cameras = list(self.policy.spec.cameras)
        self.temperature = temperature
        self.generator = torch.Generator().manual_seed(seed)

    def act(self, obs, states) -> np.ndarray:
        idx = [i for i, o in enumerate(obs) if o is not None]
        out = np.zeros((len(obs), ACTION_DIM))
        if idx:
            sample = self.policy.sample([obs[i] for i in idx], temperature=self.temperature,
                                        generator=self.generator)
            out[idx] = np.asarray(sample.actions, dtype=np.float64)
        return out


def run_task(suite: str, task: str, init_states: Sequence[int], runner, num_envs: int,
             cameras: Sequence[str], image_size: int, max_steps: int | None, seed: int,
             progress) -> list[dict]:
    """Run one episode per initial state, ``num_envs`` at a time; return per-episode records."""
    kwargs = {'suite': suite, 'task': task, 'cameras': tuple(cameras),
              'image_size': image_size, 'max_steps': max_steps}
    n = min(num_envs, len(init_states))
    # One environment gains nothing from a worker process: step it here, through the same API.
    envs = LocalEnvGroup.libero(1, **kwargs) if n == 1 else EnvGroup(n, **kwargs)
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
                        r['success'] = out.success
                        r['done_reason'] = DoneReason(out.done_reason).value
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


def suite_table(rates: dict[str, float]) -> dict:
    """Success rate per suite -> the paper's table row: Spatial, Object, Goal, Long, average.

    rates: suite -> success rate over its episodes. A paper suite not run is None; other suites
    (libero_90) follow under their own names. ``average`` is the mean of the suites' rates (as
    the paper averages its columns), over the suites run (``averaged_over``).
    """
    row: dict = {name: rates.get(suite) for suite, name in PAPER_SUITES.items()}
    row.update({suite: rate for suite, rate in rates.items() if suite not in PAPER_SUITES})
    ran = [s for s in list(PAPER_SUITES) + list(rates) if s in rates]
    ran = list(dict.fromkeys(ran))
    row['average'] = float(np.mean([rates[s] for s in ran])) if ran else None
    row['averaged_over'] = ran
    return row


def format_suite_table(label: str, row: dict) -> str:
    """Return the row of ``suite_table`` as text, in percent, laid out like the paper's."""
    columns = [c for c in row if c not in ('average', 'averaged_over')] + ['average']
    names = [c if c != 'average' else 'Average' for c in columns]
    width = max(len(label), len('policy'))
    cells = ['-' if row[c] is None else f'{100 * row[c]:.1f}' for c in columns]
    head = f'{"policy":<{width}}' + ''.join(f'  {n:>8}' for n in names)
    line = f'{label:<{width}}' + ''.join(f'  {c:>8}' for c in cells)
    missing = [c for c in columns if row[c] is None]
    note = ('success rate [%] per suite over its tasks; Average = mean of the suites run'
            + (f' (not run: {", ".join(missing)})' if missing else ''))
    return '\n'.join([head, line, note])

