# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""policy_node: observations in, actions out, for simulation and real robots alike.

Nothing here knows about simulation. Topics:

- subscribes ``observation`` (tgrpo_ros/Observation) from any number of environments and
  answers the observations of one group with one batched forward pass (up to
  ``policy.max_batch``): as soon as every environment still running in the group has sent
  its observation, or ``policy.batch_window_s`` after the first arrived, whichever comes first
  (the rule, ROS-free: tgrpo_ros.policy.batching; 0 = whatever arrived within a 2 ms tick);
- subscribes ``step_result`` (tgrpo_ros/StepResult): an environment whose episode is done is
  not waited for;
- publishes ``action`` (tgrpo_ros/Action) with the observation's ids and the policy version;
- publishes ``policy_version`` (tgrpo_ros/PolicyVersion, latched) whenever it changes;
- publishes ``policy_settings`` (std_msgs/String, latched): JSON of the settings a learner must
  share with it (``policy.temperature``, ``policy.lora_rank``, ``policy.lora_alpha``, ...);
- parameters: the ``policy`` settings, ``env.cameras`` and ``run.seed``
  (tgrpo_ros.training.settings; config/sim_train.yaml documents them);
- subscribes ``adapter_announcement`` (tgrpo_ros/AdapterAnnouncement, latched): loads the
  announced adapter after checking its SHA-256; a bad or missing adapter keeps the old version
  and logs the error. The subscription is transient-local, so a policy node started again
  (after a crash; sim_train respawns it) loads the learner's latest announcement and serves
  that version, not the start.

Sampling noise: the generator is seeded from (``run.seed``, policy version, group id)
(``tgrpo_ros.training.collector.sampler_seed``) whenever a batch's group or the version
changes, so a restarted node or a resumed run draws the same noise for a group as one that ran
all along (given the same batches); nothing needs saving. A batch holds one group only, its
rows in environment-id order.
"""

from __future__ import annotations

from collections import OrderedDict
import json
import sys
import threading
import time

from rclpy.node import Node
from std_msgs.msg import Header, String
import torch

from tgrpo_ros.msg import Action, AdapterAnnouncement, Observation as ObservationMsg
from tgrpo_ros.msg import PolicyVersion as PolicyVersionMsg, StepResult
from tgrpo_ros.contract import ACTION_DIM
from tgrpo_ros.policy.batching import Batch, GroupBatcher, MAX_GROUPS
from tgrpo_ros.ros.conversions import MessageError, msg_to_observation, msg_version
from tgrpo_ros.ros.conversions import version_msg
from tgrpo_ros.ros.qos import LATCHED, reliable
from tgrpo_ros.ros.node_main import run_node
from tgrpo_ros.ros.parameters import declare_settings, section_values
from tgrpo_ros.training.collector import sampler_seed
from tgrpo_ros.training.policy_setup import policy_from
from tgrpo_ros.training.settings import PolicySettings, served_settings

RELIABLE = reliable(100)


class PolicyNode(Node):

    def __init__(self, policy=None, node_name: str = 'policy'):
        """Create the node; ``policy`` shares an already built policy (one-process placement)."""
        super().__init__(node_name)
        v = declare_settings(self, ['policy', 'env.cameras', 'run.seed'])
        self.settings = PolicySettings(**section_values(v, 'policy'))
        seed = v['run.seed']
        self.temperature = self.settings.temperature
        s = self.settings
        if s.torch_threads > 0 and policy is None:  # shared: the learner set it
            torch.set_num_threads(s.torch_threads)
        if policy is None:
            policy = policy_from(s, tuple(v['env.cameras']), seed)
        self.policy = policy
        self.seed = int(seed)
        # One noise stream per (version, group): groups collected at once interleave, and
        # each must draw what it would alone (tgrpo_ros.training.collector.sampler_seed).
        self._generators: OrderedDict[tuple[int, int], torch.Generator] = OrderedDict()
        self.batcher = GroupBatcher(s.batch_window_s, s.max_batch)
        self._lock = threading.Lock()

        self.action_pub = self.create_publisher(Action, 'action', RELIABLE)
        self.version_pub = self.create_publisher(PolicyVersionMsg, 'policy_version', LATCHED)
        # What it samples with, so that a learner with other values refuses to train
        # (tgrpo_ros.training.settings.check_policy_agrees).
        self.settings_pub = self.create_publisher(String, 'policy_settings', LATCHED)
        self.settings_pub.publish(String(data=json.dumps(served_settings(self.settings))))
        self.create_subscription(ObservationMsg, 'observation', self._on_observation, RELIABLE)
        self.create_subscription(StepResult, 'step_result', self._on_step_result, RELIABLE)
        self.create_subscription(AdapterAnnouncement, 'adapter_announcement',
                                 self._on_announcement, LATCHED)
        # A complete group is answered as its last observation arrives; the timer answers the
        # groups whose window closed (with a window of 0: whatever arrived meanwhile).
        self.create_timer(0.002, self._on_tick)
        self._publish_version()
        self.get_logger().info(f'serving {s.model} version {self.policy.version.version}')

    def _publish_version(self) -> None:
        self.version_pub.publish(version_msg(self.policy.version))

    def _on_observation(self, msg: ObservationMsg) -> None:
        # Only the newest observation of each environment is worth answering (the batcher
        # replaces an older one): on a robot an older frame is stale by the time the model is
        # free (the adapter would refuse its action); in simulation an environment has at most
        # one observation waiting anyway.
        i = msg.ids
        with self._lock:
            self.batcher.add(i.env_id, int(i.episode_id), int(i.step), int(i.group_id), msg,
                             time.monotonic())
            batches = self.batcher.take(time.monotonic(), complete_only=True)
        if batches:
            self._act(batches)

    def _on_step_result(self, msg: StepResult) -> None:
        if msg.done:
            i = msg.ids
            with self._lock:
                self.batcher.ended(i.env_id, int(i.episode_id), int(i.group_id))

    def _on_tick(self) -> None:
        with self._lock:
            batches = self.batcher.take(time.monotonic())
        if batches:
            self._act(batches)

    def _act(self, batches: list[Batch]) -> None:
        """Answer the observations of one or more groups with one forward pass.

        Each group draws its rows' noise from its own stream, so a row's action is what it
        would be in a pass of its group alone (several groups at once: G x N rows).
        """
        # Each message is checked alone, so one malformed observation costs only its own
        # answer: the others of the batch are still served.
        good, observations, uniforms = [], [], []
        for b in batches:
            ok = []
            for m in b.items:
                try:
                    observations.append(msg_to_observation(m))
                    ok.append(m)
                except MessageError as exc:
                    self._refuse(m, exc)
            if ok:
                uniforms.append(torch.rand((len(ok), ACTION_DIM), dtype=torch.float64,
                                           generator=self._generator_for(b.group_id)))
                good += ok
        if not good:
            return
        noise = torch.cat(uniforms)
        try:
            samples = [(good, self.policy.sample(observations, self.temperature,
                                                 uniforms=noise))]
        except (ValueError, KeyError, TypeError) as exc:
            # Well-formed, but not what this policy reads (a missing camera or state entry):
            # find which by sampling one at a time, and answer the others.
            if len(good) == 1:
                self._refuse(good[0], exc)
                return
            samples = []
            for j, (m, obs) in enumerate(zip(good, observations)):
                try:
                    samples.append(([m], self.policy.sample([obs], self.temperature,
                                                            uniforms=noise[j:j + 1])))
                except (ValueError, KeyError, TypeError) as one:
                    self._refuse(m, one)
        stamp = self.get_clock().now().to_msg()
        for msgs, sample in samples:
            version = version_msg(sample.version)
            for j, m in enumerate(msgs):
                self.action_pub.publish(Action(
                    header=Header(stamp=stamp, frame_id=m.header.frame_id), ids=m.ids,
                    action=[float(x) for x in sample.actions[j]],
                    token_ids=[int(x) for x in sample.token_ids[j]],
                    token_logprobs=[float(x) for x in sample.logprobs[j]],
                    temperature=self.temperature, policy_version=version))

    def _refuse(self, msg: ObservationMsg, exc: Exception) -> None:
        """Log why an observation gets no action (KeyError's str() adds quotes: use args)."""
        why = exc.args[0] if isinstance(exc, KeyError) and exc.args else exc
        self.get_logger().error(f'observation of {msg.ids.env_id!r} episode {msg.ids.episode_id} '
                                f'step {msg.ids.step} refused: {why}')

    def _generator_for(self, group_id: int) -> torch.Generator:
        """Return the noise stream of ``group_id`` under the served version (seeded once)."""
        stream = (int(self.policy.version.version), int(group_id))
        gen = self._generators.get(stream)
        if gen is None:
            gen = torch.Generator().manual_seed(sampler_seed(self.seed, *stream))
            self._generators[stream] = gen
            while len(self._generators) > MAX_GROUPS:  # the oldest streams are done
                self._generators.popitem(last=False)
        self._generators.move_to_end(stream)
        return gen

    def _on_announcement(self, msg: AdapterAnnouncement) -> None:
        expected = msg_version(msg.version)
        if expected == self.policy.version:
            # Already serving it (one-process placement: the learner saved it into this model).
            self._publish_version()
            return
        try:
            with self._lock:  # no batch starts while weights change
                self.policy.load_adapter(msg.path, expected=expected)
        except Exception as exc:  # noqa: BLE001 - any failure keeps the old version
            self.get_logger().error(f'adapter {msg.path} (version {expected.version}) rejected, '
                                    f'still serving {self.policy.version.version}: {exc}')
            return
        self.get_logger().info(f'now serving version {expected.version}')
        self._publish_version()


def main(args=None) -> int:
    return run_node(PolicyNode, args)


if __name__ == '__main__':
    sys.exit(main())
