# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 bags without rosbag2: record, read, evaluate policies offline, turn into datasets.

Everything here except ``recorder_node`` (used by ``tgrpo_ros.nodes.bag_recorder``) is free of
ROS imports and works from a plain Python install with ``rosbags``:

* ``typestore``: message types (ROS 2 Kilted + this package's .msg files + any .msg found in
  the ament index) for serialising and deserialising CDR.
* ``writer``: ``BagWriter`` writes MCAP (default) or sqlite3 bags with rosbag2's metadata.yaml.
* ``reader``: ``open_bag`` / ``BagReader`` with clear errors for missing, truncated and
  unreadable bags.
* ``recorder``: the ROS-free core of the recorder (which episodes to keep, buffering).
* ``topic_map``: the YAML file that says which recorded topics feed which policy input.
* ``messages``: conversion of recorded messages (images, joint states, poses, actions).
* ``pairing``: streaming, time- or id-based pairing of inputs with the recorded action.
* ``metrics`` / ``evaluate`` / ``report``: offline evaluation of one or more policies.
* ``dataset``: the episode dataset ``tgrpo-ros sft`` reads (format documented there).
"""
