# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The ROS 2 layer: message conversions, QoS, nodes, node graphs and the process runner.

Everything ROS-specific lives here; it calls the ROS-free core (algo, policy, sim, real, data,
bags, training) and nothing in the core imports it.
"""
