# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The contract between the parts of tgrpo_ros: written once, here; the code cites this module.

Data flows one way: observation -> policy -> action -> reward -> learner -> weights. Each arrow
is a convention below; the ROS messages (``msg/``, ``srv/``) carry the same fields.

Identity of a step
    Every observation, action and step result carries ``env_id`` (an environment's name, the
    namespace of its node, e.g. ``env0``), ``episode_id`` (counts up per environment from 1; 0 =
    no episode yet), ``step`` (0-based control step of the episode) and ``group_id``. A group is
    N episodes started from one initial state and learned from together; its id is the training
    iteration that collects it, chosen by the learner and sent with each reset, so the name is
    ``group_id`` everywhere (never ``it`` or ``iteration`` for this meaning). 0 = outside
    training. An action is applied only to the (env_id, episode_id, step) it names; a step
    result names the step of the action applied (the observation that follows has step + 1).

Action space
    ``ACTION_DIM`` = 7 values in the ENVIRONMENT's action space, after the policy's
    un-normalisation: for LIBERO the OSC_POSE delta command, each in [-1, 1]: x, y, z, roll,
    pitch, yaw deltas, then the gripper, -1 = open, +1 = close. One action per control step
    (LIBERO: ``CONTROL_HZ`` = 20 Hz). A real arm's adapter scales this space to SI units by its
    robot profile (``tgrpo_ros.real.robot_profile``). The policy's normalised space and its
    tokens stay inside the policy; tokens and their log-probs travel with the action only so
    the learner can learn from it.

Images
    Every image of an observation is upright, as a camera delivers it, ``rgb8`` unless the
    message names another encoding. The LIBERO adapter flips MuJoCo's renders; nothing
    downstream flips. Policy preprocessing is one code path for simulation, robots and bags
    (``tgrpo_ros.policy.preprocessing``): optional JPEG round trip, resize, optional centre crop.

Log-probabilities
    One per action token (``ACTION_DIM`` per action), from the softmax over the
    ``NUM_ACTION_BINS`` = 256 action tokens only, at the sampling temperature the action carries
    (a greedy action, temperature 0, carries them at temperature 1: greedy has no distribution).
    The sampler and the learner compute them with the same code, so before the first gradient
    step the ratio is 1 (|log ratio| < 1e-4 in float32 on the CPU).

Policy versions
    A version is an integer that only grows plus the SHA-256 of the adapter weights file
    (``tgrpo_ros.versioning``); version 0 with an empty digest is the start policy. The policy
    node publishes the version it serves and every action carries it; the learner announces a
    new adapter by path, version and digest, and the policy node checks the digest before it
    switches.

Rewards
    R_{i,t} is the dense reward of the state reached by step t (stage reached, plus a shaped
    progress term within the stage, plus the success bonus), evaluated at every step; it is
    not a running total. The reward spec states the scale (``config/rewards/FORMAT.md``).

Done reasons
    ``DoneReason``: why an episode is over: ``StepOutcome.done_reason`` holds the enum, the
    message field ``StepResult.done_reason`` its value (ROS messages have no enums; convert at
    the boundary with ``DoneReason.parse(msg.done_reason)``). ``EndReason``: why the learner
    ends an episode early, the value sent in ``EndEpisode.reason``. Both are ``StrEnum``s, so a
    member compares equal to its string and prints as it.

Advantage estimators
    ``tgrpo`` (step and trajectory advantages fused 0.3/0.7), ``traj`` (trajectory-level only,
    on the dense return), ``step`` (step-level only), ``grpo_outcome`` (trajectory-level on 0/1
    success), ``gae`` (the PPO baseline). Standard deviations use N - 1 and no epsilon; fewer
    than 2 valid entries, or a standard deviation below 1e-8, gives advantage 0 there. Where
    trajectories end apart, the trajectory score holds a success at its reward up to the
    group's longest length and never ranks it below a longer failure
    (``tgrpo_ros.algo.advantages``).
"""

from __future__ import annotations

from enum import StrEnum

ACTION_DIM = 7
NUM_ACTION_BINS = 256
CONTROL_HZ = 20.0


class _Reason(StrEnum):
    """A reason carried as a string in messages; ``parse`` turns the string back."""

    @classmethod
    def parse(cls, text: str):
        """Return the member whose value is ``text``; an unknown one raises naming the known."""
        try:
            return cls(text)
        except ValueError:
            raise ValueError(f'unknown {cls.__name__} {text!r}; known: '
                             f'{[r.value for r in cls]}') from None


class DoneReason(_Reason):
    """Why an episode is over (``StepResult.done_reason``; '' while it runs)."""

    RUNNING = ''
    SUCCESS = 'success'         # the task's own success check passed
    MAX_STEPS = 'max_steps'     # the episode's step limit was reached
    ENDED = 'ended'             # ended from outside (EndEpisode); the final result is no step
    ERROR = 'error'             # the environment failed while stepping
    OPERATOR_ABORT = 'operator_abort'  # an operator aborted a robot trial
    EMERGENCY_STOP = 'emergency_stop'  # the arm adapter reported an emergency stop
    FAILED = 'failed'           # an operator judged a robot trial failed (a normal end)

    @property
    def abnormal(self) -> bool:
        """Whether the trial ended abnormally: masked out of its group."""
        return self in (DoneReason.ERROR, DoneReason.OPERATOR_ABORT, DoneReason.EMERGENCY_STOP)


class EndReason(_Reason):
    """Why the learner ends an episode early (``EndEpisode.reason``)."""

    GROUP_DONE = 'group_done'   # the group's completion rule no longer needs this episode
    SHUTDOWN = 'shutdown'       # the learner is stopping
