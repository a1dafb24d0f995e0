# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
r"""Launch the real_deploy graph: camera_state_bridge, policy_node, arm_adapter.

The nodes, their parameters and the launch arguments all come from the graph description
``tgrpo_ros.ros.graphs.real_deploy`` (also read by ``tgrpo-ros launch real_deploy``) through
``tgrpo_ros.ros.launch_description.generate``, so the two ways of starting it cannot drift apart.
Example::

    ros2 launch tgrpo_ros real_deploy.launch.py robot_profile:=franka \
        model:=/models/openvla-libero adapter:=/runs/x/adapters/v12 device:=cuda \
        instruction:="pick up the ketchup and place it in the basket"

The adapter starts disarmed (arm_on_start defaults to false): hold the dead-man
(/arm_adapter/deadman, std_msgs/Bool true, renewed faster than the profile's timeout), then
call /arm_adapter/arm (std_srvs/Trigger).
"""

from tgrpo_ros.ros.launch_description import generate


def generate_launch_description():
    return generate('real_deploy')
