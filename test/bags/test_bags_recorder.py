# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The bag recorder: its ROS-free core, the node across processes, and the record CLI."""

from __future__ import annotations

import time

from helpers import start_node, stop_process
import numpy as np
import pytest
import yaml

from tgrpo_ros.bags import build as B
from tgrpo_ros.commands import record as record_cli
from tgrpo_ros.bags.reader import BagReader
from tgrpo_ros.bags.recorder import parse_versions, RecorderCore
from tgrpo_ros.bags.typestore import project_typestore
from tgrpo_ros.bags.writer import BagWriter
from tgrpo_ros.observation import Observation


def test_parse_versions():
    assert parse_versions('') is None and parse_versions('all') is None
    assert parse_versions('0, 5,10-12') == {0, 5, 10, 11, 12}
    for bad in ('x', '5-2', '1,-3'):
        with pytest.raises(ValueError, match='version'):
            parse_versions(bad)


def _episode(env, ep, version, t0, steps=3):
    """(topic, time, msgtype, cdr) of one episode: obs, action, result per step."""
    store = project_typestore()
    obs = Observation(images={'agentview': np.zeros((4, 4, 3), np.uint8)}, instruction='x')
    out = []
    for s in range(steps):
        t = t0 + 10 * s
        for topic, msg in ((f'/{env}/observation', B.observation_msg(obs, env, ep, s, t)),
                           (f'/{env}/action', B.action_msg(np.zeros(7), env, ep, s, t + 1,
                                                           version=version)),
                           (f'/{env}/step_result', B.step_result_msg(
                               env, ep, s, t + 2, done=s == steps - 1, version=version))):
            out.append((topic, t + (topic.endswith('action')) + 2 * topic.endswith('result'),
                        msg.__msgtype__, store.serialize_cdr(msg, msg.__msgtype__)))
    return out


def test_core_keeps_only_episodes_of_chosen_versions(tmp_path):
    writer = BagWriter(tmp_path / 'b', 'mcap').open()
    core = RecorderCore(writer, versions={1})
    for env in ('env0', 'env1'):
        for name, mt in (('observation', 'Observation'), ('action', 'Action'),
                         ('step_result', 'StepResult')):
            core.add_topic(f'/{env}/{name}', f'tgrpo_ros/msg/{mt}')
    core.add_topic('/chatter', 'std_msgs/msg/String')
    # env0 episode 1 runs version 0 and env1 episode 1 version 1, interleaved in time.
    stream = sorted(_episode('env0', 1, 0, 1000) + _episode('env1', 1, 1, 1003),
                    key=lambda m: m[1])
    done = [core.write(topic, t, data) for topic, t, _, data in stream]
    core.write('/chatter', 1001, project_typestore().serialize_cdr(B.string_msg('hi'),
                                                                    'std_msgs/msg/String'))
    stats = core.close()
    assert sum(done) == 2 and stats.episodes_done == 2
    assert stats.episodes_kept == 1 and stats.episodes_dropped == 1
    assert stats.messages_written == 9 + 1 and stats.messages_dropped == 9
    with BagReader(tmp_path / 'b') as r:
        got = [(t, m) for t, _, m in r.messages(list(r.topics))]
    assert {t for t, _ in got} == {'/env1/observation', '/env1/action', '/env1/step_result',
                                   '/chatter'}
    # The observation held back until the first action is in the bag, in time order.
    assert got[0][0] == '/chatter' and got[1][0] == '/env1/observation'


@pytest.mark.ros
def test_recorder_node_records_across_processes_and_stops_by_itself(tmp_path, ros_domain):
    import rclpy
    from rclpy.qos import qos_profile_sensor_data, QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message
    from std_msgs.msg import String
    from tgrpo_ros.msg import Action, Observation as ObsMsg, StepResult

    bag = tmp_path / 'live'
    proc = start_node('tgrpo_ros.ros.nodes.bag_recorder', '--ros-args', '-p', f'output:={bag}',
                      '-p', 'storage:=sqlite3', '-p', 'topics:=["/chatter", "/camera_like"]', '-p',
                      'policy_versions:=1', '-p', 'max_episodes:=2',
                      log_path=tmp_path / 'recorder.log')
    rclpy.init()
    node = rclpy.create_node('test_publisher')
    try:
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        pubs = {name: node.create_publisher(cls, f'/env0/{name}', qos) for name, cls in
                (('observation', ObsMsg), ('action', Action), ('step_result', StepResult))}
        chatter = node.create_publisher(String, '/chatter', 10)
        # A best-effort publisher (as camera drivers are) must be recorded too.
        camera = node.create_publisher(String, '/camera_like', qos_profile_sensor_data)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not (
                all(p.get_subscription_count() for p in pubs.values())
                and chatter.get_subscription_count() and camera.get_subscription_count()):
            rclpy.spin_once(node, timeout_sec=0.1)
        assert chatter.get_subscription_count(), (tmp_path / 'recorder.log').read_text()
        for i in range(5):
            chatter.publish(String(data=f'{i}'))
            camera.publish(String(data=f'frame {i}'))
        time.sleep(0.3)
        for ep, version in ((1, 0), (2, 1)):
            for topic, _, msgtype, data in _episode('env0', ep, version, 0):
                cls = {'tgrpo_ros/msg/Observation': ObsMsg, 'tgrpo_ros/msg/Action': Action,
                       'tgrpo_ros/msg/StepResult': StepResult}[msgtype]
                pubs[topic.rsplit('/', 1)[1]].publish(deserialize_message(bytes(data), cls))
                time.sleep(0.01)
        assert proc.wait(30) == 0, (tmp_path / 'recorder.log').read_text()
    finally:
        stop_process(proc)
        node.destroy_node()
        rclpy.try_shutdown()
    meta = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert meta['storage_identifier'] == 'sqlite3'
    with BagReader(bag) as r:
        counts = {t: i.count for t, i in r.topics.items()}
        actions = [m for _, _, m in r.messages(['/env0/action'])]
    assert counts['/env0/observation'] == 3 and counts['/env0/step_result'] == 3
    assert counts['/chatter'] == 5 and counts['/camera_like'] >= 4   # best effort: may drop
    qos = {t['topic_metadata']['name']: t['topic_metadata']['offered_qos_profiles'][0]
           for t in meta['topics_with_message_count']}
    assert qos['/camera_like']['reliability'] == 'best_effort'
    assert qos['/chatter']['reliability'] == 'reliable'
    assert {a.ids.episode_id for a in actions} == {2}
    assert {a.policy_version.version for a in actions} == {1}


def test_record_cli_help_and_bad_arguments(capsys):
    with pytest.raises(SystemExit) as exc:
        record_cli.main(['--help'])
    assert exc.value.code == 0 and 'examples:' in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        record_cli.main(['--policy-versions', 'ten'])
    assert exc.value.code == 2 and 'bad policy version list' in capsys.readouterr().err


@pytest.mark.ros
def test_record_cli_records_one_episode_in_the_root_namespace(tmp_path, ros_domain):
    """`tgrpo-ros record` as sim_train uses it: shared /observation, /action, /step_result."""
    import rclpy
    from rclpy.qos import QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message
    from tgrpo_ros.msg import Action, Observation as ObsMsg, StepResult

    bag = tmp_path / 'cli_bag'
    proc = start_node('tgrpo_ros.commands.record', '-o', str(bag), '--namespaces', '',
                      '--max-episodes', '1', '--compress', log_path=tmp_path / 'cli.log')
    rclpy.init()
    node = rclpy.create_node('cli_publisher')
    try:
        qos = QoSProfile(depth=100, reliability=ReliabilityPolicy.RELIABLE)
        classes = {'tgrpo_ros/msg/Observation': ObsMsg, 'tgrpo_ros/msg/Action': Action,
                   'tgrpo_ros/msg/StepResult': StepResult}
        pubs = {name: node.create_publisher(cls, f'/{name}', qos) for name, cls in
                (('observation', ObsMsg), ('action', Action), ('step_result', StepResult))}
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not all(
                p.get_subscription_count() for p in pubs.values()):
            rclpy.spin_once(node, timeout_sec=0.1)
        for topic, _, msgtype, data in _episode('env2', 7, 0, 0, steps=4):
            pubs[topic.rsplit('/', 1)[1]].publish(deserialize_message(bytes(data),
                                                                      classes[msgtype]))
            time.sleep(0.01)
        assert proc.wait(30) == 0, (tmp_path / 'cli.log').read_text()
    finally:
        stop_process(proc)
        node.destroy_node()
        rclpy.try_shutdown()
    meta = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert meta['storage_identifier'] == 'mcap' and meta['message_count'] == 12
    with BagReader(bag) as r:
        steps = [m.ids.step for _, _, m in r.messages(['/observation'])]
    assert steps == [0, 1, 2, 3]
