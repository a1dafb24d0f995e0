# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The generated interfaces import from rclpy and carry messages between two processes."""

from __future__ import annotations

import subprocess
import sys
import time

from helpers import child_env
import numpy as np
import pytest
import rclpy
from rclpy.node import Node
from rclpy.qos import QoSProfile, ReliabilityPolicy

pytestmark = pytest.mark.ros


def test_interfaces_import_with_documented_fields():
    from tgrpo_ros.msg import (Action, AdapterAnnouncement, Ids, Observation, PolicyVersion,
                               StepResult)
    from tgrpo_ros.srv import EndEpisode, ResetEnv

    ids = Ids(env_id='env0', episode_id=3, step=7, group_id=2)
    obs = Observation(ids=ids, camera_names=['agentview'], state_names=['eef_pos_x'],
                      state=[0.5], instruction='pick up the ketchup', task='libero_object/x')
    assert obs.ids.step == 7 and list(obs.state) == [0.5]
    act = Action(ids=ids, action=[0.0] * 7, token_ids=[31744] * 7, token_logprobs=[-1.0] * 7,
                 policy_version=PolicyVersion(version=4, sha256='ab' * 32))
    assert act.policy_version.version == 4 and len(act.token_ids) == 7
    res = StepResult(ids=ids, reward=1.5, stage=2, num_stages=5, success=False, done=False)
    assert res.num_stages == 5
    ann = AdapterAnnouncement(version=PolicyVersion(version=1, sha256='0' * 64), path='/tmp/a')
    assert ann.path == '/tmp/a'
    req = ResetEnv.Request(suite='libero_object', task='0', init_state_index=3, seed=7,
                           group_id=9, max_steps=0)
    assert req.init_state_index == 3 and hasattr(ResetEnv.Response(), 'episode_id')
    assert hasattr(EndEpisode.Request(), 'reason')
    # The type support is real: CDR serialisation round-trips every field.
    from rclpy.serialization import deserialize_message, serialize_message
    back = deserialize_message(serialize_message(act), Action)
    assert back == act and back.token_ids.tolist() == [31744] * 7


_PUBLISHER = r"""
import sys, rclpy
from rclpy.node import Node
from sensor_msgs.msg import Image
from tgrpo_ros.msg import Observation, Ids
rclpy.init()
node = Node('roundtrip_publisher')
pub = node.create_publisher(Observation, 'observation', 10)
# Wait for the test's subscriber (discovery), then send three observations.
while pub.get_subscription_count() == 0:
    rclpy.spin_once(node, timeout_sec=0.05)
for step in range(3):
    img = Image(height=4, width=5, encoding='rgb8', step=15,
                data=bytes((step * 60 + i) % 256 for i in range(60)))
    msg = Observation(ids=Ids(env_id='env0', episode_id=1, step=step, group_id=5),
                      camera_names=['agentview'], images=[img],
                      state_names=['eef_pos_x', 'eef_pos_y'], state=[0.1 * step, -0.2],
                      instruction='put the bowl on the plate', task='libero_object/t0')
    pub.publish(msg)
    rclpy.spin_once(node, timeout_sec=0.05)
# Stay alive until the test has read everything (it kills us).
while rclpy.ok():
    rclpy.spin_once(node, timeout_sec=0.1)
"""


def test_observation_round_trip_between_processes(ros_domain):
    from tgrpo_ros.msg import Observation

    proc = subprocess.Popen([sys.executable, '-c', _PUBLISHER], env=child_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    rclpy.init()
    node = Node('roundtrip_subscriber')
    received: list = []
    qos = QoSProfile(depth=10, reliability=ReliabilityPolicy.RELIABLE)
    node.create_subscription(Observation, 'observation', received.append, qos)
    try:
        deadline = time.monotonic() + 60.0
        while len(received) < 3 and time.monotonic() < deadline:
            assert proc.poll() is None, proc.stdout.read().decode()
            rclpy.spin_once(node, timeout_sec=0.1)
        assert [m.ids.step for m in received] == [0, 1, 2]
        last = received[-1]
        assert last.ids.env_id == 'env0' and last.ids.group_id == 5
        assert last.instruction == 'put the bowl on the plate'
        np.testing.assert_allclose(last.state, [0.2, -0.2])
        img = last.images[0]
        assert (img.height, img.width, img.encoding, img.step) == (4, 5, 'rgb8', 15)
        assert bytes(img.data) == bytes((120 + i) % 256 for i in range(60))
    finally:
        node.destroy_node()
        rclpy.try_shutdown()
        proc.kill()
        proc.wait()
