# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""bag_recorder: record the package's topics (and any others named) into a ROS 2 bag.

Needs no rosbag2: messages arrive serialised (raw subscriptions) and ``tgrpo_ros.bags``
writes them with rosbags, MCAP by default or sqlite3, with rosbag2's metadata.yaml, so
``ros2 bag info`` / ``ros2 bag play`` on a full ROS 2 install read the result. Timestamps are
receive times on this node's clock (sim time when ``use_sim_time`` is set), as rosbag2 does.

Topics: for every namespace in ``namespaces``, ``<ns>/observation``, ``<ns>/action`` and
``<ns>/step_result`` (this package's types); plus every topic in ``topics``, whose type is
looked up in the ROS graph (the recorder waits for it to appear, checking every
``discovery_period`` seconds) and subscribed with a QoS its publishers can serve, as rosbag2
does: best effort if any publisher is best effort (a reliable subscription would get nothing
from a best-effort camera driver), transient local if all publishers are. With
``policy_versions`` set, only episodes acted on by those
policy versions are written (``tgrpo_ros.bags.recorder``). With ``max_episodes`` > 0 the node
ends after that many episodes ended (StepResult with done). The bag is always closed properly on
Ctrl-C / SIGTERM.
"""

from __future__ import annotations

import importlib
import time

from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

from tgrpo_ros.bags.recorder import parse_versions, RecorderCore
from tgrpo_ros.bags.typestore import normalize_type
from tgrpo_ros.bags.writer import BagWriter, make_qos, STORAGES
from tgrpo_ros.ros.node_main import run_node

EPISODE_TOPICS = {'observation': 'tgrpo_ros/msg/Observation', 'action': 'tgrpo_ros/msg/Action',
                  'step_result': 'tgrpo_ros/msg/StepResult'}


def message_class(msgtype: str):
    """Import the Python class of ``pkg/msg/Type``."""
    pkg, _, name = normalize_type(msgtype).split('/')
    return getattr(importlib.import_module(f'{pkg}.msg'), name)


def episode_topics(namespaces: list[str]) -> dict[str, str]:
    out = {}
    for ns in namespaces:
        ns = '/' + ns.strip('/') if ns.strip('/') else ''
        for name, msgtype in EPISODE_TOPICS.items():
            out[f'{ns}/{name}'] = msgtype
    return out


class BagRecorderNode(Node):

    def __init__(self, **overrides):
        super().__init__('bag_recorder')
        self.core = None
        d = self.declare_parameter
        d('output', overrides.get('output', ''), ParameterDescriptor(
            description='Bag folder to create (must not exist); empty: '
                        'bags/tgrpo_<UTC date-time>.'))
        d('storage', overrides.get('storage', 'mcap'), ParameterDescriptor(
            description="Storage: 'mcap' (default) or 'sqlite3'."))
        d('namespaces', overrides.get('namespaces', ['env0']), ParameterDescriptor(
            description="Environment namespaces whose observation, action and step_result "
                        "topics are recorded ('' = the root namespace)."))
        d('topics', overrides.get('topics', ['']), ParameterDescriptor(
            description='Other topics to record; their types are looked up in the graph.'))
        d('policy_versions', overrides.get('policy_versions', ''), ParameterDescriptor(
            description="Record only episodes acted on by these policy versions, e.g. "
                        "'0,5,10-12' ('' = all; a single number is accepted too).",
            dynamic_typing=True))
        d('max_episodes', overrides.get('max_episodes', 0), ParameterDescriptor(
            description='End after this many episodes ended (0 = run until stopped).'))
        d('compress', overrides.get('compress', False), ParameterDescriptor(
            description='zstd compression (per chunk for MCAP, per message for sqlite3).'))
        d('qos_depth', overrides.get('qos_depth', 100), ParameterDescriptor(
            description='Depth of each reliable subscription queue [messages].'))
        d('discovery_period', overrides.get('discovery_period', 0.5), ParameterDescriptor(
            description='How often to look for named topics not yet seen [s].'))
        p = lambda name: self.get_parameter(name).value  # noqa: E731
        storage = str(p('storage'))
        if storage not in STORAGES:
            raise ValueError(f'storage {storage!r} not in {sorted(STORAGES)}')
        output = str(p('output')) or time.strftime('bags/tgrpo_%Y%m%dT%H%M%SZ', time.gmtime())
        self.max_episodes = int(p('max_episodes'))
        self.qos = QoSProfile(depth=int(p('qos_depth')), reliability=ReliabilityPolicy.RELIABLE)
        versions = parse_versions(str(p('policy_versions')))
        self.writer = BagWriter(output, storage, compress=bool(p('compress'))).open()
        self.core = RecorderCore(self.writer, versions)
        self.output = output
        self.episodes_done = 0
        self._subs = {}
        for topic, msgtype in episode_topics(list(p('namespaces'))).items():
            self._subscribe(topic, msgtype)
        self._wanted = [t if t.startswith('/') else '/' + t for t in p('topics') if t]
        self._discover()
        if self._wanted:
            self._timer = self.create_timer(float(p('discovery_period')), self._discover)
        self.get_logger().info(f'recording {sorted(self._subs)} to {output} ({storage})'
                               + (f'; waiting for {self._wanted}' if self._wanted else ''))

    def _subscribe(self, topic: str, msgtype: str, adapt: bool = False) -> None:
        msgtype = normalize_type(msgtype)
        qos = self._offered_qos(topic) if adapt else self.qos
        reliable = qos.reliability == ReliabilityPolicy.RELIABLE
        latched = qos.durability == DurabilityPolicy.TRANSIENT_LOCAL
        self.core.add_topic(topic, msgtype, make_qos(reliable, latched, self.qos.depth))
        self._subs[topic] = self.create_subscription(
            message_class(msgtype), topic, lambda data, t=topic: self._on_message(t, data),
            qos, raw=True)

    def _offered_qos(self, topic: str) -> QoSProfile:
        """Return a subscription QoS that every current publisher of ``topic`` can serve."""
        infos = self.get_publishers_info_by_topic(topic)
        best_effort = any(i.qos_profile.reliability == ReliabilityPolicy.BEST_EFFORT
                          for i in infos)
        latched = bool(infos) and all(
            i.qos_profile.durability == DurabilityPolicy.TRANSIENT_LOCAL for i in infos)
        return QoSProfile(
            depth=self.qos.depth,
            reliability=ReliabilityPolicy.BEST_EFFORT if best_effort
            else ReliabilityPolicy.RELIABLE,
            durability=DurabilityPolicy.TRANSIENT_LOCAL if latched
            else DurabilityPolicy.VOLATILE)

    def _discover(self) -> None:
        if not self._wanted:
            return
        graph = dict(self.get_topic_names_and_types())
        for topic in list(self._wanted):
            types = graph.get(topic)
            if not types:
                continue
            if len(types) > 1:
                self.get_logger().warning(f'{topic} has several types {types}; recording '
                                          f'{types[0]}')
            try:
                self._subscribe(topic, types[0], adapt=True)
            except Exception as exc:  # noqa: BLE001 - unknown type: say so, keep recording
                self.get_logger().error(f'cannot record {topic} ({types[0]}): {exc}')
            self._wanted.remove(topic)
            if topic in self._subs:
                qos = self._subs[topic].qos_profile
                self.get_logger().info(f'recording {topic} ({types[0]}, {qos.reliability.name}, '
                                       f'{qos.durability.name})')

    def _on_message(self, topic: str, data: bytes) -> None:
        done = self.core.write(topic, self.get_clock().now().nanoseconds, data)
        if done:
            self.episodes_done += 1
            if self.max_episodes and self.episodes_done >= self.max_episodes:
                self.get_logger().info(f'{self.episodes_done} episode(s) recorded; stopping')
                raise SystemExit(0)

    def destroy_node(self) -> None:
        if self.core is not None:
            core, self.core = self.core, None
            stats = core.close()
            self.get_logger().info(f'bag {self.output} closed: {stats}')
        super().destroy_node()


def main(args=None, **overrides) -> int:
    return run_node(lambda: BagRecorderNode(**overrides), args=args)


if __name__ == '__main__':
    raise SystemExit(main())
