# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""RosCollector: groups collected over the ROS graph, for the training driver.

Per group: reset trajectory i's environment (``/<env_id>/reset``) to ``request.init_states[i]``
with the group's id; feed the shared ``observation``, ``action`` and ``step_result`` topics into
a ``StepAssembler`` (ROS-free: ``tgrpo_ros.training.step_assembler``); end the episodes the
completion rule no longer needs (``/<env_id>/end_episode``, reason
``tgrpo_ros.contract.EndReason.GROUP_DONE``). ``serve`` announces an adapter on
``adapter_announcement`` and waits until the policy node publishes that version on
``policy_version``; before the first group it waits for the policy node's ``policy_settings``
(what it samples with) and lets ``check_policy`` refuse a node that disagrees with the learner
(``tgrpo_ros.training.settings.check_policy_agrees``). Each action's own temperature is checked
too, against the group's: one sampled at another fails the group (``StepAssembler``).

The N environments of a request are the first N env ids alive (their reset service answers);
environments that appear or disappear between groups are picked up or skipped.

Faults within a group never hang it. A reset not answered within ``step_timeout_s`` is asked
again (the node may have died with the request; ``_reset``). A trajectory whose environment
leaves the graph (its reset service disappears: the process died) is abandoned at once as
``env_died``; one whose next step has not joined for ``step_timeout_s`` (a lost or late
observation, action or result) is abandoned as ``timeout`` and its episode ended. Either way
the trial is invalid and the driver's rule for abnormal trials (``tgrpo_ros.training.trials``)
masks it or skips the group.
When every trajectory of a group times out (the policy node died and was restarted: the
observations it had not answered are gone) all are masked and the group is skipped; when that
happens to two groups in a row collection fails (``TimeoutError``): the graph, not a trial, is
broken (e.g. no policy node at all).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
import json
import threading
import time
from typing import Any, Callable, Sequence

import numpy as np
from rclpy.node import Node
from std_msgs.msg import Header, String

from tgrpo_ros.algo import GroupRolloutBuffer
from tgrpo_ros.contract import EndReason
from tgrpo_ros.msg import Action, AdapterAnnouncement
from tgrpo_ros.msg import Observation as ObservationMsg, PolicyVersion as PolicyVersionMsg
from tgrpo_ros.msg import StepResult
from tgrpo_ros.ros.conversions import MessageError, msg_to_observation, version_msg
from tgrpo_ros.ros.qos import LATCHED, reliable
from tgrpo_ros.sim.libero_env import MAX_STEPS
from tgrpo_ros.srv import EndEpisode, ResetEnv
from tgrpo_ros.training.collector import Collector, Group, group_stats, GroupRequest
from tgrpo_ros.training.step_assembler import (ActionRecord, ObservationRecord, ResultRecord,
                                               StepAssembler, StepIds)
from tgrpo_ros.versioning import PolicyVersion

RELIABLE = reliable(1000)
SETTLE_S = 5.0  # after a group completes, how long to wait for the ended episodes' last words
RESET_TYPE = 'tgrpo_ros/srv/ResetEnv'  # what an environment node serves at /<id>/reset


class RosCollector(Collector):
    """Collects groups through ``node``'s subscriptions and service clients.

    env_ids: environment namespaces that may serve trajectories (one ``sim_env`` node each).
    suite: the suite every reset names. step_timeout_s: fail when no step joins for this long.
    startup_timeout_s: longest wait for a service, or for the policy node to serve a version.
    check_policy: called once with the policy node's ``policy_settings`` (a dict by setting
        name) before anything is collected; raises to refuse a policy node that samples
        differently from what the learner assumes.
    discover: also use every environment whose reset service appears in the ROS graph
        (``run.env_discovery`` 'graph'), looked for each time a group picks its environments.
    """

    def __init__(self, node: Node, env_ids: Sequence[str], suite: str,
                 step_timeout_s: float = 120.0, startup_timeout_s: float = 300.0,
                 check_policy: Callable[[dict[str, Any]], None] | None = None,
                 discover: bool = False):
        self.node = node
        self.discover = discover
        self.check_policy = check_policy
        self.policy_settings: dict[str, Any] | None = None
        self.env_ids = list(env_ids)
        self.suite = suite
        self.step_timeout = float(step_timeout_s)
        self.startup_timeout = float(startup_timeout_s)
        self._cond = threading.Condition()
        # The groups being collected, by group id (several: collect_many); messages are routed
        # to theirs by the group id they carry.
        self.assemblers: dict[int, StepAssembler] = {}
        self.served = PolicyVersion(-1, '')
        self.expected = PolicyVersion(-1, '')
        self._last_progress: dict[int, float] = {}  # by group id: when a step last joined
        self._all_timed_out = 0  # consecutive groups whose every trajectory timed out
        # Resets of a collection run at once; threads are made on demand and kept for the next.
        self._reset_pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix='reset')
        node.create_subscription(ObservationMsg, 'observation', self._on_observation, RELIABLE)
        node.create_subscription(Action, 'action', self._on_action, RELIABLE)
        node.create_subscription(StepResult, 'step_result', self._on_result, RELIABLE)
        node.create_subscription(PolicyVersionMsg, 'policy_version', self._on_version, LATCHED)
        node.create_subscription(String, 'policy_settings', self._on_policy_settings, LATCHED)
        self.announce_pub = node.create_publisher(AdapterAnnouncement, 'adapter_announcement',
                                                  LATCHED)
        self.reset_clients = {e: node.create_client(ResetEnv, f'/{e}/reset')
                              for e in self.env_ids}
        self.end_clients = {e: node.create_client(EndEpisode, f'/{e}/end_episode')
                            for e in self.env_ids}

    # --- topic callbacks (executor threads) ---------------------------------------------------
    def _ids(self, msg) -> StepIds:
        """Return the assembler's ids of a message (``RobotCollector`` maps trials to slots)."""
        return StepIds(msg.ids.env_id, int(msg.ids.episode_id), int(msg.ids.step),
                       int(msg.ids.group_id))

    def _wants(self, msg) -> bool:
        with self._cond:
            ids = self._ids(msg)
            assembler = self.assemblers.get(ids.group_id)
            return assembler is not None and assembler.wants(ids)

    def _on_observation(self, msg: ObservationMsg) -> None:
        if not self._wants(msg):
            return
        try:
            obs = msg_to_observation(msg)  # outside the lock: image copies take a while
        except MessageError as exc:  # dropped: its step goes missing, as a lost message
            self.node.get_logger().error(f'observation of {msg.ids.env_id!r} step '
                                         f'{msg.ids.step} refused: {exc}')
            return
        self._feed(msg, lambda a: a.add_observation(ObservationRecord(self._ids(msg), obs)))

    def _on_action(self, msg: Action) -> None:
        rec = ActionRecord(self._ids(msg), np.asarray(msg.token_ids, dtype=np.int64),
                           np.asarray(msg.token_logprobs, dtype=np.float32),
                           int(msg.policy_version.version), float(msg.temperature))
        self._feed(msg, lambda a: a.add_action(rec))

    def _on_result(self, msg: StepResult) -> None:
        rec = ResultRecord(self._ids(msg), float(msg.reward), int(msg.stage), int(msg.num_stages),
                           bool(msg.success), bool(msg.done), msg.done_reason)
        self._feed(msg, lambda a: a.add_result(rec))

    def _feed(self, msg, add) -> None:
        with self._cond:
            group_id = int(msg.ids.group_id)
            assembler = self.assemblers.get(group_id)
            if assembler is None:
                return
            joined = assembler.counts['joined']
            add(assembler)
            if assembler.counts['joined'] != joined:
                self._last_progress[group_id] = time.monotonic()
            self._cond.notify_all()

    def _on_version(self, msg: PolicyVersionMsg) -> None:
        with self._cond:
            self.served = PolicyVersion(int(msg.version), msg.sha256)
            self._cond.notify_all()

    def _on_policy_settings(self, msg: String) -> None:
        with self._cond:
            self.policy_settings = json.loads(msg.data)
            self._cond.notify_all()

    # --- Collector ------------------------------------------------------------------------------
    def serve(self, version: PolicyVersion, adapter_path: str) -> None:
        if self.check_policy is not None:
            self._wait(lambda: self.policy_settings is not None, self.startup_timeout,
                       'the policy node to publish policy_settings')
            self.check_policy(self.policy_settings)
            self.check_policy = None  # checked once: the node's settings are read-only
        with self._cond:
            self.expected = version
        if adapter_path:
            self.announce_pub.publish(AdapterAnnouncement(
                header=Header(stamp=self.node.get_clock().now().to_msg()),
                version=version_msg(version), path=str(adapter_path)))
        self._wait(lambda: self.served.version == version.version, self.startup_timeout,
                   f'the policy node to serve version {version.version}')

    def collect(self, request: GroupRequest) -> Group:
        return self.collect_many([request])[0]

    def collect_many(self, requests: Sequence[GroupRequest]) -> list[Group]:
        """Collect the requests' groups, as many at once as there are environments for.

        G requests of N trajectories take the first G x N environments alive; the policy node
        answers their observations together (a GPU policy sees batches of up to G x N), and
        each group completes by its own rule. A group's timeouts are its own. Requests beyond
        the environments known (with discovery: up) wait for the next round.
        """
        out: list[Group] = []
        batch: list[GroupRequest] = []
        capacity = len(self.env_ids)
        if self.discover:  # known is not up: count those up now (others may join later)
            self._discover()
            capacity = sum(self.reset_clients[e].service_is_ready() for e in self.env_ids)
        for r in requests:
            if batch and sum(b.num_envs for b in batch) + r.num_envs > capacity:
                out += self._collect_together(batch)
                batch = []
            batch.append(r)
        return out + (self._collect_together(batch) if batch else [])

    def _collect_together(self, requests: Sequence[GroupRequest]) -> list[Group]:
        t0 = time.monotonic()
        env_ids = self._pick_envs(sum(r.num_envs for r in requests))
        assemblers, k = [], 0
        for r in requests:
            max_steps = r.max_steps or MAX_STEPS.get(self.suite, 1000)
            assemblers.append(StepAssembler(r.group_id, env_ids[k:k + r.num_envs],
                                            GroupRolloutBuffer(r.num_envs, max_steps,
                                                               r.completion),
                                            self.expected.version, r.temperature))
            k += r.num_envs
        if len({r.group_id for r in requests}) != len(requests):
            raise ValueError(f'group ids repeat in {[r.group_id for r in requests]}')
        with self._cond:
            self.assemblers = {a.group_id: a for a in assemblers}
        try:
            # Every environment is reset at once (a reset builds LIBERO the first time, ~10 s):
            # one after another, the first group would run alone while the last is built.
            resets = [(a, env, ResetEnv.Request(suite=self.suite, task=r.task,
                                                init_state_index=int(state), seed=r.seed,
                                                group_id=r.group_id, max_steps=r.max_steps))
                      for r, a in zip(requests, assemblers)
                      for env, state in zip(a.env_ids, r.init_states)]
            answers = list(self._reset_pool.map(lambda x: self._reset(x[1], x[2]), resets))
            for (assembler, env, _), res in zip(resets, answers):
                if not res.success:
                    raise RuntimeError(f'{env}: reset failed: {res.message}')
                with self._cond:
                    assembler.set_episode(env, int(res.episode_id))
            self._run_until_complete(assemblers)
            for assembler in assemblers:
                self._settle(assembler)
            return [self._group(r, a, t0) for r, a in zip(requests, assemblers)]
        finally:
            with self._cond:
                self.assemblers = {}
                for r in requests:  # one entry per group would otherwise live as long as we do
                    self._last_progress.pop(r.group_id, None)

    def _group(self, request: GroupRequest, assembler: StepAssembler, t0: float) -> Group:
        """Return the collected group (fails as the assembler says: another temperature)."""
        with self._cond:
            assembler.check()
            final = [assembler.final_observation(i) for i in range(request.num_envs)]
            stats = group_stats(assembler.buffer, assembler.max_stage, assembler.num_stages,
                                time.monotonic() - t0, assembler.stale_actions)
            return Group(request=request, buffer=assembler.buffer, stats=stats,
                         final_observations=final, valid=list(assembler.valid),
                         reasons=list(assembler.reasons))

    def _pick_envs(self, n: int) -> list[str]:
        """Pick the first ``n`` environments whose reset service is up (any may come or go).

        The wait is logged every ``step_timeout_s`` (which environments are missing), and a
        missing environment's service client is replaced then: a client that stopped matching
        a respawned server must not keep the graph waiting silently (``_renew_client``).
        """
        start = time.monotonic()
        deadline = start + self.startup_timeout
        next_report = start + self.step_timeout
        while True:
            if self.discover:
                self._discover()
            alive = [e for e in self.env_ids if self.reset_clients[e].service_is_ready()]
            if len(alive) >= n:
                return alive[:n]
            now = time.monotonic()
            if now > deadline:
                raise TimeoutError(f'{len(alive)} of the {n} environments a group needs are up '
                                   f'after {self.startup_timeout:.0f} s (alive: {alive}; '
                                   f'known: {self.env_ids})')
            if now >= next_report:
                missing = [e for e in self.env_ids if e not in alive]
                self.node.get_logger().warning(
                    f'{len(alive)} of the {n} environments a group needs are up after '
                    f'{now - start:.0f} s (missing: {missing}); renewing their service clients '
                    f'(fails after {self.startup_timeout:.0f} s)')
                for e in missing:
                    self._renew_client(e)
                next_report = now + self.step_timeout
            time.sleep(0.2)

    def _discover(self) -> None:
        """Add every environment whose reset service the ROS graph shows and we do not know.

        An environment node serves ``/<id>/reset`` (``ResetEnv``) with ``<id>`` its namespace,
        the id its messages carry; on another host it appears here once DDS discovery has
        matched it. One that leaves stays known but is not picked while its service is down.
        """
        for name, types in self.node.get_service_names_and_types():
            env = name[1:-len('/reset')] if name.endswith('/reset') else ''
            if RESET_TYPE not in types or not env or env in self.reset_clients:
                continue
            self.env_ids.append(env)
            self.reset_clients[env] = self.node.create_client(ResetEnv, f'/{env}/reset')
            self.end_clients[env] = self.node.create_client(EndEpisode, f'/{env}/end_episode')
            self.node.get_logger().info(f'environment {env!r} joined (found in the ROS graph)')

    def _renew_client(self, env: str) -> None:
        """Replace ``env``'s reset and end_episode clients with new ones (new endpoints).

        Why: after an environment node is SIGKILLed and respawned, the old clients have been
        seen to stay unmatched to the new server for minutes (a DDS discovery stall; the new
        node itself was up); new endpoints are discovered afresh.
        """
        for clients, srv_type, name in ((self.reset_clients, ResetEnv, 'reset'),
                                        (self.end_clients, EndEpisode, 'end_episode')):
            old = clients[env]
            clients[env] = self.node.create_client(srv_type, f'/{env}/{name}')
            self.node.destroy_client(old)

    def _run_until_complete(self, assemblers: Sequence[StepAssembler]) -> None:
        now = time.monotonic()
        with self._cond:
            for a in assemblers:
                self._last_progress[a.group_id] = now
        timed_out = set()  # groups whose every trajectory timed out
        while True:
            with self._cond:
                for a in assemblers:
                    a.check()  # an action at another temperature fails the group now
                if all(a.is_complete for a in assemblers):
                    break
            gone = [(a, self._gone(a)) for a in assemblers]  # outside the lock: asks the graph
            to_end = []
            with self._cond:
                for a, lost in gone:
                    for i in lost:
                        self._abandon(a, i, 'env_died', 'left the graph')
                for a in assemblers:
                    if a.is_complete:
                        continue
                    if time.monotonic() - self._last_progress[a.group_id] > self.step_timeout:
                        stuck = [i for i in range(len(a.env_ids)) if a.buffer.is_active(i)]
                        missing = '; '.join(str(m) for m in a.missing()) or 'nothing'
                        if len(stuck) == len(a.env_ids):
                            timed_out.add(a.group_id)
                            if self._all_timed_out + 1 >= 2 and len(timed_out) == len(assemblers):
                                raise TimeoutError(
                                    f'group {a.group_id}: no step joined for '
                                    f'{self.step_timeout:.0f} s, the second time in a row '
                                    f'every group timed out; waiting for {missing} '
                                    f'(dropped: {dict(a.counts)})')
                        for i in stuck:
                            self._abandon(a, i, 'timeout',
                                          f'no step for {self.step_timeout:.0f} s ({missing})')
                        self._last_progress[a.group_id] = time.monotonic()
                    to_end += [(a, i) for i in a.to_end()]
                if not to_end and not all(a.is_complete for a in assemblers):
                    self._cond.wait(0.2)
            for a, i in to_end:
                self._end(a, i)
        # Two collections in a row whose every group timed out: the graph is broken (e.g. no
        # policy node at all), not a trial.
        self._all_timed_out = self._all_timed_out + 1 if len(timed_out) == len(assemblers) else 0

    def _gone(self, assembler: StepAssembler) -> list[int]:
        """Trajectories still collecting whose environment left the graph (process died)."""
        return [i for i, e in enumerate(assembler.env_ids)
                if assembler.buffer.is_active(i) and not self.reset_clients[e].service_is_ready()]

    def _settle(self, assembler: StepAssembler) -> None:
        """End what still runs; give the ended episodes a moment to report (final obs)."""
        for i in assembler.to_end():
            self._end(assembler, i)
        n = len(assembler.env_ids)
        try:
            self._wait(lambda: all(assembler.env_done(i) for i in range(n)), SETTLE_S,
                       'the ended episodes')
        except TimeoutError:
            pass  # only the final observations wait on this; a missing one is tolerated

    def _abandon(self, assembler: StepAssembler, i: int, reason: str, why: str) -> None:
        """Give up trajectory i (under the lock); a dead environment is not asked to end."""
        env = assembler.env_ids[i]
        self.node.get_logger().warning(f'group {assembler.group_id}: {env} {why}; its trial '
                                       f'is masked ({reason})')
        assembler.abandon(i, reason)
        if reason == 'env_died':
            assembler.mark_end_requested(i)
        self._cond.notify_all()

    def _env_of(self, assembler: StepAssembler, i: int) -> str:
        """Return the environment serving trajectory i (``RobotCollector``: the one robot)."""
        return assembler.env_ids[i]

    def _end(self, assembler: StepAssembler, i: int) -> None:
        env = self._env_of(assembler, i)
        req = EndEpisode.Request(episode_id=assembler.episode[i] or 0,
                                 reason=EndReason.GROUP_DONE.value)
        with self._cond:
            assembler.mark_end_requested(i)
            abandoned = assembler.abandoned[i]
        try:
            # an abandoned trial's environment may be hung or gone: ask briefly
            res = self._call(self.end_clients[env], req, 5.0 if abandoned else 30.0)
        except TimeoutError as exc:
            if not abandoned:
                raise
            self.node.get_logger().warning(f'{env}: end_episode: {exc}')
            return
        if not res.success:
            self.node.get_logger().warning(f'{env}: end_episode refused: {res.message}')

    def close(self) -> None:
        with self._cond:
            self.assemblers = {}
        self._reset_pool.shutdown(wait=False)

    # --- helpers ----------------------------------------------------------------------------
    def _wait(self, predicate, timeout: float, what: str) -> None:
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f'timed out after {timeout:.0f} s waiting for {what}')
                self._cond.wait(min(left, 0.5))

    def _reset(self, env: str, request):
        """Reset ``env``, asking again each ``step_timeout_s`` it has not answered.

        An environment node killed while it resets takes the request with it, and the
        respawned node never sees it: waiting ``startup_timeout_s`` for that answer stalled the
        graph (and then failed the run). So the request is sent again: a node that is only slow
        (building LIBERO) answers the repeated request with the episode it just started
        (sim_env_node treats the same request during that episode as the same reset). Each
        retry goes through a new client (``_renew_client``).
        """
        client = self.reset_clients[env]
        deadline = time.monotonic() + self.startup_timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not client.wait_for_service(timeout_sec=left):
                raise TimeoutError(f'service {client.srv_name} not answered in '
                                   f'{self.startup_timeout:.0f} s')
            res = self._ask(client, request,
                            min(self.step_timeout, max(0.0, deadline - time.monotonic())))
            if res is not None:
                return res
            self.node.get_logger().warning(
                f'{env}: no answer to the reset in {self.step_timeout:.0f} s; asking again '
                'through a new client (a node that died with the request never answers it)')
            self._renew_client(env)
            client = self.reset_clients[env]

    @staticmethod
    def _ask(client, request, wait: float):
        """Send ``request``; return the answer, or None (request withdrawn) after ``wait`` s."""
        future = client.call_async(request)
        done = threading.Event()
        future.add_done_callback(lambda _: done.set())
        if done.wait(wait):
            return future.result()
        if hasattr(client, 'remove_pending_request'):  # not on every distribution
            client.remove_pending_request(future)
        return None

    def _call(self, client, request, timeout: float):
        if not client.wait_for_service(timeout_sec=timeout):
            raise TimeoutError(f'service {client.srv_name} not available after {timeout:.0f} s')
        res = self._ask(client, request, timeout)
        if res is None:
            raise TimeoutError(f'service {client.srv_name} did not answer in {timeout:.0f} s')
        return res
