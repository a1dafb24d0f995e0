# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""QoS profiles that publishers and subscribers in different nodes must agree on."""

from rclpy.qos import DurabilityPolicy, QoSProfile, ReliabilityPolicy

# State that a late joiner must still receive (the served policy version, the newest adapter):
# the last message is kept for subscribers that appear later.
LATCHED = QoSProfile(depth=1, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)


def reliable(depth: int) -> QoSProfile:
    """Reliable, volatile, keep-last ``depth``: every step of a trajectory must arrive."""
    return QoSProfile(depth=depth, reliability=ReliabilityPolicy.RELIABLE)
