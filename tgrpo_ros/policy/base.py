# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The one policy interface every node, trainer and evaluator uses.

Modelled on LeRobot's PreTrainedPolicy, but explicit about what RL needs: sampled tokens and
their log-probabilities, and teacher-forced log-probabilities of given tokens with or without
gradients, under the trained adapter, the base model, or the reference policy (the start
policy, kept by ``freeze_reference``). There is no hidden train/eval switch: every call says
what it wants.

Log-probabilities (``tgrpo_ros.contract``): per action token (7 per action), from the softmax
restricted to the 256 action token ids, at the sampling temperature. For temperature 0 (greedy)
they are computed at temperature 1.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch

from tgrpo_ros.contract import ACTION_DIM
from tgrpo_ros.observation import Observation
from tgrpo_ros.versioning import PolicyVersion

# ACTION_DIM is part of this interface (the shapes below), so it is exported with it.
__all__ = ['ACTION_DIM', 'ActionSample', 'VLAPolicy']


@dataclass
class ActionSample:
    """Actions for a batch of B observations.

    actions: (B, ACTION_DIM) float64, in the ENVIRONMENT's action space (``tgrpo_ros.contract``).
    token_ids: (B, ACTION_DIM) int64 action token ids.
    logprobs: (B, ACTION_DIM) float32 per-token log-probabilities (see module docstring).
    version: the policy version that produced them.
    """

    actions: np.ndarray
    token_ids: torch.Tensor
    logprobs: torch.Tensor
    version: PolicyVersion


class VLAPolicy(ABC):
    """A vision-language-action policy with OpenVLA-style action tokens."""

    @property
    @abstractmethod
    def version(self) -> PolicyVersion:
        """Return the version currently served (changes when an adapter is loaded)."""

    @abstractmethod
    def sample(self, batch: Sequence[Observation], temperature: float = 1.0,
               generator: torch.Generator | None = None, *,
               uniforms: torch.Tensor | None = None) -> ActionSample:
        """Sample one action per observation, batched; no gradients.

        The noise: ``uniforms`` (B, ACTION_DIM) float64 in [0, 1) when given (rows of several
        groups, each drawn from its own stream), else one (B, ACTION_DIM) draw from
        ``generator``. A row's result does not depend on what else is in the batch (given the
        same noise for that row).
        """

    @abstractmethod
    def token_logprobs(self, batch: Sequence[Observation], token_ids: torch.Tensor,
                       temperature: float = 1.0, *, grad: bool, use_adapter: bool = True,
                       reference: bool = False) -> torch.Tensor:
        """Teacher-forced log-probs (B, ACTION_DIM) of ``token_ids`` in one forward pass.

        grad=True keeps the graph for the update; use_adapter=False gives the base model (the
        LoRA adapter disabled); reference=True (with grad=False) gives the reference policy of
        the KL term, the weights ``freeze_reference`` kept.
        """

    @abstractmethod
    def freeze_reference(self) -> None:
        """Keep the current weights, frozen, as the reference policy (where RL starts)."""

    @abstractmethod
    def trainable_parameters(self) -> list[torch.nn.Parameter]:
        """Return the parameters an optimiser updates (LoRA weights, value head if any)."""

    @abstractmethod
    def save_adapter(self, folder: str, version: int) -> PolicyVersion:
        """Write the adapter atomically to ``folder`` and return its version (with SHA-256)."""

    @abstractmethod
    def load_adapter(self, folder: str, expected: PolicyVersion | None = None) -> PolicyVersion:
        """Load an adapter; with ``expected``, verify its SHA-256 first and raise on mismatch.

        On any error the previously served adapter stays in place.
        """
