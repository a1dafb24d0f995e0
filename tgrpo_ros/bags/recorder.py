# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The ROS-free core of the bag recorder: what to write, and which episodes to keep.

The node (``tgrpo_ros.ros.nodes.bag_recorder``) hands every received message here as CDR bytes with
its receive time; ``RecorderCore`` writes it to a ``BagWriter``. Topics of this package's
episode types (Observation, Action, StepResult) can be filtered by policy version, so that a
training run records every episode of chosen iterations only: an episode's messages are held
back until its first Action says which policy version acts in it, then written (version
chosen) or dropped; its StepResult with ``done`` ends it. Messages of other topics are always
written at once. Held-back messages are written with their original receive times (MCAP and
sqlite3 readers order by time, so the bag reads in time order).

The policy version of TGRPO iteration i is whatever the learner announced before the rollouts of
that iteration (``AdapterAnnouncement``); version 0 is the base model.
"""

from __future__ import annotations

from dataclasses import dataclass

from tgrpo_ros.bags.typestore import project_typestore
from tgrpo_ros.bags.writer import BagWriter

EPISODE_TYPES = ('tgrpo_ros/msg/Observation', 'tgrpo_ros/msg/Action', 'tgrpo_ros/msg/StepResult')


def parse_versions(text: str) -> set[int] | None:
    """'' or 'all' -> None (everything); '0,5,10-12' -> {0, 5, 10, 11, 12}."""
    text = (text or '').strip()
    if text in ('', 'all', '*'):
        return None
    out: set[int] = set()
    for part in text.split(','):
        part = part.strip()
        if not part:
            continue
        try:
            if '-' in part:
                lo, hi = (int(x) for x in part.split('-', 1))
                if hi < lo:
                    raise ValueError
                out.update(range(lo, hi + 1))
            else:
                out.add(int(part))
        except ValueError:
            raise ValueError(f'bad policy version list {text!r}: use e.g. "0,5,10-12"') from None
    if any(v < 0 for v in out):
        raise ValueError(f'policy versions must be >= 0: {text!r}')
    return out


@dataclass
class RecorderStats:
    messages_written: int = 0
    messages_dropped: int = 0
    episodes_kept: int = 0
    episodes_dropped: int = 0
    episodes_done: int = 0


class RecorderCore:
    """Write messages to ``writer``; with ``versions``, keep only episodes of those versions."""

    def __init__(self, writer: BagWriter, versions: set[int] | None = None) -> None:
        self.writer = writer
        self.versions = versions
        self.store = project_typestore()
        self.types: dict[str, str] = {}
        self.stats = RecorderStats()
        self._pending: dict[tuple[str, int], list[tuple[str, int, bytes]]] = {}
        self._decided: dict[tuple[str, int], bool] = {}

    def add_topic(self, topic: str, msgtype: str, qos=None) -> None:
        self.writer.add_topic(topic, msgtype, qos)
        self.types[topic] = self.writer.topic_type(topic)

    def write(self, topic: str, t_ns: int, data: bytes) -> bool:
        """Record one message; return True when the episode it belongs to is complete."""
        msgtype = self.types[topic]
        if self.versions is None or msgtype not in EPISODE_TYPES:
            self._emit(topic, t_ns, data)
            return msgtype == EPISODE_TYPES[2] and self._is_done(data)
        msg = self.store.deserialize_cdr(bytes(data), msgtype)
        key = (msg.ids.env_id, int(msg.ids.episode_id))
        if key not in self._decided and msgtype == EPISODE_TYPES[1]:
            keep = int(msg.policy_version.version) in self.versions
            self._decided[key] = keep
            held = self._pending.pop(key, [])
            if keep:
                self.stats.episodes_kept += 1
                for item in held:
                    self._emit(*item)
            else:
                self.stats.episodes_dropped += 1
                self.stats.messages_dropped += len(held)
        if key in self._decided:
            if self._decided[key]:
                self._emit(topic, t_ns, data)
            else:
                self.stats.messages_dropped += 1
        else:
            self._pending.setdefault(key, []).append((topic, t_ns, bytes(data)))
        done = msgtype == EPISODE_TYPES[2] and bool(msg.done)
        if done:
            self.stats.episodes_done += 1
            held = self._pending.pop(key, [])
            if held:  # ended before any action: nothing says which version it belonged to
                self.stats.messages_dropped += len(held)
                self.stats.episodes_dropped += 1
            self._decided.pop(key, None)
        return done

    def _is_done(self, data: bytes) -> bool:
        done = bool(self.store.deserialize_cdr(bytes(data), EPISODE_TYPES[2]).done)
        self.stats.episodes_done += int(done)
        return done

    def _emit(self, topic: str, t_ns: int, data: bytes) -> None:
        self.writer.write(topic, t_ns, data)
        self.stats.messages_written += 1

    def close(self) -> RecorderStats:
        """Drop episodes still undecided, finish the bag, and return the counts."""
        for held in self._pending.values():
            self.stats.messages_dropped += len(held)
            self.stats.episodes_dropped += 1
        self._pending.clear()
        self.writer.close()
        return self.stats
