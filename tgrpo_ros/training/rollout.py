# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Collect one group in-process: N environments from one initial state, one policy, no ROS.

The environments are anything with LiberoEnv's ``reset(init_state_index, seed)`` and
``step(action) -> (Observation, StepOutcome)``. All active environments act in one batched
policy call per step, as the policy node batches observations arriving together.

With ``critic=True`` (the PPO baseline) each step also records the value head's V(s) of the
observation acted on, and ``GroupStats.last_values`` holds V of the state after each
trajectory's last step (0 after a success, which ends the task; a time limit or the group's
end only cuts the episode, so GAE bootstraps from it).
"""

from __future__ import annotations

from dataclasses import dataclass
import time
from typing import Callable, Sequence

import torch

from tgrpo_ros.algo import GroupRolloutBuffer
from tgrpo_ros.policy.base import VLAPolicy


@dataclass
class GroupStats:
    """What a group's rollout produced (per trajectory lists have N entries)."""

    returns: list[float]
    lengths: list[int]
    success: list[bool]
    max_stage: list[int]
    num_stages: int
    env_steps: int
    rollout_time_s: float
    last_values: list[float] | None = None


def collect_group(envs: Sequence, policy: VLAPolicy, buffer: GroupRolloutBuffer, *,
                  init_state_index: int, seed: int, temperature: float,
                  generator: torch.Generator | None = None, group_id: int = 0,
                  on_step: Callable[[int], None] | None = None,
                  critic: bool = False) -> GroupStats:
    """Run the N environments of ``envs`` until the buffer's completion rule ends the group."""
    t0 = time.monotonic()
    n = len(envs)
    if n != buffer.num_envs:
        raise ValueError(f'{n} environments for a buffer of {buffer.num_envs}')
    buffer.reset(group_id)
    obs = [env.reset(init_state_index, seed) for env in envs]
    steps = [0] * n
    max_stage = [0] * n
    num_stages = 0
    env_steps = 0
    last_tokens: list = [None] * n
    while not buffer.is_complete:
        active = [i for i in range(n) if buffer.is_active(i)]
        batch = [obs[i] for i in active]
        sample = policy.sample(batch, temperature, generator)
        values = (policy.evaluate(batch, sample.token_ids, temperature, grad=False,
                                  values=True)[1].float().cpu().tolist()
                  if critic else [None] * len(active))
        for j, i in enumerate(active):
            next_obs, out = envs[i].step(sample.actions[j])
            buffer.add(i, steps[i], obs[i], sample.token_ids[j], sample.logprobs[j], out.reward,
                       success=out.success, done=out.done, value=values[j])
            last_tokens[i] = sample.token_ids[j]
            obs[i] = next_obs
            steps[i] += 1
            env_steps += 1
            max_stage[i] = max(max_stage[i], out.stage)
            num_stages = out.num_stages
        if on_step is not None:
            on_step(env_steps)
    rewards, mask = buffer.rewards, buffer.mask
    last_values = None
    if critic:
        # The value head reads only the prefix (observation + prompt); any valid action tokens
        # complete the call, so the trajectory's last ones are reused.
        v = policy.evaluate(obs, torch.stack(last_tokens), temperature, grad=False,
                            values=True)[1].float().cpu()
        last_values = torch.where(buffer.success, 0.0, v).tolist()
    return GroupStats(returns=(rewards * mask).sum(1).tolist(), lengths=buffer.lengths.tolist(),
                      success=buffer.success.tolist(), max_stage=max_stage,
                      num_stages=num_stages, env_steps=env_steps,
                      rollout_time_s=time.monotonic() - t0, last_values=last_values)
