# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
r"""Launch the real_train graph: online TGRPO on one arm, trials one after another.

The nodes, their parameters and the launch arguments come from the graph description
``tgrpo_ros.ros.graphs.real_train`` (also read by ``tgrpo-ros launch real_train``) through
``tgrpo_ros.ros.launch_description.generate``. Against the simulated arm (default)::

    ros2 launch tgrpo_ros real_train.launch.py task_geometry:=... reward_spec:=...

On a real arm: ``sim:=false robot_profile:=franka``; the operator node opens its terminal
interface (README, "Online training on a robot").
"""

from tgrpo_ros.ros.launch_description import generate


def generate_launch_description():
    return generate('real_train')
