# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Optional proprioception input: named robot-state entries as one extra prefix token.

Why: a single camera frame can leave the arm's own state ambiguous. The tiny LIBERO policies
closed the gripper above the can and lifted empty because, at 64 px, "open gripper just above
the can" and "can in the closed gripper" look alike; the gripper opening and the hand's height
(``Observation.state``) settle it. LIBERO's behaviour-cloning baselines and OpenVLA-OFT feed
proprioception too; OpenVLA itself does not, so policies without it are unchanged.

The encoder standardises the chosen entries with the demonstrations' mean and standard
deviation (stored with the weights), projects them linearly to the language model's width and
the result is placed before the image tokens, where every later token can attend to it. It
belongs to the base model: SFT trains it, and like the rest of the base it is frozen when a LoRA
adapter is attached, so the reference policy (the frozen start adapter) sees the same state
encoding.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from torch import nn

STD_FLOOR = 1e-3  # an entry that never varied in the demonstrations is not amplified


class ProprioEncoder(nn.Module):
    """(B, S) named robot states -> (B, 1, D) prefix embeddings.

    Args:
        state_names: the ``Observation.state_names`` entries read, in order.
        hidden_size: the language model's width D.
        mean, std: per-entry statistics of the training data (SI units, as the state).
    """

    def __init__(self, state_names: Sequence[str], hidden_size: int,
                 mean: Sequence[float] | None = None, std: Sequence[float] | None = None):
        super().__init__()
        if not state_names:
            raise ValueError('a proprioception encoder needs at least one state name')
        if len(set(state_names)) != len(state_names):
            raise ValueError(f'repeated state names in {list(state_names)}')
        self.state_names = list(state_names)
        n = len(self.state_names)
        mean = torch.zeros(n) if mean is None else torch.as_tensor(mean, dtype=torch.float32)
        std = torch.ones(n) if std is None else torch.as_tensor(std, dtype=torch.float32)
        if mean.shape != (n,) or std.shape != (n,):
            raise ValueError(f'mean/std must have {n} entries, one per state name')
        if not (torch.isfinite(mean).all() and torch.isfinite(std).all()):
            raise ValueError('state statistics must be finite')
        self.register_buffer('mean', mean.clone())
        self.register_buffer('std', std.clamp(min=STD_FLOOR))
        self.proj = nn.Linear(n, hidden_size)

    def select(self, states: Sequence[np.ndarray], names: Sequence[Sequence[str]]) -> np.ndarray:
        """Pick this encoder's entries from each observation's named state -> (B, S) float32."""
        return select_state(self.state_names, states, names)

    def forward(self, states: torch.Tensor) -> torch.Tensor:
        x = (states.to(self.mean.device, torch.float32) - self.mean) / self.std
        return self.proj(x.to(self.proj.weight.dtype))[:, None, :]


def select_state(wanted: Sequence[str], states: Sequence[np.ndarray],
                 names: Sequence[Sequence[str]]) -> np.ndarray:
    """Entries ``wanted`` of each row's named state -> (B, len(wanted)) float32.

    Errors name the problem: a missing entry (e.g. a robot bridge that does not publish the
    gripper), a state whose length disagrees with its names, or a non-finite value.
    """
    out = np.empty((len(states), len(wanted)), dtype=np.float32)
    for i, (state, row_names) in enumerate(zip(states, names)):
        index = {name: k for k, name in enumerate(row_names)}
        missing = [n for n in wanted if n not in index]
        if missing:
            raise KeyError(f'observation lacks state entries {missing}; the policy reads '
                           f'{list(wanted)}, the observation has {list(row_names)}')
        state = np.asarray(state, dtype=np.float64)
        if state.shape != (len(row_names),):
            raise ValueError(f'observation state has shape {state.shape} but '
                             f'{len(row_names)} state names')
        row = state[[index[n] for n in wanted]]
        if not np.isfinite(row).all():
            bad = [n for n, x in zip(wanted, row) if not np.isfinite(x)]
            raise ValueError(f'observation state entries {bad} are not finite')
        out[i] = row
    return out


def state_statistics(states: np.ndarray) -> tuple[list[float], list[float]]:
    """Per-entry (mean, std) of (N, S) training states, as plain lists for JSON/config."""
    states = np.asarray(states, dtype=np.float64)
    if states.ndim != 2 or len(states) == 0:
        raise ValueError(f'need (N, S) states with N > 0, got shape {states.shape}')
    return states.mean(0).tolist(), states.std(0).tolist()
