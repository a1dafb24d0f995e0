# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Cartesian velocity -> joint velocity, as MoveIt Servo does it (ROS-free, numpy only).

Servo turns each incoming twist into joint velocities through the arm's Jacobian. Near a
singularity the plain pseudo-inverse asks for unbounded joint speeds, so the inverse is damped
(damped least squares, also called Levenberg-Marquardt):

    qdot = J^T (J J^T + lambda^2 I)^-1 v

``lambda`` trades tracking accuracy for bounded joint speeds; away from singularities (smallest
singular value of J much above lambda) ``J qdot`` equals ``v`` to within (lambda/sigma)^2. A
redundant arm (the Panda has 7 joints for 6 task dimensions) keeps a free motion in the null
space of J; ``nullspace`` projects a posture term into it (as robosuite's OSC keeps its joints
near their start), so the hand's motion is not changed by it. Finally joint speeds above their
limits scale the WHOLE joint velocity vector down by one factor (the hand slows down but keeps
its direction, like Servo's velocity scaling).

Frames: ``jacobian`` is 6 x n with the linear rows first, both in the frame the twist is given
in (rotate a world-frame Jacobian into the base frame with ``rotate_jacobian``).
"""

from __future__ import annotations

import numpy as np


def rotate_jacobian(jacobian: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    """Return a 6 x n Jacobian expressed in a frame whose rotation (world <- frame) is given.

    ``rotation`` is the 3 x 3 matrix of the frame in the world; rows 0-2 (linear) and 3-5
    (angular) are each rotated into that frame: R^T J.
    """
    j = np.asarray(jacobian, dtype=np.float64)
    r = np.asarray(rotation, dtype=np.float64)
    if j.ndim != 2 or j.shape[0] != 6 or r.shape != (3, 3):
        raise ValueError(f'need a 6 x n Jacobian and a 3 x 3 rotation, got {j.shape}, {r.shape}')
    return np.vstack([r.T @ j[:3], r.T @ j[3:]])


def damped_least_squares(jacobian: np.ndarray, twist: np.ndarray,
                         damping: float = 0.01) -> np.ndarray:
    """Return joint velocities qdot = J^T (J J^T + damping^2 I)^-1 twist.

    ``jacobian`` m x n, ``twist`` (m,) in the Jacobian's frame and units (m/s, rad/s);
    ``damping`` [same units as the singular values of J] >= 0.
    """
    j = np.asarray(jacobian, dtype=np.float64)
    v = np.asarray(twist, dtype=np.float64)
    if j.ndim != 2 or v.shape != (j.shape[0],):
        raise ValueError(f'jacobian {j.shape} and twist {v.shape} do not match')
    if not np.all(np.isfinite(j)) or not np.all(np.isfinite(v)):
        raise ValueError('jacobian and twist must be finite')
    if damping < 0:
        raise ValueError(f'damping must be >= 0, got {damping}')
    gram = j @ j.T + (damping ** 2) * np.eye(j.shape[0])
    return j.T @ np.linalg.solve(gram, v)


def nullspace_projection(jacobian: np.ndarray, qdot: np.ndarray,
                         damping: float = 0.01) -> np.ndarray:
    """Project joint velocities ``qdot`` into the (damped) null space of ``jacobian``."""
    j = np.asarray(jacobian, dtype=np.float64)
    pinv = j.T @ np.linalg.inv(j @ j.T + (damping ** 2) * np.eye(j.shape[0]))
    return (np.eye(j.shape[1]) - pinv @ j) @ np.asarray(qdot, dtype=np.float64)


def scale_to_limits(qdot: np.ndarray, limits: np.ndarray) -> tuple[np.ndarray, float]:
    """Scale the whole ``qdot`` by one factor <= 1 so every |qdot_i| <= limits_i.

    Returns (scaled qdot, factor). Keeps the direction of the resulting hand motion.
    """
    q = np.asarray(qdot, dtype=np.float64)
    lim = np.asarray(limits, dtype=np.float64)
    if np.any(lim <= 0):
        raise ValueError(f'joint velocity limits must be > 0, got {lim.tolist()}')
    ratio = float(np.max(np.abs(q) / lim)) if q.size else 0.0
    factor = 1.0 if ratio <= 1.0 else 1.0 / ratio
    return q * factor, factor


def twist_to_joint_velocities(jacobian: np.ndarray, twist: np.ndarray, damping: float = 0.01,
                              limits: np.ndarray | None = None,
                              posture: np.ndarray | None = None) -> np.ndarray:
    """Servo's step: DLS inverse, optional null-space ``posture`` velocity, limit scaling."""
    qdot = damped_least_squares(jacobian, twist, damping)
    if posture is not None:
        qdot = qdot + nullspace_projection(jacobian, posture, damping)
    if limits is not None:
        qdot, _ = scale_to_limits(qdot, limits)
    return qdot


def quat_xyzw_to_matrix(q) -> np.ndarray:
    """Return the rotation matrix of a unit quaternion (x, y, z, w)."""
    x, y, z, w = np.asarray(q, dtype=np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)]])


def rotation_error(current_xyzw, target_xyzw) -> np.ndarray:
    """Return the rotation vector [rad] turning ``current`` into ``target`` (base frame)."""
    r = quat_xyzw_to_matrix(target_xyzw) @ quat_xyzw_to_matrix(current_xyzw).T
    angle = float(np.arccos(np.clip((np.trace(r) - 1.0) / 2.0, -1.0, 1.0)))
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    s = np.linalg.norm(axis)
    if s < 1e-9:
        if angle < 1e-6:
            return np.zeros(3)
        # 180 degrees: the axis is the eigenvector of r with eigenvalue 1
        w, v = np.linalg.eigh(0.5 * (r + r.T))
        return v[:, int(np.argmax(w))] * angle
    return axis / s * angle
