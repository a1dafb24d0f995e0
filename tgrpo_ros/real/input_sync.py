# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Pairing camera frames with robot state by timestamp (ROS-free; used by the bridge node).

The first camera is the reference. At each control tick, its newest frame (if not already used)
is paired with, for every other input, the buffered message whose stamp is nearest to the
reference stamp, if within ``tolerance_s``. An input that was never received (``INPUT_MISSING``),
whose newest message is older than ``stale_s`` on the node's clock (``INPUT_STALE``), or that has
nothing within the tolerance of the reference (``UNPAIRED``) is reported, and no observation is
built from that tick. Times are float seconds on the clock of the stamps (sim or wall).
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

INPUT_MISSING = 'INPUT_MISSING'
INPUT_STALE = 'INPUT_STALE'
UNPAIRED = 'UNPAIRED'


@dataclass(frozen=True)
class Problem:
    """Why an input kept this tick from producing an observation."""

    input: str
    code: str
    detail: str

    def __str__(self) -> str:
        return f'{self.code} {self.input}: {self.detail}'


@dataclass
class Paired:
    """A set of messages paired for one observation: input name -> (stamp, value)."""

    reference_stamp: float
    items: dict[str, tuple[float, object]]


class InputSynchronizer:
    """Keeps the last few messages per input and pairs them with the reference input."""

    def __init__(self, inputs: list[str], tolerance_s: float, stale_s: float, depth: int = 30):
        if not inputs:
            raise ValueError('InputSynchronizer needs at least one input (the reference camera)')
        if len(set(inputs)) != len(inputs):
            raise ValueError(f'input names must be unique, got {inputs}')
        self.inputs = list(inputs)
        self.reference = inputs[0]
        self.tolerance_s = float(tolerance_s)
        self.stale_s = float(stale_s)
        self._buffers = {name: deque(maxlen=depth) for name in inputs}
        self._last_reference: float | None = None

    def add(self, name: str, stamp: float, value: object) -> None:
        if name not in self._buffers:
            raise KeyError(f'unknown input {name!r}; inputs: {self.inputs}')
        buf = self._buffers[name]
        if buf and stamp < buf[-1][0]:
            buf.clear()  # time went backwards (bag loop, sim reset): start over
        buf.append((float(stamp), value))

    def check(self, now: float) -> list[Problem]:
        """Return the missing and stale inputs at ``now`` (empty when all are fresh)."""
        problems = []
        for name in self.inputs:
            buf = self._buffers[name]
            if not buf:
                problems.append(Problem(name, INPUT_MISSING, 'no message received yet'))
                continue
            age = now - buf[-1][0]
            if age > self.stale_s:
                problems.append(Problem(name, INPUT_STALE,
                                        f'newest stamp is {age:.3f} s old > {self.stale_s} s'))
            elif age < -self.stale_s:
                problems.append(Problem(name, INPUT_STALE,
                                        f'newest stamp is {-age:.3f} s in the future'))
        return problems

    def pair(self, now: float) -> tuple[Paired | None, list[Problem]]:
        """Pair the newest unused reference frame; (None, []) when there is no new frame."""
        problems = self.check(now)
        if problems:
            return None, problems
        ref_stamp, ref_value = self._buffers[self.reference][-1]
        if self._last_reference is not None and ref_stamp <= self._last_reference:
            return None, []
        items = {self.reference: (ref_stamp, ref_value)}
        for name in self.inputs[1:]:
            stamp, value = min(self._buffers[name], key=lambda sv: abs(sv[0] - ref_stamp))
            if abs(stamp - ref_stamp) > self.tolerance_s:
                offset = stamp - ref_stamp
                problems.append(Problem(
                    name, UNPAIRED, f'nearest stamp is {offset:+.3f} s from the {self.reference} '
                    f'frame (tolerance {self.tolerance_s} s)'))
            items[name] = (stamp, value)
        if problems:
            return None, problems
        self._last_reference = ref_stamp
        return Paired(ref_stamp, items), []


def state_vector(eef_position, eef_quaternion_xyzw, gripper: tuple[list, list] | None,
                 gripper_joints, gripper_signs, arm: tuple[list, list] | None,
                 arm_joints) -> tuple[list[str], list[float]]:
    """Build the observation's named state in LIBERO's order, then the arm joints.

    ``eef_pos_x/y/z`` [m], ``eef_quat_x/y/z/w`` (base frame), ``gripper_qpos_k`` [m or rad]
    (finger joint k times its sign, to match LIBERO's convention), then ``joint_pos_<name>``.
    ``gripper`` and ``arm`` are (names, positions) of a JointState. A joint the profile names
    but the message lacks raises ``KeyError`` naming it and the joints present.
    """
    names = ['eef_pos_x', 'eef_pos_y', 'eef_pos_z',
             'eef_quat_x', 'eef_quat_y', 'eef_quat_z', 'eef_quat_w']
    values = [float(v) for v in eef_position] + [float(v) for v in eef_quaternion_xyzw]
    for label, source, joints, signs in (
            ('gripper', gripper, gripper_joints, gripper_signs),
            ('arm', arm, arm_joints, [1.0] * len(arm_joints))):
        if not joints:
            continue
        js_names, js_pos = source
        lookup = dict(zip(js_names, js_pos))
        missing = [j for j in joints if j not in lookup]
        if missing:
            raise KeyError(f'{label} joint(s) {missing} not in the joint state message '
                           f'(it has {list(js_names)})')
        for k, (joint, sign) in enumerate(zip(joints, signs)):
            names.append(f'gripper_qpos_{k}' if label == 'gripper' else f'joint_pos_{joint}')
            values.append(float(sign) * float(lookup[joint]))
    return names, values
