# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The VLA policy (no ROS imports): OpenVLA action tokens, batched sampling, LoRA, checkpoints.

Start here::

    from tgrpo_ros.policy import build_tiny_policy, load_policy
    policy = build_tiny_policy('cpu-5m', seed=0)          # or load_policy('/path/to/folder')
    sample = policy.sample(observations, temperature=1.0)  # actions, token_ids, logprobs, version

Where each concept lives: ``base.py`` (the interface), ``token_policy.py`` (its implementation),
``action_tokenizer.py``, ``normalization.py``, ``prompt.py``, ``preprocessing.py``, ``lora.py``,
``value_head.py``, ``checkpoint.py`` (folders), backends ``prismatic.py`` + ``vision.py``
(OpenVLA / Prismatic, layout in ``openvla_layout.py``), ``hf_vlm.py`` (HF VLMs), ``tiny.py``.
"""

from tgrpo_ros.policy.action_tokenizer import ActionTokenizer
from tgrpo_ros.contract import ACTION_DIM  # re-exported: policy users need it with the rest
from tgrpo_ros.policy.base import ActionSample, VLAPolicy
from tgrpo_ros.policy.device import resolve_device, resolve_dtype
from tgrpo_ros.policy.checkpoint import folder_kind, load_policy, save_policy
from tgrpo_ros.policy.lora import LoraSettings
from tgrpo_ros.policy.normalization import (ActionNormalizer, compute_dataset_statistics,
                                            read_statistics_file, select_statistics)
from tgrpo_ros.policy.preprocessing import ImagePreprocessing
from tgrpo_ros.policy.prompt import build_prompt
from tgrpo_ros.policy.tiny import build_tiny_policy
from tgrpo_ros.policy.token_policy import PolicySpec, TokenVLAPolicy

__all__ = [
    'ACTION_DIM', 'ActionNormalizer', 'ActionSample', 'ActionTokenizer', 'ImagePreprocessing',
    'LoraSettings', 'PolicySpec', 'TokenVLAPolicy', 'VLAPolicy', 'build_prompt',
    'build_tiny_policy', 'compute_dataset_statistics', 'folder_kind', 'load_policy',
    'read_statistics_file', 'resolve_device', 'resolve_dtype', 'save_policy',
    'select_statistics',
]
