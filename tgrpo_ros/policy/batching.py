# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Group-aware batching: which observations the policy node answers together, and when.

The environments of one TGRPO group step side by side, so their observations of one step can
share one forward pass. ``GroupBatcher`` holds the observations that arrived and hands back a
batch of one group when

- every environment still expected in the group has an observation waiting (the batch is
  *complete*), or
- ``window_s`` seconds have passed since the first of them arrived (the window *closed*),

whichever comes first. It knows a group's environments only from the observations' ids
(``env_id``, ``episode_id``, ``step``, ``group_id``; tgrpo_ros.contract), so it needs no group
size setting and works for a robot (one environment: every batch is complete at once) as for
N simulated environments. Pure Python, no ROS and no clock of its own: the caller passes
``now`` (seconds, any monotonic clock), so tests drive it with a fake one.

Who is expected, for the batch of group g whose waiting observations reach step ``top`` at most:
every environment that has sent an observation of g, except those

- waiting already (they are in the batch),
- whose episode ended (``ended``: a done step result; it sends nothing more for g),
- that sent an observation of another group since (it moved on),
- that missed a closed window of g: presumed dead or stuck, not waited for again until it
  sends (so a dead environment delays its group by one window once, not every step),
- already answered at step ``top`` or later (they are ahead: a straggler does not wait for
  the next step of the others, which would keep the two out of phase).

On a group's first step its environments are not all known yet: it also waits until as many
have shown up as the previous group had (a new group of the same environments), or its first
window closes. Group id 0 means "outside training" (tgrpo_ros.contract): such observations are
not a group and are answered at the caller's next ``take`` without waiting.

``window_s == 0`` turns batching by group off (the policy node's behaviour before): ``take``
returns whatever is waiting and ``take(complete_only=True)`` nothing.

Shapes: ``add`` takes one observation (an opaque ``item``: the node passes the ROS message);
``take`` returns ``list[Batch]``, each ``Batch.items`` a list of 1..``max_batch`` items of one
group, ordered by ``env_id`` (so a group's rows, hence its sampling noise, do not depend on
arrival order).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# Groups remembered at most (a long run creates one per iteration); the oldest idle ones go.
MAX_GROUPS = 64
NOT_A_GROUP = 0


@dataclass
class Batch:
    """Observations of one group answered by one forward pass."""

    group_id: int
    items: list[Any]
    complete: bool  # every expected environment was in (False: the window closed first)


@dataclass
class _Member:
    episode_id: int
    answered_step: int = -1  # last step of this episode answered in the group
    gone: bool = False  # its episode ended, or it moved to another group
    missed: bool = False  # missed a closed window; not waited for until it sends again


@dataclass
class _Waiting:
    step: int
    arrived: float
    item: Any


@dataclass
class _Group:
    expected_size: int  # environments of the previous group: how many to wait for at first
    members: dict[str, _Member] = field(default_factory=dict)
    waiting: dict[str, _Waiting] = field(default_factory=dict)
    closed_once: bool = False  # a window closed: stop waiting for environments not yet seen


class GroupBatcher:
    """Collect observations per group; hand back complete groups, or any once its window closed.

    window_s: seconds a batch may wait for the rest of its group after its first observation
        arrived (0 = no waiting by group).
    max_batch: most observations in one batch; a larger group is answered in several.
    """

    def __init__(self, window_s: float, max_batch: int):
        if not window_s >= 0:
            raise ValueError(f'window_s must be >= 0 seconds, got {window_s}')
        if max_batch < 1:
            raise ValueError(f'max_batch must be >= 1, got {max_batch}')
        self.window_s = float(window_s)
        self.max_batch = int(max_batch)
        self._groups: dict[int, _Group] = {}  # insertion order = creation order
        self._env_group: dict[str, int] = {}  # each environment's latest group

    def add(self, env_id: str, episode_id: int, step: int, group_id: int, item: Any,
            now: float) -> None:
        """Hold an observation that arrived; it replaces one of the same environment waiting."""
        previous = self._env_group.get(env_id)
        if previous is not None and previous != group_id and previous in self._groups:
            old = self._groups[previous]
            old.waiting.pop(env_id, None)  # stale: the environment is past that group
            if env_id in old.members:
                old.members[env_id].gone = True
        self._env_group[env_id] = group_id
        group = self._groups.get(group_id)
        if group is None:
            last = next(reversed(self._groups.values()), None)
            group = self._groups[group_id] = _Group(len(last.members) if last else 0)
        member = group.members.get(env_id)
        if member is None or member.episode_id != episode_id:
            member = group.members[env_id] = _Member(episode_id)
        member.gone = member.missed = False
        group.waiting[env_id] = _Waiting(int(step), now, item)
        self._forget_old()

    def ended(self, env_id: str, episode_id: int, group_id: int) -> None:
        """Stop expecting an environment whose episode is over (a done step result)."""
        group = self._groups.get(group_id)
        member = group.members.get(env_id) if group else None
        if member is not None and member.episode_id == episode_id:
            member.gone = True

    def take(self, now: float, complete_only: bool = False) -> list[Batch]:
        """Return the batches to answer now: complete groups, and those whose window closed.

        complete_only: only complete groups (the node calls this as an observation arrives,
            and the full form on its timer).
        """
        out = []
        for gid, group in self._groups.items():
            if not group.waiting:
                continue
            grouped = self.window_s > 0 and gid != NOT_A_GROUP
            complete = grouped and self._complete(group)
            if not complete:
                first = min(w.arrived for w in group.waiting.values())
                closed = now >= first + (self.window_s if grouped else 0.0)
                if complete_only or not closed:
                    continue
                if grouped:
                    for member in self._awaited(group):
                        member.missed = True
                    group.closed_once = True
            order = sorted(group.waiting)
            for env in order:
                group.members[env].answered_step = group.waiting[env].step
            items = [group.waiting[env].item for env in order]
            group.waiting.clear()
            for i in range(0, len(items), self.max_batch):
                out.append(Batch(gid, items[i:i + self.max_batch], complete))
        return out

    def next_deadline(self) -> float | None:
        """When the earliest waiting batch's window closes (``now`` units), or None."""
        firsts = [min(w.arrived for w in g.waiting.values()) + (
            self.window_s if gid != NOT_A_GROUP else 0.0)
            for gid, g in self._groups.items() if g.waiting]
        return min(firsts) if firsts else None

    def waiting(self) -> int:
        """Observations waiting, all groups together."""
        return sum(len(g.waiting) for g in self._groups.values())

    def _awaited(self, group: _Group) -> list[_Member]:
        top = max(w.step for w in group.waiting.values())
        return [m for env, m in group.members.items()
                if env not in group.waiting and not m.gone and not m.missed
                and m.answered_step < top]

    def _complete(self, group: _Group) -> bool:
        if len(group.waiting) >= self.max_batch:
            return True
        if not group.closed_once and len(group.members) < group.expected_size:
            return False  # first step: not every environment has shown up yet
        return not self._awaited(group)

    def _forget_old(self) -> None:
        while len(self._groups) > MAX_GROUPS:
            idle = next((gid for gid, g in self._groups.items() if not g.waiting), None)
            if idle is None:
                return
            del self._groups[idle]
