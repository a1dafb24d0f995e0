# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Generated initial states: files of LIBERO initial states beyond the benchmark's fixed 50.

A LIBERO task has 50 fixed initial states. An experiment that trains on demonstrations from
some, trains RL on others and evaluates on the rest runs out of them; and RL on the very states
the demonstrations came from has little to learn (the SFT policy has memorised them). This
module samples more with the task's own placement sampler (``LiberoEnv.sample_init_state``,
one seed per state), checks that none repeats a benchmark state, and stores them in a ``.npz``
that ``LiberoEnv(init_states_file=...)`` and ``SimTrainSettings.env.init_states_file`` read.

File: ``states`` (K, D) float64 flattened MuJoCo states, ``seeds`` (K,) the seed of each,
``task_id`` ``"<suite>/<task_name>"``, ``state_size`` D. A file for another task, of another
state size, or with non-finite values is refused with the reason.

Make a file with ``tgrpo-ros init-states`` (``tgrpo_ros.commands.init_states``).
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

#: Two states closer than this (max abs difference) count as the same placement.
SAME_STATE_TOL = 1e-6


def load_init_states(path: str | Path, task_id: str, state_size: int) -> np.ndarray:
    """Read a generated-states file for ``task_id``; raise naming what is wrong with it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f'initial-states file {path} does not exist (make one with '
                                'tgrpo-ros init-states)')
    try:
        f = np.load(path, allow_pickle=False)
        if not isinstance(f, np.lib.npyio.NpzFile):  # a bare .npy array has no task to check
            raise ValueError('a single array, not an .npz archive')
        with f:
            states = np.asarray(f['states'], dtype=np.float64)
            file_task = str(f['task_id'])
    except (KeyError, ValueError, OSError) as e:
        raise ValueError(f'{path} is not an initial-states file (needs arrays states and '
                         f'task_id): {e}') from None
    if file_task != task_id:
        raise ValueError(f'{path} holds initial states of {file_task}, not {task_id}')
    if states.ndim != 2 or len(states) == 0:
        raise ValueError(f'{path}: states must be a non-empty (K, D) array; got shape '
                         f'{states.shape}')
    if states.shape[1] != state_size:
        raise ValueError(f'{path}: states have {states.shape[1]} values, the MuJoCo state of '
                         f'this task has {state_size} (made with another LIBERO version?)')
    if not np.isfinite(states).all():
        bad = np.flatnonzero(~np.isfinite(states).all(axis=1)).tolist()
        raise ValueError(f'{path}: states {bad} have NaN or inf values')
    return states


def generate_init_states(env, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Sample ``count`` initial states with seeds ``seed, seed + 1, ...`` (skipping repeats).

    A sampled state equal to a benchmark state (or to an earlier sampled one) is skipped, so
    the file never smuggles an evaluation state into training.
    """
    if count < 1:
        raise ValueError(f'count must be >= 1, got {count}')
    if env.init_states_file is not None:  # its list is the file's, not the benchmark's
        raise ValueError('generate from an environment on the benchmark states (built '
                         'without init_states_file), so repeats of them can be skipped')
    known = [np.asarray(s, dtype=np.float64) for s in env.init_states]
    states, seeds = [], []
    s = seed
    while len(states) < count:
        state = env.sample_init_state(s)
        if not any(np.abs(state - k).max() < SAME_STATE_TOL for k in known):
            states.append(state)
            seeds.append(s)
            known.append(state)
        s += 1
        if s - seed > 10 * count + 100:
            raise RuntimeError(f'{env.task_id}: the placement sampler keeps repeating states')
    return np.stack(states), np.asarray(seeds, dtype=np.int64)


def save_init_states(path: str | Path, states: np.ndarray, seeds: np.ndarray,
                     task_id: str) -> Path:
    """Write the file atomically (a crash never leaves half a file under ``path``)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f'.{path.name}.tmp{os.getpid()}.npz')
    np.savez(tmp, states=states, seeds=seeds, task_id=np.asarray(task_id),
             state_size=np.asarray(states.shape[1]))
    os.replace(tmp, path)
    return path
