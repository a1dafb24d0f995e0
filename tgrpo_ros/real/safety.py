# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The arm adapter's safety filter and state machine, free of ROS (modelled on moveit_servo).

Every time is a float in seconds on ONE clock: the node passes its own clock's ``now`` (sim
time when ``use_sim_time`` is set, wall time otherwise) and the stamps of the messages, which
are on that same clock (moveit_servo issue 772: a timeout that mixes clocks never fires).

States (``Mode``):

- ``DISARMED`` (at start): nothing is commanded. ``arm()`` leaves it unless an emergency stop is
  latched.
- ``ARMED``: each ``step(now)`` (one per control period) turns the newest action into a command,
  if every check passes; otherwise it HALTS: one zero command if the last thing sent was motion,
  then nothing until the checks pass again (never an endless stream of zeros: moveit_servo
  issue 2127).
- ``HOMING``: armed, moving to the profile's home pose within the limits; actions are ignored.
- ``ESTOPPED``: latched by ``emergency_stop()``; one zero command, then nothing; only
  ``reset()`` clears it (to ``DISARMED``: the operator arms again on purpose).

Checks, in order, each with its halt ``Reason``: dead-man held and renewed within its timeout
(``DEADMAN_TIMEOUT``); end-effector pose fresh (``STATE_STALE``); newest observation fresh
(``OBSERVATION_STALE``); any stamp more than its timeout in the future (``STAMP_IN_FUTURE``: the
clocks disagree); the newest action finite and 7-D (``NONFINITE_ACTION``, ``BAD_ACTION_SIZE``);
an action stamped after arming exists (``NO_ACTION``) and is younger than the hold timeout
(``ACTION_TIMEOUT``; a policy slower than the control rate has its last action repeated until
then, reported as ``HOLDING_LAST_ACTION``); the one-step target does not leave the workspace box
further (``WORKSPACE_LIMIT``). Clamps are reported too: ``SPEED_CLAMPED``, ``ACCEL_CLAMPED``.
A clamp scales the whole linear velocity (or its change) by one factor, and the whole angular
one by another, so no axis exceeds the profile's per-axis limit and the direction is kept.

A halt is a single zero command: the controller behind it (MoveIt Servo's smoothing, an
impedance controller) decelerates; this filter does not ramp down.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
import math

import numpy as np

from tgrpo_ros.contract import ACTION_DIM
from tgrpo_ros.real.robot_profile import RobotProfile


class Mode(str, Enum):
    DISARMED = 'DISARMED'
    ARMED = 'ARMED'
    HOMING = 'HOMING'
    ESTOPPED = 'ESTOPPED'


class Reason(str, Enum):
    """Reason codes published in the adapter's diagnostics (one per halt, clamp or event)."""

    OK = 'OK'
    DISARMED = 'DISARMED'                    # halt: not armed (start, ~/disarm)
    ESTOP = 'ESTOP'                          # halt, latched: emergency stop until ~/reset
    DEADMAN_TIMEOUT = 'DEADMAN_TIMEOUT'      # halt: dead-man released or not renewed in time
    STATE_STALE = 'STATE_STALE'              # halt: end-effector pose missing or too old
    OBSERVATION_STALE = 'OBSERVATION_STALE'  # halt: newest observation missing or too old
    STAMP_IN_FUTURE = 'STAMP_IN_FUTURE'      # halt: a stamp is ahead of the clock by > timeout
    NONFINITE_ACTION = 'NONFINITE_ACTION'    # halt: NaN or infinite action rejected
    BAD_ACTION_SIZE = 'BAD_ACTION_SIZE'      # halt: action is not 7-D
    NO_ACTION = 'NO_ACTION'                  # halt: no action since arming / homing
    ACTION_TIMEOUT = 'ACTION_TIMEOUT'        # halt: newest action older than the hold timeout
    WORKSPACE_LIMIT = 'WORKSPACE_LIMIT'      # halt: target would leave the workspace box
    SPEED_CLAMPED = 'SPEED_CLAMPED'          # clamp: speed limit (whole vector scaled down)
    ACCEL_CLAMPED = 'ACCEL_CLAMPED'          # clamp: acceleration limit (whole change scaled)
    HOLDING_LAST_ACTION = 'HOLDING_LAST_ACTION'  # policy slower than the control rate
    HOMING = 'HOMING'                        # moving to the home pose
    HOME_REACHED = 'HOME_REACHED'            # home pose reached; waiting for new actions


HALT_REASONS = frozenset({
    Reason.DISARMED, Reason.ESTOP, Reason.DEADMAN_TIMEOUT, Reason.STATE_STALE,
    Reason.OBSERVATION_STALE, Reason.STAMP_IN_FUTURE, Reason.NONFINITE_ACTION,
    Reason.BAD_ACTION_SIZE, Reason.NO_ACTION, Reason.ACTION_TIMEOUT, Reason.WORKSPACE_LIMIT})
CLAMP_REASONS = frozenset({Reason.SPEED_CLAMPED, Reason.ACCEL_CLAMPED})


@dataclass
class Command:
    """One command for the arm (all in the base frame, SI units).

    linear (3,) [m/s] and angular (3,) [rad/s]: velocity over the next control period (twist).
    target_position (3,) [m] and target_quaternion (4,) x, y, z, w: the pose one control period
        ahead (pose interface); for a zero command, the current pose.
    gripper_closed: True/False to command the gripper, None to leave it.
    applied_action: (7,) the action actually applied, in action units after clamping
        (zeros for a zero command; the gripper entry as received).
    source: whatever the caller attached to the action (e.g. its ids); None for zero commands.
    """

    linear: np.ndarray
    angular: np.ndarray
    target_position: np.ndarray
    target_quaternion: np.ndarray
    gripper_closed: bool | None
    applied_action: np.ndarray
    zero: bool = False
    source: object = None


@dataclass
class Decision:
    """The outcome of one control step: a command (or None: publish nothing) and why."""

    command: Command | None
    mode: Mode
    reasons: tuple[Reason, ...]
    halted: bool
    detail: str = ''


@dataclass
class _Stamped:
    value: object
    stamp: float
    source: object = None
    used: bool = False


@dataclass
class SafetyFilter:
    """Turns actions into safe commands; see the module docstring. Not thread-safe."""

    profile: RobotProfile
    mode: Mode = Mode.DISARMED
    counts: dict = field(default_factory=dict)

    def __post_init__(self):
        p = self.profile
        self.dt = p.control_period_s
        self.lin_scale = np.array(p.linear_scale_m)
        self.ang_scale = np.array(p.angular_scale_rad)
        self.v_max = np.array(p.max_linear_speed_mps + p.max_angular_speed_radps)
        self.a_max = np.array(p.max_linear_accel_mps2 + p.max_angular_accel_radps2)
        self.ws_min = np.array(p.workspace_min_m)
        self.ws_max = np.array(p.workspace_max_m)
        self.home_pos = np.array(p.home_position_m)
        self.home_quat = _normalise(np.array(p.home_orientation_xyzw))
        self._action: _Stamped | None = None
        self._action_produced = -math.inf
        self._fault: tuple[Reason, str] | None = None
        self._pose: _Stamped | None = None
        self._obs_stamp: float | None = None
        self._deadman_at: float | None = None
        self._min_action_stamp = -math.inf
        self._moving = False            # the last command sent was motion (not zero)
        self._velocity = np.zeros(6)    # last commanded (linear, angular) velocity
        self.last_reasons: tuple[Reason, ...] = (Reason.DISARMED,)
        self.last_halt: Reason | None = None
        self.last_detail = ''

    # ---- inputs -------------------------------------------------------------------------
    def on_action(self, action, stamp: float, source=None,
                  produced: float | None = None) -> Reason | None:
        """Record the newest action; a NaN/Inf or wrong-size one is rejected (returns why).

        ``stamp``: the time of the data the action was computed from (the stamp of the
        observation it answers), so a policy that falls behind has its actions time out.
        ``produced``: the action's own stamp, when different; it must be on the same clock
        (not in the future), which catches a policy running on another clock.
        """
        values = np.asarray(action, dtype=np.float64).ravel()
        if values.size != ACTION_DIM:
            self._action = None
            self._fault = (Reason.BAD_ACTION_SIZE,
                           f'action has {values.size} values, expected {ACTION_DIM}')
            return Reason.BAD_ACTION_SIZE
        if not np.all(np.isfinite(values)):
            self._action = None
            bad = [int(k) for k in np.flatnonzero(~np.isfinite(values))]
            self._fault = (Reason.NONFINITE_ACTION,
                           f'action has non-finite values at indices {bad}: {values.tolist()}')
            return Reason.NONFINITE_ACTION
        self._action = _Stamped(values, float(stamp), source)
        self._action_produced = float(stamp if produced is None else produced)
        return None

    def on_observation(self, stamp: float) -> None:
        self._obs_stamp = float(stamp) if self._obs_stamp is None else max(self._obs_stamp,
                                                                           float(stamp))

    def on_pose(self, position, quaternion_xyzw, stamp: float) -> None:
        pos = np.asarray(position, dtype=np.float64)
        quat = np.asarray(quaternion_xyzw, dtype=np.float64)
        if pos.shape != (3,) or quat.shape != (4,) or not (np.all(np.isfinite(pos))
                                                          and np.all(np.isfinite(quat))):
            return  # an unusable pose is ignored; it goes stale and halts (STATE_STALE)
        if np.linalg.norm(quat) < 1e-6:
            return
        self._pose = _Stamped((pos, _normalise(quat)), float(stamp))

    def on_deadman(self, pressed: bool, now: float) -> None:
        self._deadman_at = float(now) if pressed else None

    # ---- operator requests --------------------------------------------------------------
    def arm(self, now: float) -> tuple[bool, str]:
        if self.mode == Mode.ESTOPPED:
            return False, 'emergency stop is latched: call ~/reset, then arm again'
        if self.mode in (Mode.ARMED, Mode.HOMING):
            return True, f'already {self.mode.value}'
        self.mode = Mode.ARMED
        self._min_action_stamp = float(now)  # never execute an action produced before arming
        self._velocity[:] = 0.0
        return True, 'armed: commands flow while the dead-man is held and inputs are fresh'

    def disarm(self) -> tuple[bool, str]:
        if self.mode == Mode.ESTOPPED:
            return True, 'emergency stop is latched (already commanding nothing)'
        self.mode = Mode.DISARMED
        return True, 'disarmed'

    def emergency_stop(self) -> None:
        self.mode = Mode.ESTOPPED

    def reset(self) -> tuple[bool, str]:
        if self.mode != Mode.ESTOPPED:
            return True, f'nothing to reset (mode {self.mode.value})'
        self.mode = Mode.DISARMED
        self._fault = None
        return True, 'emergency stop cleared; the adapter is DISARMED until armed again'

    def request_home(self, now: float) -> tuple[bool, str]:
        if self.mode != Mode.ARMED:
            return False, f'cannot home while {self.mode.value}: arm first'
        self.mode = Mode.HOMING
        return True, 'homing: the dead-man must stay held'

    # ---- the control step ---------------------------------------------------------------
    def step(self, now: float) -> Decision:
        """Decide what to send in this control period (see the module docstring)."""
        now = float(now)
        if self.mode == Mode.ESTOPPED:
            return self._halt(Reason.ESTOP, 'emergency stop latched; ~/reset clears it')
        if self.mode == Mode.DISARMED:
            return self._halt(Reason.DISARMED, 'not armed')
        problem = self._check_inputs(now)
        if problem is not None:
            return self._halt(*problem)
        pos, quat = self._pose.value
        reasons: list[Reason] = []
        source = None
        gripper = None
        if self.mode == Mode.HOMING:
            desired = self._homing_velocity(pos, quat)
            if desired is None:
                self.mode = Mode.ARMED
                self._min_action_stamp = now
                self._action = None
                return self._halt(Reason.HOME_REACHED, 'home pose reached; waiting for actions '
                                  'stamped after this moment')
            reasons.append(Reason.HOMING)
            action = None
        else:
            act = self._action
            action = act.value
            source = act.source
            if act.used:
                reasons.append(Reason.HOLDING_LAST_ACTION)
            act.used = True
            desired = np.concatenate([action[:3] * self.lin_scale,
                                      action[3:6] * self.ang_scale]) / self.dt
            gripper = bool(action[6] > self.profile.gripper.threshold)
        # Limits shrink the whole linear (and, separately, the whole angular) vector, as
        # moveit_servo scales a whole command: clipping each axis alone would bend the motion
        # (an action (1, 0.3, 0) would leave at 45 degrees instead of 16.7).
        velocity = _scale_into_box(desired, self.v_max)
        if np.any(velocity != desired):
            reasons.append(Reason.SPEED_CLAMPED)
        previous = self._velocity if self._moving else np.zeros(6)
        change = velocity - previous
        allowed = _scale_into_box(change, self.a_max * self.dt)
        if np.any(allowed != change):  # else keep velocity bit for bit (no rounding)
            reasons.append(Reason.ACCEL_CLAMPED)
            velocity = previous + allowed
        target = pos + velocity[:3] * self.dt
        leaving = ((target < self.ws_min) & (velocity[:3] < 0)) | \
                  ((target > self.ws_max) & (velocity[:3] > 0))
        if np.any(leaving):
            axes = [('x', 'y', 'z')[k] for k in np.flatnonzero(leaving)]
            return self._halt(Reason.WORKSPACE_LIMIT,
                              f'target {np.round(target, 4).tolist()} m leaves the workspace '
                              f'{self.ws_min.tolist()}..{self.ws_max.tolist()} on axis {axes}')
        if action is not None and not CLAMP_REASONS.intersection(reasons):
            applied = action.copy()  # unclamped: exactly what was asked (no rounding)
        else:
            applied = np.zeros(ACTION_DIM)
            applied[:3] = velocity[:3] * self.dt / self.lin_scale
            applied[3:6] = velocity[3:6] * self.dt / self.ang_scale
            applied[6] = action[6] if action is not None else 0.0
        command = Command(
            linear=velocity[:3].copy(), angular=velocity[3:].copy(), target_position=target,
            target_quaternion=_quat_mul(_quat_from_rotvec(velocity[3:] * self.dt), quat),
            gripper_closed=gripper, applied_action=applied, source=source)
        self._moving = True
        self._velocity = velocity
        self.last_halt = None
        for r in reasons:
            self.counts[r] = self.counts.get(r, 0) + 1
        self.last_reasons = tuple(reasons) or (Reason.OK,)
        self.last_detail = ''
        return Decision(command, self.mode, self.last_reasons, halted=False)

    # ---- helpers ------------------------------------------------------------------------
    def _check_inputs(self, now: float) -> tuple[Reason, str] | None:
        p = self.profile
        if self._deadman_at is None:
            return Reason.DEADMAN_TIMEOUT, 'dead-man not held'
        held_for = now - self._deadman_at
        if held_for > p.deadman_timeout_s:
            return Reason.DEADMAN_TIMEOUT, (f'dead-man last renewed {held_for:.3f} s ago '
                                            f'> {p.deadman_timeout_s} s')
        if self._pose is None:
            return Reason.STATE_STALE, 'no end-effector pose received'
        problem = self._age(now, self._pose.stamp, p.state_timeout_s, Reason.STATE_STALE,
                            'end-effector pose')
        if problem or self.mode == Mode.HOMING:
            return problem
        if self._obs_stamp is None:
            return Reason.OBSERVATION_STALE, 'no observation received'
        problem = self._age(now, self._obs_stamp, p.observation_timeout_s,
                            Reason.OBSERVATION_STALE, 'newest observation')
        if problem:
            return problem
        if self._fault is not None:
            fault, self._fault = self._fault, None
            return fault
        if self._action is None or self._action.stamp < self._min_action_stamp:
            return Reason.NO_ACTION, 'no valid action stamped after arming / homing'
        return self._age(now, self._action.stamp, p.action_hold_timeout_s, Reason.ACTION_TIMEOUT,
                         'newest action (by the stamp of the data it answers)') or \
            self._age(now, self._action_produced, p.action_hold_timeout_s,
                      Reason.ACTION_TIMEOUT, 'newest action (by its own stamp)')

    @staticmethod
    def _age(now, stamp, timeout, reason, what) -> tuple[Reason, str] | None:
        age = now - stamp
        if age > timeout:
            return reason, f'{what} is {age:.3f} s old > {timeout} s'
        if age < -timeout:
            return Reason.STAMP_IN_FUTURE, (f'{what} is stamped {-age:.3f} s in the future '
                                            f'(> {timeout} s): clocks disagree')
        return None

    def _halt(self, reason: Reason, detail: str) -> Decision:
        command = None
        if self._moving:
            pos, quat = self._pose.value if self._pose else (np.zeros(3), np.array([0, 0, 0, 1.0]))
            command = Command(linear=np.zeros(3), angular=np.zeros(3),
                              target_position=pos.copy(), target_quaternion=quat.copy(),
                              gripper_closed=None, applied_action=np.zeros(ACTION_DIM),
                              zero=True)
            self._moving = False
            self._velocity = np.zeros(6)
        if command is not None or self.last_halt != reason:
            self.counts[reason] = self.counts.get(reason, 0) + 1
        self.last_halt = reason
        self.last_reasons = (reason,)
        self.last_detail = detail
        return Decision(command, self.mode, (reason,), halted=True, detail=detail)

    def _homing_velocity(self, pos, quat) -> np.ndarray | None:
        p = self.profile
        err_pos = self.home_pos - pos
        err_rot = _rotvec_from_quat(_quat_mul(self.home_quat, _quat_conj(quat)))
        if np.linalg.norm(err_pos) <= p.home_tolerance_m and \
                np.linalg.norm(err_rot) <= p.home_tolerance_rad:
            return None
        err = np.concatenate([err_pos, err_rot])
        # Per axis: reach the target in one step if slow enough, else brake in time
        # (v = sqrt(2 a d)), never above the speed limit (clamped by the caller).
        return np.sign(err) * np.minimum(np.abs(err) / self.dt,
                                         np.sqrt(2.0 * self.a_max * np.abs(err)))


def _scale_into_box(vector: np.ndarray, limit: np.ndarray) -> np.ndarray:
    """Shrink (linear, angular) ``vector`` (6,) so each half stays within ``limit`` per axis.

    Each 3-D half is multiplied by one factor <= 1, the largest that keeps every axis within
    its limit, so its direction is kept; the two halves are scaled independently (a fast
    rotation does not slow a translation). The result is exactly ``vector`` when within limits.
    """
    out = np.array(vector, dtype=np.float64)
    for half in (slice(0, 3), slice(3, 6)):
        v, lim = out[half], limit[half]
        over = np.abs(v) > lim
        if np.any(over):
            out[half] = v * float(np.min(lim[over] / np.abs(v[over])))
    return out


def _normalise(q: np.ndarray) -> np.ndarray:
    return q / np.linalg.norm(q)


def _quat_conj(q):
    return np.array([-q[0], -q[1], -q[2], q[3]])


def _quat_mul(a, b):
    """Hamilton product a * b of x, y, z, w quaternions."""
    ax, ay, az, aw = a
    bx, by, bz, bw = b
    return np.array([aw * bx + ax * bw + ay * bz - az * by,
                     aw * by - ax * bz + ay * bw + az * bx,
                     aw * bz + ax * by - ay * bx + az * bw,
                     aw * bw - ax * bx - ay * by - az * bz])


def _quat_from_rotvec(v):
    angle = float(np.linalg.norm(v))
    if angle < 1e-12:
        return np.array([0.0, 0.0, 0.0, 1.0])
    axis = v / angle
    return np.concatenate([axis * math.sin(angle / 2), [math.cos(angle / 2)]])


def _rotvec_from_quat(q):
    q = _normalise(np.asarray(q, dtype=np.float64))
    if q[3] < 0:
        q = -q  # shortest rotation
    s = float(np.linalg.norm(q[:3]))
    if s < 1e-12:
        return np.zeros(3)
    angle = 2.0 * math.atan2(s, q[3])
    return q[:3] / s * angle
