# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""sim_robot: a real sim_robot process (LIBERO scene, Servo-style arm) seen over real topics.

The test process plays MoveIt Servo's client: it publishes TwistStamped commands and reads what
a camera driver, the arm's joint state broadcaster and a perception system would publish.
"""

from __future__ import annotations

import threading
import time

from geometry_msgs.msg import PoseStamped, TwistStamped
from helpers import start_node, stop_process
import numpy as np
import pytest
import rclpy
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, Header

from tgrpo_ros.data.images import image_to_numpy
from tgrpo_ros.real.robot_profile import load_profile
from tgrpo_ros.real.sim_robot_config import sim_config
from tgrpo_ros.ros.eef_pose import stamp_to_s

pytestmark = [pytest.mark.ros, pytest.mark.libero]
RELIABLE = QoSProfile(depth=200, reliability=ReliabilityPolicy.RELIABLE)
PROFILE = load_profile('sim_franka')


class ServoClient(Node):
    """Publishes twists (while ``twist`` is set) and records the robot's topics."""

    def __init__(self):
        super().__init__('servo_client')
        p = PROFILE
        self.lock = threading.Lock()
        self.poses: list[tuple[float, np.ndarray]] = []
        self.images: list[Image] = []
        self.infos: list[CameraInfo] = []
        self.joints: list[JointState] = []
        self.objects: dict[str, PoseStamped] = {}
        self.clock: list[float] = []
        self.twist = None
        self.frame = p.command_frame
        self.pub = self.create_publisher(TwistStamped, p.command_topic, 1)
        self.gripper_pub = self.create_publisher(Float64MultiArray, p.gripper.command_topic, 1)
        self.create_subscription(PoseStamped, p.eef_pose_topic, self._on_pose, RELIABLE)
        cam = p.cameras[0].topic
        self.create_subscription(Image, cam, self._rec(self.images), qos_profile_sensor_data)
        self.create_subscription(CameraInfo, cam.rsplit('/', 1)[0] + '/camera_info',
                                 self._rec(self.infos), qos_profile_sensor_data)
        self.create_subscription(JointState, p.joint_states_topic, self._rec(self.joints),
                                 RELIABLE)
        self.create_subscription(Clock, '/clock', lambda m: self._append(
            self.clock, stamp_to_s(m.clock)), QoSProfile(depth=10,
                                                         reliability=ReliabilityPolicy.BEST_EFFORT))
        topic = sim_config(p).object_topic('alphabet_soup_1')
        self.create_subscription(PoseStamped, topic, self._on_object, RELIABLE)
        self.create_timer(0.02, self._send)  # 50 Hz wall: well inside the 0.1 s sim timeout

    def _append(self, target, item):
        with self.lock:
            target.append(item)

    def _rec(self, target):
        return lambda msg: self._append(target, msg)

    def _on_pose(self, msg):
        p = msg.pose.position
        self._append(self.poses, (stamp_to_s(msg.header.stamp), np.array([p.x, p.y, p.z])))

    def _on_object(self, msg):
        with self.lock:
            self.objects['alphabet_soup_1'] = msg

    def _send(self):
        if self.twist is None:
            return
        msg = TwistStamped(header=Header(stamp=self.get_clock().now().to_msg(),
                                         frame_id=self.frame))
        msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = self.twist
        self.pub.publish(msg)

    def poses_since(self, t: float):
        with self.lock:
            return [(s, p) for s, p in self.poses if s >= t]


def _wait(predicate, timeout, what, proc):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert proc.poll() is None, f'sim_robot exited while waiting for {what}'
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f'timed out after {timeout} s waiting for {what}')


def test_twist_moves_the_hand_at_the_commanded_velocity_and_the_timeout_stops_it(
        ros_domain, tmp_path):
    proc = start_node('tgrpo_ros.ros.nodes.sim_robot_node', '--ros-args', '-p',
                      'robot_profile:=sim_franka', '-p', 'real_time_factor:=1.0',
                      log_path=tmp_path / 'sim_robot.log')
    rclpy.init()
    client = ServoClient()
    executor = SingleThreadedExecutor()
    executor.add_node(client)
    thread = threading.Thread(target=executor.spin, daemon=True)
    thread.start()
    log = lambda: (tmp_path / 'sim_robot.log').read_text()[-3000:]  # noqa: E731
    try:
        _wait(lambda: len(client.poses) >= 3 and client.images and client.joints
              and client.infos and client.objects, 240, 'the robot topics', proc)
        # What a camera driver and a state broadcaster publish.
        image = client.images[-1]
        assert image.encoding == 'bgr8' and (image.height, image.width) == (128, 128)
        assert image_to_numpy(image).std() > 5  # a rendered scene, not a blank frame
        info = client.infos[-1]
        assert info.k[0] > 0 and info.k[0] == info.k[4] and info.header.stamp == image.header.stamp
        joints = client.joints[-1]
        assert list(joints.name) == list(PROFILE.arm_joints) + list(PROFILE.gripper.state_joints)
        assert joints.position[7] > 0.03 and joints.position[8] > 0.03  # both fingers open
        assert client.objects['alphabet_soup_1'].header.frame_id == PROFILE.base_frame
        assert client.clock and client.clock[-1] >= 1000.0

        # A twist of known velocity: the hand moves at it, in its direction.
        v = np.array([0.08, 0.024, 0.0])  # (1, 0.3, 0) direction: 16.7 degrees
        start = client.poses[-1][0]
        client.twist = tuple(v)
        _wait(lambda: client.poses_since(start + 1.0), 240, '1 s of commanded motion', proc)
        moving = client.poses_since(start + 0.3)  # leave out the acceleration
        (t0, p0), (t1, p1) = moving[0], moving[-1]
        measured = (p1 - p0) / (t1 - t0)
        assert np.linalg.norm(measured - v) < 0.1 * np.linalg.norm(v), (measured, log())
        angle = np.degrees(np.arctan2(measured[1], measured[0]))
        assert abs(angle - 16.7) < 1.5, angle

        # No command within Servo's incoming-command timeout (0.1 s): the arm stops.
        client.twist = None
        stop = client.poses[-1][0]
        _wait(lambda: client.poses_since(stop + 0.8), 240, 'poses after the commands end',
              proc)
        after = client.poses_since(stop + 0.4)
        drift = np.linalg.norm(after[-1][1] - after[0][1])
        assert drift < 0.002, f'moved {drift} m after the commands stopped'
        travelled = np.linalg.norm(after[0][1] - p0)
        assert travelled > 0.05  # it did move before

        # The gripper closes on the profile's topic interface.
        client.gripper_pub.publish(Float64MultiArray(data=[PROFILE.gripper.closed_position]))
        now = client.poses[-1][0]
        _wait(lambda: [j for j in list(client.joints) if stamp_to_s(j.header.stamp) > now + 0.6],
              240, 'joint states after closing', proc)
        assert client.joints[-1].position[7] < 0.01
    finally:
        executor.shutdown()
        client.destroy_node()
        rclpy.shutdown()
        code = stop_process(proc, timeout=20.0)
    assert code in (0, 130, -2), log()
