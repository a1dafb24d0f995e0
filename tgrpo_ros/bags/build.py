# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Build recordable messages (rosbags objects) from numpy and the ROS-free types, without ROS.

Used to write bags from Python (tests, converters, simulations run in-process) with the same
types the nodes publish: ``observation_msg`` / ``action_msg`` / ``step_result_msg`` mirror
``tgrpo_ros/msg``; ``image_msg`` / ``compressed_image_msg`` / ``joint_state_msg`` /
``pose_msg`` / ``string_msg`` / ``float_array_msg`` the standard ones.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from tgrpo_ros.bags.typestore import project_typestore
from tgrpo_ros.contract import DoneReason
from tgrpo_ros.observation import Observation

_NS = 1_000_000_000


def _t(name: str):
    return project_typestore().types[name]


def header(stamp_ns: int, frame_id: str = ''):
    time = _t('builtin_interfaces/msg/Time')(sec=int(stamp_ns // _NS), nanosec=int(stamp_ns % _NS))
    return _t('std_msgs/msg/Header')(stamp=time, frame_id=frame_id)


def image_msg(array: np.ndarray, stamp_ns: int = 0, encoding: str = 'rgb8',
              frame_id: str = 'camera'):
    """sensor_msgs/Image with dense rows; ``encoding`` is written as given (not checked)."""
    array = np.ascontiguousarray(array)
    height, width = array.shape[:2]
    step = array.nbytes // max(1, height)
    return _t('sensor_msgs/msg/Image')(
        header=header(stamp_ns, frame_id), height=height, width=width, encoding=encoding,
        is_bigendian=0, step=step, data=np.frombuffer(array.tobytes(), dtype=np.uint8))


def compressed_image_msg(array: np.ndarray, stamp_ns: int = 0, fmt: str = 'jpeg',
                         quality: int = 95, frame_id: str = 'camera'):
    """sensor_msgs/CompressedImage (JPEG or PNG) of an RGB array, image_transport style."""
    buf = io.BytesIO()
    Image.fromarray(np.asarray(array, dtype=np.uint8)).save(
        buf, format='JPEG' if fmt == 'jpeg' else 'PNG', **({'quality': quality}
                                                            if fmt == 'jpeg' else {}))
    return _t('sensor_msgs/msg/CompressedImage')(
        header=header(stamp_ns, frame_id), format=f'rgb8; {fmt} compressed rgb8',
        data=np.frombuffer(buf.getvalue(), dtype=np.uint8))


def ids_msg(env_id: str, episode_id: int, step: int, group_id: int = 0):
    return _t('tgrpo_ros/msg/Ids')(env_id=env_id, episode_id=int(episode_id), step=int(step),
                                   group_id=int(group_id))


def version_msg(version: int = 0, sha256: str = ''):
    return _t('tgrpo_ros/msg/PolicyVersion')(version=int(version), sha256=sha256)


def observation_msg(obs: Observation, env_id: str, episode_id: int, step: int, stamp_ns: int,
                    frame_id: str = 'base_link', group_id: int = 0):
    """tgrpo_ros/msg/Observation from an Observation (images as raw rgb8 sensor_msgs/Image).

    The message's image list is sensor_msgs/Image; compressed cameras go on their own
    CompressedImage topics (``compressed_image_msg``).
    """
    names = list(obs.images)
    return _t('tgrpo_ros/msg/Observation')(
        header=header(stamp_ns, frame_id), ids=ids_msg(env_id, episode_id, step, group_id),
        camera_names=names, images=[image_msg(obs.images[n], stamp_ns) for n in names],
        state_names=list(obs.state_names), state=np.asarray(obs.state, dtype=np.float64),
        instruction=obs.instruction, task=obs.task)


def action_msg(action: np.ndarray, env_id: str, episode_id: int, step: int, stamp_ns: int,
               token_ids: np.ndarray | None = None, logprobs: np.ndarray | None = None,
               temperature: float = 0.0, version: int = 0, sha256: str = '',
               frame_id: str = 'base_link'):
    return _t('tgrpo_ros/msg/Action')(
        header=header(stamp_ns, frame_id), ids=ids_msg(env_id, episode_id, step),
        action=np.asarray(action, dtype=np.float64),
        token_ids=np.asarray([] if token_ids is None else token_ids, dtype=np.int64),
        token_logprobs=np.asarray([] if logprobs is None else logprobs, dtype=np.float32),
        temperature=float(temperature), policy_version=version_msg(version, sha256))


def step_result_msg(env_id: str, episode_id: int, step: int, stamp_ns: int, reward: float = 0.0,
                    done: bool = False, success: bool = False,
                    done_reason: DoneReason | str = DoneReason.RUNNING,
                    stage: int = 0, num_stages: int = 0, version: int = 0):
    return _t('tgrpo_ros/msg/StepResult')(
        header=header(stamp_ns, 'base_link'), ids=ids_msg(env_id, episode_id, step),
        reward=float(reward), stage=int(stage), num_stages=int(num_stages), success=bool(success),
        done=bool(done), done_reason=DoneReason.parse(done_reason).value,
        policy_version=version_msg(version))


def joint_state_msg(names: list[str], positions, stamp_ns: int = 0):
    pos = np.asarray(positions, dtype=np.float64)
    return _t('sensor_msgs/msg/JointState')(
        header=header(stamp_ns, 'base_link'), name=list(names), position=pos,
        velocity=np.zeros(0), effort=np.zeros(0))


def pose_msg(position, quat_xyzw, stamp_ns: int = 0, frame_id: str = 'base_link'):
    """geometry_msgs/PoseStamped."""
    p = _t('geometry_msgs/msg/Point')(x=float(position[0]), y=float(position[1]),
                                      z=float(position[2]))
    q = _t('geometry_msgs/msg/Quaternion')(x=float(quat_xyzw[0]), y=float(quat_xyzw[1]),
                                           z=float(quat_xyzw[2]), w=float(quat_xyzw[3]))
    return _t('geometry_msgs/msg/PoseStamped')(header=header(stamp_ns, frame_id),
                                               pose=_t('geometry_msgs/msg/Pose')(position=p,
                                                                                 orientation=q))


def tf_msg(edges, stamp_ns: int = 0):
    """tf2_msgs/TFMessage from (parent, child, position (3,), quaternion x, y, z, w) tuples."""
    out = []
    for parent, child, pos, q in edges:
        tr = _t('geometry_msgs/msg/Transform')(
            translation=_t('geometry_msgs/msg/Vector3')(x=float(pos[0]), y=float(pos[1]),
                                                        z=float(pos[2])),
            rotation=_t('geometry_msgs/msg/Quaternion')(x=float(q[0]), y=float(q[1]),
                                                        z=float(q[2]), w=float(q[3])))
        out.append(_t('geometry_msgs/msg/TransformStamped')(
            header=header(stamp_ns, parent), child_frame_id=child, transform=tr))
    return _t('tf2_msgs/msg/TFMessage')(transforms=out)


def string_msg(text: str):
    return _t('std_msgs/msg/String')(data=text)


def float_array_msg(values, double: bool = True):
    layout = _t('std_msgs/msg/MultiArrayLayout')(dim=[], data_offset=0)
    name = 'std_msgs/msg/Float64MultiArray' if double else 'std_msgs/msg/Float32MultiArray'
    return _t(name)(layout=layout, data=np.asarray(values, np.float64 if double else np.float32))
