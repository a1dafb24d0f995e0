# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The ``sim`` section of a robot profile: what ``sim_robot`` simulates (ROS-free).

Only ``sim_robot`` reads it (config/robots/sim_franka.yaml documents each field); the bridge
and the adapter see an ordinary profile. A bad value is a ``ValueError`` naming the file and
the field.
"""

from __future__ import annotations

from dataclasses import dataclass

from tgrpo_ros.real.robot_profile import RobotProfile

ENCODINGS = ('rgb8', 'bgr8')


@dataclass(frozen=True)
class SimRobotConfig:
    suite: str
    task: str
    image_size: int
    image_encoding: str
    object_pose_topic: str
    pose_target_topic: str

    def object_topic(self, name: str) -> str:
        return self.object_pose_topic.format(name=name)


def sim_config(profile: RobotProfile) -> SimRobotConfig:
    """Return the profile's validated ``sim`` section; raise if it has none."""
    data = profile.extra.get('sim')
    where = f'{profile.source}: field'
    if not isinstance(data, dict):
        raise ValueError(f"{profile.source}: profile {profile.name} has no 'sim' section, so "
                         f'sim_robot cannot simulate it (see config/robots/sim_franka.yaml)')

    def text(key, default=None):
        value = data.get(key, default)
        if not isinstance(value, (str, int)) or isinstance(value, bool) or value == '':
            raise ValueError(f"{where} 'sim.{key}' = {value!r} must be a non-empty string")
        return str(value)

    size = data.get('image_size', 128)
    if isinstance(size, bool) or not isinstance(size, int) or not 8 <= size <= 1024:
        raise ValueError(f"{where} 'sim.image_size' = {size!r} must be an integer in [8, 1024]")
    encoding = text('image_encoding', 'rgb8')
    if encoding not in ENCODINGS:
        raise ValueError(f"{where} 'sim.image_encoding' = {encoding!r} must be one of "
                         f'{list(ENCODINGS)}')
    topic = text('object_pose_topic', '/objects/{name}/pose')
    if '{name}' not in topic:
        raise ValueError(f"{where} 'sim.object_pose_topic' = {topic!r} must contain {{name}}")
    return SimRobotConfig(suite=text('suite', 'libero_object'), task=text('task', '0'),
                          image_size=size, image_encoding=encoding, object_pose_topic=topic,
                          pose_target_topic=text('pose_target_topic', 'pose_target'))
