# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Pair recorded inputs with recorded actions, streaming through a bag once, in time order.

Three ways to form a sample (one policy input + the action that was taken):

* ``ids``: this package's Observation and Action messages carry (env_id, episode_id, step);
  an action is paired with the observation of the same ids, exactly. Episodes are the ids'
  episodes.
* ``time`` with an action topic: each action message is a sample; every input is the newest
  message on its topic at or before the action (by bag receive time, or header.stamp with
  ``clock: header``), and no older than ``max_age`` seconds. Episodes: the action's ids when
  it has them, else a pause longer than ``episode_gap`` (or a StepResult with done) starts one.
* ``time`` with ``action_from_motion``: end-effector poses, taken at the control rate, make the
  steps; the inputs at step k are paired with the motion from step k to k + 1.

Nothing is dropped silently: every reference message that does not become a sample is counted
under a reason in ``SkipLog`` (e.g. "no image on /camera within 0.2 s before the action").
Messages are decoded only when a sample is formed, so memory stays bounded by what is pending.
"""

from __future__ import annotations

from collections import Counter, deque
from dataclasses import dataclass
from typing import Iterator

import numpy as np

from tgrpo_ros.bags import messages as M
from tgrpo_ros.bags.reader import BagError, BagReader
from tgrpo_ros.bags.topic_map import TopicMap
from tgrpo_ros.observation import Observation

_NS = 1_000_000_000
_TGRPO_OBS = 'tgrpo_ros/msg/Observation'
_TGRPO_ACTION = 'tgrpo_ros/msg/Action'


NO_INSTRUCTION = ('observation has an empty instruction (set `instruction` in the topic map to '
                  'supply one)')


class MissingTopicsError(BagError):
    """The bag lacks topics the topic map needs."""


@dataclass
class Sample:
    """One policy input with the action recorded for it.

    episode: episode key unique within the bag (``env0/3`` from ids, ``episode_0002`` by time).
    time_ns: the action's time (bag receive time, or header stamp with clock: header).
    action: (7,) environment-space action. token_ids: (7,) recorded token ids, if any.
    """

    bag: str
    episode: str
    time_ns: int
    observation: Observation
    action: np.ndarray
    token_ids: np.ndarray | None = None
    step: int | None = None


class SkipLog:
    """Counts of reference messages that did not become samples, by reason (and episode)."""

    def __init__(self) -> None:
        self.by_reason: Counter[str] = Counter()
        self.by_episode: Counter[tuple[str, str]] = Counter()
        self.episode_reasons: dict[tuple[str, str], Counter[str]] = {}

    def add(self, reason: str, bag: str = '', episode: str = '') -> None:
        self.by_reason[reason] += 1
        if episode:
            self.by_episode[(bag, episode)] += 1
            self.episode_reasons.setdefault((bag, episode), Counter())[reason] += 1

    @property
    def total(self) -> int:
        return sum(self.by_reason.values())

    def to_dict(self) -> dict:
        return {'total': self.total, 'by_reason': dict(self.by_reason.most_common())}


def resolve_mode(reader: BagReader, tmap: TopicMap) -> str:
    """``ids`` or ``time`` for this bag (``auto`` picks ids when both topics carry ids)."""
    if tmap.pairing_mode != 'auto':
        return tmap.pairing_mode
    types = {t: i.msgtype for t, i in reader.topics.items()}
    if (tmap.observation and tmap.action and types.get(tmap.observation) == _TGRPO_OBS
            and types.get(tmap.action) == _TGRPO_ACTION):
        return 'ids'
    return 'time'


def check_topics(reader: BagReader, tmap: TopicMap) -> None:
    """Raise MissingTopicsError naming every mapped topic the bag lacks (or has no messages on)."""
    info = reader.topics
    optional = tmap.optional_topics()
    missing = [t for t in tmap.all_topics()
               if t not in optional and (t not in info or info[t].count == 0)]
    if missing:
        have = ', '.join(f'{t} ({i.msgtype}, {i.count})' for t, i in sorted(info.items()))
        raise MissingTopicsError(
            f'bag {reader.path} lacks topic(s) {missing} named in topic map {tmap.source} '
            f'(or has no messages on them); the bag has: {have or "no topics"}')


def reference_count(reader: BagReader, tmap: TopicMap) -> int:
    """How many reference messages (actions, or control steps) the bag holds, for progress."""
    if tmap.action:
        return reader.count([tmap.action])
    duration_s = max(0, reader.end_ns - reader.start_ns) / _NS
    return max(1, int(duration_s * tmap.action_from_motion.rate_hz))


class _Latest:
    """The newest messages of one topic (a few, for header clocks that arrive out of order)."""

    def __init__(self) -> None:
        self.items: deque[tuple[int, object]] = deque(maxlen=64)

    def push(self, t: int, msg) -> None:
        self.items.append((t, msg))

    def at(self, t: int, max_age_ns: int | None) -> tuple[int, object] | None:
        best = None
        for ti, msg in self.items:
            if ti <= t and (best is None or ti >= best[0]):
                best = (ti, msg)
        if best is None or (max_age_ns is not None and t - best[0] > max_age_ns):
            return None
        return best


def iter_samples(reader: BagReader, tmap: TopicMap, skips: SkipLog,
                 bag_name: str | None = None) -> Iterator[Sample]:
    """Yield the bag's samples in time order (see the module docstring)."""
    check_topics(reader, tmap)
    name = bag_name or reader.path.name
    mode = resolve_mode(reader, tmap)
    if mode == 'ids':
        yield from _by_ids(reader, tmap, skips, name)
    elif tmap.action:
        yield from _by_time(reader, tmap, skips, name)
    else:
        yield from _by_motion(reader, tmap, skips, name)


def _clock(tmap: TopicMap, t_recv: int, msg) -> int:
    if tmap.clock == 'header':
        return M.stamp_ns(msg) or t_recv
    return t_recv


def _by_ids(reader: BagReader, tmap: TopicMap, skips: SkipLog, name: str) -> Iterator[Sample]:
    pending: dict[tuple, object] = {}
    for topic, t, msg in reader.messages([tmap.observation, tmap.action]):
        if topic == tmap.observation:
            if M.msg_kind(msg) != _TGRPO_OBS:
                raise M.MessageError(f'topic {topic}: pairing by ids needs {_TGRPO_OBS}')
            key = (msg.ids.env_id, int(msg.ids.episode_id), int(msg.ids.step))
            pending[key] = msg
            continue
        action, tokens, key = M.recorded_action(msg, topic)
        episode = f'{key[0]}/{key[1]}'
        obs_msg = pending.pop(key, None)
        # Observations of earlier steps of this episode will never be answered now.
        for old in [k for k in pending if k[:2] == key[:2] and k[2] < key[2]]:
            del pending[old]
            skips.add('observation without an action (same env, episode, step)', name, episode)
        if obs_msg is None:
            skips.add('action without an observation of the same (env, episode, step)', name,
                      episode)
            continue
        obs = M.observation_from_msg(obs_msg, tmap.observation)
        if tmap.instruction_text is not None:
            obs.instruction = tmap.instruction_text
        if not obs.instruction.strip():
            skips.add(NO_INSTRUCTION, name, episode)
            continue
        yield Sample(name, episode, t, obs, action, tokens, key[2])
    for key in pending:
        skips.add('observation without an action (same env, episode, step)', name,
                  f'{key[0]}/{key[1]}')


class _Inputs:
    """Newest input messages, turned into an Observation at a given time."""

    def __init__(self, tmap: TopicMap) -> None:
        self.tmap = tmap
        self.latest = {t: _Latest() for t in tmap.input_topics() if t not in tmap.tf_topics}
        self.tf = M.TfTree() if tmap.eef_tf else None
        self.max_age = int(tmap.max_age * _NS)

    def push(self, topic: str, t: int, msg) -> None:
        if self.tf is not None and topic in self.tmap.tf_topics:
            self.tf.add(msg, t, static=topic != self.tmap.tf_topics[0], topic=topic)
        elif topic in self.latest:
            self.latest[topic].push(t, msg)

    def eef(self, picked: dict, t: int) -> tuple[tuple | None, str]:
        """End-effector (position, quaternion) at time t from the pose topic or TF."""
        tm = self.tmap
        if tm.eef_pose:
            return M.pose(picked[tm.eef_pose], tm.eef_pose), ''
        return self.tf.lookup(tm.eef_tf[0], tm.eef_tf[1], t, self.max_age)

    def gather(self, t: int) -> tuple[dict | None, str]:
        """Pick the messages for time t: (topic -> msg, '') or (None, skip reason)."""
        tm, picked = self.tmap, {}
        for topic in self.latest:
            age = None if topic == tm.instruction_topic else self.max_age
            hit = self.latest[topic].at(t, age)
            if hit is None:
                what = 'observation' if topic == tm.observation else (
                    'instruction' if topic == tm.instruction_topic else 'message')
                if topic in tm.cameras.values():
                    what = 'image'
                return None, (f'no {what} on {topic} within {tm.max_age:g} s before the action'
                              if age is not None else f'no {what} on {topic} before the action')
            picked[topic] = hit[1]
        if tm.has_eef:
            eef, reason = self.eef(picked, t)
            if eef is None:
                return None, reason
            picked['__eef__'] = eef
        return picked, ''

    def observation(self, picked: dict) -> Observation:
        tm = self.tmap
        if tm.observation:
            obs = M.observation_from_msg(picked[tm.observation], tm.observation)
        else:
            obs = Observation(images={})
        for cam, topic in tm.cameras.items():
            obs.images[cam] = M.image_rgb(picked[topic], topic)
        names, values = list(obs.state_names), [np.asarray(obs.state, dtype=np.float64)]
        if tm.has_eef:
            n, v = M.pose_state(*picked['__eef__'])
            names += n
            values.append(v)
        if tm.joint_states:
            n, v, _ = M.joint_state(picked[tm.joint_states], tm.joint_states, tm.gripper_joints)
            names += n
            values.append(v)
        obs.state_names, obs.state = names, np.concatenate(values)
        if tm.instruction_topic:
            msg = picked[tm.instruction_topic]
            if not hasattr(msg, 'data') or not isinstance(msg.data, str):
                raise M.MessageError(f'topic {tm.instruction_topic}: the instruction topic must '
                                     f'be std_msgs/String, got {M.msg_kind(msg)}')
            obs.instruction = msg.data
        if tm.instruction_text is not None:
            obs.instruction = tm.instruction_text
        return obs


def _by_time(reader: BagReader, tmap: TopicMap, skips: SkipLog, name: str) -> Iterator[Sample]:
    inputs = _Inputs(tmap)
    topics = tmap.input_topics() + [tmap.action] + ([tmap.step_result] if tmap.step_result
                                                     else [])
    gap = int(tmap.episode_gap * _NS)
    episode_index, last_t, ended = 0, None, False
    for topic, t_recv, msg in reader.messages(topics):
        t = _clock(tmap, t_recv, msg)
        if topic == tmap.step_result:
            ended = ended or bool(getattr(msg, 'done', False))
            continue
        if topic != tmap.action:
            inputs.push(topic, t, msg)
            continue
        action, tokens, key = M.recorded_action(msg, topic)
        if key is not None:
            episode, step = f'{key[0]}/{key[1]}', key[2]
        else:
            if last_t is None or ended or t - last_t > gap:
                episode_index += 1
                step = -1
            episode, step = f'episode_{episode_index:04d}', step + 1
        ended, last_t = False, t
        picked, reason = inputs.gather(t)
        if picked is None:
            skips.add(reason, name, episode)
            continue
        obs = inputs.observation(picked)
        if not obs.instruction.strip():
            skips.add(NO_INSTRUCTION, name, episode)
            continue
        yield Sample(name, episode, t, obs, action, tokens, step)


def _by_motion(reader: BagReader, tmap: TopicMap, skips: SkipLog, name: str) -> Iterator[Sample]:
    mo = tmap.action_from_motion
    inputs = _Inputs(tmap)
    period = int(_NS / mo.rate_hz)
    gap = int(tmap.episode_gap * _NS)
    topics = tmap.input_topics() + ([tmap.step_result] if tmap.step_result else [])
    prev = None          # (t, pos, quat, picked or None, reason, episode, step)
    next_tick, episode_index, ended = None, 0, False
    for topic, t_recv, msg in reader.messages(topics):
        t = _clock(tmap, t_recv, msg)
        if topic == tmap.step_result:
            ended = ended or bool(getattr(msg, 'done', False))
            continue
        inputs.push(topic, t, msg)
        trigger = topic == tmap.eef_pose or (tmap.eef_tf is not None
                                             and topic == tmap.tf_topics[0])
        if not trigger or (next_tick is not None and t < next_tick and not ended):
            continue
        if tmap.eef_pose:
            pos, quat = M.pose(msg, topic)
        else:
            eef, _ = inputs.tf.lookup(tmap.eef_tf[0], tmap.eef_tf[1], t, inputs.max_age)
            if eef is None:
                continue      # this TF message does not complete the chain yet
            pos, quat = eef
        new_episode = prev is None or ended or t - prev[0] > gap
        if new_episode:
            if prev is not None:
                skips.add('last step of an episode (no following pose to derive the action)',
                          name, prev[5])
            episode_index += 1
            next_tick, step = t, 0
        else:
            step = prev[6] + 1
        ended = False
        while next_tick <= t:
            next_tick += period
        picked, reason = inputs.gather(t)
        frame = (t, pos, quat, picked, reason, f'episode_{episode_index:04d}', step)
        if prev is not None and not new_episode:
            opening = None
            if mo.gripper_closed_below is not None and picked is not None:
                opening = M.joint_state(picked[tmap.joint_states], tmap.joint_states,
                                        tmap.gripper_joints)[2]
                if opening is None:
                    raise M.MessageError(f'{tmap.source}: gripper_closed_below needs '
                                         '`gripper_joints` naming the finger joints')
            if prev[3] is None:
                skips.add(prev[4], name, prev[5])
            elif mo.gripper_closed_below is not None and opening is None:
                skips.add(reason, name, prev[5])
            else:
                action = M.motion_action(prev[1], prev[2], pos, quat, mo.translation_scale,
                                         mo.rotation_scale, opening, mo.gripper_closed_below)
                obs = inputs.observation(prev[3])
                if obs.instruction.strip():
                    yield Sample(name, prev[5], prev[0], obs, action, None, prev[6])
                else:
                    skips.add(NO_INSTRUCTION, name, prev[5])
        prev = frame
    if prev is not None:
        skips.add('last step of an episode (no following pose to derive the action)', name,
                  prev[5])
