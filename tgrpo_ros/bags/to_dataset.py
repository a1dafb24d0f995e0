# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Bags to training data: recorded episodes into the episode dataset ``tgrpo-ros sft`` reads.

The same topic map that drives offline evaluation turns recorded demonstrations (teleoperation,
scripted experts, simulation runs) into the layout of ``tgrpo_ros.data.episodes``.

Memory: with time pairing an episode is written as soon as the next one starts; with ids pairing
(environments interleaved on shared topics) episodes are written when their bag ends, so a very
long interleaved recording is best made as several bags (one ``tgrpo-ros record`` per run or
per chosen policy version).
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
from tqdm import tqdm

from tgrpo_ros.bags.pairing import iter_samples, reference_count, resolve_mode, Sample, SkipLog
from tgrpo_ros.bags.reader import BagError, BagReader
from tgrpo_ros.bags.topic_map import TopicMap
from tgrpo_ros.data.episodes import FORMAT, FORMAT_VERSION, INDEX_FILE, save_episode, write_json
from tgrpo_ros.policy.normalization import compute_dataset_statistics, STATISTICS_FILE


def bags_to_dataset(bags: Sequence[str | Path], tmap: TopicMap, out_dir: str | Path, *,
                    statistics_key: str = 'bags', min_length: int = 1,
                    progress: bool = True) -> dict:
    """Convert ``bags`` into a dataset folder; return the dataset.json contents.

    Episodes shorter than ``min_length`` are left out (counted in ``skipped``). A bag that fails
    (truncated, missing topics, ...) is listed under ``errors`` with the cause; the episodes
    completed before it are kept, and dataset.json / statistics are written in any case.
    """
    out = Path(out_dir)
    (out / 'episodes').mkdir(parents=True, exist_ok=True)
    if any((out / 'episodes').iterdir()):
        raise FileExistsError(f'{out / "episodes"} is not empty; choose a new dataset folder')
    index = {'format': FORMAT, 'format_version': FORMAT_VERSION, 'statistics_key': statistics_key,
             'topic_map': tmap.to_dict() | {'source': tmap.source}, 'episodes': [],
             'errors': [], 'bags': [str(b) for b in bags]}
    skips = SkipLog()
    actions: list[np.ndarray] = []
    short = 0
    bar = tqdm(total=0, unit='sample', desc='bags-to-dataset', disable=not progress)

    def flush(samples: list[Sample]) -> None:
        nonlocal short
        if len(samples) < min_length:
            short += 1
            return
        path = out / 'episodes' / f'episode_{len(index["episodes"]):06d}.npz'
        index['episodes'].append(save_episode(path, samples))
        actions.extend(s.action for s in samples)

    try:
        for bag in bags:
            open_eps: dict[str, list[Sample]] = {}
            try:
                with BagReader(bag) as reader:
                    sequential = resolve_mode(reader, tmap) == 'time'
                    bar.total += reference_count(reader, tmap)
                    for s in iter_samples(reader, tmap, skips, Path(bag).name):
                        if sequential and s.episode not in open_eps:
                            for key in list(open_eps):
                                flush(open_eps.pop(key))
                        open_eps.setdefault(s.episode, []).append(s)
                        bar.update(1)
                    if reader.truncated_note:
                        raise BagError(reader.truncated_note)
            except (BagError, ValueError, KeyError) as exc:
                index['errors'].append({'bag': str(bag), 'type': type(exc).__name__,
                                        'error': str(exc)})
            finally:
                for samples in open_eps.values():
                    flush(samples)
    finally:
        bar.close()
        index['skipped'] = skips.to_dict() | {'short_episodes': short}
        index['num_transitions'] = len(actions)
        if actions:
            stats = {statistics_key: compute_dataset_statistics(np.stack(actions))}
            write_json(out / STATISTICS_FILE, stats)
        write_json(out / INDEX_FILE, index)
    return index
