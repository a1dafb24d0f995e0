# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Action statistics and the maps between the environment's action space and the policy's.

OpenVLA (arXiv 2406.09246) normalises with BOUNDS_Q99:
``a_norm = 2 (a - q01) / (q99 - q01) - 1`` on the dimensions where ``mask`` is true (the
gripper is left alone), and un-normalises with ``0.5 (a + 1)(q99 - q01) + q01``. Statistics
live in a checkpoint's ``dataset_statistics.json`` as
``{key: {"action": {"q01": [...], "q99": [...], "mean", "std", "min", "max", "mask"}, ...}}``.

Gripper conventions (the last dimension):
- ``'openvla'``: the policy's gripper follows OpenVLA's training data (+1 open, 0 closed); the
  environment (LIBERO) wants -1 open, +1 closed. Policy -> env: ``2 g - 1``, binarise with sign,
  invert. Env -> policy: ``(1 - g) / 2``.
- ``'env'``: the policy was trained on environment-space gripper values; nothing is converted
  (optionally binarised with sign).
"""

from __future__ import annotations

from dataclasses import dataclass
import json
from pathlib import Path

import numpy as np

STATISTICS_FILE = 'dataset_statistics.json'
GRIPPER_CONVENTIONS = ('openvla', 'env')


def compute_dataset_statistics(actions: np.ndarray, gripper_dim: int | None = -1) -> dict:
    """Compute OpenVLA-layout action statistics from (N, D) demonstration actions.

    Returns ``{"action": {...}, "num_transitions": N}`` with per-dimension lists q01, q99, mean,
    std, min, max and mask (False on the gripper dimension, which is not normalised).
    """
    a = np.asarray(actions, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1:
        raise ValueError(f'actions must be a non-empty (N, D) array, got shape {a.shape}')
    if not np.isfinite(a).all():
        raise ValueError('actions contain NaN or infinite values')
    mask = np.ones(a.shape[1], dtype=bool)
    if gripper_dim is not None:
        mask[gripper_dim] = False
    stats = {
        'q01': np.quantile(a, 0.01, axis=0), 'q99': np.quantile(a, 0.99, axis=0),
        'mean': a.mean(axis=0), 'std': a.std(axis=0), 'min': a.min(axis=0), 'max': a.max(axis=0),
    }
    out = {k: [float(x) for x in v] for k, v in stats.items()}
    out['mask'] = [bool(m) for m in mask]
    return {'action': out, 'num_transitions': int(a.shape[0])}


def read_statistics_file(path: str | Path) -> dict:
    """Read a whole ``dataset_statistics.json`` (key -> statistics)."""
    path = Path(path)
    if path.is_dir():
        path = path / STATISTICS_FILE
    if not path.is_file():
        raise FileNotFoundError(f'no dataset statistics file at {path}')
    try:
        with open(path, encoding='utf-8') as f:
            data = json.load(f)
    except (ValueError, UnicodeDecodeError) as exc:  # a cut-off or garbled file
        raise ValueError(f'{path}: not valid JSON ({exc})') from None
    if not isinstance(data, dict):
        raise ValueError(f'{path}: expected a JSON object, got {type(data).__name__}')
    return data


def folder_statistics(path: str | Path, config: dict | None = None) -> dict:
    """Return a model folder's action statistics; raise if it has none.

    Its ``dataset_statistics.json`` if present, else the ``norm_stats`` of ``config`` (the
    folder's ``config.json``, where OpenVLA folders keep them).
    """
    path = Path(path)
    if (path / STATISTICS_FILE).is_file():
        return read_statistics_file(path / STATISTICS_FILE)
    if config and config.get('norm_stats'):
        return config['norm_stats']
    raise FileNotFoundError(f'{path} has no {STATISTICS_FILE} (and no norm_stats in '
                            'config.json): actions cannot be un-normalised')


def select_statistics(all_stats: dict, key: str | None) -> tuple[str, dict]:
    """Pick one dataset's statistics; ``None`` is allowed only when there is exactly one."""
    if not all_stats:
        raise ValueError('the dataset statistics are empty')
    if key is None:
        if len(all_stats) != 1:
            raise KeyError(f'several datasets in the statistics, choose a key from '
                           f'{sorted(all_stats)}')
        key = next(iter(all_stats))
    if key not in all_stats:
        raise KeyError(f'unknown statistics key {key!r}; available keys: {sorted(all_stats)}')
    entry = all_stats[key]
    return key, entry.get('action', entry)


@dataclass
class ActionNormalizer:
    """BOUNDS_Q99 normalisation plus the gripper convention, for (..., D) action arrays."""

    q01: np.ndarray
    q99: np.ndarray
    mask: np.ndarray
    gripper: str = 'openvla'
    binarize_gripper: bool = True

    def __post_init__(self) -> None:
        self.q01 = np.asarray(self.q01, dtype=np.float64)
        self.q99 = np.asarray(self.q99, dtype=np.float64)
        self.mask = np.asarray(self.mask, dtype=bool)
        if not (self.q01.shape == self.q99.shape == self.mask.shape) or self.q01.ndim != 1:
            raise ValueError('q01, q99 and mask must be 1-D and of equal length')
        if self.gripper not in GRIPPER_CONVENTIONS:
            raise ValueError(f'gripper convention {self.gripper!r} not in {GRIPPER_CONVENTIONS}')

    @classmethod
    def from_statistics(cls, action_stats: dict, **kwargs) -> ActionNormalizer:
        q01 = np.asarray(action_stats['q01'], dtype=np.float64)
        mask = action_stats.get('mask', [True] * len(q01))
        return cls(q01=q01, q99=np.asarray(action_stats['q99']), mask=np.asarray(mask), **kwargs)

    @property
    def dim(self) -> int:
        return int(self.q01.shape[0])

    def unnormalize(self, a_norm: np.ndarray) -> np.ndarray:
        """Policy space (..., D) in [-1, 1] -> dataset space, masked dims only."""
        a = np.asarray(a_norm, dtype=np.float64)
        return np.where(self.mask, 0.5 * (a + 1.0) * (self.q99 - self.q01) + self.q01, a)

    def normalize(self, a: np.ndarray) -> np.ndarray:
        """Dataset space (..., D) -> policy space, clipped to [-1, 1] (a zero range maps to 0)."""
        a = np.asarray(a, dtype=np.float64)
        span = self.q99 - self.q01
        safe = np.where(span > 0, span, 1.0)
        out = np.where(self.mask, np.where(span > 0, 2.0 * (a - self.q01) / safe - 1.0, 0.0), a)
        return np.clip(out, -1.0, 1.0)

    def to_env(self, a_norm: np.ndarray) -> np.ndarray:
        """Policy space (..., D) -> the environment's action space (``tgrpo_ros.contract``)."""
        a = self.unnormalize(a_norm).copy()
        g = a[..., -1]
        if self.gripper == 'openvla':
            g = 2.0 * g - 1.0          # [0, 1] -> [-1, 1], still +1 = open
            if self.binarize_gripper:
                g = np.sign(g)
            g = -g                     # LIBERO: -1 = open, +1 = close
        elif self.binarize_gripper:
            g = np.sign(g)
        a[..., -1] = g
        return a

    def from_env(self, a_env: np.ndarray) -> np.ndarray:
        """Environment space (..., D) -> policy space (for demonstrations / SFT)."""
        a = np.array(a_env, dtype=np.float64, copy=True)
        if a.shape[-1] != self.dim:
            raise ValueError(f'actions have {a.shape[-1]} dims, statistics have {self.dim}')
        if self.gripper == 'openvla':
            a[..., -1] = (1.0 - a[..., -1]) / 2.0
        return self.normalize(a)
