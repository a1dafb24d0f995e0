# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Turn recorded messages (rosbags objects) into policy inputs and environment-space actions.

Images go through ``tgrpo_ros.data.images`` (cv_bridge semantics; Image or CompressedImage
to upright rgb8). Poses become ``eef_pos_x/y/z`` [m] and ``eef_quat_x/y/z/w``; joint states
``joint_pos_<i>`` [rad] for arm joints and ``gripper_qpos_<i>`` [m] for the gripper joints named
in the topic map (the LIBERO adapter's state names); the end-effector pose may also come from
TF (``TfTree``: the chain of transforms from a parent to a child frame, /tf and /tf_static).
The end-effector motion between two
control steps becomes a 7-D OSC_POSE delta: translation / translation_scale, the axis-angle of
``R_next R_now^T`` / rotation_scale (both in the base frame, as robosuite's OSC applies them),
clipped to [-1, 1], then the gripper: +1 (close) when the summed finger opening of the next
step is below the threshold, else -1 (open).
"""

from __future__ import annotations

import numpy as np

from tgrpo_ros.data.images import message_to_rgb8
from tgrpo_ros.observation import Observation


class UnsupportedImageError(ValueError):
    """An image message whose encoding or format cannot become an RGB image."""


class MessageError(ValueError):
    """A recorded message is not of a type (or shape) the topic map's role accepts."""


def msg_kind(msg) -> str:
    return getattr(msg, '__msgtype__', type(msg).__name__)


def stamp_ns(msg) -> int | None:
    """header.stamp in ns, or None when the message has no header (or a zero stamp)."""
    header = getattr(msg, 'header', None)
    if header is None:
        return None
    ns = int(header.stamp.sec) * 1_000_000_000 + int(header.stamp.nanosec)
    return ns or None


def image_rgb(msg, topic: str) -> np.ndarray:
    """(H, W, 3) uint8 RGB from a sensor_msgs Image or CompressedImage."""
    kind = msg_kind(msg)
    if kind not in ('sensor_msgs/msg/Image', 'sensor_msgs/msg/CompressedImage'):
        raise MessageError(f'topic {topic}: a camera topic must carry sensor_msgs/Image or '
                           f'CompressedImage, got {kind}')
    try:
        return message_to_rgb8(msg)
    except ValueError as exc:
        raise UnsupportedImageError(f'topic {topic}: {exc}') from exc


def observation_from_msg(msg, topic: str) -> Observation:
    """Convert a tgrpo_ros/msg/Observation to the ROS-free Observation."""
    if msg_kind(msg) != 'tgrpo_ros/msg/Observation':
        raise MessageError(f'topic {topic}: `observation` must be tgrpo_ros/msg/Observation, '
                           f'got {msg_kind(msg)}')
    if len(msg.camera_names) != len(msg.images):
        raise MessageError(f'topic {topic}: {len(msg.camera_names)} camera names but '
                           f'{len(msg.images)} images')
    images = {name: image_rgb(img, f'{topic} camera {name!r}')
              for name, img in zip(msg.camera_names, msg.images)}
    return Observation(images=images, state=np.asarray(msg.state, dtype=np.float64).copy(),
                       state_names=list(msg.state_names), instruction=msg.instruction,
                       task=msg.task)


def joint_state(msg, topic: str, gripper_joints: list[str]) -> tuple[list[str], np.ndarray,
                                                                      float | None]:
    """JointState -> (state names, values, summed gripper opening [m] or None)."""
    if msg_kind(msg) != 'sensor_msgs/msg/JointState':
        raise MessageError(f'topic {topic}: `joint_states` must be sensor_msgs/JointState, '
                           f'got {msg_kind(msg)}')
    names = list(msg.name)
    pos = np.asarray(msg.position, dtype=np.float64)
    if len(pos) != len(names):
        raise MessageError(f'topic {topic}: {len(names)} joint names but {len(pos)} positions')
    missing = [j for j in gripper_joints if j not in names]
    if missing:
        raise MessageError(f'topic {topic}: gripper joint(s) {missing} not in the joint states '
                           f'{names}')
    arm = [i for i, n in enumerate(names) if n not in gripper_joints]
    grip = [names.index(j) for j in gripper_joints]
    out_names = [f'joint_pos_{k}' for k in range(len(arm))] + \
        [f'gripper_qpos_{k}' for k in range(len(grip))]
    values = np.concatenate([pos[arm], pos[grip]])
    opening = float(np.abs(pos[grip]).sum()) if grip else None
    return out_names, values, opening


def pose(msg, topic: str) -> tuple[np.ndarray, np.ndarray]:
    """Position (3,) [m] and quaternion (4,) x, y, z, w from a pose-like message."""
    kind = msg_kind(msg)
    p = msg
    if kind in ('geometry_msgs/msg/PoseStamped', 'geometry_msgs/msg/PoseWithCovarianceStamped',
                'nav_msgs/msg/Odometry'):
        p = msg.pose.pose if hasattr(msg.pose, 'pose') else msg.pose
    elif kind == 'geometry_msgs/msg/TransformStamped':
        t = msg.transform
        return (np.array([t.translation.x, t.translation.y, t.translation.z]),
                _unit(np.array([t.rotation.x, t.rotation.y, t.rotation.z, t.rotation.w]), topic))
    elif kind == 'geometry_msgs/msg/Transform':
        return (np.array([p.translation.x, p.translation.y, p.translation.z]),
                _unit(np.array([p.rotation.x, p.rotation.y, p.rotation.z, p.rotation.w]), topic))
    elif kind != 'geometry_msgs/msg/Pose':
        raise MessageError(f'topic {topic}: `eef_pose` must be a geometry_msgs Pose, PoseStamped, '
                           f'Transform(Stamped) or nav_msgs/Odometry, got {kind}')
    return (np.array([p.position.x, p.position.y, p.position.z]),
            _unit(np.array([p.orientation.x, p.orientation.y, p.orientation.z,
                            p.orientation.w]), topic))


def _unit(q: np.ndarray, topic: str) -> np.ndarray:
    n = float(np.linalg.norm(q))
    if not np.isfinite(n) or n < 1e-9:
        raise MessageError(f'topic {topic}: orientation quaternion {q.tolist()} is not a rotation')
    return q / n


def pose_state(position: np.ndarray, quat: np.ndarray) -> tuple[list[str], np.ndarray]:
    names = ['eef_pos_x', 'eef_pos_y', 'eef_pos_z', 'eef_quat_x', 'eef_quat_y', 'eef_quat_z',
             'eef_quat_w']
    return names, np.concatenate([position, quat])


def recorded_action(msg, topic: str) -> tuple[np.ndarray, np.ndarray | None, tuple | None]:
    """Return (7-D env-space action, token ids or None, ids key or None) of an action."""
    kind = msg_kind(msg)
    tokens, ids = None, None
    if kind == 'tgrpo_ros/msg/Action':
        values = np.asarray(msg.action, dtype=np.float64)
        if len(msg.token_ids) == len(values):
            tokens = np.asarray(msg.token_ids, dtype=np.int64).copy()
        ids = (msg.ids.env_id, int(msg.ids.episode_id), int(msg.ids.step))
    elif kind in ('std_msgs/msg/Float64MultiArray', 'std_msgs/msg/Float32MultiArray'):
        values = np.asarray(msg.data, dtype=np.float64)
    else:
        raise MessageError(f'topic {topic}: `action` must be tgrpo_ros/Action or std_msgs '
                           f'Float64MultiArray/Float32MultiArray, got {kind}')
    if values.shape != (7,):
        raise MessageError(f'topic {topic}: action has {values.size} values, expected 7 '
                           '(x, y, z, roll, pitch, yaw, gripper)')
    return values.copy(), tokens, ids


def quat_to_matrix(q: np.ndarray) -> np.ndarray:
    x, y, z, w = q
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def matrix_to_axis_angle(r: np.ndarray) -> np.ndarray:
    """Rotation vector (axis * angle, radians) of a rotation matrix."""
    cos = np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)
    angle = float(np.arccos(cos))
    if angle < 1e-9:
        return np.zeros(3)
    v = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    if np.pi - angle < 1e-6:
        # Near 180 degrees: the axis from the symmetric part.
        axis = np.sqrt(np.maximum((np.diag(r) + 1.0) / 2.0, 0.0))
        k = int(np.argmax(axis))
        axis[(k + 1) % 3] = np.copysign(axis[(k + 1) % 3], r[k, (k + 1) % 3])
        axis[(k + 2) % 3] = np.copysign(axis[(k + 2) % 3], r[k, (k + 2) % 3])
        return axis / np.linalg.norm(axis) * angle
    return v / (2.0 * np.sin(angle)) * angle


def motion_action(pos0: np.ndarray, quat0: np.ndarray, pos1: np.ndarray, quat1: np.ndarray,
                  translation_scale: float, rotation_scale: float,
                  gripper_opening_next: float | None, closed_below: float | None) -> np.ndarray:
    """Return the OSC_POSE delta that moves the end effector from pose 0 to pose 1 in one step."""
    dpos = (np.asarray(pos1) - np.asarray(pos0)) / translation_scale
    drot = matrix_to_axis_angle(quat_to_matrix(quat1) @ quat_to_matrix(quat0).T) / rotation_scale
    grip = 0.0
    if gripper_opening_next is not None and closed_below is not None:
        grip = 1.0 if gripper_opening_next < closed_below else -1.0
    return np.concatenate([np.clip(dpos, -1, 1), np.clip(drot, -1, 1), [grip]])


def matrix_to_quat(r: np.ndarray) -> np.ndarray:
    """Rotation matrix -> unit quaternion x, y, z, w (w >= 0)."""
    w = np.sqrt(max(0.0, 1 + r[0, 0] + r[1, 1] + r[2, 2])) / 2
    x = np.copysign(np.sqrt(max(0.0, 1 + r[0, 0] - r[1, 1] - r[2, 2])) / 2, r[2, 1] - r[1, 2])
    y = np.copysign(np.sqrt(max(0.0, 1 - r[0, 0] + r[1, 1] - r[2, 2])) / 2, r[0, 2] - r[2, 0])
    z = np.copysign(np.sqrt(max(0.0, 1 - r[0, 0] - r[1, 1] + r[2, 2])) / 2, r[1, 0] - r[0, 1])
    q = np.array([x, y, z, w])
    return q / np.linalg.norm(q)


class TfTree:
    """The newest transform of every TF edge, and chained lookups parent -> child.

    Edges come from tf2_msgs/TFMessage (``/tf``: dynamic, ``/tf_static``: static, never stale).
    A lookup walks from the child up to the parent and composes the transforms; it fails (None
    and a reason) when an edge is missing or a dynamic edge is older than ``max_age``.
    """

    def __init__(self) -> None:
        self.edges: dict[str, tuple[str, int, bool, np.ndarray, np.ndarray]] = {}

    def add(self, msg, t: int, static: bool, topic: str) -> None:
        if msg_kind(msg) != 'tf2_msgs/msg/TFMessage':
            raise MessageError(f'topic {topic}: TF topics must carry tf2_msgs/TFMessage, got '
                               f'{msg_kind(msg)}')
        for tr in msg.transforms:
            child = tr.child_frame_id.lstrip('/')
            pos, quat = pose(tr, topic)
            self.edges[child] = (tr.header.frame_id.lstrip('/'), t, static, pos,
                                 quat_to_matrix(quat))

    def lookup(self, parent: str, child: str, t: int, max_age_ns: int | None,
               ) -> tuple[tuple[np.ndarray, np.ndarray] | None, str]:
        p, r = np.zeros(3), np.eye(3)
        frame = child
        for _ in range(64):
            if frame == parent:
                return (p, matrix_to_quat(r)), ''
            edge = self.edges.get(frame)
            if edge is None:
                return None, (f'no transform {parent} -> {child} on TF (frame {frame!r} has no '
                              'parent)')
            up, te, static, pe, re = edge
            if not static and max_age_ns is not None and t - te > max_age_ns:
                return None, (f'TF {up} -> {frame} older than {max_age_ns / 1e9:g} s before the '
                              'action')
            p, r = re @ p + pe, re @ r
            frame = up
        return None, f'TF chain {parent} -> {child} has a loop'
