# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""What the policy needs from a model: a left-padded multimodal prefix, a decoder, logits.

Every backend (Prismatic/OpenVLA and the tiny model in ``prismatic.py``, Hugging Face
image-text-to-text VLMs in ``hf_vlm.py``) is an ``nn.Module`` implementing these few methods, so
that sampling, teacher forcing, LoRA and the value head are written once (``token_policy.py``).
Shapes: B batch rows, L prefix length (after left padding), D hidden size, k new tokens.
"""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn


class VLABackbone(nn.Module):
    """Interface of a model backend (subclasses are plain ``nn.Module`` trees)."""

    #: Where the prompt text's BOS/image layout comes from; see subclasses.
    family: str = ''

    @property
    def hidden_size(self) -> int:
        raise NotImplementedError

    def prefix_embeddings(self, pixels: torch.Tensor, prompt_ids: Sequence[Sequence[int]]
                          ) -> list[torch.Tensor]:
        """Per-row prefix embeddings [(L_i, D)] from (B, n_cameras, 3, S, S) pixels in [0, 1]."""
        raise NotImplementedError

    def embed_tokens(self, ids: torch.Tensor) -> torch.Tensor:
        """(B, k) int64 -> (B, k, D)."""
        raise NotImplementedError

    def decoder(self, inputs_embeds: torch.Tensor, attention_mask: torch.Tensor,
                position_ids: torch.Tensor, past_key_values=None, use_cache: bool = False):
        """Run the language model body: returns (last hidden (B, T, D), cache or None)."""
        raise NotImplementedError

    def logits(self, hidden: torch.Tensor) -> torch.Tensor:
        """(B, k, D) -> (B, k, V) logits over the full (padded) vocabulary."""
        raise NotImplementedError


def left_pad(rows: Sequence[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
    """Stack [(L_i, D)] right-aligned into (B, L, D) with a (B, L) int64 attention mask.

    Left padding keeps every row's last prefix token in the last column, so the next token of
    all rows is produced at the same step; padded slots are zeros and masked out.
    """
    length = max(r.shape[0] for r in rows)
    out = rows[0].new_zeros((len(rows), length, rows[0].shape[-1]))
    mask = torch.zeros((len(rows), length), dtype=torch.long, device=rows[0].device)
    for i, r in enumerate(rows):
        out[i, length - r.shape[0]:] = r
        mask[i, length - r.shape[0]:] = 1
    return out, mask


def positions_from_mask(mask: torch.Tensor) -> torch.Tensor:
    """(B, L) attention mask -> (B, L) position ids counting only real tokens (pads get 0)."""
    return (mask.cumsum(-1) - 1).clamp(min=0)
