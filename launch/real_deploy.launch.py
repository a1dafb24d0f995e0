# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
r"""Launch the real_deploy graph: camera_state_bridge, policy_node, arm_adapter.

The nodes, their parameters and the launch arguments all come from the graph description
``tgrpo_ros.graphs.real_deploy`` (also read by ``tgrpo-ros launch real_deploy``), so the two
ways of starting it cannot drift apart. Example::

    ros2 launch tgrpo_ros real_deploy.launch.py robot_profile:=franka \
        model:=/models/openvla-libero adapter:=/runs/x/adapters/v12 device:=cuda \
        instruction:="pick up the ketchup and place it in the basket"

The adapter starts disarmed (arm_on_start defaults to false): hold the dead-man
(/arm_adapter/deadman, std_msgs/Bool true, renewed faster than the profile's timeout), then
call /arm_adapter/arm (std_srvs/Trigger).
"""

from pathlib import Path
import tempfile

from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, EmitEvent, OpaqueFunction, RegisterEventHandler
from launch.event_handlers import OnProcessExit
from launch.events import Shutdown
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node

from tgrpo_ros.graph import get_graph, PACKAGE
from tgrpo_ros.launcher import write_overrides

GRAPH = 'real_deploy'


def _nodes(context):
    graph = get_graph(GRAPH)
    values = graph.resolve_args({a.name: LaunchConfiguration(a.name).perform(context)
                                 for a in graph.args})
    folder = Path(tempfile.mkdtemp(prefix=f'tgrpo_ros_{GRAPH}_'))
    actions = []
    for spec in graph.build(values):
        overrides = write_overrides(spec, folder)
        node = Node(
            package=PACKAGE, executable=spec.executable,
            name=spec.name if spec.rename else None, namespace=spec.namespace or None,
            parameters=list(spec.params_files) + ([str(overrides)] if overrides else []),
            remappings=list(spec.remappings), output='screen', emulate_tty=True)
        actions.append(node)
        if spec.required:
            actions.append(RegisterEventHandler(OnProcessExit(
                target_action=node,
                on_exit=[EmitEvent(event=Shutdown(reason=f'{spec.name} exited'))])))
    return actions


def generate_launch_description():
    graph = get_graph(GRAPH)
    return LaunchDescription(
        [DeclareLaunchArgument(a.name, default_value=a.default, description=a.description)
         for a in graph.args] + [OpaqueFunction(function=_nodes)])
