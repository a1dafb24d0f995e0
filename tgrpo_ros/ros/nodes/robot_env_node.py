# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""robot_env: a robot arm as one environment of the training graph, trials one after another.

It speaks the simulation environment's protocol (``sim_env_node``; ``tgrpo_ros.contract``), so
the learner's collector and the policy node need nothing robot-specific:

- ``/<env_id>/reset`` (tgrpo_ros/ResetEnv): asks the operator for the group's start scene
  (``operator_reset_service``; a person, or the script against ``sim_robot``), then starts a
  trial: a new episode id, the reward's start state, the first observation;
- ``/<env_id>/end_episode`` (tgrpo_ros/EndEpisode): ends the trial (done_reason "ended");
- reads ``bridge_observation`` (the camera/state bridge's output) and republishes it on
  ``observation`` with the trial's ids, one per control period (``control_rate_hz``, on the
  node's clock: /clock when ``use_sim_time``); the policy answers on ``action``, the arm
  adapter (on the same topic) moves the arm;
- publishes ``step_result`` one control period after each action, with the reward from the
  sources in ``reward_sources``:
  ``pose``: the task's dense stage reward (``sim/reward_spec.py``) on the state rebuilt from the
  pose topics, the finger joint states and the task geometry (``sim/perceived_state.py``);
  ``operator``: the operator's labels (``operator/labels``): success and failure end the trial,
  "stage k" sets the stage where no pose reward runs, abort ends it abnormally;
  ``topic``: a std_msgs/Float64 reward on ``reward_topic`` from another node, added.
  An emergency stop reported by the arm adapter (``/diagnostics``) ends the trial abnormally.
  Abnormal ends (``DoneReason.OPERATOR_ABORT``, ``EMERGENCY_STOP``, and ``ERROR`` when the
  poses stop arriving) make the learner mask the trial out of its group (the abnormal-trial
  rule).
"""

from __future__ import annotations

import sys
import threading
import time

from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import PoseStamped
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64, Header, String
import yaml

from tgrpo_ros.contract import DoneReason
from tgrpo_ros.msg import Action, Observation as ObservationMsg, StepResult, TrialLabel
from tgrpo_ros.real.operator import Label
from tgrpo_ros.real.robot_profile import load_profile
from tgrpo_ros.ros.conversions import ids_msg
from tgrpo_ros.ros.node_main import run_node
from tgrpo_ros.ros.parameters import declarer
from tgrpo_ros.ros.qos import LATCHED, reliable
from tgrpo_ros.sim.perceived_state import PerceivedStateBuilder, TaskGeometry
from tgrpo_ros.sim.reward_spec import load_spec, spec_path, StagedReward
from tgrpo_ros.srv import EndEpisode, ResetEnv

RELIABLE = reliable(100)
REWARD_SOURCES = ('pose', 'operator', 'topic')


def _pose(msg: PoseStamped):
    p, q = msg.pose.position, msg.pose.orientation
    return [p.x, p.y, p.z], [q.x, q.y, q.z, q.w]


class RobotEnvNode(Node):

    def __init__(self, node_name: str = 'robot_env'):
        super().__init__(node_name)

        declare = declarer(self)
        self.env_id = declare('env_id', 'robot', "This environment's env_id.")
        profile = load_profile(declare('robot_profile', 'sim_franka', 'Robot profile name or '
                                       'path (topics, control rate).'))
        self.period_s = 1.0 / profile.control_rate_hz
        sources = list(declare('reward_sources', ['pose', 'operator'], 'Any of pose, '
                                      'operator, topic.'))
        unknown = set(sources) - set(REWARD_SOURCES)
        if unknown or not sources:
            raise ValueError(f'reward_sources: {sorted(unknown) or "empty"}; choose from '
                             f'{", ".join(REWARD_SOURCES)}')
        self.sources = set(sources)
        self.max_steps = int(declare('max_steps', 280, 'Control steps per trial at most.'))
        self.max_steps_now = self.max_steps
        operator_reset = declare('operator_reset_service', '/operator/reset',
                                 'Where the start scene is asked for.')
        self.reward = self.builder = None
        if 'pose' in self.sources:
            path = declare('task_geometry', '', "Task geometry YAML (pose source; tgrpo-ros "
                           "task-geometry): objects' boxes, goal regions, goal.")
            if not path:
                raise ValueError("reward_sources has 'pose' but task_geometry is empty: make one "
                                 'with tgrpo-ros task-geometry')
            with open(path) as f:
                data = yaml.safe_load(f) or {}
            geometry = TaskGeometry.from_dict(data, path)
            given = [g for g in declare('goal', [''], 'The goal, one predicate per entry, e.g. '
                                        "'In ketchup_1 basket_1_contain_region' ('' = the "
                                        "geometry file's).") if g]
            goal = (tuple(tuple(g.split()) for g in given)
                    or tuple(tuple(g) for g in data.get('goal') or ()))
            spec_file = declare('reward_spec', '', "Reward spec file ('' = the package's spec "
                                "of the geometry file's task).")
            if not spec_file:
                suite, _, name = str(data.get('task', '')).partition('/')
                spec_file = spec_path(suite, name)
            spec = load_spec(spec_file)
            self.builder = PerceivedStateBuilder(geometry, goal=goal)
            self.reward = StagedReward(spec, list(geometry.objects), list(geometry.regions))
            object_topic = declare('object_pose_topic', '/objects/{name}/pose', 'Object pose '
                                   'topics; {name} = object name.')
            self._objects: dict[str, tuple] = {}
            for name in geometry.objects:
                self.create_subscription(PoseStamped, object_topic.format(name=name),
                                         self._object_cb(name), RELIABLE)
        self._eef = None
        self._fingers = None
        self._finger_joints = list(profile.gripper.state_joints)
        self._finger_signs = list(profile.gripper.state_signs or [1.0, -1.0])

        self._lock = threading.Lock()
        self.episode_id = 0
        self.group_id = 0
        self.step = 0
        self.done = True
        self._pending_step = -1
        self._latest_obs: ObservationMsg | None = None
        self._label: tuple[str, int] | None = None
        self._label_stage = 0
        self._topic_reward = 0.0
        self._estop = False
        self._seen: dict[str, float] = {}  # input -> wall time it last arrived
        self.settle_timeout_s = float(declare('settle_timeout_s', 30.0, 'After a reset, the '
                                              'longest wait [s, wall] for every input to arrive '
                                              'anew (the scene as it is now).'))

        group = ReentrantCallbackGroup()  # reset waits on the operator while topics flow
        self.instruction = declare('instruction', '', "The task's instruction when the reset "
                                   "gives none (a person's operator interface).")
        self.instruction_pub = self.create_publisher(String, '/camera_state_bridge/instruction',
                                                     LATCHED)
        self.obs_pub = self.create_publisher(ObservationMsg, 'observation', RELIABLE)
        self.result_pub = self.create_publisher(StepResult, 'step_result', RELIABLE)
        self.create_subscription(ObservationMsg, 'bridge_observation', self._on_bridge, RELIABLE)
        self.create_subscription(Action, 'action', self._on_action, RELIABLE)
        self.create_subscription(PoseStamped, profile.eef_pose_topic, self._on_eef, RELIABLE)
        self.create_subscription(JointState, profile.joint_states_topic, self._on_joints,
                                 RELIABLE)
        self.create_subscription(TrialLabel, 'operator/labels', self._on_label, RELIABLE)
        self.create_subscription(DiagnosticArray, '/diagnostics', self._on_diagnostics, 10)
        if 'topic' in self.sources:
            self.create_subscription(Float64, declare('reward_topic', 'reward', 'Reward topic '
                                                      '(topic source).'), self._on_reward, 10)
        self.operator = self.create_client(ResetEnv, operator_reset, callback_group=group)
        # Where the learner looks for an environment's services: /<env_id>/reset (sim_env
        # nodes get there by their namespace).
        self.create_service(ResetEnv, f'/{self.env_id}/reset', self._on_reset,
                            callback_group=group)
        self.create_service(EndEpisode, f'/{self.env_id}/end_episode', self._on_end,
                            callback_group=group)
        self.get_logger().info(f'robot environment {self.env_id!r} ready, rewards from '
                               f'{", ".join(sorted(self.sources))}')

    # --- inputs ----------------------------------------------------------------------------
    def _object_cb(self, name):
        def callback(msg: PoseStamped):
            self._objects[name] = _pose(msg)
            self._seen[f'object {name}'] = time.monotonic()
        return callback

    def _on_eef(self, msg: PoseStamped) -> None:
        self._eef = _pose(msg)
        self._seen['end-effector pose'] = time.monotonic()

    def _on_joints(self, msg: JointState) -> None:
        pos = dict(zip(msg.name, msg.position))
        if all(j in pos for j in self._finger_joints):
            # The profile's signs make each finger's opening >= 0; the state wants (+, -).
            q = [pos[j] * s for j, s in zip(self._finger_joints, self._finger_signs)]
            self._fingers = [abs(q[0]), -abs(q[1])]
            self._seen['finger joint states'] = time.monotonic()

    def _on_bridge(self, msg: ObservationMsg) -> None:
        self._latest_obs = msg
        self._seen['bridge observation'] = time.monotonic()

    def _on_label(self, msg: TrialLabel) -> None:
        with self._lock:
            if msg.ids.episode_id == self.episode_id and not self.done:
                self._label = (msg.label, int(msg.stage))
                if msg.label == Label.STAGE.value:
                    self._label_stage = max(self._label_stage, int(msg.stage))

    def _on_reward(self, msg: Float64) -> None:
        self._topic_reward = float(msg.data)

    def _on_diagnostics(self, msg: DiagnosticArray) -> None:
        for status in msg.status:
            if status.name.endswith('safety'):
                mode = next((kv.value for kv in status.values if kv.key == 'mode'), '')
                self._estop = mode.lower() in ('estop', 'emergency_stop', 'e_stop')

    # --- a trial -----------------------------------------------------------------------------
    def _perceived(self):
        if self._eef is None or self._fingers is None:
            raise RuntimeError('no end-effector pose or finger joint state received yet')
        missing = set(self.builder.geometry.objects) - set(self._objects)
        if missing:
            raise RuntimeError(f'no pose received for {", ".join(sorted(missing))}')
        return self.builder.build(*self._eef, dict(self._objects), self._fingers)

    def _on_reset(self, req: ResetEnv.Request, res: ResetEnv.Response) -> ResetEnv.Response:
        if not self.operator.wait_for_service(timeout_sec=10.0):
            res.success, res.message = False, 'the operator interface is not running'
            return res
        done = threading.Event()
        reset_at = time.monotonic()
        future = self.operator.call_async(req)
        future.add_done_callback(lambda _: done.set())
        done.wait()
        answer = future.result()
        if not answer.success:
            res.success, res.message = False, f'operator: {answer.message}'
            return res
        instruction = answer.instruction or self.instruction
        if not instruction:
            res.success, res.message = False, ('no instruction: the reset gave none and the '
                                               'instruction parameter is empty')
            return res
        # The bridge publishes observations only with an instruction (latched topic).
        self.instruction_pub.publish(String(data=instruction))
        missing = self._wait_for_inputs_since(reset_at)
        if missing:
            res.success, res.message = False, (f'after the reset, nothing new on: '
                                               f'{", ".join(missing)} within '
                                               f'{self.settle_timeout_s:g} s')
            return res
        with self._lock:
            self.episode_id += 1
            self.group_id = int(req.group_id)
            self.step = 0
            self.done = False
            self._label, self._label_stage, self._estop = None, 0, False
            self._pending_step = -1  # step numbers start again: forget the last trial's
            self.max_steps_now = int(req.max_steps) or self.max_steps
        try:
            if self.builder is not None:
                self.builder.reset()
                self.reward.reset(self._perceived())
        except RuntimeError as exc:
            res.success, res.message = False, str(exc)
            return res
        res.success, res.episode_id = True, self.episode_id
        res.instruction = instruction
        self._publish_observation()
        return res

    def _wait_for_inputs_since(self, t0: float) -> list[str]:
        """Wait until every input arrived after wall time t0; return those that did not."""
        needed = ['bridge observation']
        if self.builder is not None:
            needed += ['end-effector pose', 'finger joint states'] + [
                f'object {n}' for n in self.builder.geometry.objects]
        deadline = time.monotonic() + self.settle_timeout_s
        while True:
            missing = [k for k in needed if self._seen.get(k, -1.0) <= t0]
            if not missing or time.monotonic() > deadline:
                return missing
            time.sleep(0.05)

    def _on_end(self, req: EndEpisode.Request, res: EndEpisode.Response) -> EndEpisode.Response:
        with self._lock:
            if self.done:
                res.success, res.message = True, 'trial already over'
                return res
            self.done = True
            ids = ids_msg(self.env_id, self.episode_id, self.step, self.group_id)
        self.result_pub.publish(StepResult(header=self._header(), ids=ids, done=True,
                                           done_reason=DoneReason.ENDED.value))
        res.success, res.message = True, req.reason
        return res

    def _header(self) -> Header:
        return Header(stamp=self.get_clock().now().to_msg())

    def _publish_observation(self) -> None:
        msg = self._latest_obs
        if msg is None:
            self.get_logger().error('no observation from the bridge yet')
            return
        msg.ids = ids_msg(self.env_id, self.episode_id, self.step, self.group_id)
        self.obs_pub.publish(msg)

    def _on_action(self, msg: Action) -> None:
        with self._lock:
            if (msg.ids.env_id != self.env_id or msg.ids.episode_id != self.episode_id
                    or self.done or msg.ids.step != self.step or self._pending_step == self.step):
                return
            self._pending_step = self.step
        # The adapter acts on the same message; the outcome is read a control period later.
        timer = None

        def finish():
            timer.cancel()
            self.destroy_timer(timer)
            self._finish_step(msg)
        timer = self.create_timer(self.period_s, finish)

    def _finish_step(self, action: Action) -> None:
        stage, num_stages, reward, success = 0, 0, 0.0, False
        reason = DoneReason.RUNNING
        try:
            if self.builder is not None:
                r = self.reward(self._perceived())
                stage, num_stages, reward, success = r.stage, r.num_stages, r.reward, r.success
        except RuntimeError as exc:  # perception lost: the trial cannot be scored
            self.get_logger().error(f'trial {self.episode_id}: {exc}')
            reason = DoneReason.ERROR
        with self._lock:
            label, self._label = self._label, None
            if 'operator' in self.sources:
                if self.builder is None:
                    stage, reward = self._label_stage, float(self._label_stage)
                if label and label[0] == Label.SUCCESS.value:
                    success = True
                    reward += self.reward.spec.success_bonus if self.reward else 1.0
            if 'topic' in self.sources:
                reward += self._topic_reward
            self.step += 1
            if reason is DoneReason.ERROR:
                pass  # already decided: perception lost
            elif self._estop:
                reason = DoneReason.EMERGENCY_STOP
            elif label and label[0] == Label.ABORT.value:
                reason = DoneReason.OPERATOR_ABORT
            elif success:
                reason = DoneReason.SUCCESS
            elif label and label[0] == Label.FAILURE.value:
                reason = DoneReason.FAILED
            elif self.step >= self.max_steps_now:
                reason = DoneReason.MAX_STEPS
            self.done = reason is not DoneReason.RUNNING
            ids = ids_msg(self.env_id, self.episode_id, self.step - 1, self.group_id)
        self.result_pub.publish(StepResult(
            header=self._header(), ids=ids, reward=float(reward), stage=int(stage),
            num_stages=int(num_stages), success=bool(success), done=self.done,
            done_reason=reason.value, policy_version=action.policy_version))
        if not self.done:
            self._publish_observation()


def main(args=None) -> int:
    return run_node(RobotEnvNode, args, threads=4)


if __name__ == '__main__':
    sys.exit(main())
