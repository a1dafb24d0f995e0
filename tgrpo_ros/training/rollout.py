# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Collect groups in this process: an env group of N environments, one policy, no ROS.

The environments are stepped through ``EnvGroup``'s API (``tgrpo_ros.sim.env_group``: worker
processes by default, or a ``LocalEnvGroup`` of environments in this process), the one way of
stepping N environments. All active environments act in one batched policy call per step, as
the policy node batches observations arriving together.
"""

from __future__ import annotations

import time
from typing import Any, Callable

import numpy as np
import torch

from tgrpo_ros.algo import GroupRolloutBuffer
from tgrpo_ros.contract import DoneReason
from tgrpo_ros.policy.base import VLAPolicy
from tgrpo_ros.training.collector import Collector, Group, group_stats, GroupRequest
from tgrpo_ros.versioning import PolicyVersion

# make_envs(task, num_envs) -> an object with EnvGroup's API for that task.
EnvGroupFactory = Callable[[str, int], Any]


def collect_group(envs: Any, policy: VLAPolicy, request: GroupRequest,
                  generator: torch.Generator | None = None) -> Group:
    """Run ``request`` in ``envs`` (EnvGroup API, ``envs.num_envs`` >= N) until it is complete.

    Trajectory i runs in env i; envs beyond N stay idle. Each step: the active envs' N_a
    observations go to ``policy.sample`` in one call (actions (N_a, 7)), then
    ``envs.step(actions (num_envs, 7), active (num_envs,))``.
    """
    t0 = time.monotonic()
    n = request.num_envs
    if envs.num_envs < n:
        raise ValueError(f'{envs.num_envs} environments for a group of {n}')
    max_steps = request.max_steps or int(envs.max_steps)
    buffer = GroupRolloutBuffer(n, max_steps, request.completion)
    buffer.reset(request.group_id)
    states = list(request.init_states) + [request.init_states[0]] * (envs.num_envs - n)
    obs = envs.reset_all(states, request.seed)
    steps = [0] * n
    max_stage = [0] * n
    num_stages = 0
    valid = [True] * n
    actions = np.zeros((envs.num_envs, 7))
    while not buffer.is_complete:
        active = [i for i in range(n) if buffer.is_active(i)]
        sample = policy.sample([obs[i] for i in active], request.temperature, generator)
        mask = np.zeros(envs.num_envs, dtype=bool)
        mask[active] = True
        actions[active] = np.asarray(sample.actions, dtype=np.float64)
        next_obs, outs = envs.step(actions, mask)
        for j, i in enumerate(active):
            out = outs[i]
            buffer.add(i, steps[i], obs[i], sample.token_ids[j], sample.logprobs[j],
                       out.reward, success=out.success, done=out.done)
            obs[i] = next_obs[i]
            steps[i] += 1
            max_stage[i] = max(max_stage[i], out.stage)
            num_stages = out.num_stages
            valid[i] = valid[i] and out.done_reason != DoneReason.ERROR.value
    # Lockstep: every trajectory stopped at its last valid step, so obs[i] is what it reached.
    return Group(request=request, buffer=buffer,
                 stats=group_stats(buffer, max_stage, num_stages, time.monotonic() - t0),
                 final_observations=obs[:n], valid=valid)


class InProcessCollector(Collector):
    """Groups from environments in this process's control.

    make_envs: ``(task, num_envs) -> env group`` (``EnvGroup`` API); called when a request
        names another task than the current group's, or more environments.
    acting: the policy that acts. None: the trainer's own policy object, so ``serve`` has
        nothing to do (synchronous). A separate copy (overlapped updates,
        ``tgrpo_ros.training.pipeline``): ``serve`` loads each adapter into it, so the
        trainer can update its own weights while this one collects.
    Sampling draws from a generator seeded with ``request.seed`` per group: a resumed run
    samples what an uninterrupted one would have.
    """

    def __init__(self, policy: VLAPolicy, make_envs: EnvGroupFactory,
                 acting: VLAPolicy | None = None):
        self.policy = policy if acting is None else acting
        self.shared = acting is None
        self.make_envs = make_envs
        self.envs: Any = None
        self._key: tuple[str, int] | None = None

    def collect(self, request: GroupRequest) -> Group:
        if self._key is None or self._key[0] != request.task or self._key[1] < request.num_envs:
            self.close()
            self.envs = self.make_envs(request.task, request.num_envs)
            self._key = (request.task, int(self.envs.num_envs))
        generator = torch.Generator().manual_seed(int(request.seed))
        return collect_group(self.envs, self.policy, request, generator)

    def serve(self, version: PolicyVersion, adapter_path: str) -> None:
        if not self.shared and adapter_path:
            self.policy.load_adapter(adapter_path)
        if self.policy.version != version:
            raise RuntimeError(f'the acting policy is version {self.policy.version}, not '
                               f'{version}' + (": the in-process collector shares the "
                                               "trainer's policy object" if self.shared else ''))

    def close(self) -> None:
        if self.envs is not None:
            self.envs.close()
        self.envs, self._key = None, None
