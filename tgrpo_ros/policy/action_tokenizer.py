# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""OpenVLA's action tokenizer: 256 uniform bins over [-1, 1] mapped onto the last text tokens.

The formula follows OpenVLA's ``ActionTokenizer`` (arXiv 2406.09246):
``bins = linspace(-1, 1, 256)``, ``token id = vocab_size - digitize(clip(a, -1, 1), bins)``
so the ids are ``vocab_size - 256 .. vocab_size - 1`` in DESCENDING order of bin; decoding goes
through the 255 bin centres, ``index = clip(vocab_size - id - 1, 0, 254)``. ``vocab_size`` is
the text vocabulary (32000 for Llama-2), not the padded logit count (32064).

Inside the policy the 256 action ids are kept in ASCENDING id order: column ``j`` of a restricted
softmax is token id ``first_id + j``.
"""

from __future__ import annotations

import numpy as np
import torch

N_BINS = 256


class ActionTokenizer:
    """Map normalised actions in [-1, 1] to token ids and back, exactly as OpenVLA does."""

    def __init__(self, vocab_size: int = 32000, n_bins: int = N_BINS) -> None:
        if vocab_size <= n_bins:
            raise ValueError(f'vocab_size {vocab_size} must exceed the number of bins {n_bins}')
        self.vocab_size = int(vocab_size)
        self.n_bins = int(n_bins)
        self.bins = np.linspace(-1.0, 1.0, self.n_bins)
        self.bin_centers = (self.bins[:-1] + self.bins[1:]) / 2.0

    @property
    def first_id(self) -> int:
        """Return the smallest action token id (``vocab_size - 256``)."""
        return self.vocab_size - self.n_bins

    @property
    def action_token_ids(self) -> torch.Tensor:
        """Return (256,) int64 action token ids, ascending."""
        return torch.arange(self.first_id, self.vocab_size, dtype=torch.long)

    def encode(self, normalized: np.ndarray) -> np.ndarray:
        """Tokenise (..., D) normalised actions into (..., D) int64 token ids.

        Values are clipped to [-1, 1] first; NaN is an error (it has no bin).
        """
        a = np.asarray(normalized, dtype=np.float64)
        if np.isnan(a).any():
            raise ValueError('cannot tokenise an action containing NaN')
        a = np.clip(a, -1.0, 1.0)
        return (self.vocab_size - np.digitize(a, self.bins)).astype(np.int64)

    def decode(self, token_ids: np.ndarray | torch.Tensor) -> np.ndarray:
        """Turn (..., D) token ids into (..., D) float64 normalised actions (bin centres)."""
        ids = token_ids.detach().cpu().numpy() if isinstance(token_ids, torch.Tensor) \
            else np.asarray(token_ids)
        index = np.clip(self.vocab_size - ids.astype(np.int64) - 1, 0, self.n_bins - 2)
        return self.bin_centers[index]

    def ids_to_columns(self, token_ids: torch.Tensor) -> torch.Tensor:
        """Map action token ids to columns 0..255 of the restricted softmax; others are errors."""
        cols = token_ids.long() - self.first_id
        if bool(((cols < 0) | (cols >= self.n_bins)).any()):
            raise ValueError(f'token ids outside the action range [{self.first_id}, '
                             f'{self.vocab_size - 1}]: {token_ids.tolist()}')
        return cols
