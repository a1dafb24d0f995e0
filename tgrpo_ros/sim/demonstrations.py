# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Scripted-expert demonstrations written as an episode dataset folder (``tgrpo-ros sft`` input).

``tgrpo-ros demonstrations`` (``tgrpo_ros.commands.demonstrations``) runs the scripted expert
(``expert.py``) from each chosen initial state, renders the cameras the policy will read, and
writes the dataset layout of ``tgrpo_ros.data.episodes`` (episodes/*.npz, dataset.json,
dataset_statistics.json), exactly what a recorded bag converted by ``bags_to_dataset`` gives, so
SFT has one input format.

Held-out states: demonstrations use the TRAINING initial states only (the default 0-24); keep
25-49 for ``tgrpo-ros eval-sim --first-init-state 25``. Only successful episodes are kept by
default (``--keep-failures`` keeps all): imitation of failed attempts teaches failure.

Noise: ``--noise`` is the standard deviation of Gaussian noise added to the expert's motion
commands, so the data covers states slightly off the expert's path (the remedy for compounding
errors in behaviour cloning). ``--labels clean`` records the expert's UNPERTURBED command as the
action (DART: execute noisy, label clean), so the policy learns the correction without learning
the noise; ``--labels executed`` (the default, and what older datasets hold) records the noisy
action that was executed. Repeats of one initial state use different noise seeds.

Resumable: an episode file is written atomically when its episode ends and dataset.json is
rewritten after each one; rerunning the same command skips (state, repeat) pairs already done.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
import re
import shutil
import time
from typing import Sequence

import numpy as np
from PIL import Image

from tgrpo_ros.data.episodes import FORMAT, FORMAT_VERSION, INDEX_FILE, load_dataset
from tgrpo_ros.policy.normalization import compute_dataset_statistics, STATISTICS_FILE
from tgrpo_ros.sim.expert import ScriptedExpert
from tgrpo_ros.sim.libero_env import LiberoEnv, resolve_task

STATISTICS_KEY = 'demos'


def parse_range(text: str) -> list[int]:
    """'0-24' or '0,3,5-7' -> sorted unique indices."""
    out: set[int] = set()
    for part in text.split(','):
        part = part.strip()
        if not part:
            continue
        if '-' in part:
            a, b = (int(x) for x in part.split('-', 1))
            if b < a:
                raise ValueError(f'empty range {part!r}')
            out.update(range(a, b + 1))
        else:
            out.add(int(part))
    if not out:
        raise ValueError(f'no indices in {text!r}')
    return sorted(out)


LABELS = ('executed', 'clean')


def noise_seed(seed: int, task_index: int, init_state: int, repeat: int) -> int:
    """Seed of the expert's noise stream for one episode (generation and relabelling)."""
    return seed * 100_003 + init_state * 101 + repeat + 7919 * task_index


def record_episode(env, expert, init_state: int, seed: int,
                   labels: str = 'executed') -> tuple[dict, bool, int]:
    """Run the expert once with the cameras on; return (npz arrays, success, steps).

    ``labels``: record the executed (noisy) action, or the expert's clean command (DART).
    """
    if labels not in LABELS:
        raise ValueError(f'labels must be one of {LABELS}, got {labels!r}')
    obs = env.reset(init_state, seed)
    expert.reset()
    frames: dict[str, list] = {c: [] for c in obs.images}
    states, actions = [], []
    success = False
    while True:
        a = np.clip(expert.act(env.sim_state()), -1.0, 1.0)
        for c, img in obs.images.items():
            frames[c].append(img)
        states.append(np.asarray(obs.state, np.float64))
        actions.append(a if labels == 'executed' else expert.clean_action)
        obs, out = env.step(a)
        if out.done:
            success = bool(out.success)
            break
    t = len(actions)
    arrays = {f'images_{c}': np.stack(v).astype(np.uint8) for c, v in frames.items()}
    arrays.update({
        'state': np.stack(states), 'state_names': np.asarray(obs.state_names, dtype=str),
        'actions': np.stack(actions).astype(np.float64),
        # 20 Hz control: synthetic action times, 50 ms apart
        'timestamps_ns': np.arange(t, dtype=np.int64) * 50_000_000,
        'instruction': np.asarray(obs.instruction)})
    return arrays, success, t


def write_index(out: Path, index: dict) -> None:
    """dataset.json and dataset_statistics.json from the episodes written so far."""
    acts = []
    for e in index['episodes']:
        with np.load(out / e['file'], allow_pickle=False) as z:
            acts.append(z['actions'])
    index['num_transitions'] = int(sum(len(a) for a in acts))
    if acts:
        stats = {index['statistics_key']: compute_dataset_statistics(np.concatenate(acts))}
        _atomic_json(out / STATISTICS_FILE, stats)
    _atomic_json(out / INDEX_FILE, index)


def _atomic_json(path: Path, data: dict) -> None:
    tmp = path.with_name(path.name + f'.tmp{os.getpid()}')
    tmp.write_text(json.dumps(data, indent=2))
    tmp.replace(path)


def make_demonstrations(out: str | Path, suite: str, tasks: Sequence[str],
                        init_states: Sequence[int], repeats: int = 1, noise: float = 0.0,
                        cameras: Sequence[str] = ('agentview',), image_size: int = 128,
                        seed: int = 7, keep_failures: bool = False, max_steps: int | None = None,
                        log=print, labels: str = 'executed') -> dict:
    """Write (or complete) a demonstration dataset; return its dataset.json contents."""
    if labels not in LABELS:
        raise ValueError(f'labels must be one of {LABELS}, got {labels!r}')
    out = Path(out)
    (out / 'episodes').mkdir(parents=True, exist_ok=True)
    settings = {'suite': suite, 'tasks': [str(t) for t in tasks],
                'init_states': [int(i) for i in init_states], 'repeats': int(repeats),
                'noise': float(noise), 'cameras': list(cameras), 'image_size': int(image_size),
                'seed': int(seed), 'keep_failures': bool(keep_failures),
                'max_steps': max_steps, 'labels': labels}
    if (out / INDEX_FILE).is_file():
        index = json.loads((out / INDEX_FILE).read_text())
        earlier = dict(index.get('source', {}).get('settings') or {})
        earlier.setdefault('labels', 'executed')  # datasets made before labels existed
        if earlier != settings:
            raise FileExistsError(f'{out} holds a dataset made with other settings: '
                                  f'{index.get("source", {}).get("settings")}')
    else:
        index = {'format': FORMAT, 'format_version': FORMAT_VERSION,
                 'statistics_key': STATISTICS_KEY, 'episodes': [], 'errors': [], 'bags': [],
                 'skipped': {}, 'attempts': [],
                 'source': {'kind': 'scripted_expert', 'settings': settings}}
    done = {(a['task'], a['init_state'], a['repeat']) for a in index['attempts']}
    t0 = time.monotonic()
    for task in settings['tasks']:
        env = LiberoEnv(suite, int(task) if task.isdigit() else task, cameras=tuple(cameras),
                        image_size=image_size, max_steps=max_steps)
        try:
            for s in settings['init_states']:
                for r in range(repeats):
                    if (task, s, r) in done:
                        continue
                    # one noise stream per (task, state, repeat): reruns give the same data
                    expert = ScriptedExpert(noise=noise,
                                            seed=noise_seed(seed, env.task_index, s, r))
                    arrays, ok, steps = record_episode(env, expert, s, seed, labels)
                    attempt = {'task': task, 'init_state': s, 'repeat': r, 'success': ok,
                               'steps': steps}
                    if ok or keep_failures:
                        name = f'episode_{len(index["episodes"]):06d}.npz'
                        path = out / 'episodes' / name
                        tmp = path.with_name(path.stem + f'.tmp{os.getpid()}.npz')
                        np.savez_compressed(tmp, **arrays)
                        tmp.replace(path)
                        index['episodes'].append({
                            'file': f'episodes/{name}', 'length': steps,
                            'instruction': str(arrays['instruction']),
                            'cameras': sorted(c[len('images_'):] for c in arrays
                                              if c.startswith('images_')),
                            'bag': '', 'episode': f'{env.task_name}/state{s}/repeat{r}',
                            'success': ok})
                    index['attempts'].append(attempt)
                    write_index(out, index)
                    log(f'[demos] task {task} state {s} repeat {r}: '
                        f'{"success" if ok else "failure"} in {steps} steps '
                        f'({time.monotonic() - t0:.0f}s, {len(index["episodes"])} kept)')
        finally:
            env.close()
    write_index(out, index)
    return index


def _copy_dataset(src: Path, dst: Path, transform) -> dict:
    """Copy dataset ``src`` to a new ``dst``, each episode's arrays passed through ``transform``.

    ``transform(entry, arrays)`` changes ``arrays`` in place; side files (*.json) are copied.
    Returns the source index (the caller writes the new one).
    """
    index = load_dataset(src)
    if (dst / INDEX_FILE).exists():
        raise FileExistsError(f'{dst} already holds a dataset')
    (dst / 'episodes').mkdir(parents=True, exist_ok=True)
    for entry in index['episodes']:
        with np.load(src / entry['file'], allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        transform(entry, arrays)
        np.savez_compressed(dst / entry['file'], **arrays)
    for name in src.iterdir():
        if name.is_file() and name.suffix == '.json' and name.name != INDEX_FILE:
            shutil.copy(name, dst / name.name)
    return index


def relabel_clean(src: str | Path, dst: str | Path) -> dict:
    """Copy a noisy ``--labels executed`` dataset to ``dst`` with DART (clean) labels.

    The expert's noise is a seeded stream (``noise_seed``), one draw of 6 per step, so it can be
    replayed without the simulator: clean = executed - noise wherever the executed command was
    not clipped at +-1 (exact). Where it was clipped (about 5% of motion entries in our
    demonstrations), the clean command lies in [1 - |noise|, 1] and is taken as +-1 (the gains
    saturate there); the count is returned under ``relabelled.ambiguous_entries``. Datasets made
    with ``--labels clean`` need none of this.
    """
    src, dst = Path(src), Path(dst)
    source = load_dataset(src).get('source', {})
    settings = source.get('settings') or {}
    if source.get('kind') != 'scripted_expert' or settings.get('labels', 'executed') != 'executed':
        raise ValueError(f'{src} is not a scripted-expert dataset with executed (noisy) labels')
    counts = {'ambiguous': 0, 'total': 0}

    def to_clean(entry: dict, arrays: dict) -> None:
        m = re.fullmatch(r'(.+)/state(\d+)/repeat(\d+)', entry['episode'])
        if m is None:
            raise ValueError(f'{src}: episode label {entry["episode"]!r} lacks state/repeat')
        task_index, _ = resolve_task(settings['suite'], m[1])
        executed = arrays['actions'][:, :6]
        drawn = np.random.default_rng(noise_seed(settings['seed'], task_index, int(m[2]),
                                                 int(m[3]))).normal(0.0, float(settings['noise']),
                                                                    executed.shape)
        clipped = np.abs(executed) >= 1.0
        clean = np.where(clipped, np.sign(executed), np.clip(executed - drawn, -1.0, 1.0))
        arrays['actions'] = np.concatenate([clean, arrays['actions'][:, 6:]], axis=1)
        counts['ambiguous'] += int(clipped.sum())
        counts['total'] += executed.size

    index = _copy_dataset(src, dst, to_clean)
    index = dict(index, relabelled={'dataset': str(src), 'labels': 'clean',
                                    'ambiguous_entries': counts['ambiguous'],
                                    'motion_entries': counts['total']})
    index['source'] = dict(source, settings=dict(settings, labels='clean'))
    write_index(dst, index)
    return index


def resize_dataset(src: str | Path, dst: str | Path, image_size: int) -> dict:
    """Copy dataset ``src`` to ``dst`` with every image resized to ``image_size`` (Lanczos).

    Why: a policy whose input is smaller than the render resizes every frame with the same
    Lanczos filter (``preprocessing.py``); storing the frames at the input size gives it the
    identical pixels (resizing to the same size is the identity) in a fraction of the bytes.
    """
    def resize(entry: dict, arrays: dict) -> None:
        for k in arrays:
            if k.startswith('images_'):
                arrays[k] = np.stack([np.asarray(Image.fromarray(f).resize(
                    (image_size, image_size), Image.Resampling.LANCZOS)) for f in arrays[k]])

    src, dst = Path(src), Path(dst)
    index = _copy_dataset(src, dst, resize)
    index = dict(index, resized_from={'dataset': str(src), 'image_size': image_size})
    _atomic_json(dst / INDEX_FILE, index)
    return index
