# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Supervised fine-tuning (behaviour cloning) from an episode dataset (``tgrpo-ros sft``).

Input: one or more dataset folders in the ``tgrpo_ros.data.episodes`` layout (bags converted with
``bags_to_dataset``, or scripted-expert demonstrations from ``tgrpo-ros demonstrations``).
Output: a saved policy folder (``save_policy``) that ``load_policy`` and the training runs'
``model`` setting accept.

Same tokens and preprocessing as RL: the recorded environment-space actions become token ids
through ``policy.actions_to_tokens`` (the policy's normaliser, then OpenVLA's 256 bins), and the
loss is minus the teacher-forced log-probability ``policy.token_logprobs`` at temperature 1 --
the very function the RL update differentiates -- of those 7 tokens given the observation,
preprocessed by the policy's own image pipeline. Nothing is computed twice.

Statistics: BOUNDS_Q99 action statistics are computed from the TRAINING episodes' actions and
stored in the policy (key ``--statistics-key``), so its normalised space spans the demonstrations.
The start model needs none of its own: a stock HF VLM folder without ``dataset_statistics.json``
is fine-tuned and saved with the demonstrations' statistics (with ``--val-fraction 0`` they equal
the dataset folder's ``dataset_statistics.json``, computed the same way from all its actions).

Output folder::

    OUT/policy/                 the final policy (load_policy / build_policy / eval-sim)
    OUT/checkpoints/epoch_NNNN/ the policy after epoch NNNN + trainer_state.safetensors/.json
                                (optimiser, RNG; no pickle: training/state_files.py)
    OUT/last_complete.json      the resume point (replaced atomically after a checkpoint)
    OUT/metrics.csv             one row per epoch: train loss, validation loss, token accuracy
    OUT/sft_config.json         the arguments, dataset split and statistics

Validation: whole episodes (``--val-fraction``) are held out of training; the validation loss is
the same per-token negative log-likelihood, and token accuracy is the greedy token's hit rate.
These are demonstrations from training initial states -- success is measured separately with
``tgrpo-ros eval-sim`` on held-out initial states.
"""

from __future__ import annotations

import argparse
import csv
import json
import math
from pathlib import Path
import shutil
import sys
import time
from typing import Sequence

import numpy as np
import torch
from tqdm import tqdm

from tgrpo_ros.contract import ACTION_DIM
from tgrpo_ros.data.episodes import load_dataset, load_episode
from tgrpo_ros.observation import Observation
from tgrpo_ros.policy.checkpoint import load_policy, save_policy
from tgrpo_ros.policy.lora import LoraSettings
from tgrpo_ros.policy.model_location import resolve_model
from tgrpo_ros.policy.normalization import compute_dataset_statistics
from tgrpo_ros.policy.proprio import select_state, state_statistics
from tgrpo_ros.policy.tiny import build_tiny_policy
from tgrpo_ros.training.state_files import load_state, save_state, write_durably

STATE_FILE = 'trainer_state'  # .safetensors + .json (tgrpo_ros.training.state_files)
RESUME_FILE = 'last_complete.json'


# ---- data ------------------------------------------------------------------------------------
class DemoData:
    """All samples of some episodes in memory: camera images, robot state, instruction, action."""

    def __init__(self, episodes: list, cameras: Sequence[str]):
        self.images: list[dict[str, np.ndarray]] = []
        self.instructions: list[str] = []
        self.states: list[np.ndarray] = []
        self.state_names: list[list[str]] = []
        actions = []
        for ep in episodes:
            missing = [c for c in cameras if c not in ep.images]
            if missing:
                raise KeyError(f'the dataset lacks camera(s) {missing}; it has '
                               f'{sorted(ep.images)}')
            for t in range(len(ep)):
                self.images.append({c: ep.images[c][t] for c in cameras})
                self.instructions.append(ep.instruction)
                self.states.append(np.asarray(ep.state[t], np.float64))
                self.state_names.append(list(ep.state_names))
            actions.append(np.asarray(ep.actions, np.float64))
        self.actions = np.concatenate(actions) if actions else np.zeros((0, ACTION_DIM))
        self.tokens = None  # (N, ACTION_DIM) int64, set once the policy (with statistics) exists

    def __len__(self) -> int:
        return len(self.instructions)


def load_episodes(folders: Sequence[str | Path]) -> list[tuple[str, object]]:
    """Return [(episode label, Episode)] from every dataset folder, in index order."""
    out = []
    for folder in folders:
        index = load_dataset(folder)
        for entry in index['episodes']:
            out.append((f'{folder}:{entry["file"]}', load_episode(folder, entry)))
    if not out:
        raise ValueError(f'no episodes in {list(folders)}')
    return out


def split_episodes(n: int, val_fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Episode indices (train, validation); at least one of each when n >= 2 and fraction > 0."""
    order = np.random.default_rng(seed).permutation(n).tolist()
    n_val = int(round(n * val_fraction))
    if val_fraction > 0 and n >= 2:
        n_val = min(max(n_val, 1), n - 1)
    else:
        n_val = 0
    return sorted(order[n_val:]), sorted(order[:n_val])


def shift_augment(image: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Random translation by up to ``max_shift`` px with edge padding (DrQ-style).

    Why: a few dozen demonstrations of one scene let a small network memorise pixel positions;
    small shifts make it read object positions relative to each other. Training only.
    """
    if max_shift <= 0:
        return image
    h, w = image.shape[:2]
    padded = np.pad(image, ((max_shift, max_shift), (max_shift, max_shift), (0, 0)), mode='edge')
    dy, dx = rng.integers(0, 2 * max_shift + 1, size=2)
    return padded[dy:dy + h, dx:dx + w]


# ---- policy ----------------------------------------------------------------------------------
def build_sft_policy(model: str, statistics: dict, key: str, cameras: Sequence[str],
                     seed: int, device: str, lora_rank: int, dtype: str = 'auto',
                     state: dict | None = None, trust_remote_code: bool = False):
    """Build the policy to fine-tune, its action statistics replaced by the demonstrations'.

    The demonstrations' statistics are stored under ``key`` and used; a start folder without
    statistics of its own (a stock HF VLM) therefore loads and is saved with them.

    state: ``{'names', 'mean', 'std'}`` to read those robot-state entries (proprio.py); a start
    policy that already reads state keeps its encoder (the names must then agree).
    """
    if model.startswith('tiny:'):
        policy = build_tiny_policy(model.split(':', 1)[1], seed=seed, cameras=tuple(cameras),
                                   statistics={key: statistics}, unnorm_key=key, device=device,
                                   dtype=dtype)
    else:
        policy = load_policy(resolve_model(model), device=device, dtype=dtype,
                             cameras=list(cameras), statistics={key: statistics},
                             unnorm_key=key, trust_remote_code=trust_remote_code)
    if state is not None:
        if policy.proprio is None:
            policy.add_proprio(state['names'], state['mean'], state['std'])
        elif policy.proprio.state_names != list(state['names']):
            raise ValueError(f'{model} reads state {policy.proprio.state_names}, not '
                             f'{list(state["names"])}')
    if lora_rank > 0 and policy.peft is None:
        policy.add_lora(LoraSettings(rank=lora_rank, alpha=2.0 * lora_rank))
    return policy


def observations(data: DemoData, idx: Sequence[int], rng: np.random.Generator | None = None,
                 shift: int = 0) -> list:
    out = []
    for i in idx:
        images = data.images[i]
        if rng is not None and shift > 0:
            images = {c: shift_augment(img, shift, rng) for c, img in images.items()}
        out.append(Observation(images=images, state=data.states[i],
                               state_names=data.state_names[i],
                               instruction=data.instructions[i]))
    return out


def evaluate_loss(policy, data: DemoData, batch_size: int) -> tuple[float, float]:
    """(mean per-token NLL, greedy token accuracy) over ``data``; no gradients."""
    if len(data) == 0:
        return math.nan, math.nan
    nll, hits, n = 0.0, 0.0, 0
    for start in range(0, len(data), batch_size):
        idx = list(range(start, min(start + batch_size, len(data))))
        obs = observations(data, idx)
        tokens = data.tokens[idx]
        logp = policy.token_logprobs(obs, tokens, 1.0, grad=False)
        nll += float(-logp.sum())
        # greedy accuracy: the tokens the policy would act with (temperature 0) hit the target
        greedy = policy.sample(obs, temperature=0.0)
        hits += float((greedy.token_ids == tokens).sum())
        n += logp.numel()
    return nll / n, hits / n


def lr_at(step: int, total: int, base: float, warmup: int) -> float:
    """Linear warm-up, then cosine decay to 10% of ``base`` (a function of the step: resumable)."""
    if step < warmup:
        return base * (step + 1) / warmup
    p = min(1.0, (step - warmup) / max(1, total - warmup))
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * p)))


# ---- checkpoints -----------------------------------------------------------------------------
def _atomic_json(path: Path, data: dict) -> None:
    write_durably(path, json.dumps(data, indent=2).encode())


def save_checkpoint(out: Path, epoch: int, policy, optimizer, rng: np.random.Generator,
                    step: int, keep: int = 1) -> Path:
    folder = out / 'checkpoints' / f'epoch_{epoch:04d}'
    if folder.exists():
        shutil.rmtree(folder)
    save_policy(policy, folder)
    # rng: the shuffle and augmentation stream; torch_rng: torch's (e.g. dropout), as a tensor
    save_state(folder / STATE_FILE, {'optimizer': optimizer.state_dict(), 'epoch': epoch,
                                     'step': step, 'rng': rng.bit_generator.state,
                                     'torch_rng': torch.get_rng_state()})
    _atomic_json(out / RESUME_FILE, {'epoch': epoch, 'step': step,
                                     'checkpoint': str(folder.relative_to(out))})
    old = sorted((out / 'checkpoints').glob('epoch_*'))[:-keep]
    for f in old:
        shutil.rmtree(f, ignore_errors=True)
    return folder


def read_metrics(path: Path) -> list[dict]:
    if not path.is_file():
        return []
    with open(path, newline='') as f:
        return list(csv.DictReader(f))


def write_metrics(path: Path, rows: list[dict]) -> None:
    tmp = path.with_name(path.name + '.tmp')
    with open(tmp, 'w', newline='') as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    tmp.replace(path)


# ---- the run ---------------------------------------------------------------------------------
def run_sft(args: argparse.Namespace, log=print) -> dict:
    """Train (or resume) and write OUT/policy; return the summary.

    ``args``: the parsed arguments of ``tgrpo-ros sft`` (``tgrpo_ros.commands.sft`` defines
    them and their defaults).
    """
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(args.seed)
    labelled = load_episodes(args.dataset)
    cameras = args.cameras or sorted(labelled[0][1].images)
    train_idx, val_idx = split_episodes(len(labelled), args.val_fraction, args.seed)
    train = DemoData([labelled[i][1] for i in train_idx], cameras)
    val = DemoData([labelled[i][1] for i in val_idx], cameras)
    stats = compute_dataset_statistics(train.actions)
    state = None
    if args.state:
        mean, std = state_statistics(select_state(args.state, train.states, train.state_names))
        state = {'names': list(args.state), 'mean': mean, 'std': std}
    config = {'argv': sys.argv[1:], 'dataset': [str(d) for d in args.dataset],
              'model': args.model, 'cameras': list(cameras),
              'train_episodes': [labelled[i][0] for i in train_idx],
              'val_episodes': [labelled[i][0] for i in val_idx],
              'train_samples': len(train), 'val_samples': len(val),
              'statistics_key': args.statistics_key, 'statistics': stats, 'state': state,
              'settings': {k: (str(v) if isinstance(v, Path) else v)
                           for k, v in vars(args).items() if k != 'dataset'}}

    resume_point = out / RESUME_FILE
    if resume_point.is_file() and not args.resume:
        raise SystemExit(f'{out} already holds an SFT run; add --resume to continue it or '
                         'choose another --out')
    rng = np.random.default_rng(args.seed)
    steps_per_epoch = math.ceil(len(train) / args.batch_size)
    total_steps = steps_per_epoch * args.epochs
    start_epoch, step = 1, 0
    if args.resume and resume_point.is_file():
        point = json.loads(resume_point.read_text())
        ckpt = out / point['checkpoint']
        policy = load_policy(ckpt, device=args.device, dtype=args.dtype,
                             trust_remote_code=args.trust_remote_code)
        if (ckpt / 'trainer_state.pt').is_file():
            raise SystemExit(f'{ckpt} was written by an older version whose trainer state is a '
                             'pickle, which this package never loads; start a new --out')
        state = load_state(ckpt / STATE_FILE)  # safetensors + JSON: reading runs no code
        start_epoch, step = point['epoch'] + 1, point['step']
        rng.bit_generator.state = state['rng']
        log(f'[sft] resuming {out} after epoch {point["epoch"]}')
    else:
        policy = build_sft_policy(args.model, stats, args.statistics_key, cameras, args.seed,
                                  args.device, args.lora_rank, args.dtype, state,
                                  args.trust_remote_code)
        state = None
        _atomic_json(out / 'sft_config.json', config)
    train.tokens = policy.actions_to_tokens(train.actions)
    val.tokens = policy.actions_to_tokens(val.actions) if len(val) else None
    params = policy.trainable_parameters()
    optimizer = torch.optim.AdamW(params, lr=args.lr, weight_decay=args.weight_decay)
    if state is not None:
        optimizer.load_state_dict(state['optimizer'])
        torch.set_rng_state(state['torch_rng'])
    rows = [r for r in read_metrics(out / 'metrics.csv') if int(r['epoch']) < start_epoch]
    t_start = time.monotonic()
    for epoch in range(start_epoch, args.epochs + 1):
        order = rng.permutation(len(train))
        total, count = 0.0, 0
        t0 = time.monotonic()
        with tqdm(total=steps_per_epoch, desc=f'sft epoch {epoch}/{args.epochs}', unit='batch',
                  disable=args.quiet) as bar:
            for b in range(steps_per_epoch):
                idx = order[b * args.batch_size:(b + 1) * args.batch_size].tolist()
                obs = observations(train, idx, rng, args.shift_augment)
                lr = lr_at(step, total_steps, args.lr, args.warmup_steps)
                for g in optimizer.param_groups:
                    g['lr'] = lr
                logp = policy.token_logprobs(obs, train.tokens[idx], 1.0, grad=True)
                loss = -logp.mean()
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(params, args.max_grad_norm)
                optimizer.step()
                step += 1
                total += float(loss.detach()) * len(idx)
                count += len(idx)
                bar.update(1)
                bar.set_postfix(loss=f'{total / count:.3f}', lr=f'{lr:.1e}')
        val_nll, val_acc = (evaluate_loss(policy, val, args.batch_size)
                            if len(val) and (epoch % args.val_every == 0 or epoch == args.epochs)
                            else (math.nan, math.nan))
        rows.append({'epoch': epoch, 'step': step, 'train_nll': round(total / count, 5),
                     'val_nll': round(val_nll, 5), 'val_token_accuracy': round(val_acc, 4),
                     'lr': lr, 'epoch_time_s': round(time.monotonic() - t0, 1)})
        write_metrics(out / 'metrics.csv', rows)
        log(f'[sft] epoch {epoch}: train NLL {total / count:.4f}, validation NLL {val_nll:.4f}, '
            f'token accuracy {val_acc:.3f} ({time.monotonic() - t0:.0f}s)')
        if epoch % args.checkpoint_every == 0 or epoch == args.epochs:
            save_checkpoint(out, epoch, policy, optimizer, rng, step)
    final = save_policy(policy, out / 'policy')
    summary = {'policy': str(final), 'epochs': args.epochs, 'steps': step,
               'train_samples': len(train), 'val_samples': len(val),
               'final_train_nll': float(rows[-1]['train_nll']) if rows else None,
               'final_val_nll': float(rows[-1]['val_nll']) if rows else None,
               'final_val_token_accuracy': float(rows[-1]['val_token_accuracy']) if rows else None,
               'wall_time_s_this_session': round(time.monotonic() - t_start, 1)}
    _atomic_json(out / 'sft_summary.json', summary)
    log(f'[sft] wrote {final}')
    return summary
