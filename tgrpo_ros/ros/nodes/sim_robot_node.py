# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""sim_robot: a simulated arm behind the interfaces a real arm stack exposes.

The robot profile (``robot_profile``, e.g. config/robots/sim_franka.yaml, with a ``sim``
section) says what is simulated and on which topics; the simulation is
tgrpo_ros.sim.servo_arm.ServoArm (a LIBERO task's MuJoCo scene, its arm driven like MoveIt
Servo drives a real one: twist -> Jacobian damped least squares -> joint targets; LIBERO's
OSC_POSE controller is never stepped).

Publishes (all stamped with sim time, base frame ``frames.base`` where a frame applies):

- ``/clock`` (rosgraph_msgs/Clock) every servo period: the other nodes run with
  ``use_sim_time``. Rendering costs more than a control period on a CPU, so sim time runs at
  ``real_time_factor`` (sim seconds per wall second) or slower when the machine cannot keep up;
  the achieved factor is logged and on ``/diagnostics``;
- each profile camera as a camera driver does: sensor_msgs/Image (``sim.image_encoding``,
  upright and not mirrored) on its topic and sensor_msgs/CameraInfo on ``<topic dir>/camera_info``,
  at the control rate, optionally late (``latency_s`` + up to ``jitter_s``), dropped
  (``drop_rate``) or noisy (``image_noise_std``): all off by default;
- sensor_msgs/JointState on ``state.joint_states_topic``: the profile's arm joints then its
  gripper joints (each finger's opening, >= 0, as franka_gripper publishes);
- the end-effector pose (geometry_msgs/PoseStamped) on ``state.eef_pose_topic``, and each
  object's pose on ``sim.object_pose_topic`` (as a perception system would);
- ``~/task_state`` (std_msgs/String, JSON): the simulator's ground truth (dense reward, stage,
  success, episode, step) for tests and benchmarks; a real robot has no such topic.

Accepts:

- geometry_msgs/TwistStamped on ``command.topic`` (m/s, rad/s, frame ``command.frame`` or the
  base frame), as MoveIt Servo with ``command_in_type: speed_units``; no command within
  ``incoming_command_timeout_s`` (Servo's parameter, 0.1 s) stops the arm;
- geometry_msgs/PoseStamped targets on ``sim.pose_target_topic`` (the pose-target input);
- std_msgs/Float64MultiArray ``[opening]`` on ``gripper.command_topic`` (per-finger opening
  [m]: a forward-command gripper controller);
- service ``~/reset`` (tgrpo_ros/ResetEnv: init_state_index and seed; suite and task must be
  empty or the profile's): loads that LIBERO initial state; sim time keeps running.
"""

from __future__ import annotations

import json
import math
import os
import sys
import time

from builtin_interfaces.msg import Time
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, TwistStamped
import numpy as np
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from rosgraph_msgs.msg import Clock
from sensor_msgs.msg import CameraInfo, Image, JointState
from std_msgs.msg import Float64MultiArray, Header, String

from tgrpo_ros.data.images import convert_encoding
from tgrpo_ros.real.operator import ScriptedOperator
from tgrpo_ros.real.robot_profile import load_profile
from tgrpo_ros.real.sim_robot_config import sim_config
from tgrpo_ros.ros.images import numpy_to_image
from tgrpo_ros.ros.node_main import run_node
from tgrpo_ros.sim.libero_env import LiberoEnv
from tgrpo_ros.sim.servo_arm import ServoArm, ServoSettings
from tgrpo_ros.srv import ResetEnv

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
CLOCK_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
COMMAND_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)


def _stamp(t: float) -> Time:
    # Round the whole time to nanoseconds first: rounding only the fraction turned a time just
    # below a whole second (1234.9999999998, summed 0.01 s ticks) into 1234.0, a stamp 1 s in the
    # past that the adapter and bridge halted on as 1.010 s old (real_train run, 2026-12-07).
    ns = int(round(t * 1e9))
    return Time(sec=ns // 1_000_000_000, nanosec=ns % 1_000_000_000)


class SimRobot(Node):

    def __init__(self):
        super().__init__('sim_robot')
        d = self.declare_parameter
        ro = {'read_only': True}
        d('robot_profile', 'sim_franka', ParameterDescriptor(
            description='Robot profile with a sim section (name in config/robots or a YAML '
                        'path).', **ro))
        d('init_state_index', 0, ParameterDescriptor(
            description='LIBERO initial state loaded at start-up (~/reset loads others).', **ro))
        d('seed', 7, ParameterDescriptor(description='Seed of the scene and of the faults.',
                                          **ro))
        d('real_time_factor', 0.2, ParameterDescriptor(
            description='Sim seconds per wall second, (0, 10]; slower if the CPU cannot keep '
                        'up (rendering).', **ro))
        d('servo_rate_hz', 100.0, ParameterDescriptor(
            description='Servo and /clock rate [Hz], [20, 1000].', **ro))
        d('incoming_command_timeout_s', 0.1, ParameterDescriptor(
            description="Servo's incoming_command_timeout [s]: no twist within it stops the "
                        'arm.', **ro))
        d('latency_s', 0.0, ParameterDescriptor(
            description='Camera latency [s] (a frame is published this long after its stamp), '
                        '[0, 1].', **ro))
        d('jitter_s', 0.0, ParameterDescriptor(
            description='Extra camera latency, uniform in [0, jitter_s] per frame [s].', **ro))
        d('drop_rate', 0.0, ParameterDescriptor(
            description='Fraction of camera frames never published, [0, 1).', **ro))
        d('image_noise_std', 0.0, ParameterDescriptor(
            description='Std of Gaussian pixel noise [intensity 0-255], [0, 100].', **ro))
        d('placement_error_m', 0.0, ParameterDescriptor(
            description='Reset: each movable object displaced in the table plane by a normal '
                        'error of this std per axis [m], clipped at 3 std (a person never '
                        'restores a scene exactly; the scripted operator of real_train).', **ro))
        get = lambda name: self.get_parameter(name).value  # noqa: E731
        self.profile = p = load_profile(get('robot_profile'))
        self.config = c = sim_config(p)
        rtf = float(get('real_time_factor'))
        rate = float(get('servo_rate_hz'))
        self.latency = float(get('latency_s'))
        self.jitter = float(get('jitter_s'))
        self.drop_rate = float(get('drop_rate'))
        self.noise = float(get('image_noise_std'))
        for name, value, low, high in (('real_time_factor', rtf, 0.0, 10.0),
                                       ('servo_rate_hz', rate, 19.999, 1000.0),
                                       ('incoming_command_timeout_s',
                                        float(get('incoming_command_timeout_s')), 0.0, 5.0),
                                       ('latency_s', self.latency, -1e-12, 1.0),
                                       ('jitter_s', self.jitter, -1e-12, 1.0),
                                       ('drop_rate', self.drop_rate, -1e-12, 0.999),
                                       ('image_noise_std', self.noise, -1e-12, 100.0)):
            if not low < value <= high:
                raise ValueError(f'parameter {name} = {value} is out of range '
                                 f'({max(low, 0.0):g}, {high:g}]')
        if len(p.arm_joints) != 7 or len(p.gripper.state_joints) != 2:
            raise ValueError(f'{p.source}: the simulated Panda has 7 arm joints and 2 fingers; '
                             f'state.arm_joints has {len(p.arm_joints)}, '
                             f'gripper.state_joints {len(p.gripper.state_joints)}')
        self.rng = np.random.default_rng(int(get('seed')))
        env = LiberoEnv(c.suite, int(c.task) if c.task.isdigit() else c.task,
                        cameras=tuple(p.camera_names()), image_size=c.image_size)
        self.arm = ServoArm(env, ServoSettings(
            servo_rate_hz=rate, command_timeout_s=float(get('incoming_command_timeout_s'))))
        self.seed = int(get('seed'))
        self.placer = ScriptedOperator(float(get('placement_error_m')), seed=self.seed)
        self.arm.reset(int(get('init_state_index')), self.seed)
        self.episode, self.step = 1, 0
        self.servo_period = 1.0 / rate
        self.camera_period = p.control_period_s
        self.wall_period = self.servo_period / rtf
        self.sim_start = 1000.0  # /clock starts here (non-zero: 0 means "no time yet" in ROS)
        self._next_camera = 0.0
        self._pending: list[tuple[float, str, object]] = []  # (release time, topic, message)
        self._last_release = 0.0
        self.frames, self.dropped = 0, 0
        self._wall0, self._sim0 = time.monotonic(), self.arm.time_s

        self.clock_pub = self.create_publisher(Clock, '/clock', CLOCK_QOS)
        self.image_pubs = {cam.name: self.create_publisher(Image, cam.topic,
                                                           qos_profile_sensor_data)
                           for cam in p.cameras}
        self.info_pubs = {cam.name: self.create_publisher(
            CameraInfo, os.path.dirname(cam.topic.rstrip('/')) + '/camera_info',
            qos_profile_sensor_data) for cam in p.cameras}
        self.joint_pub = self.create_publisher(JointState, p.joint_states_topic, RELIABLE)
        self.eef_pub = self.create_publisher(PoseStamped, p.eef_pose_topic, RELIABLE)
        self.object_pubs = {name: self.create_publisher(PoseStamped, c.object_topic(name),
                                                        RELIABLE)
                            for name in env.object_names}
        self.task_pub = self.create_publisher(String, '~/task_state', RELIABLE)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', RELIABLE)
        self.create_subscription(TwistStamped, p.command_topic, self._on_twist, COMMAND_QOS)
        self.create_subscription(PoseStamped, c.pose_target_topic, self._on_pose_target,
                                 COMMAND_QOS)
        if p.gripper.interface == 'topic':
            self.create_subscription(Float64MultiArray, p.gripper.command_topic,
                                     self._on_gripper, COMMAND_QOS)
        self.create_service(ResetEnv, '~/reset', self._on_reset)
        self._camera_info = {cam.name: self._info(cam.name) for cam in p.cameras}
        self.rejected = 0
        self.create_timer(self.wall_period, self._tick)
        self.create_timer(2.0, self._report)
        self.get_logger().info(
            f'{p.name}: {c.suite} task {c.task} state {get("init_state_index")}, servo '
            f'{rate:g} Hz, cameras {self.camera_period * 1e3:g} ms, target real-time factor '
            f'{rtf:g}; twists on {p.command_topic}, pose targets on {c.pose_target_topic}; '
            f'faults: latency {self.latency} s, jitter {self.jitter} s, drop {self.drop_rate}, '
            f'noise {self.noise}')

    # ---- time ---------------------------------------------------------------------------
    @property
    def now(self) -> float:
        return self.sim_start + self.arm.time_s

    # ---- inputs -------------------------------------------------------------------------
    def _frame_ok(self, frame_id: str, what: str) -> bool:
        p = self.profile
        if frame_id and frame_id not in (p.command_frame, p.base_frame):
            self.rejected += 1
            self.get_logger().error(f'{what} in frame {frame_id!r}: only {p.base_frame!r} is '
                                    'simulated (no TF here); ignored',
                                    throttle_duration_sec=5.0)
            return False
        return True

    def _on_twist(self, msg: TwistStamped) -> None:
        if not self._frame_ok(msg.header.frame_id, 'twist'):
            return
        t = msg.twist
        try:
            self.arm.set_twist((t.linear.x, t.linear.y, t.linear.z),
                               (t.angular.x, t.angular.y, t.angular.z), self.arm.time_s)
        except ValueError as exc:
            self.rejected += 1
            self.get_logger().error(f'twist rejected: {exc}', throttle_duration_sec=5.0)

    def _on_pose_target(self, msg: PoseStamped) -> None:
        if not self._frame_ok(msg.header.frame_id, 'pose target'):
            return
        q, o = msg.pose.position, msg.pose.orientation
        try:
            self.arm.set_pose_target((q.x, q.y, q.z), (o.x, o.y, o.z, o.w), self.arm.time_s)
        except ValueError as exc:
            self.rejected += 1
            self.get_logger().error(f'pose target rejected: {exc}', throttle_duration_sec=5.0)

    def _on_gripper(self, msg: Float64MultiArray) -> None:
        if len(msg.data) < 1 or not math.isfinite(msg.data[0]):
            self.rejected += 1
            self.get_logger().error(f'gripper command {list(msg.data)} rejected: need '
                                    '[opening in m]', throttle_duration_sec=5.0)
            return
        self.arm.set_gripper(float(msg.data[0]))

    def _on_reset(self, request, response):
        c = self.config
        if request.suite not in ('', c.suite) or request.task not in ('', c.task,
                                                                      self.arm.env.task_name):
            response.success = False
            response.message = (f'this sim_robot simulates {c.suite} task {c.task}; got '
                                f'{request.suite!r} {request.task!r}')
            return response
        try:
            self.arm.reset(int(request.init_state_index), int(request.seed or self.seed))
        except (IndexError, ValueError) as exc:
            response.success, response.message = False, str(exc)
            return response
        self._place_with_error()
        self._pending.clear()
        self.episode += 1
        self.step = 0
        self._next_camera = self.arm.time_s
        response.success, response.message = True, ''
        response.episode_id = self.episode
        response.instruction = self.arm.env.instruction
        self.get_logger().info(f'reset to initial state {request.init_state_index}: episode '
                               f'{self.episode}')
        return response

    def _place_with_error(self) -> None:
        """Displace the movable objects as a person restoring the scene would."""
        if self.placer.placement_error_m <= 0:
            return
        env = self.arm.env
        state = env.sim_state()
        for name in env.movable_objects():
            pose = state.objects[name]
            env.set_object_pose(name, pose.pos + self.placer.placement_offset(), pose.quat)

    # ---- the servo tick -----------------------------------------------------------------
    def _tick(self) -> None:
        self.arm.advance(self.servo_period)
        self.clock_pub.publish(Clock(clock=_stamp(self.now)))
        if self.arm.time_s + 1e-9 >= self._next_camera:
            self._next_camera += self.camera_period
            if self._next_camera <= self.arm.time_s:  # never queue up missed frames
                self._next_camera = self.arm.time_s + self.camera_period
            self._capture()
        self._release()

    def _capture(self) -> None:
        p, c = self.profile, self.config
        reading = self.arm.read(render=True)
        reward, stage, stages, success = self.arm.task_outcome()
        stamp = _stamp(self.now)
        base = Header(stamp=stamp, frame_id=p.base_frame)
        names = list(p.arm_joints) + list(p.gripper.state_joints)
        positions = reading.joint_positions.copy()
        positions[8] = -positions[8]  # each finger's opening, as franka_gripper reports it
        velocities = reading.joint_velocities.copy()
        velocities[8] = -velocities[8]
        self.joint_pub.publish(JointState(header=base, name=names,
                                          position=positions.tolist(),
                                          velocity=velocities.tolist()))
        self.eef_pub.publish(self._pose(base, reading.eef_position,
                                        reading.eef_quaternion_xyzw))
        for name, (pos, quat) in reading.objects.items():
            self.object_pubs[name].publish(self._pose(base, pos, quat))
        self.task_pub.publish(String(data=json.dumps({
            'episode': self.episode, 'step': self.step, 'time_s': self.now, 'reward': reward,
            'stage': stage, 'num_stages': stages, 'success': success,
            'eef_position': reading.eef_position.tolist()})))
        self.step += 1
        release = self.now + self.latency + (self.rng.uniform(0.0, self.jitter)
                                             if self.jitter > 0 else 0.0)
        release = max(release, self._last_release)  # a camera delivers its frames in order
        for cam in p.cameras:
            self.frames += 1
            if self.drop_rate > 0 and self.rng.random() < self.drop_rate:
                self.dropped += 1
                continue
            image = reading.images[cam.name]
            if self.noise > 0:
                image = np.clip(image + self.rng.normal(0.0, self.noise, image.shape), 0,
                                255).astype(np.uint8)
            header = Header(stamp=stamp, frame_id=f'{cam.name}_optical_frame')
            msg = numpy_to_image(convert_encoding(image, 'rgb8', c.image_encoding),
                                 c.image_encoding, header)
            info = self._camera_info[cam.name]
            info.header = header
            self._pending.append((release, cam.name, (msg, info)))
        self._last_release = release

    def _release(self) -> None:
        keep = []
        for release, name, (image, info) in self._pending:
            if release <= self.now + 1e-9:
                self.image_pubs[name].publish(image)
                self.info_pubs[name].publish(info)
            else:
                keep.append((release, name, (image, info)))
        self._pending = keep

    # ---- helpers ------------------------------------------------------------------------
    @staticmethod
    def _pose(header: Header, position, quaternion) -> PoseStamped:
        msg = PoseStamped(header=header)
        msg.pose.position.x, msg.pose.position.y, msg.pose.position.z = \
            (float(v) for v in position)
        o = msg.pose.orientation
        o.x, o.y, o.z, o.w = (float(v) for v in quaternion)
        return msg

    def _info(self, camera: str) -> CameraInfo:
        """Pinhole intrinsics of a MuJoCo camera (square pixels, no distortion)."""
        env = self.arm.env._env.env
        model = env.sim.model
        cam = self.arm.env.cameras[self.arm.env.camera_keys.index(camera)]
        fovy = math.radians(float(model.cam_fovy[model.camera_name2id(cam)]))
        size = self.config.image_size
        f = 0.5 * size / math.tan(0.5 * fovy)
        cx = cy = 0.5 * (size - 1)
        return CameraInfo(height=size, width=size, distortion_model='plumb_bob',
                          d=[0.0] * 5, k=[f, 0.0, cx, 0.0, f, cy, 0.0, 0.0, 1.0],
                          r=[1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0],
                          p=[f, 0.0, cx, 0.0, 0.0, f, cy, 0.0, 0.0, 0.0, 1.0, 0.0])

    def _report(self) -> None:
        wall = time.monotonic() - self._wall0
        achieved = (self.arm.time_s - self._sim0) / wall if wall > 0 else 0.0
        status = DiagnosticStatus(name=f'{self.get_name()}: simulation',
                                  hardware_id=self.profile.name, level=DiagnosticStatus.OK,
                                  message=f'real-time factor {achieved:.3f}')
        status.values = [KeyValue(key='real_time_factor', value=f'{achieved:.4f}'),
                         KeyValue(key='sim_time_s', value=f'{self.now:.3f}'),
                         KeyValue(key='episode', value=str(self.episode)),
                         KeyValue(key='camera_frames', value=str(self.frames)),
                         KeyValue(key='dropped_frames', value=str(self.dropped)),
                         KeyValue(key='rejected_commands', value=str(self.rejected)),
                         KeyValue(key='arm_moving', value=str(self.arm.moving).lower())]
        self.diag_pub.publish(DiagnosticArray(header=Header(stamp=_stamp(self.now)),
                                              status=[status]))

    def destroy_node(self):
        self.arm.close()
        return super().destroy_node()


def main(args=None) -> int:
    return run_node(SimRobot, args)


if __name__ == '__main__':
    sys.exit(main())
