# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""policy_node: observations in, actions out, for simulation and real robots alike.

Nothing here knows about simulation. Topics:

- subscribes ``observation`` (tgrpo_ros/Observation) from any number of environments;
  observations that arrive while the model is busy are answered together in one batched
  forward pass (up to ``max_batch``);
- publishes ``action`` (tgrpo_ros/Action) with the observation's ids and the policy version;
- publishes ``policy_version`` (tgrpo_ros/PolicyVersion, latched) whenever it changes;
- publishes ``policy_settings`` (std_msgs/String, latched): JSON of the settings a learner must
  share with it (``policy.temperature``, ``policy.lora_rank``, ``policy.lora_alpha``, ...);
- parameters: the ``policy`` settings, ``env.cameras`` and ``run.seed``
  (tgrpo_ros.training.settings; config/sim_train.yaml documents them);
- subscribes ``adapter_announcement`` (tgrpo_ros/AdapterAnnouncement): loads the announced
  adapter after checking its SHA-256; a bad or missing adapter keeps the old version and logs
  the error.
"""

from __future__ import annotations

import json
import sys
import threading

from rclpy.node import Node
from std_msgs.msg import Header, String
import torch

from tgrpo_ros.msg import Action, AdapterAnnouncement, Observation as ObservationMsg
from tgrpo_ros.msg import PolicyVersion as PolicyVersionMsg
from tgrpo_ros.ros.conversions import msg_to_observation, msg_version, version_msg
from tgrpo_ros.ros.qos import LATCHED, reliable
from tgrpo_ros.ros.node_main import run_node
from tgrpo_ros.ros.parameters import declare_settings, section_values
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
        self.max_batch = self.settings.max_batch
        s = self.settings
        if s.torch_threads > 0 and policy is None:  # shared: the learner set it
            torch.set_num_threads(s.torch_threads)
        if policy is None:
            policy = policy_from(s, tuple(v['env.cameras']), seed)
        self.policy = policy
        self.generator = torch.Generator().manual_seed(seed)
        self._pending: list[ObservationMsg] = []
        self._lock = threading.Lock()

        self.action_pub = self.create_publisher(Action, 'action', RELIABLE)
        self.version_pub = self.create_publisher(PolicyVersionMsg, 'policy_version', LATCHED)
        # What it samples with, so that a learner with other values refuses to train
        # (tgrpo_ros.training.settings.check_policy_agrees).
        self.settings_pub = self.create_publisher(String, 'policy_settings', LATCHED)
        self.settings_pub.publish(String(data=json.dumps(served_settings(self.settings))))
        self.create_subscription(ObservationMsg, 'observation', self._on_observation, RELIABLE)
        self.create_subscription(AdapterAnnouncement, 'adapter_announcement',
                                 self._on_announcement, LATCHED)
        # The timer drains whatever arrived while the previous batch was computed.
        self.create_timer(0.002, self._act)
        self._publish_version()
        self.get_logger().info(f'serving {s.model} version {self.policy.version.version}')

    def _publish_version(self) -> None:
        self.version_pub.publish(version_msg(self.policy.version))

    def _on_observation(self, msg: ObservationMsg) -> None:
        # Only the newest observation of each environment is worth answering: on a robot an
        # older frame is stale by the time the model is free (the adapter would refuse its
        # action); in simulation an environment has at most one observation waiting anyway.
        with self._lock:
            self._pending = [m for m in self._pending if m.ids.env_id != msg.ids.env_id]
            self._pending.append(msg)

    def _act(self) -> None:
        with self._lock:
            batch, self._pending = self._pending[:self.max_batch], self._pending[self.max_batch:]
        if not batch:
            return
        try:
            observations = [msg_to_observation(m) for m in batch]
            sample = self.policy.sample(observations, self.temperature, self.generator)
        except (ValueError, KeyError) as exc:  # a malformed observation: say which, act on none
            self.get_logger().error(f'cannot act on this batch: {exc}')
            return
        version = version_msg(sample.version)
        stamp = self.get_clock().now().to_msg()
        for j, m in enumerate(batch):
            self.action_pub.publish(Action(
                header=Header(stamp=stamp, frame_id=m.header.frame_id), ids=m.ids,
                action=[float(x) for x in sample.actions[j]],
                token_ids=[int(x) for x in sample.token_ids[j]],
                token_logprobs=[float(x) for x in sample.logprobs[j]],
                temperature=self.temperature, policy_version=version))

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
