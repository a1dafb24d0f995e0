# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The real arm without ROS: robot profiles, the safety filter and input synchronisation."""
