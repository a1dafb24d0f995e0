# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""RobotCollector: a group's N trials run one after another on one robot.

The robot is one environment (``ros/nodes/robot_env_node.py``, env id ``robot``) whose every
reset goes through the operator. The collector asks for trial i's start (``request.init_states
[i]``), waits for the trial to end, and files it as trajectory i: to the ``StepAssembler`` each
trial is its own slot ``robot#i``, told apart by episode id, so joining, the completion rule
and the validity flags are the simulation path's (``ros/collector.py``). A trial that ended
abnormally (``DoneReason.OPERATOR_ABORT``, ``EMERGENCY_STOP``, ``ERROR`` for lost perception) or
whose steps stop arriving (``run.step_timeout_s``) comes back invalid, and the driver applies
the abnormal-trial rule to the group (``tgrpo_ros.training.trials``).
"""

from __future__ import annotations

import time
from typing import Sequence

from rclpy.node import Node

from tgrpo_ros.algo import GroupRolloutBuffer
from tgrpo_ros.ros.collector import RosCollector
from tgrpo_ros.sim.libero_env import MAX_STEPS
from tgrpo_ros.srv import ResetEnv
from tgrpo_ros.training.collector import Group, GroupRequest
from tgrpo_ros.training.step_assembler import StepAssembler, StepIds


class RobotCollector(RosCollector):
    """Sequential trials on the environment ``env_id`` (see the module docstring).

    trial_timeout_s: the longest a trial may run (steps included) before the group fails;
    reset_timeout_s: the longest wait for the operator's reset (a person restores the scene).
    The other arguments are ``RosCollector``'s.
    """

    def __init__(self, node: Node, env_id: str, suite: str, step_timeout_s: float = 60.0,
                 startup_timeout_s: float = 300.0, reset_timeout_s: float = 600.0,
                 check_policy=None):
        super().__init__(node, [env_id], suite, step_timeout_s=step_timeout_s,
                         startup_timeout_s=startup_timeout_s, check_policy=check_policy)
        self.robot = env_id
        self.reset_timeout = float(reset_timeout_s)
        self._slot_of_episode: dict[int, str] = {}
        self._starting: str | None = None  # the slot of the trial whose reset is under way

    def _ids(self, msg) -> StepIds:
        ids = super()._ids(msg)
        if ids.env_id != self.robot:
            return ids
        # A trial's first observation may arrive before its reset's reply names the episode:
        # an episode not seen before is the trial being started (trials never overlap).
        slot = self._slot_of_episode.get(ids.episode_id)
        if slot is None and self._starting is not None and ids.group_id in self.assemblers:
            slot = self._slot_of_episode.setdefault(ids.episode_id, self._starting)
        return ids if slot is None else StepIds(slot, ids.episode_id, ids.step, ids.group_id)

    def collect(self, request: GroupRequest) -> Group:
        t0 = time.monotonic()
        n = request.num_envs
        slots = [f'{self.robot}#{i}' for i in range(n)]
        max_steps = request.max_steps or MAX_STEPS.get(self.suite, 1000)
        assembler = StepAssembler(request.group_id, slots,
                                  GroupRolloutBuffer(n, max_steps, request.completion),
                                  self.expected.version, request.temperature)
        with self._cond:
            self.assemblers = {request.group_id: assembler}
            self._slot_of_episode = {}
        try:
            for i, state in enumerate(request.init_states):
                if not assembler.buffer.is_active(i):
                    continue  # cut before it began (a first-success group already decided)
                req = ResetEnv.Request(suite=self.suite, task=request.task,
                                       init_state_index=int(state), seed=request.seed,
                                       group_id=request.group_id, max_steps=request.max_steps)
                with self._cond:
                    self._starting = slots[i]
                res = self._call(self.reset_clients[self.robot], req, self.reset_timeout)
                if not res.success:
                    raise RuntimeError(f'{self.robot}: reset for trial {i + 1} failed: '
                                       f'{res.message}')
                with self._cond:
                    self._slot_of_episode[int(res.episode_id)] = slots[i]
                    self._starting = None
                    assembler.set_episode(slots[i], int(res.episode_id))
                self._run_trial(request, assembler, i)
            return self._group(request, assembler, t0)
        finally:
            with self._cond:
                self.assemblers = {}
                self._starting = None

    def collect_many(self, requests: Sequence[GroupRequest]) -> list[Group]:
        """One robot: the groups one after another."""
        return [self.collect(r) for r in requests]

    def _run_trial(self, request: GroupRequest, assembler: StepAssembler, i: int) -> None:
        """Wait until trial i has ended and every step of it is joined."""
        with self._cond:
            self._last_progress[request.group_id] = time.monotonic()
        while True:
            with self._cond:
                assembler.check()
                if assembler.env_done(i):
                    return
                if time.monotonic() - self._last_progress[request.group_id] > self.step_timeout:
                    missing = '; '.join(str(m) for m in assembler.missing()) or 'nothing'
                    self._abandon(assembler, i, 'timeout',
                                  f'no step for {self.step_timeout:.0f} s ({missing})')
                    self._last_progress[request.group_id] = time.monotonic()
                end = i in assembler.to_end()
                if not end:
                    self._cond.wait(0.2)
            if end:
                self._end(assembler, i)

    def _env_of(self, assembler: StepAssembler, i: int) -> str:
        return self.robot  # every slot is a trial of the one robot
