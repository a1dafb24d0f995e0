# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Small deterministic stand-ins for LIBERO: fast driver tests with the tiny policy."""

from __future__ import annotations

import numpy as np

from tgrpo_ros.contract import DoneReason
from tgrpo_ros.observation import Observation, StepOutcome
from tgrpo_ros.sim.env_group import LocalEnvGroup

INSTRUCTION = 'pick up the alphabet soup and place it in the basket'


class FakeEnv:
    """A task that succeeds when the gripper closes (action[6] > 0.5) after step 2.

    Observations are 32x32 images determined by (initial state, step, last action), so a
    group's episodes are reproducible from the initial state and the actions. The dense reward
    is the gripper command plus 5 on success; ``log`` records (init_state, seed) of each reset.
    """

    def __init__(self, max_steps: int = 6):
        self.max_steps = max_steps
        self.task_id = 'fake/close_the_gripper'
        self.steps, self.done, self.init_state = 0, True, 0
        self.log: list[tuple[int, int]] = []
        self.closed = False

    def _obs(self, last: float) -> Observation:
        seed = self.init_state * 1000 + self.steps * 10 + int(100 * (last + 1))
        rng = np.random.default_rng(seed)
        return Observation(images={'agentview': rng.integers(0, 255, (32, 32, 3), np.uint8)},
                           instruction=INSTRUCTION, task=self.task_id)

    def reset(self, init_state_index: int, seed: int) -> Observation:
        self.init_state, self.steps, self.done = int(init_state_index), 0, False
        self.log.append((int(init_state_index), int(seed)))
        return self._obs(0.0)

    def step(self, action) -> tuple[Observation, StepOutcome]:
        assert not self.done
        a = np.asarray(action, dtype=float)
        self.steps += 1
        success = self.steps > 2 and a[6] > 0.5
        if success:
            self.done, why = True, DoneReason.SUCCESS.value
        elif self.steps >= self.max_steps:
            self.done, why = True, DoneReason.MAX_STEPS.value
        else:
            why = DoneReason.RUNNING.value
        out = StepOutcome(reward=float(a[6]) + 5.0 * success, stage=int(success), num_stages=1,
                          success=bool(success), done=self.done, done_reason=why)
        return self._obs(float(a[6])), out

    def close(self) -> None:
        self.closed = True


class FakeGroups:
    """``make_envs(task, n)`` for the driver: LocalEnvGroups of FakeEnvs, all remembered."""

    def __init__(self, max_steps: int = 6):
        self.max_steps = max_steps
        self.groups: list[LocalEnvGroup] = []

    def __call__(self, task: str, num_envs: int) -> LocalEnvGroup:
        group = LocalEnvGroup([FakeEnv(self.max_steps) for _ in range(num_envs)])
        self.groups.append(group)
        return group

    @property
    def resets(self) -> list[list[tuple[int, int]]]:
        """Per environment of every group built: the (init_state, seed) of each reset."""
        return [e.log for g in self.groups for e in g.envs]
