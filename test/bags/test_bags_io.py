# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Bags written and read with rosbags: both storages, custom types, images, broken files."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from tgrpo_ros.bags import build as B
from tgrpo_ros.bags.reader import BagError, BagReader
from tgrpo_ros.bags.typestore import ensure_type, project_typestore, UnknownMessageType
from tgrpo_ros.bags.writer import BagWriter
from tgrpo_ros.observation import Observation

STORAGES = ['mcap', 'sqlite3']


def _obs(rng, size=8):
    return Observation(images={'agentview': rng.integers(0, 255, (size, size, 3), np.uint8),
                               'wrist': rng.integers(0, 255, (size, size, 3), np.uint8)},
                       state=rng.normal(size=4), state_names=['a', 'b', 'c', 'd'],
                       instruction='open the drawer', task='libero_goal/x')


@pytest.mark.parametrize('storage', STORAGES)
def test_custom_types_round_trip_with_metadata(tmp_path, storage):
    rng = np.random.default_rng(1)
    observations = [_obs(rng) for _ in range(3)]
    with BagWriter(tmp_path / 'bag', storage) as w:
        for i, o in enumerate(observations):
            w.write_message('/env0/observation', 10 + i,
                            B.observation_msg(o, 'env0', 4, i, 10 + i))
            w.write_message('/env0/action', 20 + i, B.action_msg(
                np.linspace(-1, 1, 7), 'env0', 4, i, 20 + i, np.arange(7) + 768,
                np.full(7, -0.5), 0.0, version=3, sha256='ab' * 32))
        w.write_message('/cam/compressed', 30, B.compressed_image_msg(
            observations[0].images['agentview'], 30, fmt='png'))
    meta = yaml.safe_load((tmp_path / 'bag' / 'metadata.yaml').read_text())
    info = meta['rosbag2_bagfile_information']
    assert info['storage_identifier'] == storage
    assert info['version'] == 9 and info['message_count'] == 7
    assert isinstance(info['custom_data'], dict)   # rosbag2 reads a string map, not null
    topics = {t['topic_metadata']['name']: t for t in info['topics_with_message_count']}
    assert topics['/env0/observation']['message_count'] == 3
    # The type hash rosbags wrote is the one rosidl generated for our interface.
    share = Path(__file__).resolve().parents[2] / 'install' / 'tgrpo_ros' / 'share' / \
        'tgrpo_ros' / 'msg' / 'Observation.json'
    expected = json.loads(share.read_text())['type_hashes'][0]['hash_string']
    assert topics['/env0/observation']['topic_metadata']['type_description_hash'] == expected

    with BagReader(tmp_path / 'bag') as r:
        assert r.storage == storage
        assert r.topics['/env0/action'].count == 3
        got = list(r.messages(['/env0/observation', '/env0/action', '/cam/compressed']))
    assert [t for t, _, _ in got] == ['/env0/observation'] * 3 + ['/env0/action'] * 3 + [
        '/cam/compressed']
    for (_, ts, m), o in zip(got[:3], observations):
        assert m.ids.episode_id == 4 and m.camera_names == ['agentview', 'wrist']
        assert bytes(m.images[1].data) == o.images['wrist'].tobytes()
        np.testing.assert_array_equal(m.state, o.state)
    a = got[3][2]
    assert a.policy_version.version == 3 and list(a.token_ids) == list(range(768, 775))
    from tgrpo_ros.data.images import message_to_rgb8
    np.testing.assert_array_equal(message_to_rgb8(got[-1][2]), observations[0].images['agentview'])


@pytest.mark.ros
@pytest.mark.parametrize('storage', STORAGES)
def test_rclpy_serialized_bytes_are_compatible(tmp_path, storage):
    """What a raw rclpy subscription delivers is what we store, and rclpy reads ours."""
    from rclpy.serialization import deserialize_message, serialize_message
    from tgrpo_ros.msg import Action
    msg = Action()
    msg.ids.env_id, msg.ids.episode_id, msg.ids.step = 'env3', 9, 17
    msg.action = [0.1, -0.2, 0.3, 0.0, 0.0, 0.5, 1.0]
    msg.token_ids = list(range(31744, 31751))
    with BagWriter(tmp_path / 'b', storage) as w:
        w.add_topic('/env3/action', 'tgrpo_ros/msg/Action')
        w.write('/env3/action', 5, serialize_message(msg))
        w.write_message('/env3/action', 6, B.action_msg(msg.action, 'env3', 9, 18, 6))
    with BagReader(tmp_path / 'b') as r:
        raw = list(r.raw_messages(['/env3/action']))
        decoded = list(r.messages(['/env3/action']))
    assert decoded[0][2].ids.step == 17 and list(decoded[0][2].token_ids) == list(msg.token_ids)
    back = deserialize_message(bytes(raw[1][3]), Action)
    assert back.ids.step == 18 and list(back.action) == pytest.approx(msg.action)


def test_single_storage_file_without_metadata_is_readable(tmp_path):
    with BagWriter(tmp_path / 'b', 'mcap') as w:
        w.write_message('/s', 1, B.string_msg('hello'))
    (tmp_path / 'b' / 'metadata.yaml').unlink()
    with BagReader(tmp_path / 'b') as r:       # the folder's only .mcap is used
        assert [m.data for _, _, m in r.messages(['/s'])] == ['hello']


def test_truncated_mcap_names_the_problem(tmp_path):
    rng = np.random.default_rng(0)
    with BagWriter(tmp_path / 'b', 'mcap') as w:
        for i in range(20):
            w.write_message('/env0/observation', i, B.observation_msg(_obs(rng, 64), 'env0', 1,
                                                                        i, i))
    f = tmp_path / 'b' / 'b.mcap'
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(BagError, match='truncated'):
        BagReader(tmp_path / 'b')


def test_truncated_mcap_yields_its_complete_chunks(tmp_path):
    """A recording cut off mid-file (no footer, no metadata.yaml) still gives what was whole."""
    rng = np.random.default_rng(0)
    with BagWriter(tmp_path / 'b', 'mcap') as w:      # 1 MiB chunks: ~3 messages each
        for i in range(20):
            w.write_message('/env0/observation', i, B.observation_msg(_obs(rng, 256), 'env0', 1,
                                                                        i, i))
    f = tmp_path / 'b' / 'b.mcap'
    f.write_bytes(f.read_bytes()[: f.stat().st_size * 2 // 3])
    (tmp_path / 'b' / 'metadata.yaml').unlink()
    with BagReader(tmp_path / 'b') as r:
        assert 'truncated' in r.truncated_note and 'complete messages' in r.truncated_note
        steps = [m.ids.step for _, _, m in r.messages(['/env0/observation'])]
    assert 6 <= len(steps) < 20 and steps == list(range(len(steps)))


def test_truncated_mcap_with_messages_out_of_time_order_yields_them_sorted(tmp_path):
    """A cut-off MCAP whose messages are out of log-time order gives its chunks, sorted.

    MCAP allows any order (rosbag2 writes messages as they arrive).
    """
    rng = np.random.default_rng(0)
    # step i is written i-th, stamped out of order within and across chunks (~3 per chunk)
    stamp = {i: 1000 + (i * 7) % 20 for i in range(20)}
    with BagWriter(tmp_path / 'b', 'mcap') as w:
        for i in range(20):
            w.write_message('/env0/observation', stamp[i],
                            B.observation_msg(_obs(rng, 256), 'env0', 1, i, stamp[i]))
    f = tmp_path / 'b' / 'b.mcap'
    f.write_bytes(f.read_bytes()[: f.stat().st_size * 2 // 3])
    (tmp_path / 'b' / 'metadata.yaml').unlink()
    with BagReader(tmp_path / 'b') as r:
        assert 'truncated' in r.truncated_note
        got = [(ts, m.ids.step) for _, ts, m in r.messages(['/env0/observation'])]
    stamps = [ts for ts, _ in got]
    assert stamps == sorted(stamps)
    assert all(stamp[step] == ts for ts, step in got)
    # whole chunks in the order they were written: the first K messages, none lost or doubled
    assert 6 <= len(got) < 20 and sorted(step for _, step in got) == list(range(len(got)))


def test_truncated_sqlite3_names_the_problem(tmp_path):
    rng = np.random.default_rng(0)
    with BagWriter(tmp_path / 'b', 'sqlite3') as w:
        for i in range(20):
            w.write_message('/env0/observation', i, B.observation_msg(_obs(rng, 64), 'env0', 1,
                                                                        i, i))
    f = tmp_path / 'b' / 'b.db3'
    f.write_bytes(f.read_bytes()[: f.stat().st_size // 2])
    with pytest.raises(BagError, match='truncated or corrupt|truncated or incomplete'):
        with BagReader(tmp_path / 'b') as r:
            list(r.messages(['/env0/observation']))


def test_not_a_bag_and_missing_path(tmp_path):
    with pytest.raises(BagError, match='does not exist'):
        BagReader(tmp_path / 'nope')
    (tmp_path / 'empty').mkdir()
    with pytest.raises(BagError, match='not a ROS 2 bag'):
        BagReader(tmp_path / 'empty')


def test_writer_refuses_existing_folder_and_unknown_types(tmp_path):
    (tmp_path / 'x').mkdir()
    with pytest.raises(FileExistsError):
        BagWriter(tmp_path / 'x')
    with pytest.raises(ValueError, match='storage'):
        BagWriter(tmp_path / 'y', 'rosbag1')
    with pytest.raises(UnknownMessageType, match='no_such_pkg/msg/Thing'):
        ensure_type('no_such_pkg/Thing')


def test_types_from_the_ament_index_are_registered(tmp_path, monkeypatch):
    share = tmp_path / 'prefix' / 'share' / 'my_robot_msgs' / 'msg'
    share.mkdir(parents=True)
    (share / 'Gripper.msg').write_text('std_msgs/Header header\nfloat64 width\nPart[] parts\n')
    (share / 'Part.msg').write_text('string name\nuint8 KIND_A=1\nuint8 kind\n')
    monkeypatch.setenv('AMENT_PREFIX_PATH', str(tmp_path / 'prefix'))
    assert ensure_type('my_robot_msgs/Gripper') == 'my_robot_msgs/msg/Gripper'
    store = project_typestore()
    Gripper = store.types['my_robot_msgs/msg/Gripper']
    Part = store.types['my_robot_msgs/msg/Part']
    with BagWriter(tmp_path / 'b', 'mcap') as w:
        w.write_message('/gripper', 1, Gripper(header=B.header(1), width=0.04,
                                               parts=[Part(name='finger', kind=1)]))
    with BagReader(tmp_path / 'b') as r:
        (_, _, m), = list(r.messages(['/gripper']))
    assert m.width == 0.04 and m.parts[0].name == 'finger'
