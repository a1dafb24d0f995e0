# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""sim_env_node: one LIBERO environment behind the package's interfaces.

Run one per environment, each in its own process and namespace (env0, env1, ...); the namespace
is the environment id. Topics (shared by all environments, see config/sim_train.yaml remaps):

- publishes ``observation`` (tgrpo_ros/Observation) after every reset and applied step;
- publishes ``step_result`` (tgrpo_ros/StepResult) for every applied step;
- subscribes ``action`` (tgrpo_ros/Action); an action is applied only if it names this
  environment's current (env_id, episode_id, step). Late, duplicate and mismatched actions are
  dropped and counted; an action from a policy version older than the one served on
  ``policy_version`` is counted as stale (it is still the answer to this step, so applied);
- services ``reset`` (tgrpo_ros/ResetEnv) and ``end_episode`` (tgrpo_ros/EndEpisode);
- publishes counters on ``/diagnostics`` (diagnostic_msgs/DiagnosticArray) once a second.

Parameters: ``env.suite`` (settable: used by resets that name no suite), ``env.cameras``,
``env.image_size``, ``env.frame_id``, ``env.init_states_file``, ``env.reward``
(tgrpo_ros.training.settings).
"""

from __future__ import annotations

import sys
import threading

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue
from rclpy.node import Node
from std_msgs.msg import Header

from tgrpo_ros.contract import DoneReason
from tgrpo_ros.msg import Action, PolicyVersion as PolicyVersionMsg, StepResult
from tgrpo_ros.msg import Observation as ObservationMsg
from tgrpo_ros.ros.conversions import ids_msg, observation_to_msg, outcome_to_msg
from tgrpo_ros.ros.qos import LATCHED, reliable
from tgrpo_ros.ros.node_main import run_node
from tgrpo_ros.ros.parameters import declare_settings
from tgrpo_ros.sim.libero_env import LiberoEnv, reward_spec_for
from tgrpo_ros.srv import EndEpisode, ResetEnv

RELIABLE = reliable(100)


class SimEnvNode(Node):

    def __init__(self, env_factory=None):
        super().__init__('sim_env')
        v = declare_settings(self, ['env.suite', 'env.cameras', 'env.image_size',
                                    'env.frame_id', 'env.init_states_file', 'env.reward'])
        self.env_id = self.get_namespace().strip('/') or self.get_name()
        self.cameras = v['env.cameras']
        self.image_size = v['env.image_size']
        self.frame_id = v['env.frame_id']
        self.init_states_file = v['env.init_states_file'] or None
        self.reward_spec = reward_spec_for(v['env.reward'])
        self._env_factory = env_factory or self._make_libero
        self.env = None
        self.env_key = None
        self.episode_id = 0
        self.group_id = 0
        self.step_index = 0
        self.done = True
        self.served_version = 0
        self.counters = {'applied': 0, 'dropped_late': 0, 'dropped_duplicate': 0,
                         'dropped_mismatch': 0, 'dropped_after_done': 0, 'stale_version': 0}
        self._lock = threading.Lock()

        self.obs_pub = self.create_publisher(ObservationMsg, 'observation', RELIABLE)
        self.result_pub = self.create_publisher(StepResult, 'step_result', RELIABLE)
        self.diag_pub = self.create_publisher(DiagnosticArray, '/diagnostics', 10)
        self.create_subscription(Action, 'action', self._on_action, RELIABLE)
        self.create_subscription(PolicyVersionMsg, 'policy_version', self._on_version, LATCHED)
        self.create_service(ResetEnv, 'reset', self._on_reset)
        self.create_service(EndEpisode, 'end_episode', self._on_end)
        self.create_timer(1.0, self._publish_diagnostics)
        self.get_logger().info(f'environment {self.env_id!r} ready (cameras {self.cameras})')

    # --- environment ------------------------------------------------------------------------
    def _make_libero(self, suite: str, task: str, max_steps: int | None):
        return LiberoEnv(suite, int(task) if task.isdigit() else task, cameras=self.cameras,
                         image_size=self.image_size, max_steps=max_steps,
                         init_states_file=self.init_states_file, reward_spec=self.reward_spec)

    def _header(self) -> Header:
        return Header(stamp=self.get_clock().now().to_msg(), frame_id=self.frame_id)

    def _publish_observation(self, obs) -> None:
        ids = ids_msg(self.env_id, self.episode_id, self.step_index, self.group_id)
        self.obs_pub.publish(observation_to_msg(obs, ids, self._header()))

    # --- services ---------------------------------------------------------------------------
    def _on_reset(self, req: ResetEnv.Request, res: ResetEnv.Response) -> ResetEnv.Response:
        suite = req.suite or self.get_parameter('env.suite').value
        max_steps = int(req.max_steps) or None
        key = (suite, req.task, max_steps)
        with self._lock:
            try:
                if self.env is None or self.env_key != key:
                    if self.env is not None:
                        self.env.close()
                        self.env = None
                    self.env = self._env_factory(suite, req.task, max_steps)
                    self.env_key = key
                obs = self.env.reset(int(req.init_state_index), int(req.seed))
            except (ValueError, IndexError, KeyError, FileNotFoundError) as exc:
                res.success, res.message = False, f'{type(exc).__name__}: {exc}'
                self.get_logger().error(f'reset failed: {res.message}')
                return res
            self.episode_id += 1
            self.group_id = int(req.group_id)
            self.step_index = 0
            self.done = False
            self._publish_observation(obs)
        res.success, res.episode_id, res.instruction = True, self.episode_id, obs.instruction
        return res

    def _on_end(self, req: EndEpisode.Request, res: EndEpisode.Response) -> EndEpisode.Response:
        with self._lock:
            if req.episode_id and req.episode_id != self.episode_id:
                res.success, res.message = False, (f'episode {req.episode_id} is not current '
                                                   f'({self.episode_id})')
                return res
            if self.done:
                res.success, res.message = True, 'episode already over'
                return res
            self.done = True
            ids = ids_msg(self.env_id, self.episode_id, self.step_index, self.group_id)
            self.result_pub.publish(StepResult(header=self._header(), ids=ids, done=True,
                                               done_reason=DoneReason.ENDED.value))
        res.success, res.message = True, req.reason
        return res

    # --- actions ----------------------------------------------------------------------------
    def _on_version(self, msg: PolicyVersionMsg) -> None:
        self.served_version = max(self.served_version, int(msg.version))

    def _on_action(self, msg: Action) -> None:
        if msg.ids.env_id != self.env_id:
            return  # another environment's action on the shared topic
        with self._lock:
            if self.done and msg.ids.episode_id == self.episode_id:
                self.counters['dropped_after_done'] += 1
                return
            if msg.ids.episode_id != self.episode_id or msg.ids.step < self.step_index:
                key = 'dropped_duplicate' if (msg.ids.episode_id == self.episode_id) \
                    else 'dropped_late'
                self.counters[key] += 1
                return
            if msg.ids.step > self.step_index or self.done:
                self.counters['dropped_mismatch'] += 1
                return
            if int(msg.policy_version.version) < self.served_version:
                self.counters['stale_version'] += 1
            try:
                obs, out = self.env.step(list(msg.action))
            except ValueError as exc:  # NaN, wrong shape: refuse, keep the episode
                self.counters['dropped_mismatch'] += 1
                self.get_logger().error(f'action rejected: {exc}')
                return
            self.counters['applied'] += 1
            ids = ids_msg(self.env_id, self.episode_id, self.step_index, self.group_id)
            self.result_pub.publish(outcome_to_msg(out, ids, self._header(),
                                                   msg.policy_version))
            self.step_index += 1
            self.done = out.done
            if not out.done:
                self._publish_observation(obs)

    def _publish_diagnostics(self) -> None:
        status = DiagnosticStatus(level=DiagnosticStatus.OK, name=f'{self.get_name()}',
                                  hardware_id=self.env_id, message='running')
        status.values = [KeyValue(key=k, value=str(v)) for k, v in self.counters.items()]
        status.values.append(KeyValue(key='episode_id', value=str(self.episode_id)))
        self.diag_pub.publish(DiagnosticArray(header=self._header(), status=[status]))

    def destroy_node(self):
        if self.env is not None:
            self.env.close()
        super().destroy_node()


def main(args=None) -> int:
    return run_node(SimEnvNode, args)


if __name__ == '__main__':
    sys.exit(main())
