# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""arm_adapter: the policy's actions -> safe commands for a real arm's ROS 2 driver.

The robot profile (``robot_profile``, config/robots/*.yaml) chooses the command and gripper
interfaces, the scale, the limits and the timeouts; the safety logic is tgrpo_ros.real.safety
(ROS-free); this node only converts messages, keeps time and publishes.

Interfaces:

- subscribes ``action`` (tgrpo_ros/Action, from policy_node), ``observation``
  (tgrpo_ros/Observation; only its stamp and ids are used: an action's age is measured from the
  stamp of the observation it answers, so actions computed on old frames by a policy that fell
  behind are refused; the action's own stamp is used when that observation was not seen), the
  end-effector pose
  (profile ``state.eef_pose_topic`` or TF), ``~/deadman`` (std_msgs/Bool: true must be
  renewed within ``timeouts.deadman_s``; false releases at once) and ``~/emergency_stop``
  (std_msgs/Bool: true latches an emergency stop; both subscribed best effort so that any
  publisher's QoS matches; a software stop, not a replacement for the hardware e-stop);
- services ``~/arm``, ``~/disarm``, ``~/reset`` (clears a latched e-stop, leaves disarmed),
  ``~/home`` (moves to the profile's home pose within the limits), all std_srvs/Trigger;
- publishes, at the control rate and only while armed and safe, the command on the profile's
  topic (geometry_msgs/TwistStamped [m/s, rad/s] or PoseStamped one-step target, base frame,
  stamped with the node's clock), the gripper command on change (std_msgs/Float64MultiArray, or a
  control_msgs/GripperCommand goal where control_msgs is installed), and ``~/applied_action``
  (tgrpo_ros/Action: the action actually applied after clamping, with the ids of the action it
  came from, stamped exactly as the command; zero commands carry empty ids);
- publishes ``/diagnostics`` (status ``<node>: safety``): message = the reason codes of
  tgrpo_ros.real.safety.Reason, on every change, every clamp and at least every
  ``diagnostics_period_s``.

Starts DISARMED (nothing is published) unless ``arm_on_start`` is true; even then motion needs
the dead-man. A halt sends one zero command and then nothing.
"""

from __future__ import annotations

from collections import OrderedDict
import sys

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from geometry_msgs.msg import PoseStamped, TwistStamped
from rcl_interfaces.msg import ParameterDescriptor
from rclpy.action import ActionClient
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy
from std_msgs.msg import Bool, Float64MultiArray, Header
from std_srvs.srv import Trigger

from tgrpo_ros.contract import ACTION_DIM
from tgrpo_ros.msg import Action, Ids, Observation
from tgrpo_ros.ros.eef_pose import EefPoseSource, now_s, stamp_to_s
from tgrpo_ros.ros.node_main import run_node
from tgrpo_ros.real.robot_profile import load_profile
from tgrpo_ros.real.safety import CLAMP_REASONS, HALT_REASONS, Mode, Reason, SafetyFilter

RELIABLE = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
COMMAND_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE)
DEADMAN_QOS = QoSProfile(depth=1, reliability=ReliabilityPolicy.BEST_EFFORT)
ESTOP_QOS = QoSProfile(depth=10, reliability=ReliabilityPolicy.BEST_EFFORT)
OBSERVATION_MEMORY = 256  # observation stamps kept to date the actions that answer them
WARN_REASONS = CLAMP_REASONS | {Reason.HOLDING_LAST_ACTION, Reason.DISARMED, Reason.NO_ACTION,
                                Reason.HOMING, Reason.HOME_REACHED}


class ArmAdapter(Node):

    def __init__(self):
        super().__init__('arm_adapter')
        d = self.declare_parameter
        d('robot_profile', '', ParameterDescriptor(
            description="Robot profile: a name in config/robots ('franka', 'ur', 'sim_test') "
                        'or a path to a YAML file. Required.', read_only=True))
        d('arm_on_start', False, ParameterDescriptor(
            description='Arm at start-up (motion still needs the dead-man). Default false: '
                        'call ~/arm.', read_only=True))
        d('env_id', '', ParameterDescriptor(
            description='Apply only actions whose ids.env_id equals this; empty accepts any.',
            read_only=True))
        d('diagnostics_period_s', 1.0, ParameterDescriptor(
            description='Status is published on every change and at least this often [s], '
                        '(0, 60].', read_only=True))
        get = lambda name: self.get_parameter(name).value  # noqa: E731
        if not get('robot_profile'):
            raise ValueError('parameter robot_profile is empty: name a profile (franka, ur, '
                             'sim_test) or a YAML path')
        self.profile = p = load_profile(get('robot_profile'))
        period = float(get('diagnostics_period_s'))
        if not 0.0 < period <= 60.0:
            raise ValueError(f'parameter diagnostics_period_s = {period} is out of (0, 60]')
        self._diag_period = period
        self.env_id = str(get('env_id'))
        self.filter = SafetyFilter(p)

        # Outputs first, so that nothing can arrive before there is somewhere to send it.
        msg_type = TwistStamped if p.command_interface == 'twist' else PoseStamped
        self.command_pub = self.create_publisher(msg_type, p.command_topic, COMMAND_QOS)
        self.applied_pub = self.create_publisher(Action, '~/applied_action', RELIABLE)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', RELIABLE)
        self._gripper_pub = None
        self._gripper_client = None
        self._gripper_goal_type = None
        if p.gripper.interface == 'topic':
            self._gripper_pub = self.create_publisher(Float64MultiArray, p.gripper.command_topic,
                                                      COMMAND_QOS)
        elif p.gripper.interface == 'action':
            try:
                # optional: control_msgs is not among the PyPI wheels; only this gripper needs it
                from control_msgs.action import GripperCommand
            except ImportError as exc:
                raise RuntimeError(
                    f'profile {p.name}: gripper.interface is action but control_msgs is not '
                    f'installed ({exc}); install control_msgs (ros-<distro>-control-msgs) or set '
                    f'gripper.interface: topic in {p.source}') from exc
            self._gripper_goal_type = GripperCommand
            self._gripper_client = ActionClient(self, GripperCommand, p.gripper.action_name)
        self._gripper_last: bool | None = None
        self._obs_stamps: OrderedDict = OrderedDict()  # (env, episode, step) -> stamp [s]
        self._unmatched = 0

        self.create_subscription(Action, 'action', self._on_action, RELIABLE)
        self.create_subscription(Observation, 'observation', self._on_observation, RELIABLE)
        # Best effort accepts any dead-man publisher; a lost message only makes it time out.
        self.create_subscription(Bool, '~/deadman', self._on_deadman, DEADMAN_QOS)
        # Best effort too, so no publisher is refused for its QoS (a reliable subscription would
        # silently ignore a best-effort e-stop button). A software stop: it does not replace the
        # robot's hardware emergency stop.
        self.create_subscription(Bool, '~/emergency_stop', self._on_estop, ESTOP_QOS)
        self.eef_source = EefPoseSource(self, p, self._on_pose)
        for name, handler in (('~/arm', self._srv_arm), ('~/disarm', self._srv_disarm),
                              ('~/reset', self._srv_reset), ('~/home', self._srv_home)):
            self.create_service(Trigger, name, handler)

        self._last_published_reasons = None
        self._last_diag = -1e18
        self._rejected = 0
        # A timer on the node's clock: sim time when use_sim_time is set, like the stamps.
        self.create_timer(p.control_period_s, self._tick)
        if p.untested:
            self.get_logger().warning(f'profile {p.name} ({p.source}): untested here: '
                                      + ' | '.join(p.untested))
        self.get_logger().info(
            f'profile {p.name}: {p.command_interface} commands on {p.command_topic} '
            f'({p.control_rate_hz} Hz, frame {p.command_frame}), gripper {p.gripper.interface}, '
            f'eef pose from {self.eef_source.describe()}; DISARMED')
        if get('arm_on_start'):
            ok, message = self.filter.arm(now_s(self))
            self.get_logger().warning(f'arm_on_start: {message}')

    # ---- inputs -------------------------------------------------------------------------
    def _on_action(self, msg: Action) -> None:
        if self.env_id and msg.ids.env_id != self.env_id:
            self._rejected += 1
            self.get_logger().warning(f'ignoring action for env {msg.ids.env_id!r} (this arm is '
                                      f'{self.env_id!r})', throttle_duration_sec=5.0)
            return
        # The age that matters is that of the camera data the action was computed from: the
        # stamp of the observation it answers (a policy that falls behind answers old frames).
        produced = stamp_to_s(msg.header.stamp)
        stamp = self._obs_stamps.get((msg.ids.env_id, msg.ids.episode_id, msg.ids.step))
        if stamp is None:
            self._unmatched += 1
            stamp = produced
        reason = self.filter.on_action(list(msg.action), stamp, source=msg.ids,
                                       produced=produced)
        if reason is not None:
            self._rejected += 1
            self.get_logger().error(f'{reason.value}: rejected Action.action for step '
                                    f'{msg.ids.step} ({len(msg.action)} values, '
                                    f'{ACTION_DIM} expected, all finite): {list(msg.action)}')
            self._tick()  # halt now, not at the next period

    def _on_observation(self, msg: Observation) -> None:
        stamp = stamp_to_s(msg.header.stamp)
        self.filter.on_observation(stamp)
        self._obs_stamps[(msg.ids.env_id, msg.ids.episode_id, msg.ids.step)] = stamp
        while len(self._obs_stamps) > OBSERVATION_MEMORY:
            self._obs_stamps.popitem(last=False)

    def _on_pose(self, position, quaternion, stamp, frame_id) -> None:
        if frame_id and frame_id != self.profile.base_frame:
            self.get_logger().error(f'end-effector pose in frame {frame_id!r}, expected '
                                    f'{self.profile.base_frame!r}: ignored',
                                    throttle_duration_sec=5.0)
            return
        self.filter.on_pose(position, quaternion, stamp)

    def _on_deadman(self, msg: Bool) -> None:
        self.filter.on_deadman(bool(msg.data), now_s(self))

    def _on_estop(self, msg: Bool) -> None:
        if msg.data and self.filter.mode != Mode.ESTOPPED:
            self.filter.emergency_stop()
            self.get_logger().error('EMERGENCY STOP latched: ~/reset clears it')
            self._tick()

    # ---- services -----------------------------------------------------------------------
    def _answer(self, response, ok_message) -> Trigger.Response:
        response.success, response.message = ok_message
        self.get_logger().info(f'{"ok" if response.success else "refused"}: {response.message}')
        self._publish_status(force=True)
        return response

    def _srv_arm(self, request, response):
        return self._answer(response, self.filter.arm(now_s(self)))

    def _srv_disarm(self, request, response):
        result = self.filter.disarm()
        self._tick()
        return self._answer(response, result)

    def _srv_reset(self, request, response):
        return self._answer(response, self.filter.reset())

    def _srv_home(self, request, response):
        return self._answer(response, self.filter.request_home(now_s(self)))

    # ---- the control tick ---------------------------------------------------------------
    def _tick(self) -> None:
        decision = self.filter.step(now_s(self))
        command = decision.command
        if command is not None:
            stamp = self.get_clock().now().to_msg()
            header = Header(stamp=stamp, frame_id=self.profile.command_frame)
            self.command_pub.publish(self._command_msg(command, header))
            ids = command.source if isinstance(command.source, Ids) else Ids()
            self.applied_pub.publish(Action(header=header, ids=ids,
                                            action=[float(x) for x in command.applied_action]))
            if command.zero:
                self._gripper_last = None  # re-send the gripper state when motion resumes
                self.get_logger().warning(f'HALT {decision.reasons[0].value}: {decision.detail}')
            elif command.gripper_closed is not None:
                self._send_gripper(command.gripper_closed)
        self._publish_status(force=decision.reasons != self._last_published_reasons
                             or any(r in CLAMP_REASONS for r in decision.reasons))

    def _command_msg(self, command, header):
        if self.profile.command_interface == 'twist':
            msg = TwistStamped(header=header)
            msg.twist.linear.x, msg.twist.linear.y, msg.twist.linear.z = \
                (float(v) for v in command.linear)
            msg.twist.angular.x, msg.twist.angular.y, msg.twist.angular.z = \
                (float(v) for v in command.angular)
            return msg
        msg = PoseStamped(header=header)
        pos, quat = msg.pose.position, msg.pose.orientation
        pos.x, pos.y, pos.z = (float(v) for v in command.target_position)
        quat.x, quat.y, quat.z, quat.w = (float(v) for v in command.target_quaternion)
        return msg

    def _send_gripper(self, closed: bool) -> None:
        if closed == self._gripper_last:
            return
        g = self.profile.gripper
        position = g.closed_position if closed else g.open_position
        if self._gripper_pub is not None:
            self._gripper_pub.publish(Float64MultiArray(data=[float(position)]))
        elif self._gripper_client is not None:
            if not self._gripper_client.server_is_ready():
                self.get_logger().error(f'gripper action {g.action_name} not available',
                                        throttle_duration_sec=2.0)
                return
            goal = self._gripper_goal_type.Goal()
            goal.command.position = float(position)
            goal.command.max_effort = float(g.max_effort)
            self._gripper_client.send_goal_async(goal)
        self._gripper_last = closed

    def _publish_status(self, force: bool = False) -> None:
        now = now_s(self)
        if not force and now - self._last_diag < self._diag_period:
            return
        f = self.filter
        reasons = f.last_reasons
        if f.mode == Mode.ESTOPPED or any(r in HALT_REASONS and r not in WARN_REASONS
                                          for r in reasons):
            level = DiagnosticStatus.ERROR
        elif any(r in WARN_REASONS for r in reasons):
            level = DiagnosticStatus.WARN
        else:
            level = DiagnosticStatus.OK
        message = ' '.join(r.value for r in reasons)
        status = DiagnosticStatus(
            name=f'{self.get_name()}: safety', hardware_id=self.profile.name, level=level,
            message=f'{message}: {f.last_detail}' if f.last_detail else message)
        status.values = [KeyValue(key='mode', value=f.mode.value),
                         KeyValue(key='reasons', value=message),
                         KeyValue(key='last_halt', value=f.last_halt.value if f.last_halt else ''),
                         KeyValue(key='rejected_actions', value=str(self._rejected)),
                         KeyValue(key='actions_without_seen_observation',
                                  value=str(self._unmatched))]
        status.values += [KeyValue(key=f'count_{r.value}', value=str(n))
                          for r, n in sorted(f.counts.items(), key=lambda kv: kv[0].value)]
        self.diag_pub.publish(DiagnosticArray(header=Header(stamp=self.get_clock().now().to_msg()),
                                              status=[status]))
        self._last_published_reasons = reasons
        self._last_diag = now


def main(args=None) -> int:
    return run_node(ArmAdapter, args)


if __name__ == '__main__':
    sys.exit(main())
