# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The operator of online training on a robot: what they see, what they press, ROS-free.

Between the trials of a group a person restores the scene and says so (``reset done``); during
a trial they may label it (``success``, ``failure``, ``stage reached k``) or ``abort`` it (the
trial is then masked out of its group: the abnormal-trial rule in ``tgrpo_ros.contract``).
``ros/nodes/operator_node.py`` offers every action as a ROS service and, on a terminal, as a
key; this module holds what both share: the labels, the key map, the screen as text (so the
terminal interface, the README's picture and the tests draw the same thing) and the scripted
operator that stands in for a person against the simulated arm.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np


class Label(StrEnum):
    """What an operator says about the running trial (``TrialLabel.label`` on the wire)."""

    SUCCESS = 'success'
    FAILURE = 'failure'
    ABORT = 'abort'    # ends the trial abnormally: masked out of its group
    STAGE = 'stage'    # the trial reached stage ``TrialLabel.stage`` (1-based)

    @classmethod
    def parse(cls, text: str) -> 'Label':
        try:
            return cls(text.strip().lower())
        except ValueError:
            raise ValueError(f'label must be one of {", ".join(m.value for m in cls)}; got '
                             f'{text!r}') from None


#: The keys of the terminal interface. Digits 1-9 say "stage k reached".
KEYS = {'r': 'reset_done', 's': Label.SUCCESS, 'f': Label.FAILURE, 'a': Label.ABORT,
        'q': 'quit'}


def key_action(key: str) -> tuple[str, int]:
    """Map a key to (action, stage): action is 'reset_done', 'quit', a ``Label`` value or ''.

    Unknown keys give ('', 0) so a stray key press does nothing.
    """
    if len(key) == 1 and key.isdigit() and key != '0':
        return Label.STAGE.value, int(key)
    action = KEYS.get(key.lower(), '')
    return str(action), 0


@dataclass
class OperatorView:
    """Everything the operator's screen shows; the node keeps it current."""

    group_id: int = 0
    trial: int = 0               # 1-based trial within the group; 0 = none yet
    trials_per_group: int = 0
    episode_id: int = 0
    task: str = ''
    init_state: int = -1
    policy_version: str = '-'
    safety: str = 'unknown'      # the arm adapter's mode and reasons (/diagnostics)
    waiting_reset: bool = False  # a reset was asked for and not yet confirmed
    stage: int = 0
    num_stages: int = 0
    last_label: str = ''
    log: list[str] = field(default_factory=list)

    def note(self, line: str, keep: int = 6) -> None:
        self.log = (self.log + [line])[-keep:]


def render(view: OperatorView, width: int = 72) -> list[str]:
    """Return the screen as lines of text (the terminal, the README and tests draw these)."""
    bar = '=' * width
    if view.waiting_reset:
        state = (f'RESET the scene to initial state {view.init_state} of {view.task or "?"}'
                 ', then press [r]')
    elif view.trial:
        state = f'trial running: stage {view.stage}/{view.num_stages}'
    else:
        state = 'idle: waiting for the learner'
    lines = [
        bar,
        ' tgrpo_ros operator'.ljust(width - 22) + f'policy {view.policy_version}'[:22],
        bar,
        f' group {view.group_id}   trial {view.trial}/{view.trials_per_group}   '
        f'episode {view.episode_id}',
        f' task  {view.task or "-"}',
        f' safety {view.safety}',
        f' >> {state}',
        f' last label: {view.last_label or "-"}',
        '-' * width,
        ' [r] reset done  [s] success  [f] failure  [a] abort  [1-9] stage reached  [q] quit',
        '-' * width,
    ]
    lines += [' ' + line for line in view.log]
    return [line[:width] for line in lines]


class ScriptedOperator:
    """Stands in for a person against the simulated arm.

    It restores the scene with an error (a person never puts objects back exactly): each
    object's position is displaced in the table plane by a normal error of
    ``placement_error_m`` per axis, clipped at three of it. It aborts the trials listed in
    ``abort_trials`` ((group_id, trial) pairs, trial 1-based), after ``abort_after_steps``.
    """

    def __init__(self, placement_error_m: float = 0.01, seed: int = 0,
                 abort_trials: tuple[tuple[int, int], ...] = (), abort_after_steps: int = 3):
        if not placement_error_m >= 0:
            raise ValueError(f'placement_error_m must be >= 0 m, got {placement_error_m}')
        if abort_after_steps < 0:
            raise ValueError(f'abort_after_steps must be >= 0, got {abort_after_steps}')
        self.placement_error_m = float(placement_error_m)
        self.rng = np.random.default_rng(seed)
        self.abort_trials = {(int(g), int(t)) for g, t in abort_trials}
        self.abort_after_steps = int(abort_after_steps)

    def placement_offset(self) -> np.ndarray:
        """(3,) displacement [m] for one object: x and y only (objects rest on the table)."""
        e = self.placement_error_m
        xy = np.clip(self.rng.normal(0.0, e, 2), -3 * e, 3 * e) if e > 0 else np.zeros(2)
        return np.array([xy[0], xy[1], 0.0])

    def label_for(self, group_id: int, trial: int, step: int) -> Label | None:
        """Return the label to give at this step of a trial, or None."""
        if (group_id, trial) in self.abort_trials and step >= self.abort_after_steps:
            return Label.ABORT
        return None
