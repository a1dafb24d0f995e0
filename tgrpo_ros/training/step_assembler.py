# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""StepAssembler: join the three parts of every step into a group's buffer, free of ROS.

Over ROS a step arrives in three messages on three topics, in any order and possibly twice:
the observation the policy acted on, the action (tokens and log-probs), and the step result
(reward, success, done). Each carries ``(env_id, episode_id, step, group_id)``
(``tgrpo_ros.contract``). The assembler keeps the parts of the current group, and as soon as
step k of a trajectory has all three parts and steps 0..k-1 are in, adds it to the
``GroupRolloutBuffer`` (which needs each trajectory's steps in order).

What it tolerates, and counts (``counts``):

- ``other_group``: a record of another group (a late message of the previous group, or an
  evaluation's) is dropped;
- ``other_env`` / ``other_episode``: an environment that is not in the group, or another
  episode of one that is;
- ``duplicate``: a part already held, or of a step already added, is dropped;
- ``past_cut``: complete steps after the group's completion rule stopped a trajectory (an
  environment ahead of the first success) are not added;
- ``stale_actions``: actions whose policy version is not the one expected for the group
  (their steps are still added: they are what the environment did).

What it gives up on: a trajectory the collector ``abandon``s (its environment died, or its next
step never came) is stopped where it stands and marked invalid with the reason
(``valid``, ``reasons``); the rule for abnormal trials (``tgrpo_ros.training.trials``) masks it.

What it refuses: an action sampled at another temperature than the group's. Its log-probs are
of another distribution, so every ratio the learner forms from them is biased, and masking the
trajectory would hide a policy node that is set up wrong (every later group would be the same).
The action is not stored (its step never joins), ``temperature_mismatch`` is counted, and
``failure`` says what happened; the collector raises it (``check``) and the group fails.

A step result with done reason ``tgrpo_ros.contract.DoneReason.ENDED`` is no step: it says the
environment ended the episode on request, after applying steps 0..ids.step - 1.

Inputs are plain Python: ``StepIds`` and the three record dataclasses below, so the unit tests
need neither ROS nor LIBERO (``tgrpo_ros.ros.collector`` converts the messages).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any, Sequence

import numpy as np

from tgrpo_ros.algo import GroupRolloutBuffer
from tgrpo_ros.contract import DoneReason

PARTS = ('observation', 'action', 'result')


@dataclass(frozen=True)
class StepIds:
    """Identity of one step (``tgrpo_ros.contract``)."""

    env_id: str
    episode_id: int
    step: int
    group_id: int


@dataclass
class ObservationRecord:
    """The observation of ``ids.step`` (what the policy acts on); ``observation`` is opaque."""

    ids: StepIds
    observation: Any


@dataclass
class ActionRecord:
    """The action answering ``ids``: token_ids (K,) int, logprobs (K,) float, its version.

    temperature: what it was sampled (and its log-probs computed) at (``Action.temperature``).
    """

    ids: StepIds
    token_ids: np.ndarray
    logprobs: np.ndarray
    version: int
    temperature: float


@dataclass
class ResultRecord:
    """What applying the action of ``ids.step`` produced (a ``StepResult``)."""

    ids: StepIds
    reward: float
    stage: int = 0
    num_stages: int = 0
    success: bool = False
    done: bool = False
    done_reason: str = ''


@dataclass(frozen=True)
class Missing:
    """What a trajectory waits for: the next step's parts not yet received."""

    env_id: str
    step: int
    parts: tuple[str, ...]

    def __str__(self) -> str:
        return f'{self.env_id} step {self.step}: no {"/".join(self.parts)}'


class StepAssembler:
    """Assembles one group: trajectory i of ``buffer`` is environment ``env_ids[i]``.

    buffer: an empty ``GroupRolloutBuffer`` of N = len(env_ids) trajectories; reset here to
        ``group_id``.
    expected_version: the policy version serving this group (actions from others are stale).
    temperature: the group's sampling temperature (``GroupRequest.temperature``), the one the
        learner recomputes log-probs at; an action at another one fails the group.
    """

    def __init__(self, group_id: int, env_ids: Sequence[str], buffer: GroupRolloutBuffer,
                 expected_version: int, temperature: float):
        if len(env_ids) != buffer.num_envs or len(set(env_ids)) != len(env_ids):
            raise ValueError(f"env_ids {list(env_ids)} must name the buffer's "
                             f'{buffer.num_envs} trajectories once each')
        self.group_id = int(group_id)
        self.env_ids = list(env_ids)
        self.slot = {e: i for i, e in enumerate(self.env_ids)}
        self.buffer = buffer
        buffer.reset(self.group_id)
        self.expected_version = int(expected_version)
        self.temperature = float(temperature)
        self.failure: str | None = None  # why the group cannot be learned from (first reason)
        n = len(self.env_ids)
        self.episode: list[int | None] = [None] * n
        self._parts: dict[tuple[int, int], dict[str, Any]] = {}
        self.next_step = [0] * n        # steps joined so far per trajectory (added or cut)
        self.acted: list[list[Any]] = [[] for _ in range(n)]  # observations joined, in order
        self.finished = [False] * n     # a result said done (success, time limit, error)
        self.ended_at: list[int | None] = [None] * n  # ENDED after this many applied steps
        self.end_requested = [False] * n
        self.abandoned = [False] * n    # given up on (``abandon``): nothing more is joined
        self.valid = [True] * n
        self.reasons = [''] * n         # why a trial is invalid (tgrpo_ros.training.trials)
        self.max_stage = [0] * n
        self.num_stages = 0
        self.stale_versions: Counter[int] = Counter()
        self.counts: Counter[str] = Counter()

    # --- input ------------------------------------------------------------------------------
    def set_episode(self, env_id: str, episode_id: int) -> None:
        """Pin ``env_id``'s episode (from the reset reply); records of others are dropped."""
        i = self.slot[env_id]
        if self.episode[i] is not None and self.episode[i] != int(episode_id):
            raise ValueError(f'{env_id}: episode {episode_id} after {self.episode[i]} in one '
                             f'group ({self.group_id})')
        self.episode[i] = int(episode_id)

    def wants(self, ids: StepIds) -> bool:
        """Whether a record with ``ids`` could belong to this group (a cheap pre-check)."""
        return ids.group_id == self.group_id and ids.env_id in self.slot

    def add_observation(self, rec: ObservationRecord) -> bool:
        return self._put(rec.ids, 'observation', rec)

    def add_action(self, rec: ActionRecord) -> bool:
        if not _same_temperature(rec.temperature, self.temperature) and self.wants(rec.ids):
            # Refused on arrival: the step never joins, and ``failure`` ends the group.
            self.counts['temperature_mismatch'] += 1
            if self.failure is None:
                self.failure = (
                    f'group {self.group_id}: {rec.ids.env_id} step {rec.ids.step} was sampled '
                    f'at temperature {rec.temperature:g}, the group at {self.temperature:g}; '
                    "its log-probs would bias every ratio (check the policy node's "
                    'policy.temperature)')
            return False
        return self._put(rec.ids, 'action', rec)

    def add_result(self, rec: ResultRecord) -> bool:
        if rec.done_reason == DoneReason.ENDED.value:
            i = self._accept(rec.ids)
            if i is None:
                return False
            if self.ended_at[i] is not None:
                self.counts['duplicate'] += 1
                return False
            self.ended_at[i] = int(rec.ids.step)
            return True
        return self._put(rec.ids, 'result', rec)

    def _accept(self, ids: StepIds) -> int | None:
        """Return the trajectory index of ``ids``, or None (counted) if not of this group."""
        if ids.group_id != self.group_id:
            self.counts['other_group'] += 1
            return None
        i = self.slot.get(ids.env_id)
        if i is None:
            self.counts['other_env'] += 1
            return None
        # The first record of a group may come before the reset reply names the episode:
        # within one group an environment runs one episode, so the first record pins it.
        if self.episode[i] is None:
            self.episode[i] = int(ids.episode_id)
        elif self.episode[i] != int(ids.episode_id):
            self.counts['other_episode'] += 1
            return None
        return i

    def _put(self, ids: StepIds, part: str, rec: Any) -> bool:
        i = self._accept(ids)
        if i is None:
            return False
        key = (i, int(ids.step))
        if key[1] < self.next_step[i] or part in self._parts.get(key, {}):
            self.counts['duplicate'] += 1
            return False
        self._parts.setdefault(key, {})[part] = rec
        self._flush(i)
        return True

    def _flush(self, i: int) -> None:
        """Join env i's steps in order while all three parts of the next one are in."""
        while not self.finished[i] and not self.abandoned[i]:
            key = (i, self.next_step[i])
            parts = self._parts.get(key, {})
            if not all(p in parts for p in PARTS):
                return
            del self._parts[key]
            obs, act, res = parts['observation'], parts['action'], parts['result']
            self.next_step[i] += 1
            self.counts['joined'] += 1
            if res.done:
                self.finished[i] = True
            if res.done_reason == DoneReason.ERROR.value and self.valid[i]:
                self.valid[i], self.reasons[i] = False, 'error'
            if int(act.version) != self.expected_version:
                self.stale_versions[int(act.version)] += 1
            if not self.buffer.is_active(i):
                self.counts['past_cut'] += 1
                continue
            self.buffer.add(i, key[1], obs.observation, act.token_ids, act.logprobs,
                            float(res.reward), success=bool(res.success), done=bool(res.done))
            self.acted[i].append(obs.observation)
            self.max_stage[i] = max(self.max_stage[i], int(res.stage))
            self.num_stages = int(res.num_stages)

    def abandon(self, i: int, reason: str) -> None:
        """Give up trajectory i: its environment died or a step never came.

        Marks it invalid for ``reason`` and stops it in the buffer where it stands, so the
        group can complete; records of it that still arrive are not joined.
        """
        if self.valid[i]:
            self.valid[i], self.reasons[i] = False, reason
        self.abandoned[i] = True
        self.buffer.stop(i)

    # --- state ------------------------------------------------------------------------------
    def check(self) -> None:
        """Raise ``ValueError`` with ``failure`` if the group cannot be learned from."""
        if self.failure is not None:
            raise ValueError(self.failure)

    @property
    def stale_actions(self) -> int:
        return sum(self.stale_versions.values())

    @property
    def is_complete(self) -> bool:
        """The group's completion rule is met (``GroupRolloutBuffer.is_complete``)."""
        return self.buffer.is_complete

    def env_done(self, i: int) -> bool:
        """Environment i sends nothing more: its episode is over and every step is joined.

        An abandoned trajectory counts as done: nothing more of it is waited for.
        """
        if self.finished[i] or self.abandoned[i]:
            return True
        return self.ended_at[i] is not None and self.next_step[i] >= self.ended_at[i]

    def to_end(self) -> list[int]:
        """Trajectories the group no longer needs whose environments still run (not asked)."""
        return [i for i in range(len(self.env_ids))
                if not self.buffer.is_active(i) and not self.finished[i]
                and self.ended_at[i] is None and not self.end_requested[i]]

    def mark_end_requested(self, i: int) -> None:
        """Note that environment i was asked to end its episode (its ENDED result follows)."""
        self.end_requested[i] = True

    def missing(self) -> list[Missing]:
        """List what each trajectory the group still needs waits for (its next step's parts)."""
        out = []
        for i, env in enumerate(self.env_ids):
            if not self.buffer.is_active(i):
                continue
            have = self._parts.get((i, self.next_step[i]), {})
            out.append(Missing(env, self.next_step[i], tuple(p for p in PARTS if p not in have)))
        return out

    def final_observation(self, i: int) -> Any:
        """Return the observation reached by trajectory i's last valid step (None: unseen).

        The buffer may have cut the trajectory (first success) before steps it joined: then
        the observation is the one acted on at the cut; otherwise the next one received.
        """
        length = int(self.buffer.lengths[i])
        if length < len(self.acted[i]):
            return self.acted[i][length]
        rec = self._parts.get((i, length), {}).get('observation')
        return None if rec is None else rec.observation

    def pending(self) -> int:
        """Parts held for steps not yet joined (left over when the group is complete)."""
        return sum(len(p) for p in self._parts.values())


def _same_temperature(a: float, b: float) -> bool:
    """Equal as float32: the Action message carries the temperature as float32."""
    return bool(np.float32(a) == np.float32(b))
