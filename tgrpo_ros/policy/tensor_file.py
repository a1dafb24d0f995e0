# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Reading a safetensors file a user hands the package, with errors that name the file.

``safetensors`` raises its own error type for a truncated or garbled file, and
``load_state_dict`` casts integer tensors to float without a word; a policy folder or adapter
with such a file must be refused, naming the file and the tensor, before any weight changes.
"""

from __future__ import annotations

from pathlib import Path

from safetensors import SafetensorError
from safetensors.torch import load_file
import torch


class TensorFileError(ValueError):
    """A weights file is unreadable or does not fit; the message names the file and tensor."""


def read_tensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Return the tensors of a safetensors file; a missing one raises FileNotFoundError."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'weights file {path} does not exist')
    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as exc:
        raise TensorFileError(f'{path}: not a readable safetensors file ({exc})') from None


def check_fits(path: str | Path, tensors: dict[str, torch.Tensor],
               expected: dict[str, torch.Tensor]) -> None:
    """Refuse tensors whose names, shapes or kind (floating point) differ from ``expected``.

    Values must also be finite. The dtype may differ in width (a float32 file for a bfloat16
    model); an integer or boolean tensor where the model holds floats may not.
    """
    missing = sorted(set(expected) - set(tensors))
    extra = sorted(set(tensors) - set(expected))
    if missing or extra:
        raise TensorFileError(f'{path}: does not fit the model: missing tensors {missing[:3]}'
                              f'{" ..." if len(missing) > 3 else ""}, unexpected tensors '
                              f'{extra[:3]}{" ..." if len(extra) > 3 else ""}')
    for name, value in tensors.items():
        want = expected[name]
        if tuple(value.shape) != tuple(want.shape):
            raise TensorFileError(f'{path}: tensor {name} has shape {tuple(value.shape)}, the '
                                  f'model has {tuple(want.shape)}')
        if value.is_floating_point() != want.is_floating_point():
            raise TensorFileError(f'{path}: tensor {name} has dtype {value.dtype}, the model '
                                  f'has {want.dtype}')
        if value.is_floating_point() and not torch.isfinite(value).all():
            raise TensorFileError(f'{path}: tensor {name} holds NaN or infinite values')
