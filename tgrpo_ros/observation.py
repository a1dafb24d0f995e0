# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The observation every part agrees on, free of ROS types.

Data flows one way: an environment (LIBERO or a real robot bridge) produces an ``Observation``,
the policy turns a batch of them into actions, the environment returns a ``StepOutcome``.
ROS nodes convert these to and from ``tgrpo_ros.msg.Observation`` / ``StepResult``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tgrpo_ros.contract import DoneReason


@dataclass
class Observation:
    """One observation of one environment at one control step.

    images: camera name -> (H, W, 3) uint8 RGB array, upright as a camera delivers it
        (the LIBERO adapter flips MuJoCo's renders; nothing downstream flips).
    state: (S,) float64 robot state in SI units, ``state[k]`` named ``state_names[k]``.
    instruction: the natural-language task instruction.
    task: task identifier, ``"<suite>/<task_name>"`` in simulation.
    """

    images: dict[str, np.ndarray]
    state: np.ndarray = field(default_factory=lambda: np.zeros(0))
    state_names: list[str] = field(default_factory=list)
    instruction: str = ''
    task: str = ''


@dataclass
class StepOutcome:
    """What applying one action produced (the observation that follows is separate).

    reward: dense reward R_t of the state reached (not a running total).
    stage: highest reward stage satisfied (0 = none), out of num_stages.
    success: the task's own success check passed.
    done: the episode is over; done_reason says why (``DoneReason.RUNNING`` while it runs).
    """

    reward: float
    stage: int
    num_stages: int
    success: bool
    done: bool
    done_reason: DoneReason = DoneReason.RUNNING
