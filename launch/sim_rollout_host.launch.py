# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""`ros2 launch tgrpo_ros sim_rollout_host.launch.py [envs:=K host:=NAME ...]`.

The nodes, parameters and arguments come from tgrpo_ros/ros/graphs/sim_rollout_host.py, the
same description `tgrpo-ros launch sim_rollout_host` starts where the ros2 CLI does not exist.
"""

from tgrpo_ros.ros.launch_description import generate


def generate_launch_description():
    return generate('sim_rollout_host')
