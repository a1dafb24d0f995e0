# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 bags without rosbag2: record, read, evaluate policies offline, turn into datasets.

Everything here except ``tgrpo_ros.ros.nodes.bag_recorder`` (the node) is free of ROS imports and
works from a plain Python install with ``rosbags``:

* ``typestore``: message types (ROS 2 Kilted + this package's .msg files + any .msg found in
  the ament index + definitions stored in bags) for serialising and deserialising CDR.
* ``writer``: ``BagWriter`` writes MCAP (default) or sqlite3 bags with rosbag2's metadata.yaml.
* ``reader``: ``BagReader`` with errors that name missing, truncated and unreadable bags;
  ``salvage`` reads the complete part of an MCAP file whose recording was cut off.
* ``recorder``: the ROS-free core of the recorder (which episodes to keep, by policy version),
  and ``recorder_node_spec`` to add the recorder to a node graph.
* ``topic_map``: the YAML file that says which recorded topics feed which policy input and
  what the recorded action is (examples: ``config/topic_maps/``).
* ``messages`` / ``pairing``: conversion of recorded messages, and streaming pairing of inputs
  with the recorded action (by ids or by time; actions from end-effector motion).
* ``metrics`` / ``evaluate`` / ``report``: offline evaluation of one or more policies.
* ``to_dataset``: recordings to the episode dataset ``tgrpo-ros sft`` reads (the format is
  ``tgrpo_ros.data.episodes``).
* ``build`` / ``synthetic``: messages from numpy, and recordings with known contents.
* Their commands live in ``tgrpo_ros.commands``: ``record`` (``tgrpo-ros record``),
  ``eval_bag`` (``tgrpo-ros eval-bag``), ``bags_to_dataset`` (``tgrpo-ros bags-to-dataset``).

Why there is no ``launch/offline_eval.launch.py``: offline evaluation is a batch job over files,
not a ROS graph. It starts no node, subscribes to nothing and needs no parameters server,
remapping or lifecycle; a launch file could only wrap the command in ``ExecuteProcess``, would
lose its exit status (0 = every bag evaluated, 1 = a bag failed) and its progress bar, and
needs the ``launch`` package that the wheels-only setup does not have. ``tgrpo-ros eval-bag``
(or ``python -m tgrpo_ros.commands.eval_bag``) is the tool. Recording, in contrast, is a node:
``ros2 run tgrpo_ros bag_recorder`` or ``tgrpo-ros record``, and ``recorder_node_spec`` puts it
into a graph (sim_train or real_deploy) so one launch command starts it with the rest.
"""
