# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The episode dataset: what ``tgrpo-ros sft`` reads and demonstrations and bags are written as.

Scripted-expert demonstrations (``tgrpo_ros.sim.demonstrations``) and recorded bags
(``tgrpo_ros.bags.to_dataset``) both end up in this folder layout::

    DATASET/
      dataset.json               format, cameras, state names, episode list (file, length,
                                 instruction, source bag and episode), skipped samples
      dataset_statistics.json    OpenVLA layout: {key: {"action": {q01, q99, mean, std, min,
                                 max, mask}, "num_transitions": N}} computed from all actions
                                 (``tgrpo_ros.policy.normalization.compute_dataset_statistics``;
                                 the gripper dimension has mask false)
      episodes/episode_000000.npz
        images_<camera>   (T, H, W, 3) uint8 RGB, upright, one array per camera
        state             (T, S) float64, SI units, columns named by state_names
        state_names       (S,) str
        actions           (T, 7) float64 in the ENVIRONMENT's action space (tgrpo_ros.contract:
                          OSC_POSE deltas in [-1, 1], gripper -1 open / +1 close): action t
                          was taken after observation t
        timestamps_ns     (T,) int64, the action times
        instruction       0-d str

``format`` is ``tgrpo_ros.dataset``, ``format_version`` 1. Read it with ``load_dataset`` and
``Episode.observations()`` (ROS-free Observations, ready for a policy).
"""

from __future__ import annotations

from dataclasses import dataclass
import json
import os
from pathlib import Path
from typing import Iterator, Protocol, Sequence

import numpy as np

from tgrpo_ros.observation import Observation


class EpisodeSample(Protocol):
    """One step to write: a policy input and the action taken after it (e.g. a bag sample)."""

    bag: str
    episode: str
    time_ns: int
    observation: Observation
    action: np.ndarray


FORMAT = 'tgrpo_ros.dataset'
FORMAT_VERSION = 1
INDEX_FILE = 'dataset.json'


@dataclass
class Episode:
    """One episode of a dataset, loaded into memory."""

    images: dict[str, np.ndarray]
    state: np.ndarray
    state_names: list[str]
    actions: np.ndarray
    timestamps_ns: np.ndarray
    instruction: str

    def __len__(self) -> int:
        return int(self.actions.shape[0])

    def observations(self) -> list[Observation]:
        return [Observation(images={c: a[t] for c, a in self.images.items()},
                            state=self.state[t], state_names=list(self.state_names),
                            instruction=self.instruction) for t in range(len(self))]


def save_episode(path: Path, samples: Sequence[EpisodeSample]) -> dict:
    """Write one episode's samples as an .npz (atomically); return its index entry."""
    first = samples[0].observation
    cams = sorted(first.images)
    arrays = {}
    for cam in cams:
        shapes = {s.observation.images[cam].shape for s in samples}
        if len(shapes) != 1:
            raise ValueError(f'episode {samples[0].episode} of {samples[0].bag}: camera {cam!r} '
                             f'changes image size within the episode {sorted(shapes)}')
        arrays[f'images_{cam}'] = np.stack([s.observation.images[cam] for s in samples])
    names = list(first.state_names)
    if any(list(s.observation.state_names) != names for s in samples):
        raise ValueError(f'episode {samples[0].episode} of {samples[0].bag}: state names change '
                         'within the episode')
    arrays['state'] = np.stack([np.asarray(s.observation.state, np.float64) for s in samples]) \
        if names else np.zeros((len(samples), 0))
    arrays['state_names'] = np.asarray(names, dtype=str)
    arrays['actions'] = np.stack([s.action for s in samples]).astype(np.float64)
    arrays['timestamps_ns'] = np.asarray([s.time_ns for s in samples], dtype=np.int64)
    arrays['instruction'] = np.asarray(first.instruction)
    tmp = path.with_name(path.stem + f'.tmp{os.getpid()}.npz')
    np.savez_compressed(tmp, **arrays)
    tmp.replace(path)
    return {'file': str(path.relative_to(path.parents[1])), 'length': len(samples),
            'instruction': first.instruction, 'cameras': cams, 'bag': samples[0].bag,
            'episode': samples[0].episode}


def write_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + f'.tmp{os.getpid()}')
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def load_dataset(folder: str | Path) -> dict:
    """Read and check dataset.json; raises naming the problem."""
    folder = Path(folder)
    path = folder / INDEX_FILE
    if not path.is_file():
        raise FileNotFoundError(f'{folder} is not a tgrpo_ros dataset: no {INDEX_FILE}')
    index = json.loads(path.read_text())
    if index.get('format') != FORMAT or index.get('format_version') != FORMAT_VERSION:
        raise ValueError(f'{path}: unsupported format {index.get("format")!r} version '
                         f'{index.get("format_version")!r}')
    return index


def load_episode(folder: str | Path, entry: dict) -> Episode:
    with np.load(Path(folder) / entry['file'], allow_pickle=False) as z:
        images = {k[len('images_'):]: z[k] for k in z.files if k.startswith('images_')}
        return Episode(images=images, state=z['state'], state_names=[str(x) for x in
                                                                     z['state_names']],
                       actions=z['actions'], timestamps_ns=z['timestamps_ns'],
                       instruction=str(z['instruction']))


def iter_episodes(folder: str | Path) -> Iterator[Episode]:
    index = load_dataset(folder)
    for entry in index['episodes']:
        yield load_episode(folder, entry)
