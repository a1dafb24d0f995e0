# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""sim_env_node: one LIBERO environment behind the package's interfaces.

Run one per environment, each in its own process and namespace (env0, env1, ...); the namespace
is the environment id. Topics (shared by all environments, see config/sim_train.yaml remaps):

- publishes ``observation`` (tgrpo_ros/Observation) after every reset and applied step;
- publishes ``step_result`` (tgrpo_ros/StepResult) for every applied step;
- subscribes ``action`` (tgrpo_ros/Action); an action is applied only if it names this
  environment's current (env_id, episode_id, step). Late, duplicate, mismatched and malformed
  (``tgrpo_ros.ros.conversions.check_action``) actions are dropped and counted; an action
  from a policy version older than the one served on ``policy_version`` is counted as stale
  (it is still the answer to this step, so applied);
- services ``reset`` (tgrpo_ros/ResetEnv) and ``end_episode`` (tgrpo_ros/EndEpisode);
- publishes counters on ``/diagnostics`` (diagnostic_msgs/DiagnosticArray) once a second.

Parameters: ``env.suite`` (settable: used by resets that name no suite), ``env.cameras``,
``env.image_size``, ``env.frame_id``, ``env.init_states_file``, ``env.reward``
(tgrpo_ros.training.settings), and fault injection for tests (off by default):
``env.drop_messages``, messages this node loses on purpose (``parse_drop_messages``), counted as
``dropped_injected``; ``env.delay_messages``, messages it sends late (``parse_delay_messages``),
counted as ``delayed_injected``.
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
from tgrpo_ros.ros.conversions import check_action, check_reset_request, ids_msg
from tgrpo_ros.ros.conversions import MessageError, observation_to_msg, outcome_to_msg
from tgrpo_ros.ros.qos import LATCHED, reliable
from tgrpo_ros.ros.node_main import run_node
from tgrpo_ros.ros.parameters import declare_settings
from tgrpo_ros.sim.libero_env import LiberoEnv, reward_spec_for
from tgrpo_ros.srv import EndEpisode, ResetEnv

RELIABLE = reliable(100)
DROPPABLE = ('observation', 'action', 'step_result')


DELAYABLE = ('observation', 'step_result')  # what this node sends


def _parse_faults(text: str, env_id: str, setting: str, parts: tuple,
                  delayed: bool) -> dict[tuple[str, int, int], float]:
    """{(part, episode, step): delay_s} of ``env_id`` from '<env_id>:<part>:<ep>:<step>[:<s>]'."""
    form = "'<env_id>:<part>:<episode>:<step>" + (":<seconds>'" if delayed else "'")
    out = {}
    for entry in filter(None, (e.strip() for e in text.split(','))):
        fields = entry.split(':')
        try:
            if len(fields) != (5 if delayed else 4):
                raise ValueError
            env, part = fields[:2]
            key = (part, int(fields[2]), int(fields[3]))
            delay = float(fields[4]) if delayed else 0.0
        except ValueError:
            raise ValueError(f'{setting}: {entry!r} is not {form}') from None
        if part not in parts:
            raise ValueError(f'{setting}: {entry!r}: part must be one of {parts}')
        if delayed and not 0.0 < delay < 3600.0:
            raise ValueError(f'{setting}: {entry!r}: seconds must be in (0, 3600)')
        if env == env_id:
            out[key] = delay
    return out


def parse_drop_messages(text: str, env_id: str) -> set[tuple[str, int, int]]:
    """Parse ``env.drop_messages``: the (part, episode, step) this environment loses.

    text: comma-separated '<env_id>:<part>:<episode>:<step>' entries, part one of
    ``DROPPABLE``; entries of other environments are left out. '' = none.
    """
    return set(_parse_faults(text, env_id, 'env.drop_messages', DROPPABLE, delayed=False))


def parse_delay_messages(text: str, env_id: str) -> dict[tuple[str, int, int], float]:
    """Parse ``env.delay_messages``: {(part, episode, step): seconds} this environment waits.

    text: comma-separated '<env_id>:<part>:<episode>:<step>:<seconds>' entries, part one of
    ``DELAYABLE``, seconds in (0, 3600); entries of other environments are left out. '' = none.
    """
    return _parse_faults(text, env_id, 'env.delay_messages', DELAYABLE, delayed=True)


class SimEnvNode(Node):

    def __init__(self, env_factory=None):
        super().__init__('sim_env')
        v = declare_settings(self, ['env.suite', 'env.cameras', 'env.image_size',
                                    'env.frame_id', 'env.init_states_file', 'env.reward',
                                    'env.drop_messages', 'env.delay_messages'])
        self.env_id = self.get_namespace().strip('/') or self.get_name()
        self.drop = parse_drop_messages(v['env.drop_messages'], self.env_id)
        self.delay = parse_delay_messages(v['env.delay_messages'], self.env_id)
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
        self._episode_key = None  # (env key, init state, seed, group) of the current episode
        self._instruction = ''
        self.served_version = 0
        self.counters = {'applied': 0, 'dropped_late': 0, 'dropped_duplicate': 0,
                         'dropped_mismatch': 0, 'dropped_after_done': 0, 'stale_version': 0,
                         'dropped_injected': 0, 'delayed_injected': 0, 'dropped_malformed': 0}
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

    def _dropped(self, part: str) -> bool:
        """Whether fault injection loses this part of the current step (counted)."""
        if (part, self.episode_id, self.step_index) not in self.drop:
            return False
        self.counters['dropped_injected'] += 1
        self.get_logger().warning(f'fault injection: {part} of episode {self.episode_id} step '
                                  f'{self.step_index} lost')
        return True

    def _send(self, part: str, publisher, msg) -> None:
        """Publish ``msg`` now, or late or never where fault injection says so (counted)."""
        if self._dropped(part):
            return
        delay = self.delay.get((part, self.episode_id, self.step_index))
        if delay is None:
            publisher.publish(msg)
            return
        self.counters['delayed_injected'] += 1
        self.get_logger().warning(f'fault injection: {part} of episode {self.episode_id} step '
                                  f'{self.step_index} sent {delay} s late')
        timer = threading.Timer(delay, publisher.publish, args=(msg,))
        timer.daemon = True
        timer.start()

    def _publish_observation(self, obs) -> None:
        ids = ids_msg(self.env_id, self.episode_id, self.step_index, self.group_id)
        self._send('observation', self.obs_pub, observation_to_msg(obs, ids, self._header()))

    # --- services ---------------------------------------------------------------------------
    def _on_reset(self, req: ResetEnv.Request, res: ResetEnv.Response) -> ResetEnv.Response:
        with self._lock:
            try:
                # A malformed request is refused before it reaches the simulator; the
                # environment and its episode stay as they were.
                suite = check_reset_request(req, self.get_parameter('env.suite').value)
                max_steps = int(req.max_steps) or None
                key = (suite, req.task, max_steps)
                episode_key = (key, int(req.init_state_index), int(req.seed), int(req.group_id))
                if req.group_id and not self.done and episode_key == self._episode_key:
                    # The learner asked again (no answer came in its step timeout: this node
                    # was slow, or its predecessor died with the request): same episode.
                    res.success, res.episode_id = True, self.episode_id
                    res.instruction = self._instruction
                    self.get_logger().info(f'reset asked again: episode {self.episode_id}')
                    return res
                if self.env is None or self.env_key != key:
                    if self.env is not None:
                        self.env.close()
                        self.env = None
                    self.env = self._env_factory(suite, req.task, max_steps)
                    self.env_key = key
                obs = self.env.reset(int(req.init_state_index), int(req.seed))
            except (ValueError, IndexError, KeyError, FileNotFoundError) as exc:
                if self.env is None:
                    # the old environment was closed for the new task, which failed: no episode
                    # runs any more, so no late action may step a missing simulator
                    self.env_key, self.done = None, True
                res.success, res.message = False, f'{type(exc).__name__}: {exc}'
                self.get_logger().error(f'reset failed: {res.message}')
                return res
            self.episode_id += 1
            self.group_id = int(req.group_id)
            self.step_index = 0
            self.done = False
            self._episode_key, self._instruction = episode_key, obs.instruction
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
            if self._dropped('action'):
                return
            try:
                check_action(msg)  # NaN, wrong length, bad log-probs: refuse, keep the episode
            except MessageError as exc:
                self.counters['dropped_malformed'] += 1
                self.get_logger().error(f'action for step {msg.ids.step} rejected: {exc}')
                return
            if int(msg.policy_version.version) < self.served_version:
                self.counters['stale_version'] += 1
            try:
                obs, out = self.env.step(list(msg.action))
            except ValueError as exc:  # what check_action does not know of the simulator
                self.counters['dropped_malformed'] += 1
                self.get_logger().error(f'action for step {msg.ids.step} rejected: {exc}')
                return
            self.counters['applied'] += 1
            ids = ids_msg(self.env_id, self.episode_id, self.step_index, self.group_id)
            self._send('step_result', self.result_pub,
                       outcome_to_msg(out, ids, self._header(), msg.policy_version))
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
