# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Build the policy a run names: ``tiny:<size>`` or a folder, with a LoRA adapter attached.

One function for the in-process loop, the learner node and the policy node, so that the
learner and the policy node build bit-identical base models from the same settings (the tiny
models are seeded) and their log-probs agree.
"""

from __future__ import annotations

import torch

from tgrpo_ros.policy.checkpoint import load_policy
from tgrpo_ros.policy.lora import LoraSettings
from tgrpo_ros.policy.model_location import resolve_model
from tgrpo_ros.policy.preprocessing import MODEL
from tgrpo_ros.policy.tiny import build_tiny_policy
from tgrpo_ros.policy.token_policy import TokenVLAPolicy
from tgrpo_ros.training.settings import PolicySettings, SimTrainSettings


def _dtype(device: str, dtype: str = 'auto') -> torch.dtype:
    if dtype == 'float32':
        return torch.float32
    if dtype == 'bfloat16':
        return torch.bfloat16
    if dtype != 'auto':
        raise ValueError(f"dtype must be 'auto', 'float32' or 'bfloat16'; got {dtype!r}")
    return torch.float32 if str(device).startswith('cpu') else torch.bfloat16


def build_policy(model: str, *, device: str = 'cpu', cameras: tuple[str, ...] = ('agentview',),
                 lora_rank: int = 8, lora_alpha: float = 16.0, seed: int = 0,
                 adapter: str = '', trust_remote_code: bool = False, dtype: str = 'auto',
                 resize_filter: str = MODEL, jpeg_round_trip: str = MODEL,
                 center_crop_area: float = 0.0) -> TokenVLAPolicy:
    """Return the named policy with a fresh (or the given) LoRA adapter attached.

    model: 'tiny:<size>' builds a randomly initialised tiny model from ``seed``; anything
        else is a folder for ``tgrpo_ros.policy.checkpoint.load_policy``, found by
        ``tgrpo_ros.policy.model_location.resolve_model`` ('sft:<name>' = the package's
        models/sft_<name>; a relative path also inside the package). A saved policy that
        already carries an adapter keeps it (and its version).
    adapter: an adapter folder to load after attaching (its SHA-256 is recorded as version).
    trust_remote_code: let transformers run code shipped in the folder (the setting
        ``policy.trust_remote_code``); False never runs it and never asks on the terminal.
    dtype: ``policy.dtype`` ('auto': float32 on a CPU, bfloat16 on a GPU).
    resize_filter, jpeg_round_trip, center_crop_area: the image settings of the same names
        (``ImagePreprocessing.with_overrides``); 'model' / 0 keep the model's own. A policy
        saved later keeps them in its spec, so it is evaluated as it was trained.
    """
    if model.startswith('tiny:'):
        policy = build_tiny_policy(model.split(':', 1)[1], seed=seed, cameras=tuple(cameras),
                                   device=device, dtype=_dtype(device, dtype))
    else:
        policy = load_policy(resolve_model(model), device=device, dtype=_dtype(device, dtype),
                             cameras=list(cameras), trust_remote_code=trust_remote_code)
    policy.spec = policy.spec.with_overrides({'preprocessing': policy.spec.preprocessing
                                              .with_overrides(resize_filter, jpeg_round_trip,
                                                              center_crop_area)})
    if policy.peft is None:
        policy.add_lora(LoraSettings(rank=int(lora_rank), alpha=float(lora_alpha)))
    if adapter:
        policy.load_adapter(adapter)
    return policy


def policy_from(p: PolicySettings, cameras: tuple[str, ...], seed: int) -> TokenVLAPolicy:
    """Return the policy the ``policy`` settings describe (the learner's and the policy node's)."""
    return build_policy(p.model, device=p.device, cameras=tuple(cameras), lora_rank=p.lora_rank,
                        lora_alpha=p.lora_alpha, seed=seed, adapter=p.adapter,
                        trust_remote_code=p.trust_remote_code, dtype=p.dtype,
                        resize_filter=p.resize_filter, jpeg_round_trip=p.jpeg_round_trip,
                        center_crop_area=p.center_crop_area)


def policy_for(settings: SimTrainSettings) -> TokenVLAPolicy:
    """Return the learner's policy of a training run (the policy node builds the same one)."""
    return policy_from(settings.policy, settings.env.cameras, settings.run.seed)
