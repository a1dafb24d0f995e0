# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Turn a graph description into a launch_ros LaunchDescription (full ROS 2 installs only).

Every ``launch/<graph>.launch.py`` is two lines around ``generate(graph_name)``, so the launch
files add nothing to the graph description that ``tgrpo-ros launch`` reads.
"""

from __future__ import annotations

from pathlib import Path
import tempfile

from tgrpo_ros.ros.graph import get_graph
from tgrpo_ros.ros.parent_death import DIE_WITH_PARENT_ENV
from tgrpo_ros.ros.runner import write_overrides


def generate(graph_name: str):
    """Return a LaunchDescription declaring the graph's arguments and starting its nodes."""
    # optional: launch exists only on a full ROS 2 install, not with the PyPI wheels
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction

    graph = get_graph(graph_name)
    declared = [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
                for a in graph.args]
    return LaunchDescription(declared + [OpaqueFunction(function=_nodes, args=[graph_name])])


def _nodes(context, graph_name: str):
    # optional: launch and launch_ros exist only on a full ROS 2 install
    from launch.actions import Shutdown
    from launch.substitutions import LaunchConfiguration
    from launch_ros.actions import Node

    graph = get_graph(graph_name)
    values = graph.resolve_args({a.name: LaunchConfiguration(a.name).perform(context)
                                 for a in graph.args})
    if graph.run_dir:
        params_dir = Path(graph.run_dir(values)) / 'params'
    else:
        params_dir = Path(tempfile.mkdtemp(prefix=f'tgrpo_ros_{graph_name}_'))
    actions = []
    for spec in graph.build(values):
        overrides = write_overrides(spec, params_dir)
        actions.append(Node(
            package='tgrpo_ros', executable=spec.executable,
            name=spec.name if spec.rename else None, namespace=spec.namespace or None,
            parameters=[*spec.params_files, *([str(overrides)] if overrides else [])],
            remappings=spec.remappings, output='screen',
            # a ros2 launch killed outright takes its nodes with it (parent_death.die_with_parent)
            additional_env={DIE_WITH_PARENT_ENV: '1'},
            respawn=spec.respawn, respawn_delay=spec.respawn_delay if spec.respawn else None,
            on_exit=Shutdown(reason=f'{spec.name} exited') if spec.required else None))
    return actions
