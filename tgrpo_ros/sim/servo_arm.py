# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""A LIBERO scene whose Panda is driven like a real arm behind MoveIt Servo (ROS-free).

``LiberoEnv`` steps LIBERO's own OSC_POSE controller: an action in [-1, 1] becomes a hand
motion the way LIBERO defines it. A real arm knows nothing of that: it receives Cartesian
velocities [m/s, rad/s] (MoveIt Servo's TwistStamped) or pose targets, and a gripper position.
``ServoArm`` builds the same scene and initial states through ``LiberoEnv`` (its reset, with
LIBERO's 10 settling steps) and from then on never calls LIBERO's controller:

- a twist (robot base frame) becomes joint velocities through the arm's Jacobian at the grip
  site with damped least squares (``tgrpo_ros.real.servo``: Servo's method), scaled down as a
  whole to the Panda's joint speed limits, with a null-space term holding the start posture;
- those velocities are integrated into joint position targets at the servo rate (Servo
  publishing to a forward position controller) and tracked by a joint impedance controller
  with gravity and Coriolis compensation (computed torque on MuJoCo's mass matrix), writing
  MuJoCo's arm torque actuators directly;
- a twist older than ``command_timeout_s`` (Servo's incoming_command_timeout) stops the arm;
- a pose target becomes a twist toward it (reaching it in ``pose_horizon_s``);
- the gripper moves its fingers' position actuators toward the commanded per-finger opening
  [m] at ``gripper_speed_mps`` (robosuite ramps the Panda gripper at 0.1 m/s per finger too).

So a wrong action scale upstream shows as a wrong hand motion here. Readings are what a real
stack publishes: camera images as the camera sees them (upright, NOT mirrored: MuJoCo renders
bottom-up, so only the rows are flipped, unlike ``LiberoEnv``'s 180-degree rotation), joint
positions, the hand's pose and the objects' poses in the robot base frame; plus the simulator's
ground truth (success, dense reward) for tests and benchmarks.

Time is simulation time [s], advanced only by ``advance``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tgrpo_ros.real.servo import (quat_xyzw_to_matrix, rotate_jacobian, rotation_error,
                                  twist_to_joint_velocities)
from tgrpo_ros.sim.libero_env import _quat_conj_mul, LiberoEnv, STATE_NAMES

#: Panda joint speed limits [rad/s] (Franka's datasheet: 2.175 for joints 1-4, 2.61 for 5-7).
PANDA_JOINT_SPEED_LIMITS = np.array([2.175, 2.175, 2.175, 2.175, 2.61, 2.61, 2.61])


@dataclass
class ServoSettings:
    """How the simulated servo and controllers behave (units in the names)."""

    servo_rate_hz: float = 100.0          # Servo's publish rate (Franka setups: 100-1000 Hz)
    damping: float = 0.02                 # DLS damping lambda [m/s per rad/s]
    posture_gain: float = 1.0             # null-space pull toward the start posture [1/s]
    stiffness: float = 400.0              # joint impedance [1/s^2] (times the mass matrix)
    command_timeout_s: float = 0.1        # Servo's incoming_command_timeout
    pose_horizon_s: float = 0.05          # a pose target is approached over this time
    max_tracking_error_rad: float = 0.05  # the joint target runs at most this far ahead
    gripper_speed_mps: float = 0.1        # per finger
    gripper_max_opening_m: float = 0.04   # per finger

    def check(self) -> None:
        for name in ('servo_rate_hz', 'stiffness', 'command_timeout_s', 'pose_horizon_s',
                     'max_tracking_error_rad', 'gripper_speed_mps', 'gripper_max_opening_m'):
            v = getattr(self, name)
            if not np.isfinite(v) or v <= 0:
                raise ValueError(f'ServoSettings.{name} = {v} must be a positive number')
        for name in ('damping', 'posture_gain'):
            v = getattr(self, name)
            if not np.isfinite(v) or v < 0:
                raise ValueError(f'ServoSettings.{name} = {v} must be >= 0')


@dataclass
class ArmReading:
    """What the robot's drivers and a perception system publish at one instant."""

    time_s: float
    images: dict[str, np.ndarray]                    # camera name -> HxWx3 uint8 RGB, upright
    joint_names: list[str]                           # arm joints then finger joints
    joint_positions: np.ndarray
    joint_velocities: np.ndarray
    eef_position: np.ndarray                         # base frame [m]
    eef_quaternion_xyzw: np.ndarray                  # base frame
    objects: dict[str, tuple[np.ndarray, np.ndarray]]  # name -> (position, quat xyzw), base frame


class ServoArm:
    """A LIBERO task's scene with its arm under Servo-style velocity control (see module doc)."""

    def __init__(self, env: LiberoEnv, settings: ServoSettings | None = None):
        self.env = env
        self.settings = settings or ServoSettings()
        self.settings.check()
        import mujoco  # heavy native library: only the simulator needs it
        self._mj = mujoco
        e = env._env.env
        self._sim = e.sim
        self._model = e.sim.model._model
        self._data = e.sim.data._data
        robot = e.robots[0]
        self._robot = robot
        self._arm_q = np.asarray(robot._ref_joint_pos_indexes)
        self._arm_v = np.asarray(robot._ref_joint_vel_indexes)
        self._arm_act = np.asarray(robot._ref_joint_actuator_indexes)
        self._grip_act = np.asarray(robot._ref_joint_gripper_actuator_indexes)
        self._grip_q = np.asarray(robot._ref_gripper_joint_pos_indexes)
        self._site = int(robot.eef_site_id)
        self._base = env._base_body
        self._hand_body = e.sim.model.body_name2id(robot.robot_model.eef_name)
        m = self._model
        self._q_range = m.jnt_range[[int(m.dof_jntid[i]) for i in self._arm_v]].copy()
        self._tau_range = m.actuator_ctrlrange[self._arm_act].copy()
        self.arm_joint_names = list(robot.robot_joints)
        adr = m.jnt_qposadr.tolist()
        self.finger_joint_names = [mujoco.mj_id2name(m, mujoco.mjtObj.mjOBJ_JOINT,
                                                     adr.index(int(i))) for i in self._grip_q]
        self.joint_names = self.arm_joint_names + self.finger_joint_names
        self.time_s = 0.0
        self._twist = np.zeros(6)
        self._twist_time = -np.inf
        self._pose_target: tuple[np.ndarray, np.ndarray] | None = None
        self._pose_time = -np.inf
        self._q_des = np.zeros(len(self._arm_q))
        self._q_home = np.zeros(len(self._arm_q))
        self._grip_target = self.settings.gripper_max_opening_m
        self._grip_ctrl = self.settings.gripper_max_opening_m
        self.moving = False
        self.last_qdot = np.zeros(len(self._arm_q))
        self._reward_state = None

    # -- episode ----------------------------------------------------------------------------
    def reset(self, init_state_index: int = 0, seed: int = 7) -> None:
        """Load an initial state through LiberoEnv (10 settling steps), then take the arm over."""
        self.env.reset(init_state_index, seed)
        self.take_over()

    def take_over(self) -> None:
        """Hold the arm and the fingers where the scene has them now, with no command."""
        d = self._data
        self._q_des = d.qpos[self._arm_q].copy()
        self._q_home = self._q_des.copy()
        # Start the fingers from where they are (LIBERO leaves them open after its reset).
        opening = float(np.mean(np.abs(d.qpos[self._grip_q])))
        self._grip_target = self._grip_ctrl = opening
        self._twist[:] = 0.0
        self._twist_time = -np.inf
        self._pose_target = None
        self.moving = False
        self.last_qdot[:] = 0.0
        # time_s runs on across resets: it is the robot's clock (/clock), which never goes back

    # -- commands ---------------------------------------------------------------------------
    def set_twist(self, linear, angular, now_s: float) -> None:
        """Command a Cartesian velocity of the grip site [m/s, rad/s], robot base frame."""
        t = np.concatenate([np.asarray(linear, float), np.asarray(angular, float)])
        if t.shape != (6,) or not np.all(np.isfinite(t)):
            raise ValueError(f'twist must be 3 + 3 finite numbers, got {t.tolist()}')
        self._twist = t
        self._twist_time = float(now_s)
        self._pose_target = None

    def set_pose_target(self, position, quaternion_xyzw, now_s: float) -> None:
        """Command a target pose of the grip site (base frame); replaces any twist."""
        p = np.asarray(position, float)
        q = np.asarray(quaternion_xyzw, float)
        if p.shape != (3,) or q.shape != (4,) or not np.all(np.isfinite(p)) \
                or not np.all(np.isfinite(q)) or abs(np.linalg.norm(q) - 1.0) > 1e-2:
            raise ValueError('pose target needs a finite position and a unit quaternion')
        self._pose_target = (p, q / np.linalg.norm(q))
        self._pose_time = float(now_s)

    def set_gripper(self, opening_m: float) -> None:
        """Command the per-finger opening [m] (0 closed, 0.04 open on the Panda)."""
        if not np.isfinite(opening_m):
            raise ValueError(f'gripper opening must be finite, got {opening_m}')
        self._grip_target = float(np.clip(opening_m, 0.0, self.settings.gripper_max_opening_m))

    # -- simulation -------------------------------------------------------------------------
    def advance(self, duration_s: float) -> None:
        """Advance the simulation by ``duration_s`` (a whole number of servo periods)."""
        period = 1.0 / self.settings.servo_rate_hz
        for _ in range(max(1, int(round(duration_s / period)))):
            self._servo_period(period)

    def _current_twist(self) -> np.ndarray | None:
        s = self.settings
        if self._pose_target is not None:
            if self.time_s - self._pose_time > s.command_timeout_s:
                return None
            pos, quat = self._eef_pose_base()
            target_p, target_q = self._pose_target
            return np.concatenate([(target_p - pos) / s.pose_horizon_s,
                                   rotation_error(quat, target_q) / s.pose_horizon_s])
        if self.time_s - self._twist_time > s.command_timeout_s:
            return None
        return self._twist

    def _servo_period(self, period: float) -> None:
        mj, m, d, s = self._mj, self._model, self._data, self.settings
        twist = self._current_twist()
        q = d.qpos[self._arm_q]
        if twist is None or not np.any(twist):
            # Stopped (no command within the timeout, or a zero twist): hold the target.
            qdot = np.zeros_like(self._q_des)
            if self.moving:
                self._q_des = q.copy()  # hold where the arm is, not where it was heading
            self.moving = False
        else:
            jacp = np.zeros((3, m.nv))
            jacr = np.zeros((3, m.nv))
            mj.mj_jacSite(m, d, jacp, jacr, self._site)
            jac = np.vstack([jacp[:, self._arm_v], jacr[:, self._arm_v]])
            jac = rotate_jacobian(jac, d.xmat[self._base].reshape(3, 3))
            posture = s.posture_gain * (self._q_home - q)
            qdot = twist_to_joint_velocities(jac, twist, s.damping, PANDA_JOINT_SPEED_LIMITS,
                                             posture)
            self.moving = True
        self.last_qdot = qdot
        # Anti-windup: where the torque limits keep a joint from following (a fast wrist turn),
        # a target integrated on its own ran up to 0.38 rad ahead and the arm went on turning
        # for 7 control periods after the command had stopped (bench_controller_response).
        e = s.max_tracking_error_rad
        start = np.clip(self._q_des, q - e, q + e)
        end = np.clip(start + qdot * period, self._q_range[:, 0], self._q_range[:, 1])
        self._q_des = end
        n = max(1, int(round(period / m.opt.timestep)))
        kp = s.stiffness
        kd = 2.0 * np.sqrt(kp)  # critically damped
        full_m = np.zeros((m.nv, m.nv))
        grip_step = s.gripper_speed_mps * m.opt.timestep
        for k in range(n):
            target = start + (end - start) * (k + 1) / n
            mj.mj_fullM(m, full_m, d.qM)
            mass = full_m[np.ix_(self._arm_v, self._arm_v)]
            err = target - d.qpos[self._arm_q]
            derr = qdot - d.qvel[self._arm_v]
            tau = d.qfrc_bias[self._arm_v] + mass @ (kp * err + kd * derr)
            d.ctrl[self._arm_act] = np.clip(tau, self._tau_range[:, 0], self._tau_range[:, 1])
            self._grip_ctrl += float(np.clip(self._grip_target - self._grip_ctrl,
                                             -grip_step, grip_step))
            d.ctrl[self._grip_act] = [self._grip_ctrl, -self._grip_ctrl]
            mj.mj_step(m, d)
        self.time_s += period

    # -- readings ---------------------------------------------------------------------------
    def _eef_pose_base(self) -> tuple[np.ndarray, np.ndarray]:
        d = self._data
        base_p = d.xpos[self._base]
        base_r = d.xmat[self._base].reshape(3, 3)
        pos = base_r.T @ (d.site_xpos[self._site] - base_p)
        rot = base_r.T @ d.site_xmat[self._site].reshape(3, 3)
        return pos, _matrix_to_quat_xyzw(rot)

    def read(self, render: bool = True) -> ArmReading:
        """Observe the scene now (renders the cameras when ``render``)."""
        e = self.env._env.env
        m, d = self._model, self._data
        self._mj.mj_forward(m, d)  # positions of the state mj_step ended in
        # What LiberoEnv reads from robosuite's observation (its grip site and hand body), so
        # that LiberoEnv's state, rewards and success read this scene unchanged.
        obs = {'robot0_eef_pos': d.site_xpos[self._site].copy(),
               'robot0_eef_quat': d.xquat[self._hand_body][[1, 2, 3, 0]].copy()}
        images = {}
        if render:
            size = self.env.image_size
            for key, cam in zip(self.env.camera_keys, self.env.cameras):
                raw = e.sim.render(camera_name=cam, width=size, height=size)
                obs[f'{cam}_image'] = raw
                images[key] = np.ascontiguousarray(raw[::-1])  # rows only: as the camera sees
        self.env._last_obs = obs
        self.env._state = None
        state = self.env._robot_state(obs)
        pos = state[STATE_NAMES.index('eef_pos_x'):STATE_NAMES.index('eef_pos_z') + 1]
        quat = state[STATE_NAMES.index('eef_quat_x'):STATE_NAMES.index('eef_quat_w') + 1]
        base_p = d.xpos[self._base]
        base_r = d.xmat[self._base].reshape(3, 3)
        base_q = d.xquat[self._base][[1, 2, 3, 0]]
        objects = {}
        for name, obj in self.env.sim_state().objects.items():
            objects[name] = (base_r.T @ (obj.pos - base_p), _quat_conj_mul(base_q, obj.quat))
        joints = np.concatenate([d.qpos[self._arm_q], d.qpos[self._grip_q]])
        vels = np.concatenate([d.qvel[self._arm_v], d.qvel[self._grip_q]])
        return ArmReading(time_s=self.time_s, images=images, joint_names=list(self.joint_names),
                          joint_positions=joints.copy(), joint_velocities=vels.copy(),
                          eef_position=np.asarray(pos).copy(),
                          eef_quaternion_xyzw=np.asarray(quat).copy(), objects=objects)

    def task_outcome(self):
        """Score the scene with the task's dense reward: (reward, stage, stages, success).

        Call once per control step, after ``read`` (the reward tracks stage progress).
        """
        state = self.env.sim_state()
        r = self.env.reward(state)
        return float(r.reward), int(r.stage), int(r.num_stages), bool(state.success)

    def close(self) -> None:
        self.env.close()


def _matrix_to_quat_xyzw(r: np.ndarray) -> np.ndarray:
    """Return the unit quaternion (x, y, z, w, w >= 0) of a rotation matrix."""
    tr = float(np.trace(r))
    if tr > 0:
        s = 2.0 * np.sqrt(tr + 1.0)
        q = np.array([(r[2, 1] - r[1, 2]) / s, (r[0, 2] - r[2, 0]) / s,
                      (r[1, 0] - r[0, 1]) / s, 0.25 * s])
    else:
        i = int(np.argmax(np.diag(r)))
        j, k = (i + 1) % 3, (i + 2) % 3
        s = 2.0 * np.sqrt(1.0 + r[i, i] - r[j, j] - r[k, k])
        q = np.zeros(4)
        q[i] = 0.25 * s
        q[j] = (r[j, i] + r[i, j]) / s
        q[k] = (r[k, i] + r[i, k]) / s
        q[3] = (r[k, j] - r[j, k]) / s
    q /= np.linalg.norm(q)
    return -q if q[3] < 0 else q


__all__ = ['ArmReading', 'PANDA_JOINT_SPEED_LIMITS', 'quat_xyzw_to_matrix',
           'ServoArm', 'ServoSettings']
