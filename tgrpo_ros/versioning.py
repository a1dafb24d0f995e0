# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Policy versions: a monotonically increasing integer plus the SHA-256 of the adapter file."""

from __future__ import annotations

from dataclasses import dataclass
import hashlib
from pathlib import Path

ADAPTER_WEIGHTS_FILE = 'adapter_model.safetensors'


@dataclass(frozen=True)
class PolicyVersion:
    """Version 0 with sha256 '' is the base model without an adapter."""

    version: int = 0
    sha256: str = ''


def sha256_file(path: str | Path, chunk: int = 1 << 20) -> str:
    """Return the lower-case hex SHA-256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, 'rb') as f:
        while True:
            block = f.read(chunk)
            if not block:
                break
            digest.update(block)
    return digest.hexdigest()
