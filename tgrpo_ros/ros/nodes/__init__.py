# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""ROS 2 nodes: thin wrappers that convert messages and call the ROS-free modules."""
