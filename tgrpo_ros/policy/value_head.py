# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Optional value head for PPO baselines: V(s) from the LM's last hidden state of the prefix.

It reads the hidden state at the position that predicts the first action token (the whole
observation and prompt are behind it), in float32 whatever the model's dtype.
"""

from __future__ import annotations

import torch
from torch import nn


class ValueHead(nn.Module):
    """(B, D) hidden state -> (B,) value; zero-initialised output so early values are 0."""

    def __init__(self, hidden_size: int, width: int = 256) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(hidden_size, width), nn.Tanh(), nn.Linear(width, 1))
        nn.init.zeros_(self.net[2].weight)
        nn.init.zeros_(self.net[2].bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.net(hidden.float()).squeeze(-1)
