# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""camera_state_bridge: a real robot's cameras and state -> the package's Observation.

Everything comes from the robot profile (``robot_profile`` parameter, config/robots/*.yaml):

- subscribes each camera topic (sensor_msgs/Image or CompressedImage, sensor-data QoS), mapped
  to the policy's camera name; ``camera_topics`` overrides the topics in profile order;
- subscribes the joint states (``state.joint_states_topic``), the gripper's joint states
  (``gripper.state_topic``) and the end-effector pose (``state.eef_pose_topic`` PoseStamped, or
  TF where tf2_ros is installed);
- at the profile's control rate, pairs the newest frame of the first camera with the other
  inputs by stamp (``sync.tolerance_s``; tgrpo_ros.real.input_sync) and publishes ``observation``
  (tgrpo_ros/Observation: rgb8 images with their camera headers, named SI state, stamped with
  the reference frame's stamp, frame_id = the base frame), at most once per camera frame;
- the instruction comes from the ``instruction`` parameter or the ``~/instruction`` topic
  (std_msgs/String, latched); a new instruction starts a new episode (ids.episode_id + 1);
- publishes ``/diagnostics`` (diagnostic_msgs/DiagnosticArray, status ``<node>: inputs``) with a
  reason code per input: INPUT_MISSING, INPUT_STALE, UNPAIRED, CONVERSION_ERROR, FRAME_MISMATCH,
  JOINT_MISSING, NO_INSTRUCTION. While any is present no observation is published.
"""

from __future__ import annotations

import sys

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
import numpy as np
from rcl_interfaces.msg import ParameterDescriptor, SetParametersResult
from rclpy.exceptions import ParameterUninitializedException
from rclpy.node import Node
from rclpy.parameter import Parameter
from rclpy.qos import DurabilityPolicy, qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
from sensor_msgs.msg import CompressedImage, Image, JointState
from std_msgs.msg import Header, String

from tgrpo_ros.data.images import message_to_rgb8
from tgrpo_ros.real.input_sync import InputSynchronizer, Problem, state_vector
from tgrpo_ros.msg import Ids, Observation
from tgrpo_ros.ros.eef_pose import EefPoseSource, now_s, stamp_to_s, STATE_QOS
from tgrpo_ros.ros.images import numpy_to_image
from tgrpo_ros.ros.node_main import run_node
from tgrpo_ros.real.robot_profile import load_profile

OBSERVATION_QOS = QoSProfile(depth=5, reliability=ReliabilityPolicy.RELIABLE)
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
DIAGNOSTICS_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
EEF = 'eef_pose'
JOINTS = 'joint_states'
GRIPPER = 'gripper_state'


class CameraStateBridge(Node):

    def __init__(self):
        super().__init__('camera_state_bridge')
        d = self.declare_parameter
        d('robot_profile', '', ParameterDescriptor(
            description="Robot profile: a name in config/robots ('franka', 'ur', 'sim_test') "
                        'or a path to a YAML file. Required.', read_only=True))
        d('camera_topics', Parameter.Type.STRING_ARRAY, ParameterDescriptor(
            description='Camera topics overriding the profile, one per profile camera in its '
                        "order; unset or empty: the profile's topics.", read_only=True))
        d('instruction', '', ParameterDescriptor(
            description='Task instruction put in every observation (also settable at run time '
                        'and through ~/instruction). Empty: no observation is published.'))
        d('task', '', ParameterDescriptor(description='Free-text task id for observations.'))
        d('env_id', 'real0', ParameterDescriptor(
            description='Environment id in observation ids (tgrpo_ros.contract).', read_only=True))
        d('diagnostics_period_s', 1.0, ParameterDescriptor(
            description='Diagnostics are published on every change and at least this often '
                        '[s], (0, 60].', read_only=True))
        get = lambda name: self.get_parameter(name).value  # noqa: E731
        profile_name = get('robot_profile')
        if not profile_name:
            raise ValueError('parameter robot_profile is empty: name a profile (franka, ur, '
                             'sim_test) or a YAML path')
        self.profile = load_profile(profile_name)
        topics = [c.topic for c in self.profile.cameras]
        try:
            override = get('camera_topics') or []
        except ParameterUninitializedException:
            override = []
        if override:
            if len(override) != len(topics):
                raise ValueError(f'parameter camera_topics has {len(override)} topic(s) '
                                 f'{list(override)} but profile {self.profile.name} has '
                                 f'{len(topics)} camera(s) {self.profile.camera_names()}')
            topics = list(override)
        period = float(get('diagnostics_period_s'))
        if not 0.0 < period <= 60.0:
            raise ValueError(f'parameter diagnostics_period_s = {period} is out of (0, 60]')
        self.env_id = str(get('env_id'))
        self.instruction = str(get('instruction'))
        self.task = str(get('task'))
        self.episode_id, self.step = 1, 0
        self.published = 0

        p = self.profile
        inputs = [f'camera:{c.name}' for c in p.cameras] + [EEF]
        self._need_joints = bool(p.arm_joints and p.joint_states_topic)
        self._need_gripper = bool(p.gripper.state_joints and p.gripper.state_topic)
        inputs += [JOINTS] if self._need_joints else []
        inputs += [GRIPPER] if self._need_gripper else []
        self.sync = InputSynchronizer(inputs, p.sync_tolerance_s, p.input_stale_s)

        for cam, topic in zip(p.cameras, topics):
            msg_type = CompressedImage if cam.compressed else Image
            self.create_subscription(msg_type, topic, self._camera_cb(f'camera:{cam.name}'),
                                     qos_profile_sensor_data)
        by_topic: dict[str, list[str]] = {}
        if self._need_joints:
            by_topic.setdefault(p.joint_states_topic, []).append(JOINTS)
        if self._need_gripper:
            by_topic.setdefault(p.gripper.state_topic, []).append(GRIPPER)
        for topic, names in by_topic.items():
            self.create_subscription(JointState, topic, self._joint_cb(names), STATE_QOS)
        self.eef_source = EefPoseSource(self, p, self._on_pose)
        self.create_subscription(String, '~/instruction', self._on_instruction, LATCHED)
        self.add_on_set_parameters_callback(self._on_parameters)

        self.obs_pub = self.create_publisher(Observation, 'observation', OBSERVATION_QOS)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', DIAGNOSTICS_QOS)
        self._last_signature = None
        self._last_diag = -1e18
        self._diag_period = period
        self._problems: list[Problem] = []
        self.create_timer(p.control_period_s, self._tick)
        self.get_logger().info(
            f'profile {p.name}: cameras {dict(zip(p.camera_names(), topics))}, eef pose from '
            f'{self.eef_source.describe()}, {p.control_rate_hz} Hz, pairing tolerance '
            f'{p.sync_tolerance_s} s, stale after {p.input_stale_s} s')

    # ---- inputs -------------------------------------------------------------------------
    def _camera_cb(self, name):
        def callback(msg):
            self.sync.add(name, stamp_to_s(msg.header.stamp), msg)
        return callback

    def _joint_cb(self, names):
        def callback(msg: JointState):
            value = (list(msg.name), list(msg.position))
            for name in names:
                self.sync.add(name, stamp_to_s(msg.header.stamp), value)
        return callback

    def _on_pose(self, position, quaternion, stamp, frame_id) -> None:
        self.sync.add(EEF, stamp, (position, quaternion, frame_id))

    def _set_instruction(self, text: str) -> None:
        if text != self.instruction:
            self.instruction = text
            self.episode_id += 1
            self.step = 0
            self.get_logger().info(f'instruction {text!r}: episode {self.episode_id}')

    def _on_instruction(self, msg: String) -> None:
        self._set_instruction(msg.data)

    def _on_parameters(self, params) -> SetParametersResult:
        for param in params:
            if param.name == 'instruction':
                if param.type_ != Parameter.Type.STRING:
                    return SetParametersResult(successful=False,
                                               reason='instruction must be a string')
                self._set_instruction(param.value)
            elif param.name == 'task':
                self.task = str(param.value)
        return SetParametersResult(successful=True)

    # ---- the control tick ---------------------------------------------------------------
    def _tick(self) -> None:
        now = now_s(self)
        paired, problems = self.sync.pair(now)
        if not problems and not self.instruction:
            problems = [Problem('instruction', 'NO_INSTRUCTION',
                                'set the instruction parameter or publish ~/instruction')]
        obs = None
        if paired is not None and not problems:
            obs, problems = self._build(paired)
        self._report(problems, now)
        if obs is not None:
            self.obs_pub.publish(obs)
            self.step += 1
            self.published += 1

    def _build(self, paired) -> tuple[Observation | None, list[Problem]]:
        p = self.profile
        images = []
        for cam in p.cameras:
            key = f'camera:{cam.name}'
            msg = paired.items[key][1]
            try:
                if isinstance(msg, Image) and msg.encoding == 'rgb8' \
                        and msg.step == msg.width * 3 and not cam.mirror:
                    images.append(msg)  # already what the policy wants: no copy
                else:
                    rgb = message_to_rgb8(msg)
                    if cam.mirror:  # the profile asks for LIBERO's left-right convention
                        rgb = np.ascontiguousarray(rgb[:, ::-1])
                    images.append(numpy_to_image(rgb, 'rgb8', msg.header))
            except ValueError as exc:
                return None, [Problem(key, 'CONVERSION_ERROR', str(exc))]
        position, quaternion, frame_id = paired.items[EEF][1]
        if frame_id and frame_id != p.base_frame:
            return None, [Problem(EEF, 'FRAME_MISMATCH',
                                  f'pose is in frame {frame_id!r}, profile base frame is '
                                  f'{p.base_frame!r}')]
        try:
            names, values = state_vector(
                position, quaternion,
                paired.items[GRIPPER][1] if self._need_gripper else None,
                p.gripper.state_joints if self._need_gripper else (), p.gripper.state_signs,
                paired.items[JOINTS][1] if self._need_joints else None,
                p.arm_joints if self._need_joints else ())
        except KeyError as exc:
            return None, [Problem('joint_states', 'JOINT_MISSING', str(exc.args[0]))]
        ref_msg = paired.items[f'camera:{p.cameras[0].name}'][1]
        header = Header(stamp=ref_msg.header.stamp, frame_id=p.base_frame)
        obs = Observation(header=header, ids=Ids(env_id=self.env_id, episode_id=self.episode_id,
                                                 step=self.step, group_id=0),
                          camera_names=p.camera_names(), images=images, state_names=names,
                          state=values, instruction=self.instruction, task=self.task)
        return obs, []

    def _report(self, problems: list[Problem], now: float) -> None:
        signature = tuple((x.input, x.code) for x in problems)
        if signature == self._last_signature and now - self._last_diag < self._diag_period:
            return
        if problems and signature != self._last_signature:
            self.get_logger().warning('no observation: ' + '; '.join(map(str, problems)))
        elif not problems and self._last_signature:
            self.get_logger().info('all inputs fresh and paired: publishing observations')
        self._last_signature, self._last_diag = signature, now
        status = DiagnosticStatus(
            name=f'{self.get_name()}: inputs', hardware_id=self.profile.name,
            level=DiagnosticStatus.ERROR if problems else DiagnosticStatus.OK,
            message='; '.join(map(str, problems)) if problems else 'OK')
        codes = {x.input: x.code for x in problems}
        status.values = [KeyValue(key=name, value=codes.get(name, 'OK'))
                         for name in self.sync.inputs]
        status.values += [KeyValue(key='observations_published', value=str(self.published)),
                          KeyValue(key='episode_id', value=str(self.episode_id))]
        self.diag_pub.publish(DiagnosticArray(
            header=Header(stamp=self.get_clock().now().to_msg()), status=[status]))


def main(args=None) -> int:
    return run_node(CameraStateBridge, args)


if __name__ == '__main__':
    sys.exit(main())
