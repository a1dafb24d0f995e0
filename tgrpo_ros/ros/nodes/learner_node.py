# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""learner_node: TGRPO over topics. It runs the same loop as ``tgrpo_ros.training.driver``.

Each iteration: wait until the policy node serves the latest version; reset the N environments
(``<env_id>/reset``) to one initial state; assemble every step of every trajectory from the
shared ``observation``, ``action`` and ``step_result`` topics into a ``GroupRolloutBuffer``; end
the episodes that the completion rule no longer needs (``<env_id>/end_episode``); update with
``TGRPOTrainer``; save the adapter atomically; publish ``metrics`` (tgrpo_ros/IterationMetrics)
and announce the adapter on ``adapter_announcement``. Parameters: every setting of
``SimTrainSettings`` as ``<section>.<field>`` (env, policy, algo, run), documented in
config/sim_train.yaml.
"""

from __future__ import annotations

import sys
import threading
import time

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node
from std_msgs.msg import Header
import torch

from tgrpo_ros.algo import GroupRolloutBuffer
from tgrpo_ros.msg import Action, AdapterAnnouncement, IterationMetrics
from tgrpo_ros.msg import Observation as ObservationMsg, PolicyVersion as PolicyVersionMsg
from tgrpo_ros.msg import StepResult
from tgrpo_ros.ros.conversions import msg_to_observation, version_msg
from tgrpo_ros.ros.qos import LATCHED, reliable
from tgrpo_ros.ros.node_main import try_shutdown
from tgrpo_ros.ros.parameters import declare_settings
from tgrpo_ros.sim.libero_env import MAX_STEPS
from tgrpo_ros.srv import EndEpisode, ResetEnv
from tgrpo_ros.training.driver import schedule
from tgrpo_ros.training.metrics import metrics_row
from tgrpo_ros.training.policy_setup import build_policy
from tgrpo_ros.training.rollout import GroupStats
from tgrpo_ros.training.run_folder import default_run_dir, RunFolder
from tgrpo_ros.training.settings import SECTIONS, SimTrainSettings
from tgrpo_ros.training.trainer import TGRPOTrainer
from tgrpo_ros.versioning import PolicyVersion

RELIABLE = reliable(1000)


class LearnerNode(Node):

    def __init__(self, policy=None, node_name: str = 'learner', shared: bool = False):
        """Create the learner; ``shared``: the policy node serves ``policy`` in this process."""
        super().__init__(node_name)
        self.shared = shared
        # Every setting, as parameters <section>.<field> (config/sim_train.yaml documents them).
        self.settings = SimTrainSettings.from_flat(declare_settings(self, SECTIONS))
        if self.settings.algo.estimator == 'gae':
            raise ValueError("the PPO baseline (algo.estimator 'gae') records critic values "
                             'during the rollout and runs in one process: use tgrpo-ros train '
                             "--set algo.estimator=gae; the graph's learner runs the "
                             'group-relative estimators (tgrpo, traj, step, grpo_outcome)')
        self.env_ids = list(self.settings.env_ids)
        self.step_timeout = self.settings.run.step_timeout_s
        self.startup_timeout = self.settings.run.startup_timeout_s

        s = self.settings
        if s.torch_threads > 0:
            torch.set_num_threads(s.torch_threads)
        self.policy = policy or build_policy(s.model, device=s.device, cameras=s.cameras,
                                             lora_rank=s.lora_rank, lora_alpha=s.lora_alpha,
                                             seed=s.seed)
        self.trainer = TGRPOTrainer(self.policy, s.algo, seed=s.seed)
        self.run_folder = RunFolder(s.output_dir or default_run_dir(), s.iterations)

        self._cond = threading.Condition()
        self.served = PolicyVersion(-1, '')
        self.buffer: GroupRolloutBuffer | None = None
        self.episodes: dict[str, int] = {}
        self._obs: dict[tuple[int, int], object] = {}
        self._act: dict[tuple[int, int], Action] = {}
        self._res: dict[tuple[int, int], StepResult] = {}
        self._next = [0] * len(self.env_ids)
        self._env_done = [True] * len(self.env_ids)
        self._last_progress = time.monotonic()
        self._stale_actions = 0
        self._max_stage = [0] * len(self.env_ids)
        self._num_stages = 0
        self.received_steps = 0

        self.create_subscription(ObservationMsg, 'observation', self._on_observation, RELIABLE)
        self.create_subscription(Action, 'action', self._on_action, RELIABLE)
        self.create_subscription(StepResult, 'step_result', self._on_result, RELIABLE)
        self.create_subscription(PolicyVersionMsg, 'policy_version', self._on_version, LATCHED)
        self.announce_pub = self.create_publisher(AdapterAnnouncement, 'adapter_announcement',
                                                  LATCHED)
        self.metrics_pub = self.create_publisher(IterationMetrics, 'metrics', 10)
        self.reset_clients = [self.create_client(ResetEnv, f'/{e}/reset') for e in self.env_ids]
        self.end_clients = [self.create_client(EndEpisode, f'/{e}/end_episode')
                            for e in self.env_ids]

    # --- topic callbacks (executor thread) ------------------------------------------------------
    def _env_index(self, ids) -> int | None:
        # Matched by group id, which the learner chose in the reset request: the first
        # observation of an episode can arrive before the reset reply names the episode id.
        if self.buffer is None or ids.group_id != self.buffer.group_id:
            return None
        try:
            return self.env_ids.index(ids.env_id)
        except ValueError:
            return None

    def _on_version(self, msg: PolicyVersionMsg) -> None:
        with self._cond:
            self.served = PolicyVersion(int(msg.version), msg.sha256)
            self._cond.notify_all()

    def _on_observation(self, msg: ObservationMsg) -> None:
        with self._cond:
            i = self._env_index(msg.ids)
            if i is None or self.buffer is None:
                return
        obs = msg_to_observation(msg)  # outside the lock: image copies take a while
        with self._cond:
            self._obs[(i, msg.ids.step)] = obs
            self._flush(i)

    def _on_action(self, msg: Action) -> None:
        with self._cond:
            i = self._env_index(msg.ids)
            if i is None or self.buffer is None:
                return
            self._act[(i, msg.ids.step)] = msg
            self._flush(i)

    def _on_result(self, msg: StepResult) -> None:
        with self._cond:
            i = self._env_index(msg.ids)
            if i is None or self.buffer is None:
                return
            if msg.done_reason == 'ended':  # the episode was cut by us; not a step
                self._env_done[i] = True
                self._cond.notify_all()
                return
            self._res[(i, msg.ids.step)] = msg
            self._flush(i)

    def _flush(self, i: int) -> None:
        """Add env i's steps to the buffer in order, as soon as all three parts are in."""
        while True:
            key = (i, self._next[i])
            if not (key in self._obs and key in self._act and key in self._res):
                break
            obs, act, res = self._obs.pop(key), self._act.pop(key), self._res.pop(key)
            self._next[i] += 1
            self._last_progress = time.monotonic()
            self.received_steps += 1
            if res.done:
                self._env_done[i] = True
            if act.policy_version.version != self.expected.version:
                self._stale_actions += 1
            if not self.buffer.is_active(i):
                continue  # past the group's first success: not part of the group
            self.buffer.add(i, key[1], obs, torch.tensor(list(act.token_ids)),
                            torch.tensor(list(act.token_logprobs)), float(res.reward),
                            success=bool(res.success), done=bool(res.done))
            self._max_stage[i] = max(self._max_stage[i], int(res.stage))
            self._num_stages = int(res.num_stages)
        self._cond.notify_all()

    # --- the loop (main thread) -----------------------------------------------------------------
    def _wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f'timed out after {timeout:.0f} s waiting for {what}')
                self._cond.wait(min(left, 0.5))

    def _call(self, client, request, timeout: float):
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f'service {client.srv_name} not available after {timeout:.0f} s')
        future = client.call_async(request)
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if not done.wait(timeout):
            raise TimeoutError(f'service {client.srv_name} did not answer in {timeout:.0f} s')
        return future.result()

    def run(self) -> dict:
        s = self.settings
        run = self.run_folder
        start, env_steps_total = 1, 0
        last = run.last_complete()
        self.expected = PolicyVersion()
        if last is not None:
            if not s.resume:
                raise FileExistsError(f'{run.path} already holds iterations up to '
                                      f'{last["iteration"]}; launch with --resume')
            self.expected = self.policy.load_adapter(last['adapter'])
            self.trainer.load_state_dict(run.load_trainer_state())
            start, env_steps_total = last['iteration'] + 1, int(last['env_steps'])
            self._announce(self.expected, last['adapter'])
        run.write_config(s.to_dict(), {'ros': {'env_ids': self.env_ids, 'placement':
                                               'shared' if self.shared else 'separate'}})
        run.progress(start - 1)
        self.get_logger().info(f'run folder {run.path}; iterations {start}..{s.iterations}')
        for it in range(start, s.iterations + 1):
            self._wait(lambda: self.served.version == self.expected.version,
                       self.startup_timeout, f'the policy node to serve version '
                       f'{self.expected.version}')
            task, init_state = schedule(s, it)
            stats = self._collect_group(it, task, init_state)
            update = self.trainer.update(self.buffer)
            adapter = run.adapter_dir(it)
            version = self.policy.save_adapter(str(adapter), it)
            env_steps_total += stats.env_steps
            row = metrics_row(it, task, init_state, stats, update, version, env_steps_total,
                              s.algo.lr)
            row['stale_actions'] = self._stale_actions
            run.complete_iteration(it, row, self.trainer.state_dict(), version)
            self._publish_metrics(row, version)
            run.progress(it, {'return': round(row['mean_return'], 3),
                              'success': row['success_rate']})
            self.get_logger().info(
                f'iteration {it}/{s.iterations} task {task} state {init_state}: return '
                f'{row["mean_return"]:.3f} success {row["success_rate"]:.2f} '
                f'|log ratio| {row["first_abs_log_ratio_max"]:.1e} '
                f'({stats.rollout_time_s:.1f}s + {update.update_time_s:.1f}s)')
            self.expected = version
            self._announce(version, str(adapter))
        return run.finish()

    def _collect_group(self, it: int, task: str, init_state: int) -> GroupStats:
        s = self.settings
        t0 = time.monotonic()
        n = len(self.env_ids)
        with self._cond:
            self.buffer = GroupRolloutBuffer(n, s.max_steps or MAX_STEPS.get(s.suite, 1000),
                                             s.algo.group_completion)
            self.buffer.reset(it)
            self._obs.clear()
            self._act.clear()
            self._res.clear()
            self._next = [0] * n
            self._env_done = [False] * n
            self._max_stage = [0] * n
            self._stale_actions = 0
            self.episodes = {}
        for i, client in enumerate(self.reset_clients):
            req = ResetEnv.Request(suite=s.suite, task=task, init_state_index=init_state,
                                   seed=s.seed + it, group_id=it, max_steps=s.max_steps)
            res = self._call(client, req, self.startup_timeout)
            if not res.success:
                raise RuntimeError(f'{self.env_ids[i]}: reset failed: {res.message}')
            with self._cond:
                self.episodes[self.env_ids[i]] = int(res.episode_id)
        self._last_progress = time.monotonic()
        ended = [False] * n
        while True:
            with self._cond:
                if self.buffer.is_complete:
                    break
                stalled = time.monotonic() - self._last_progress > self.step_timeout
                inactive = [i for i in range(n) if not self.buffer.is_active(i)
                            and not self._env_done[i] and not ended[i]]
                self._cond.wait(0.2)
            if stalled:
                raise TimeoutError(f'group {it}: no step arrived for {self.step_timeout:.0f} s '
                                   f'(steps per env so far: {self._next})')
            for i in inactive:
                self._end(i, 'group_done')
                ended[i] = True
        for i in range(n):
            if not self._env_done[i] and not ended[i]:
                self._end(i, 'group_done')
        with self._cond:
            rewards, mask = self.buffer.rewards, self.buffer.mask
            return GroupStats(returns=(rewards * mask).sum(1).tolist(),
                              lengths=self.buffer.lengths.tolist(),
                              success=self.buffer.success.tolist(),
                              max_stage=list(self._max_stage), num_stages=self._num_stages,
                              env_steps=len(self.buffer), rollout_time_s=time.monotonic() - t0)

    def _end(self, i: int, reason: str) -> None:
        req = EndEpisode.Request(episode_id=self.episodes[self.env_ids[i]], reason=reason)
        self._call(self.end_clients[i], req, 30.0)

    def _announce(self, version: PolicyVersion, path: str) -> None:
        self.announce_pub.publish(AdapterAnnouncement(
            header=Header(stamp=self.get_clock().now().to_msg()), version=version_msg(version),
            path=str(path)))

    def _publish_metrics(self, row: dict, version: PolicyVersion) -> None:
        self.metrics_pub.publish(IterationMetrics(
            header=Header(stamp=self.get_clock().now().to_msg()),
            iteration=int(row['iteration']), task=str(row['task']),
            init_state=int(row['init_state']), env_steps=int(row['env_steps']),
            env_steps_total=int(row['env_steps_total']),
            returns=[float(x) for x in row['returns'].split(';')],
            mean_return=float(row['mean_return']), success_rate=float(row['success_rate']),
            stage_histogram=[int(x) for x in row['stage_histogram'].split(';')],
            loss=float(row['loss']), kl_ref=float(row['kl_ref']),
            approx_kl=float(row['approx_kl']), clip_fraction=float(row['clip_frac']),
            first_abs_log_ratio_max=float(row['first_abs_log_ratio_max']),
            learning_rate=float(row['lr']), rollout_time=float(row['rollout_time_s']),
            update_time=float(row['update_time_s']), policy_version=version_msg(version)))


def run_learner(nodes_factory, args=None) -> int:
    """Spin the node(s) in a background executor and run the learner's loop in this thread."""
    rclpy.init(args=args)
    nodes = []
    code = 0
    executor = None
    spinner = None
    try:
        nodes = nodes_factory()
        learner = nodes[0]
        executor = MultiThreadedExecutor(num_threads=4)
        for n in nodes:
            executor.add_node(n)
        spinner = threading.Thread(target=executor.spin, daemon=True)
        spinner.start()
        summary = learner.run()
        learner.get_logger().info(f'finished: {summary}')
    except (KeyboardInterrupt, ExternalShutdownException):
        code = 130
    except Exception as exc:  # noqa: BLE001 - report clearly, exit non-zero
        print(f'[learner] error: {type(exc).__name__}: {exc}', file=sys.stderr, flush=True)
        code = 1
    finally:
        if executor is not None:
            executor.shutdown(timeout_sec=5.0)
        if spinner is not None:
            spinner.join(timeout=5.0)  # destroying nodes under a spinning executor aborts
        for n in nodes:
            n.destroy_node()
        try_shutdown()
    return code


def main(args=None) -> int:
    return run_learner(lambda: [LearnerNode()], args)


if __name__ == '__main__':
    sys.exit(main())
