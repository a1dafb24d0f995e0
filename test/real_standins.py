# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Stand-in camera, arm driver and operator for the real-deployment tests (profile sim_test).

One rclpy node in the test process, spun in a background thread. It publishes what a camera
driver and an arm driver would (image, joint states, gripper joint states, end-effector pose),
the operator's dead-man and emergency stop, optionally /clock (sim time) and scripted actions
(a stand-in policy), and records everything the nodes under test send back, with the time it
arrived.
"""

from __future__ import annotations

import threading
import time

from builtin_interfaces.msg import Time as TimeMsg
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped, TwistStamped
import numpy as np
import rclpy
from rclpy.clock import Clock, ClockType
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock as ClockMsg
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Bool, Float64MultiArray, Header
from std_srvs.srv import Trigger

from tgrpo_ros.ros.images import numpy_to_compressed, numpy_to_image
from tgrpo_ros.msg import Action, Ids, Observation

RELIABLE = QoSProfile(depth=50, reliability=ReliabilityPolicy.RELIABLE)
ARM_JOINTS = [f'joint_{k}' for k in range(1, 7)]


# Node processes under test; wait_for fails at once when one of them has exited.
WATCHED: list = []


def wait_for(predicate, timeout: float, what: str, poll: float = 0.02):
    """Poll ``predicate`` until true (returns its value) or fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        dead = [p.args for p in WATCHED if p.poll() is not None]
        if dead:
            raise AssertionError(f'node process(es) exited while waiting for {what}: {dead}')
        value = predicate()
        if value:
            return value
        time.sleep(poll)
    raise AssertionError(f'timed out after {timeout} s waiting for {what}')


class StandIns(Node):
    """Camera + arm driver + operator (+ optional sim clock and scripted policy)."""

    def __init__(self, sim_time: bool = False, sim_start: float = 1000.0,
                 camera_encoding: str = 'bgr8', camera_hz: float = 30.0):
        super().__init__('standins')
        self.sim_time = sim_time
        self._sim_ns = int(round(sim_start * 1e9))  # integer nanoseconds: no rounding drift
        self._lock = threading.Lock()
        steady = Clock(clock_type=ClockType.STEADY_TIME)
        self.camera_on = True
        self.state_on = True
        self.deadman_on = False
        self.camera_encoding = camera_encoding
        self.camera_lockstep = False
        self.eef_position = [0.0, 0.0, 0.4]
        self.eef_frame = 'base_link'
        self.commands: list[tuple[float, TwistStamped]] = []
        self.gripper_commands: list[tuple[float, list]] = []
        self.applied: list[tuple[float, Action]] = []
        self.actions: list[tuple[float, Action]] = []
        self.observations: list[tuple[float, Observation]] = []
        self.diagnostics: list[tuple[float, object]] = []
        self.frames_sent: list[float] = []

        self.image_pub = self.create_publisher(Image, 'camera/agentview/image_raw',
                                               qos_profile_sensor_data)
        self.compressed_pub = self.create_publisher(
            CompressedImage, 'camera/agentview/image_raw/compressed', qos_profile_sensor_data)
        self.camera_compressed = False
        self.joint_pub = self.create_publisher(JointState, 'joint_states', RELIABLE)
        self.gripper_pub = self.create_publisher(JointState, 'gripper/joint_states', RELIABLE)
        self.pose_pub = self.create_publisher(PoseStamped, 'eef_pose', RELIABLE)
        self.deadman_pub = self.create_publisher(Bool, 'arm_adapter/deadman', RELIABLE)
        self.estop_pub = self.create_publisher(Bool, 'arm_adapter/emergency_stop', RELIABLE)
        self.action_pub = self.create_publisher(Action, 'action', RELIABLE)
        if sim_time:
            self.clock_pub = self.create_publisher(ClockMsg, '/clock', RELIABLE)
            self.create_timer(0.005, self._tick_clock, clock=steady)

        self.create_subscription(TwistStamped, 'servo_node/delta_twist_cmds',
                                 self._rec(self.commands), RELIABLE)
        self.pose_commands: list[tuple[float, PoseStamped]] = []
        self.create_subscription(PoseStamped, 'cartesian_pose_controller/target_pose',
                                 self._rec(self.pose_commands), RELIABLE)
        self.create_subscription(Float64MultiArray, 'gripper_controller/commands',
                                 lambda m: self._append(self.gripper_commands, list(m.data)),
                                 RELIABLE)
        self.create_subscription(Action, 'arm_adapter/applied_action', self._rec(self.applied),
                                 RELIABLE)
        self.create_subscription(Action, 'action', self._rec(self.actions), RELIABLE)
        self.create_subscription(Observation, 'observation', self._on_observation, RELIABLE)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diag, RELIABLE)
        self.trigger_clients = {name: self.create_client(Trigger, f'arm_adapter/{name}')
                        for name in ('arm', 'disarm', 'reset', 'home')}

        self._frame = 0
        # Stand-in policy: when set, this action is published at 20 Hz (None: nothing).
        self.scripted_action = None
        self.scripted_wall_stamps = False
        self.scripted_lag_s = 0.0
        self.answer_on_arrival = None  # action answering each observation as it arrives
        self._scripted_step = 0
        self.create_timer(0.05, self._publish_scripted, clock=steady)
        self.create_timer(1.0 / camera_hz, self._publish_camera, clock=steady)
        self.create_timer(0.02, self._publish_state, clock=steady)
        self.create_timer(0.05, self._publish_deadman, clock=steady)

    # ---- time ---------------------------------------------------------------------------
    def stamp(self) -> TimeMsg:
        if self.sim_time:
            with self._lock:
                ns = self._sim_ns
            return TimeMsg(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)
        return self.get_clock().now().to_msg()

    def now(self) -> float:
        s = self.stamp()
        return s.sec + s.nanosec * 1e-9

    def _tick_clock(self):
        with self._lock:
            self._sim_ns += 5_000_000
        self.clock_pub.publish(ClockMsg(clock=self.stamp()))

    # ---- publishing ---------------------------------------------------------------------
    def _publish_camera(self):
        if not self.camera_on:
            return
        if self.camera_lockstep and self.frames_sent:
            # Next frame only once the newest observation has its action (or after 1.5 s): the
            # policy's speed on a busy CPU then sets the frame rate, with no backlog.
            with self._lock:
                newest = self.observations[-1][1].ids.step if self.observations else None
                answered = newest is None or any(a.ids.step == newest
                                                 for _, a in self.actions[-5:])
            if not answered and time.monotonic() - self.frames_sent[-1] < 1.5:
                return
        self._frame += 1
        rgb = np.zeros((32, 32, 3), np.uint8)
        rgb[..., 0] = self._frame % 256
        rgb[8:24, 8:24, 1] = 200
        array = rgb[..., ::-1] if self.camera_encoding == 'bgr8' else rgb
        header = Header(stamp=self.stamp(), frame_id='agentview_optical_frame')
        if self.camera_compressed:
            self.compressed_pub.publish(numpy_to_compressed(
                np.ascontiguousarray(array), self.camera_encoding, 'jpeg', header))
        else:
            self.image_pub.publish(numpy_to_image(np.ascontiguousarray(array),
                                                  self.camera_encoding, header))
        self.frames_sent.append(time.monotonic())

    def _publish_state(self):
        if not self.state_on:
            return
        stamp = self.stamp()
        self.joint_pub.publish(JointState(header=Header(stamp=stamp), name=ARM_JOINTS,
                                          position=[0.1 * k for k in range(6)]))
        self.gripper_pub.publish(JointState(header=Header(stamp=stamp),
                                            name=['finger_joint_1', 'finger_joint_2'],
                                            position=[0.04, 0.04]))
        pose = PoseStamped(header=Header(stamp=stamp, frame_id=self.eef_frame))
        pose.pose.position.x, pose.pose.position.y, pose.pose.position.z = self.eef_position
        pose.pose.orientation.x, pose.pose.orientation.w = 1.0, 0.0
        self.pose_pub.publish(pose)

    def _publish_deadman(self):
        if self.deadman_on:
            self.deadman_pub.publish(Bool(data=True))

    def publish_action(self, values, ids, stamp: TimeMsg | None = None):
        self.action_pub.publish(Action(header=Header(stamp=stamp or self.stamp(),
                                                     frame_id='base_link'),
                                       ids=ids, action=[float(v) for v in values]))

    def _publish_scripted(self):
        if self.scripted_action is None:
            return
        self._scripted_step += 1
        stamp = self.get_clock().now().to_msg() if self.scripted_wall_stamps else None
        # Answer the newest observation (or, with scripted_lag_s, one received that long ago),
        # as policy_node does: the action carries the ids of the observation it answers.
        observations = self.snapshot('observations')
        cutoff = time.monotonic() - self.scripted_lag_s
        answered = [o for r, o in observations if r <= cutoff]
        ids = answered[-1].ids if answered else Ids(env_id='real0', episode_id=1,
                                                    step=self._scripted_step)
        self.publish_action(self.scripted_action, ids, stamp)

    def emergency_stop(self):
        self.estop_pub.publish(Bool(data=True))

    # ---- recording ----------------------------------------------------------------------
    def _append(self, target, item):
        with self._lock:
            target.append((time.monotonic(), item))

    def _rec(self, target):
        return lambda msg: self._append(target, msg)

    def _on_observation(self, msg: Observation):
        self._append(self.observations, msg)
        if self.answer_on_arrival is not None:  # an instant stand-in policy
            self.publish_action(self.answer_on_arrival, msg.ids)

    def _on_diag(self, msg: DiagnosticArray):
        for status in msg.status:
            self._append(self.diagnostics, status)

    def snapshot(self, name):
        with self._lock:
            return list(getattr(self, name))

    def commands_since(self, t: float):
        return [(r, m) for r, m in self.snapshot('commands') if r >= t]

    def statuses(self, name_prefix: str, since: float = 0.0):
        return [s for r, s in self.snapshot('diagnostics')
                if r >= since and s.name.startswith(name_prefix)]

    def wait_status(self, name_prefix: str, code: str, since: float, timeout: float = 10.0):
        return wait_for(lambda: [s for s in self.statuses(name_prefix, since)
                                 if s.message.startswith(code) or f' {code}' in s.message],
                        timeout, f'{name_prefix} status {code}')

    # ---- services -----------------------------------------------------------------------
    def call(self, name: str, timeout: float = 10.0) -> Trigger.Response:
        client = self.trigger_clients[name]
        wait_for(client.service_is_ready, timeout, f'service arm_adapter/{name}')
        future = client.call_async(Trigger.Request())
        wait_for(future.done, timeout, f'answer of arm_adapter/{name}')
        return future.result()


class Spinner:
    """Spin one node in a background thread (the test thread only polls)."""

    def __init__(self, node: Node):
        self.node = node
        self.executor = SingleThreadedExecutor()
        self.executor.add_node(node)
        self.thread = threading.Thread(target=self._spin, daemon=True)
        self.thread.start()

    def _spin(self):
        try:
            self.executor.spin()
        except Exception:  # noqa: BLE001 - shutdown while spinning
            pass

    def stop(self):
        self.executor.shutdown()
        self.thread.join(timeout=5)
        self.node.destroy_node()


def clean_exit(code: int, log_text: str) -> bool:
    """Return whether a node process ended cleanly after SIGINT.

    Tolerated: rclpy's take of a message racing the SIGINT shutdown (the executor's
    ``take_message`` raising "Unable to convert call argument" once the context is gone);
    node_main.run_node does not catch it yet. Anything else non-zero is a failure.
    """
    if code == 0:
        return True
    tail = log_text[-1500:]
    return 'take_message' in tail and 'Unable to convert call argument' in tail


def start_rclpy():
    if not rclpy.ok():
        rclpy.init()


def stop_rclpy():
    if rclpy.ok():
        rclpy.shutdown()
