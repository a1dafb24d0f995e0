# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The bag recorder as a node of any graph (``record:=<folder>`` of sim_train)."""

from __future__ import annotations

from tgrpo_ros.bags.recorder import parse_versions
from tgrpo_ros.ros.graph import NodeSpec


def recorder_node_spec(output: str, namespaces: tuple[str, ...] = ('',),
                       policy_versions: str = '', storage: str = 'mcap',
                       topics: tuple[str, ...] = ()):
    """Return a ``NodeSpec`` that adds the recorder to a node graph.

    The sim_train graph remaps every environment's topics to the shared ``/observation``,
    ``/action`` and ``/step_result``, hence the root namespace by default. Not required: the
    graph goes on if the recorder ends.
    """
    parse_versions(policy_versions)
    return NodeSpec('bag_recorder', 'bag_recorder', parameters={
        'output': output, 'storage': storage, 'namespaces': list(namespaces),
        'topics': list(topics) or [''], 'policy_versions': policy_versions}, required=False)
