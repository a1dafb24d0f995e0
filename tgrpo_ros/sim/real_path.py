# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The real-robot path, in one process and in lockstep: for measuring the interface gap.

``real_deploy`` on ``sim_robot`` is camera -> camera_state_bridge -> policy -> arm_adapter
(SafetyFilter) -> TwistStamped -> Servo-style arm. ``RealPathEpisode`` runs the same chain
without ROS, each part the package's own code (the bridge's image conversion and state vector,
the adapter's ``SafetyFilter`` with the robot profile, ``ServoArm``), one control period at a
time, so a comparison with direct LIBERO on the same initial states and seeds isolates what the
interface changes (action scale, controller, image orientation, gripper) from ROS scheduling.
Faults (latency in control periods, dropped frames) are modelled on the observation side.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tgrpo_ros.observation import Observation
from tgrpo_ros.real.input_sync import state_vector
from tgrpo_ros.real.robot_profile import RobotProfile
from tgrpo_ros.real.safety import SafetyFilter
from tgrpo_ros.sim.servo_arm import ServoArm


@dataclass
class PathOptions:
    """What the real path does differently (each a switch, for one benchmark row each)."""

    mirror_images: bool = False      # bridge mirrors images left-right (LIBERO's convention)
    latency_s: float = 0.0           # frame -> command applied at the arm [s]
    jitter_s: float = 0.0            # extra delay, uniform in [0, jitter_s] per frame [s]
    drop_rate: float = 0.0           # fraction of frames lost: no new action, the last is held
    image_noise_std: float = 0.0     # Gaussian pixel noise [0-255]


@dataclass
class EpisodeResult:
    success: bool
    steps: int
    dense_return: float
    max_stage: int


def bridge_observation(profile: RobotProfile, reading, instruction: str, task: str,
                       mirror: bool) -> Observation:
    """Build what camera_state_bridge makes of a reading (rgb8 images, the profile's state)."""
    images = {}
    for cam in profile.cameras:
        img = reading.images[cam.name]
        images[cam.name] = np.ascontiguousarray(img[:, ::-1]) if mirror else img
    positions = reading.joint_positions.copy()
    positions[8] = -positions[8]  # as sim_robot publishes it (each finger's opening)
    names = list(profile.arm_joints) + list(profile.gripper.state_joints)
    js = (names, positions.tolist())
    state_names, values = state_vector(reading.eef_position, reading.eef_quaternion_xyzw, js,
                                       profile.gripper.state_joints, profile.gripper.state_signs,
                                       js, profile.arm_joints)
    return Observation(images=images, state=np.asarray(values), state_names=state_names,
                       instruction=instruction, task=task)


def armed_filter(profile: RobotProfile, arm: ServoArm) -> SafetyFilter:
    """Return the adapter's SafetyFilter, deadman held and armed at the arm's clock."""
    safety = SafetyFilter(profile)
    now = arm.time_s
    safety.on_deadman(True, now)
    safety.arm(now - 1e-6)
    return safety


def filter_command(safety: SafetyFilter, reading, action: np.ndarray | None, now: float):
    """Run one control period of the adapter's filter and return its command (or None).

    The pose, then the action (None: a dropped frame, the filter holds the last one), then
    the filter's decision, in the adapter's order.
    """
    safety.on_deadman(True, now)
    safety.on_pose(reading.eef_position, reading.eef_quaternion_xyzw, now)
    if action is not None:
        safety.on_observation(now)
        safety.on_action(action, now)
    return safety.step(now).command


def servo_until(arm: ServoArm, end: float, before_tick=None) -> None:
    """Run the arm's servo ticks up to time ``end`` [s].

    ``before_tick()``, if given, runs before each tick (the real path delivers the commands
    due by then).
    """
    servo = 1.0 / arm.settings.servo_rate_hz
    while arm.time_s < end - 1e-9:
        if before_tick is not None:
            before_tick()
        arm.advance(servo)


def run_episode(policy, arm: ServoArm, profile: RobotProfile, init_state: int, seed: int,
                max_steps: int, temperature: float, generator, options: PathOptions,
                rng: np.random.Generator) -> EpisodeResult:
    """One episode through the real path (see the module docstring).

    Each control period: read the scene (a camera frame and the state), the bridge's
    observation, one policy action, the adapter's ``SafetyFilter`` step; the resulting twist
    reaches the arm ``latency_s`` (+ jitter) later, at the servo rate's resolution; until then
    the arm keeps the previous twist (as Servo does, within its command timeout). A dropped
    frame gives no new action: the filter holds the last one (HOLDING_LAST_ACTION), as the
    adapter does when the bridge publishes nothing new.
    """
    arm.reset(init_state, seed)
    env = arm.env
    dt = profile.control_period_s
    safety = armed_filter(profile, arm)
    pending: list[tuple[float, object]] = []  # (time it reaches the arm, command)
    last_arrival = -np.inf
    total, best, success = 0.0, 0, False
    steps = 0
    gripper_closed = None

    def deliver() -> None:
        nonlocal gripper_closed
        while pending and pending[0][0] <= arm.time_s + 1e-9:
            _, c = pending.pop(0)
            arm.set_twist(c.linear, c.angular, arm.time_s)
            if c.gripper_closed is not None and c.gripper_closed != gripper_closed:
                g = profile.gripper
                arm.set_gripper(g.closed_position if c.gripper_closed else g.open_position)
                gripper_closed = c.gripper_closed

    for steps in range(1, max_steps + 1):
        now = arm.time_s
        reading = arm.read(render=True)
        if options.image_noise_std > 0:
            for k, img in reading.images.items():
                reading.images[k] = np.clip(img + rng.normal(0, options.image_noise_std,
                                                             img.shape), 0, 255).astype(np.uint8)
        action = None
        dropped = options.drop_rate > 0 and steps > 1 and rng.random() < options.drop_rate
        if not dropped:
            obs = bridge_observation(profile, reading, env.instruction, env.task_id,
                                     options.mirror_images)
            sample = policy.sample([obs], temperature, generator)
            action = np.asarray(sample.actions[0], dtype=np.float64)
        cmd = filter_command(safety, reading, action, now)
        if cmd is not None:
            delay = options.latency_s + (rng.uniform(0.0, options.jitter_s)
                                         if options.jitter_s > 0 else 0.0)
            arrival = max(now + delay, last_arrival)  # commands arrive in order
            last_arrival = arrival
            pending.append((arrival, cmd))
        servo_until(arm, now + dt, deliver)
        arm.read(render=False)
        reward, stage, _, success = arm.task_outcome()
        total += reward
        best = max(best, stage)
        if success:
            break
    return EpisodeResult(success=success, steps=steps, dense_return=total, max_stage=best)


def run_direct_episode(policy, env, init_state: int, seed: int, max_steps: int,
                       temperature: float, generator) -> EpisodeResult:
    """One episode in LIBERO directly (LiberoEnv, its OSC_POSE controller, its images)."""
    obs = env.reset(init_state, seed)
    total, best, success, steps = 0.0, 0, False, 0
    for steps in range(1, max_steps + 1):
        sample = policy.sample([obs], temperature, generator)
        obs, outcome = env.step(np.asarray(sample.actions[0], dtype=np.float64))
        total += outcome.reward
        best = max(best, outcome.stage)
        if outcome.success:
            success = True
            break
    return EpisodeResult(success=success, steps=steps, dense_return=total, max_stage=best)
