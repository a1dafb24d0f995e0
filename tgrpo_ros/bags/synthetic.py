# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Synthetic recordings with known contents, for tests, benchmarks and trying the tools out.

* ``write_policy_bag``: this package's own topics (Observation, Action, StepResult), the actions
  chosen by a policy on synthetic images, as a simulation run records them.
* ``write_robot_bag``: what ``ros2 bag record`` on a real arm gives: a camera topic (raw in any
  encoding, or JPEG/PNG compressed), joint states, the end-effector pose, an instruction topic,
  and optionally an action topic. The end-effector pose follows the recorded actions exactly
  (OSC_POSE scaling), so the motion-derived action equals the recorded one.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tgrpo_ros.bags import build as B
from tgrpo_ros.bags.messages import matrix_to_quat, quat_to_matrix
from tgrpo_ros.bags.writer import BagWriter
from tgrpo_ros.observation import Observation

INSTRUCTION = 'pick up the ketchup and place it in the basket'
_NS = 1_000_000_000


def synthetic_image(rng: np.random.Generator, size: int, t: int) -> np.ndarray:
    """Return a smooth, moving RGB pattern (not noise: JPEG keeps it recognisable)."""
    y, x = np.mgrid[0:size, 0:size] / size
    img = np.stack([np.sin(6 * x + 0.3 * t), np.cos(5 * y - 0.2 * t), np.sin(4 * (x + y))], -1)
    img = (img + 1) * 127.5 + rng.normal(0, 3, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def write_policy_bag(path: str | Path, policy, *, storage: str = 'mcap', episodes: int = 2,
                     steps: int = 5, image_size: int = 32, temperature: float = 0.0,
                     env_id: str = 'env0', seed: int = 0, cameras: tuple[str, ...] = (
                         'agentview',), version: int = 0) -> list[np.ndarray]:
    """Record ``episodes`` x ``steps`` of policy actions on synthetic images; return actions."""
    rng = np.random.default_rng(seed)
    actions = []
    t = 1_700_000_000 * _NS
    with BagWriter(path, storage) as w:
        for ep in range(1, episodes + 1):
            for step in range(steps):
                obs = Observation(images={c: synthetic_image(rng, image_size, step + 7 * ep)
                                          for c in cameras},
                                  state=rng.normal(size=9), state_names=[
                                      f's{i}' for i in range(9)], instruction=INSTRUCTION,
                                  task='libero_object/synthetic')
                s = policy.sample([obs], temperature=temperature)
                w.write_message(f'/{env_id}/observation', t,
                                B.observation_msg(obs, env_id, ep, step, t))
                t += 5_000_000
                w.write_message(f'/{env_id}/action', t, B.action_msg(
                    s.actions[0], env_id, ep, step, t, s.token_ids[0].numpy(),
                    s.logprobs[0].numpy(), temperature, version=version))
                t += 40_000_000
                w.write_message(f'/{env_id}/step_result', t, B.step_result_msg(
                    env_id, ep, step, t, done=step == steps - 1, version=version))
                actions.append(s.actions[0])
            t += 3 * _NS
    return actions


def rotvec_to_matrix(v: np.ndarray) -> np.ndarray:
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.eye(3)
    k = v / angle
    kx = np.array([[0, -k[2], k[1]], [k[2], 0, -k[0]], [-k[1], k[0], 0]])
    return np.eye(3) + np.sin(angle) * kx + (1 - np.cos(angle)) * kx @ kx


def write_robot_bag(path: str | Path, *, storage: str = 'mcap', steps: int = 12,
                    episodes: int = 1, image_size: int = 32, camera: str = '/camera/image_raw',
                    encoding: str = 'rgb8', compressed: str | None = None,
                    action_topic: str | None = '/tgrpo/action', rate_hz: float = 20.0,
                    pose_rate_factor: int = 2, seed: int = 0, actions: np.ndarray | None = None,
                    bad_encoding_from: int | None = None, eef_via_tf: bool = False) -> dict:
    """Write a real-robot-like bag; return {'actions': (N, 7), 'images': [...]} as recorded.

    encoding: raw Image encoding (rgb8, bgr8, rgba8, mono8 or anything to test refusals);
    compressed: 'jpeg' / 'png' to write CompressedImage instead. Poses are published
    ``pose_rate_factor`` times per control step; the pose moves by exactly the action
    (translation 0.05 m, rotation 0.5 rad per unit); the fingers close (opening 0.01 m) on
    steps whose gripper action is +1, else open (0.08 m). bad_encoding_from: from this step on,
    images are written with the unsupported encoding 'bayer_rggb8'. eef_via_tf: instead of
    /franka/eef_pose, publish TF: base_link -> flange on /tf (moving) and a fixed flange ->
    tool0 offset on /tf_static, so that base_link -> tool0 is the end-effector pose.
    """
    rng = np.random.default_rng(seed)
    n = steps * episodes
    if actions is None:
        actions = np.concatenate([rng.uniform(-0.8, 0.8, (n, 6)),
                                  np.where(rng.random((n, 1)) < 0.5, -1.0, 1.0)], 1)
    period = int(_NS / rate_hz)
    pos, rot = np.array([0.4, 0.0, 0.3]), np.eye(3)
    images = []
    t = 1_700_000_000 * _NS
    joints = [f'panda_joint{i}' for i in range(1, 8)] + ['panda_finger_joint1',
                                                         'panda_finger_joint2']
    k = 0
    offset_p, offset_r = np.array([0.0, 0.0, 0.1034]), rotvec_to_matrix(np.array([0, 0, -0.785]))
    with BagWriter(path, storage) as w:
        w.write_message('/task_instruction', t - _NS, B.string_msg(INSTRUCTION))
        if eef_via_tf:
            w.write_message('/tf_static', t - _NS, B.tf_msg([
                ('flange', 'tool0', offset_p, matrix_to_quat(offset_r))], t - _NS))
        for ep in range(episodes):
            grip_open = 0.08
            for step in range(steps + 1):
                for j in range(pose_rate_factor):
                    tp = t + j * period // pose_rate_factor
                    if eef_via_tf:     # flange = tool pose composed with the inverse offset
                        fr = rot @ offset_r.T
                        w.write_message('/tf', tp, B.tf_msg([
                            ('base_link', 'flange', pos - fr @ offset_p, matrix_to_quat(fr))],
                            tp))
                    else:
                        w.write_message('/franka/eef_pose', tp, B.pose_msg(
                            pos, matrix_to_quat(rot), tp))
                    fingers = [grip_open / 2, grip_open / 2]
                    w.write_message('/joint_states', tp - 1000, B.joint_state_msg(
                        joints, list(rng.normal(size=7)) + fingers, tp))
                if step < steps:
                    img = synthetic_image(rng, image_size, step)
                    images.append(img)
                    w.write_message(camera, t - 2000, _image(img, t, encoding, compressed,
                                                             bad_encoding_from is not None
                                                             and k >= bad_encoding_from))
                    if action_topic:
                        w.write_message(action_topic, t + 3000, B.float_array_msg(actions[k]))
                    a = actions[k]
                    pos = pos + a[:3] * 0.05
                    rot = rotvec_to_matrix(a[3:6] * 0.5) @ rot
                    rot = quat_to_matrix(matrix_to_quat(rot))
                    grip_open = 0.01 if a[6] > 0 else 0.08
                    k += 1
                t += period
            t += 5 * _NS
    return {'actions': actions, 'images': images}


def _image(img: np.ndarray, t: int, encoding: str, compressed: str | None, bad: bool):
    if compressed:
        return B.compressed_image_msg(img, t, fmt=compressed)
    if bad:
        return B.image_msg(img, t, encoding='bayer_rggb8')
    if encoding == 'bgr8':
        return B.image_msg(img[..., ::-1], t, 'bgr8')
    if encoding == 'rgba8':
        return B.image_msg(np.concatenate([img, np.full(img.shape[:2] + (1,), 255, np.uint8)],
                                          -1), t, 'rgba8')
    if encoding == 'mono8':
        return B.image_msg(img[..., 0], t, 'mono8')
    return B.image_msg(img, t, encoding)
