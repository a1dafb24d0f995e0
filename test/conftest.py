# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Shared fixtures: an isolated ROS 2 domain per test and how to start nodes in other processes."""

from __future__ import annotations

import random

import pytest


@pytest.fixture
def ros_domain(monkeypatch):
    """Give this test its own random ROS_DOMAIN_ID (and keep discovery on this host)."""
    domain = random.SystemRandom().randint(1, 101)
    monkeypatch.setenv('ROS_DOMAIN_ID', str(domain))
    monkeypatch.setenv('ROS_AUTOMATIC_DISCOVERY_RANGE', 'LOCALHOST')
    return domain
