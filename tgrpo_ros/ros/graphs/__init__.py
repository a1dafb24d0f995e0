# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Graph descriptions, one module per graph (see tgrpo_ros.ros.graph)."""
