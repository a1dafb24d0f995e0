# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Device and dtype selection from the strings users type (node parameters, CLI flags).

``auto`` means: the first CUDA GPU when there is one, else the CPU; float32 on the CPU (bf16
matmuls there are slow and the log-prob contract is stated for float32), bfloat16 on GPUs that
support it, else float16.
"""

from __future__ import annotations

import torch

DTYPE_NAMES = {
    'float32': torch.float32, 'fp32': torch.float32,
    'bfloat16': torch.bfloat16, 'bf16': torch.bfloat16,
    'float16': torch.float16, 'fp16': torch.float16,
}


def resolve_device(name: str | torch.device = 'auto') -> torch.device:
    """Turn 'auto', 'cpu', 'cuda' or 'cuda:N' into a torch.device, checking it exists."""
    if isinstance(name, torch.device):
        device = name
    elif name == 'auto':
        device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    else:
        try:
            device = torch.device(name)
        except RuntimeError as e:
            raise ValueError(f'unknown device {name!r} (use auto, cpu, cuda or cuda:N)') from e
    if device.type == 'cuda':
        if not torch.cuda.is_available():
            raise ValueError(f'device {name!r} requested but CUDA is not available')
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise ValueError(f'device {name!r} requested but only '
                             f'{torch.cuda.device_count()} CUDA device(s) exist')
    return device


def resolve_dtype(name: str | torch.dtype = 'auto',
                  device: torch.device | str = 'cpu') -> torch.dtype:
    """Turn 'auto' or a dtype name (float32/fp32, bfloat16/bf16, float16/fp16) into a dtype."""
    if isinstance(name, torch.dtype):
        return name
    if name == 'auto':
        if torch.device(device).type != 'cuda':
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if name not in DTYPE_NAMES:
        raise ValueError(f'unknown dtype {name!r}; choose auto or one of {sorted(DTYPE_NAMES)}')
    return DTYPE_NAMES[name]
