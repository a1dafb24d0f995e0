# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A scripted pick-and-place expert for LIBERO-Object, reading ``SimState``.

It serves two purposes: demonstrations (with optional action noise) and a check that the dense
rewards rise along a competent trajectory. It reads the task's goal ``('in', object, region)``
from the state, so it needs no per-task code.

Phases (each a target for the grip site, followed by a proportional controller):
``approach`` above the object (turning the hand about the vertical so the fingers close across
a graspable width and the hand misses neighbouring objects) -> ``descend`` to the grasp
height -> ``close`` the gripper ->
``lift`` high enough to clear the basket rim -> ``carry`` over the basket -> ``release`` ->
``retreat`` upward. If the object slips out of the gripper while lifted or carried, the expert
starts again from ``approach`` (at most ``max_retries`` times).

Actions are in the environment's space (``tgrpo_ros.contract``): OSC_POSE deltas in [-1, 1] where 1
commands 5 cm (position) or 0.5 rad (rotation) per control step, gripper -1 open / +1 close.
"""

from __future__ import annotations

import numpy as np

from tgrpo_ros.sim.sim_state import quat_to_mat as _quat_to_mat, SimState

POS_GAIN = 12.0  # action per metre of error: full speed beyond ~8 cm
ROT_GAIN = 1.5  # action per radian of orientation error
MAX_GRASP_WIDTH = 0.075  # [m] the Panda hand opens to ~8 cm
# Footprint of the Panda hand around the grip site, in the finger-axis frame [m]: it is long
# along the finger axis and narrow across it; neighbours inside it block the descent.
HAND_HALF_LENGTH, HAND_HALF_WIDTH = 0.10, 0.035
HAND_BOTTOM = 0.03  # [m] the hand's underside above the grip site
OPEN, CLOSE = -1.0, 1.0
PHASES = ('approach', 'descend', 'close', 'lift', 'carry', 'release', 'retreat')


def _rotation_error(r_target: np.ndarray, r_now: np.ndarray) -> np.ndarray:
    """Axis-angle vector (world frame) [rad] rotating ``r_now`` onto ``r_target``."""
    r = r_target @ r_now.T
    angle = np.arccos(np.clip((np.trace(r) - 1) / 2, -1.0, 1.0))
    if angle < 1e-6:
        return np.zeros(3)
    axis = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]])
    n = np.linalg.norm(axis)
    if n < 1e-9:  # 180 degrees: no unique axis; any perpendicular one will do
        return np.array([angle, 0.0, 0.0])
    return axis / n * angle


def goal_objects(state: SimState) -> tuple[str, str]:
    """Return ``(object, container)`` of an ``in`` goal, e.g. ``('ketchup_1', 'basket_1')``."""
    for g in state.goal:
        if len(g) == 3 and g[0].lower() == 'in' and g[2] in state.regions:
            return g[1], state.regions[g[2]].parent
    raise ValueError(f'the expert handles goals (in OBJECT REGION); this task has {state.goal}')


class ScriptedExpert:
    """Pick the goal object and drop it into its container.

    Args:
        noise: standard deviation of Gaussian noise added to the 6 motion dims of each action
            (before clipping to [-1, 1]); 0 for the clean expert.
        seed: seed of the noise generator.
        max_retries: regrasp attempts after a drop before giving up (then it raises the hand).
    """

    def __init__(self, noise: float = 0.0, seed: int | None = None, max_retries: int = 3):
        if noise < 0:
            raise ValueError(f'noise must be >= 0, got {noise}')
        self.noise = float(noise)
        self.rng = np.random.default_rng(seed)
        self.max_retries = max_retries
        self.reset()

    def reset(self) -> None:
        """Forget the current episode (call after every environment reset)."""
        self.clean_action: np.ndarray | None = None
        self.phase = 'approach'
        self.phase_steps = 0
        self.retries = 0
        self._rot0: np.ndarray | None = None
        self._grasp_z: float | None = None
        self._lift_z: float | None = None
        self._rot_target: np.ndarray | None = None
        self._offset = np.zeros(3)

    def _choose_grasp(self, state: SimState, obj_name: str, box_name: str,
                      grasp_z: float) -> None:
        """Choose the hand's turn about z and a sideways shift of the grasp point.

        Candidates: finger axis along the object's own horizontal axes or the world axes, and
        the grasp point shifted along the object's length by up to 3 cm. Prefer a graspable
        width, then (up to 2 cm) the most clearance between the hand and neighbouring objects
        tall enough to hit it, then the smallest shift and turn. Sets ``_rot_target`` and
        ``_offset`` (world shift [m]).
        """
        obj = state.objects[obj_name]
        finger0 = self._rot0[:, 1]  # the Panda's fingers close along the hand's y axis
        base = np.arctan2(finger0[1], finger0[0])
        axes = [obj.rotation()[:, 0], obj.rotation()[:, 1], np.array([1.0, 0, 0]),
                np.array([0, 1.0, 0])]
        tall = [o for name, o in state.objects.items() if name not in (obj_name, box_name)
                and o.bbox_max[2] > grasp_z + HAND_BOTTOM]
        best = None
        for ax in axes:
            if np.linalg.norm(ax[:2]) < 0.3:  # a lying object's vertical axis
                continue
            yaw = np.arctan2(ax[1], ax[0]) - base
            yaw = (yaw + np.pi / 2) % np.pi - np.pi / 2  # the hand is symmetric: |yaw| <= 90
            f = np.array([np.cos(base + yaw), np.sin(base + yaw), 0.0])
            n = np.array([-f[1], f[0], 0.0])
            too_wide = obj.width_along(f) > MAX_GRASP_WIDTH
            room = max(0.5 * obj.width_along(n) - 0.012, 0.0)
            for shift in (0.0, 0.01, -0.01, 0.02, -0.02, 0.03, -0.03):
                if abs(shift) > room:
                    continue
                grip = obj.center + shift * n
                clearance = 1.0
                for other in tall:  # gap between the hand's and the neighbour's rectangles
                    d = other.center - grip
                    gap_f = abs(d @ f) - HAND_HALF_LENGTH - 0.5 * other.width_along(f)
                    gap_n = abs(d @ n) - HAND_HALF_WIDTH - 0.5 * other.width_along(n)
                    clearance = min(clearance, max(gap_f, gap_n))
                key = (too_wide, -min(clearance, 0.02), abs(shift), abs(yaw))
                if best is None or key < best[0]:
                    best = (key, yaw, shift * n)
        c, s = np.cos(best[1]), np.sin(best[1])
        rz = np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])
        self._rot_target = rz @ self._rot0
        self._offset = best[2]

    def _go(self, phase: str) -> None:
        self.phase, self.phase_steps = phase, 0

    def act(self, state: SimState) -> np.ndarray:
        """Return the (7,) action for the current state."""
        obj_name, box_name = goal_objects(state)
        obj, box = state.objects[obj_name], state.objects[box_name]
        eef = state.eef_pos
        if self._rot0 is None:
            self._rot0 = _quat_to_mat(state.eef_quat)
        height = obj.bbox_max[2] - obj.bbox_min[2]
        # Grasp tall objects 3 cm below their top (fingers are ~4 cm long), short ones mid-way.
        grasp_z = max(obj.bbox_max[2] - 0.035, obj.bbox_min[2] + 0.5 * height)
        grasp_z = max(grasp_z, obj.bbox_min[2] + 0.012)
        self.phase_steps += 1
        gripper = OPEN
        target = eef.copy()

        rot_now = _quat_to_mat(state.eef_quat)
        if self.phase == 'approach':
            if self.phase_steps == 1:
                self._choose_grasp(state, obj_name, box_name, grasp_z)
            grip = obj.center + self._offset
            target = np.array([grip[0], grip[1], grasp_z + 0.10])
            turned = np.linalg.norm(_rotation_error(self._rot_target, rot_now)) < 0.08
            if (np.linalg.norm(target[:2] - eef[:2]) < 0.01 and abs(target[2] - eef[2]) < 0.03
                    and turned):
                self._go('descend')
        grip = obj.center + self._offset
        if self.phase == 'descend':
            target = np.array([grip[0], grip[1], grasp_z])
            if np.linalg.norm(target - eef) < 0.01 or self.phase_steps > 40:
                self._grasp_z = grasp_z
                self._go('close')
        if self.phase == 'close':
            target = np.array([grip[0], grip[1], self._grasp_z])
            gripper = CLOSE
            if self.phase_steps >= 12:
                # Carry so the object's bottom clears the rim by 5 cm.
                below = eef[2] - obj.bbox_min[2]
                self._lift_z = box.bbox_max[2] + 0.05 + below
                self._go('lift')
        if self.phase in ('lift', 'carry'):
            gripper = CLOSE
            if not state.grasped(obj_name) and self.phase_steps > 5:
                return self._retry(state)
        if self.phase == 'lift':
            target = np.array([eef[0], eef[1], self._lift_z])
            if eef[2] > self._lift_z - 0.02:
                self._go('carry')
        if self.phase == 'carry':
            # Put the object's centre, not the grip site, over the basket's centre.
            offset = eef[:2] - obj.center[:2]
            target = np.array([*(box.center[:2] + offset), self._lift_z])
            if np.linalg.norm(target[:2] - eef[:2]) < 0.015:
                self._go('release')
        if self.phase == 'release':
            gripper = OPEN
            if self.phase_steps >= 10:
                self._go('retreat')
        if self.phase == 'retreat':
            target = np.array([eef[0], eef[1], eef[2] + 0.05])

        action = np.zeros(7)
        action[:3] = np.clip(POS_GAIN * (target - eef), -1, 1)
        rot_target = self._rot0 if self._rot_target is None else self._rot_target
        action[3:6] = np.clip(ROT_GAIN * _rotation_error(rot_target, rot_now), -1, 1)
        action[6] = gripper
        # the unperturbed command, kept for DART-style labels (execute noisy, label clean)
        self.clean_action = np.clip(action, -1, 1)
        if self.noise > 0:
            action[:6] += self.rng.normal(0.0, self.noise, 6)
        return np.clip(action, -1, 1)

    def _retry(self, state: SimState) -> np.ndarray:
        self.retries += 1
        if self.retries > self.max_retries:
            self._go('retreat')
        else:
            self._go('approach')
        return self.act(state)
