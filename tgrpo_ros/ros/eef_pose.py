# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The end-effector pose for the bridge and the arm adapter: a PoseStamped topic or TF.

With ``state.eef_source: tf`` in the robot profile, the pose is looked up as
``frames.base -> frames.eef`` each control tick where ``tf2_ros`` is installed (it is not in the
wheels-only setup, so that path is untested here). Without tf2_ros the node logs an error saying
so and falls back to ``state.eef_pose_topic``. Either way, ``callback(position (3,), quaternion
xyzw (4,), stamp [s], frame_id)`` receives each pose.
"""

from __future__ import annotations

from typing import Callable

from geometry_msgs.msg import PoseStamped
from rclpy.qos import QoSProfile, ReliabilityPolicy
from rclpy.time import Time

from tgrpo_ros.real.robot_profile import RobotProfile

STATE_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)


def stamp_to_s(stamp) -> float:
    """builtin_interfaces/Time -> float seconds on the clock that stamped it."""
    return Time.from_msg(stamp).nanoseconds * 1e-9


def now_s(node) -> float:
    """Return the node's clock (sim time under use_sim_time) as float seconds."""
    return node.get_clock().now().nanoseconds * 1e-9


class EefPoseSource:
    """Delivers end-effector poses from the profile's source to ``callback``."""

    def __init__(self, node, profile: RobotProfile,
                 callback: Callable[[tuple, tuple, float, str], None]):
        self.node, self.profile, self.callback = node, profile, callback
        self.source = profile.eef_source
        self._tf_buffer = None
        if self.source == 'tf':
            try:
                import tf2_ros  # optional: not among the PyPI wheels; the topic source needs none
                self._tf_buffer = tf2_ros.Buffer()
                self._tf_listener = tf2_ros.TransformListener(self._tf_buffer, node)
                node.create_timer(profile.control_period_s, self._lookup)
            except ImportError:
                node.get_logger().error(
                    f'profile {profile.name}: state.eef_source is tf but tf2_ros is not '
                    f'installed; falling back to the PoseStamped topic '
                    f'{profile.eef_pose_topic!r}')
                self.source = 'topic'
        if self.source == 'topic':
            if not profile.eef_pose_topic:
                raise ValueError(f'profile {profile.name}: state.eef_pose_topic is empty and '
                                 'tf2_ros is not installed: no end-effector pose source')
            node.create_subscription(PoseStamped, profile.eef_pose_topic, self._on_pose,
                                     STATE_QOS)

    def describe(self) -> str:
        if self.source == 'tf':
            return f'TF {self.profile.base_frame} -> {self.profile.eef_frame}'
        return f'PoseStamped on {self.profile.eef_pose_topic}'

    def _on_pose(self, msg: PoseStamped) -> None:
        p, q = msg.pose.position, msg.pose.orientation
        self.callback((p.x, p.y, p.z), (q.x, q.y, q.z, q.w), stamp_to_s(msg.header.stamp),
                      msg.header.frame_id)

    def _lookup(self) -> None:  # pragma: no cover - needs tf2_ros
        try:
            t = self._tf_buffer.lookup_transform(self.profile.base_frame, self.profile.eef_frame,
                                                 Time())
        except Exception as exc:  # noqa: BLE001 - tf2 raises several lookup errors
            self.node.get_logger().warning(f'TF lookup failed: {exc}',
                                           throttle_duration_sec=2.0)
            return
        tr, q = t.transform.translation, t.transform.rotation
        self.callback((tr.x, tr.y, tr.z), (q.x, q.y, q.z, q.w), stamp_to_s(t.header.stamp),
                      t.header.frame_id)
