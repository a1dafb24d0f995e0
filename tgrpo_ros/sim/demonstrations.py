# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Scripted-expert demonstrations written as an episode dataset folder (``tgrpo-ros sft`` input).

``python -m tgrpo_ros.sim.demonstrations --tasks 0 --init-states 0-24 --repeats 2 --noise 0.1
--out data/demos_object_task0`` runs the scripted expert (``expert.py``) from each chosen
initial state, renders the cameras the policy will read, and writes the dataset layout of
``tgrpo_ros.bags.dataset`` (episodes/*.npz, dataset.json, dataset_statistics.json), exactly what
a recorded bag converted by ``bags_to_dataset`` gives, so SFT has one input format.

Held-out states: demonstrations use the TRAINING initial states only (the default 0-24); keep
25-49 for ``tgrpo-ros eval-sim --first-init-state 25``. Only successful episodes are kept by
default (``--keep-failures`` keeps all): imitation of failed attempts teaches failure.

Noise: ``--noise`` is the standard deviation of Gaussian noise added to the expert's motion
commands; the recorded action is the NOISY one that was executed, so the data covers states
slightly off the expert's path (the usual DART-style remedy for compounding errors in
behaviour cloning). Repeats of one initial state use different noise seeds.

Resumable: an episode file is written atomically when its episode ends and dataset.json is
rewritten after each one; rerunning the same command skips (state, repeat) pairs already done.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import sys
import time
from typing import Sequence

import numpy as np

EXAMPLES = """
examples:
  # 50 noisy expert demonstrations of LIBERO-Object task 0 from training states 0-24
  python -m tgrpo_ros.sim.demonstrations --tasks 0 --init-states 0-24 --repeats 2 \\
      --noise 0.1 --image-size 128 --out data/demos_object_task0

  # the same frames at the tiny policy's 32 px input size (identical model input, 16x smaller)
  python -m tgrpo_ros.sim.demonstrations --resize-from data/demos_object_task0 \\
      --image-size 32 --out data/demos_object_task0_32px

  # two tasks, clean expert, also the wrist camera
  python -m tgrpo_ros.sim.demonstrations --tasks 0 1 --init-states 0-9 \\
      --cameras agentview robot0_eye_in_hand --out data/demos_object_t01
"""

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


def record_episode(env, expert, init_state: int, seed: int) -> tuple[dict, bool, int]:
    """Run the expert once with the cameras on; return (npz arrays, success, steps)."""
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
        actions.append(a)
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
    from tgrpo_ros.bags.dataset import INDEX_FILE
    from tgrpo_ros.policy.normalization import compute_dataset_statistics, STATISTICS_FILE
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
                        log=print) -> dict:
    """Write (or complete) a demonstration dataset; return its dataset.json contents."""
    from tgrpo_ros.bags.dataset import FORMAT, FORMAT_VERSION, INDEX_FILE
    from tgrpo_ros.sim.expert import ScriptedExpert
    from tgrpo_ros.sim.libero_env import LiberoEnv

    out = Path(out)
    (out / 'episodes').mkdir(parents=True, exist_ok=True)
    settings = {'suite': suite, 'tasks': [str(t) for t in tasks],
                'init_states': [int(i) for i in init_states], 'repeats': int(repeats),
                'noise': float(noise), 'cameras': list(cameras), 'image_size': int(image_size),
                'seed': int(seed), 'keep_failures': bool(keep_failures),
                'max_steps': max_steps}
    if (out / INDEX_FILE).is_file():
        index = json.loads((out / INDEX_FILE).read_text())
        if index.get('source', {}).get('settings') != settings:
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
                    expert = ScriptedExpert(noise=noise, seed=seed * 100_003 + s * 101 + r
                                            + 7919 * env.task_index)
                    arrays, ok, steps = record_episode(env, expert, s, seed)
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


def resize_dataset(src: str | Path, dst: str | Path, image_size: int) -> dict:
    """Copy dataset ``src`` to ``dst`` with every image resized to ``image_size`` (Lanczos).

    Why: a policy whose input is smaller than the render resizes every frame with the same
    Lanczos filter (``preprocessing.py``); storing the frames at the input size gives it the
    identical pixels (resizing to the same size is the identity) in a fraction of the bytes.
    """
    import shutil

    from PIL import Image

    from tgrpo_ros.bags.dataset import INDEX_FILE, load_dataset
    src, dst = Path(src), Path(dst)
    index = load_dataset(src)
    if (dst / INDEX_FILE).exists():
        raise FileExistsError(f'{dst} already holds a dataset')
    (dst / 'episodes').mkdir(parents=True, exist_ok=True)
    for entry in index['episodes']:
        with np.load(src / entry['file'], allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
        for k in arrays:
            if k.startswith('images_'):
                arrays[k] = np.stack([np.asarray(Image.fromarray(f).resize(
                    (image_size, image_size), Image.Resampling.LANCZOS)) for f in arrays[k]])
        np.savez_compressed(dst / entry['file'], **arrays)
    for name in (src.iterdir()):
        if name.is_file() and name.suffix == '.json' and name.name != INDEX_FILE:
            shutil.copy(name, dst / name.name)
    index = dict(index, resized_from={'dataset': str(src), 'image_size': image_size})
    _atomic_json(dst / INDEX_FILE, index)
    return index


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='python -m tgrpo_ros.sim.demonstrations', description=__doc__.split('\n\n')[0],
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--out', type=Path, required=True, help='dataset folder (created/resumed)')
    p.add_argument('--resize-from', type=Path, default=None,
                   help='instead of running the expert: copy this dataset with its images '
                        'resized to --image-size (the policy input size; see resize_dataset)')
    p.add_argument('--suite', default='libero_object')
    p.add_argument('--tasks', nargs='+', default=['0'], help='task indices or names')
    p.add_argument('--init-states', default='0-24',
                   help="TRAINING initial states, e.g. '0-24' (keep the rest for evaluation)")
    p.add_argument('--repeats', type=int, default=1, help='episodes per initial state')
    p.add_argument('--noise', type=float, default=0.0,
                   help='std of Gaussian noise on the motion commands (recorded as executed)')
    p.add_argument('--cameras', nargs='+', default=['agentview'])
    p.add_argument('--image-size', type=int, default=128, help='rendered size [px]')
    p.add_argument('--max-steps', type=int, default=None,
                   help="episode limit (default: the suite's, Object 280)")
    p.add_argument('--seed', type=int, default=7)
    p.add_argument('--keep-failures', action='store_true',
                   help='also keep episodes where the expert failed')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.resize_from is not None:
        index = resize_dataset(args.resize_from, args.out, args.image_size)
        print(f'{len(index["episodes"])} episodes resized to {args.image_size} px in {args.out}')
        return 0
    if args.repeats < 1:
        raise SystemExit('--repeats must be >= 1')
    index = make_demonstrations(args.out, args.suite, args.tasks, parse_range(args.init_states),
                                args.repeats, args.noise, args.cameras, args.image_size,
                                args.seed, args.keep_failures, args.max_steps)
    ok = sum(a['success'] for a in index['attempts'])
    print(f'expert success {ok}/{len(index["attempts"])}; {len(index["episodes"])} episodes, '
          f'{index["num_transitions"]} transitions in {args.out}')
    return 0


if __name__ == '__main__':
    sys.exit(main())
