# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""The TGRPO update of one group at growing model sizes: seconds, samples/s, peak memory.

What the CPU experiment (``run_experiment.py``) spends per iteration is a rollout (environment
steps plus one ``policy.sample`` of the whole group per step) and one ``TGRPOTrainer.update``
over the group. This script measures the policy's part of both, with the trainer itself (the
reference policy's forward for the KL, the clipped loss, backward, gradient clipping, AdamW),
at the experiment's model and at larger ones, so the CPU results can be extrapolated:

1. a group of ``--group-size`` environments x ``steps`` steps is sampled by the policy from
   random 256 px observations (seconds per group sample = the policy's cost per rollout step);
2. ``TGRPOTrainer.update`` runs twice over that group (the first builds the optimiser state
   and warms the kernels; the second is the one reported).

Sizes: ``cpu-2m`` (the experiment's architecture, LoRA r8, minibatch 64, as it ran),
``cpu-20m``, ``1b`` (tiny architecture scaled to ~1B, LoRA r32) and ``openvla7b`` (the
full-size Prismatic layout of OpenVLA-7B, random weights, LoRA r32). The trainer has no
gradient accumulation, so a minibatch has to fit in memory: the large sizes use smaller ones
(``PHASES``). ``--smoke`` shrinks the large sizes so the whole script runs on a CPU in seconds.

Usage::

    python benchmarks/bench_update.py --out /tmp/upd                  # GPU (bf16), ~4 min
    python benchmarks/bench_update.py --out /tmp/upd --device cpu --dtype fp32 --sizes cpu-2m
    python benchmarks/bench_update.py --out /tmp/smoke --smoke --device cpu
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import platform
import sys
import time

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_policy import make_observations, sync  # noqa: E402
from gpu_policy_check import (build_openvla_policy, DTYPES, memory_gib,  # noqa: E402
                              raise_if_failed, reset_peak, run_phases)
from tgrpo_ros.algo import GroupRolloutBuffer, TGRPOConfig  # noqa: E402
from tgrpo_ros.policy.lora import LoraSettings  # noqa: E402
from tgrpo_ros.policy.tiny import build_tiny_policy  # noqa: E402
from tgrpo_ros.training.trainer import TGRPOTrainer  # noqa: E402

# size: (LoRA rank, minibatch, steps per environment in the group, size built under --smoke)
PHASES = {
    'cpu-2m': (8, 64, 120, 'test'),
    'cpu-20m': (8, 64, 120, 'test'),
    '1b': (32, 16, 64, 'test'),
    'openvla7b': (32, 8, 32, 'openvla-smoke'),
}


def build(size: str, device: torch.device, dtype: torch.dtype):
    """Build a randomly initialised policy of ``size`` ('openvla-smoke': the 7B layout, shrunk)."""
    if size in ('openvla7b', 'openvla-smoke'):
        return build_openvla_policy(size == 'openvla-smoke', device, dtype)
    return build_tiny_policy(size, seed=0, device=device, dtype=dtype, jpeg=True,
                             center_crop=True)


def collect(policy, group_size: int, steps: int, seed: int) -> tuple[GroupRolloutBuffer, list]:
    """Fill a group the way a rollout does: one ``sample`` of all environments per step.

    Rewards rise by a random amount per step and environment, so the group-relative
    advantages are not degenerate (a zero advantage would still cost the same compute).
    """
    buffer = GroupRolloutBuffer(group_size, steps, completion='all_done')
    rng = np.random.default_rng(seed)
    gen = torch.Generator().manual_seed(seed)
    returns = np.zeros(group_size)
    times = []
    for step in range(steps):
        obs = make_observations(group_size, seed=seed * 100_003 + step)
        sync(policy.device)
        t = time.perf_counter()
        s = policy.sample(obs, 1.0, gen)
        sync(policy.device)
        times.append(time.perf_counter() - t)
        returns += rng.uniform(0.0, 2.0, group_size)
        for env in range(group_size):
            buffer.add(env, step, obs[env], s.token_ids[env], s.logprobs[env],
                       reward=float(returns[env]), done=step == steps - 1)
    return buffer, times


def phase(size: str, args, device: torch.device, dtype: torch.dtype) -> dict:
    rank, minibatch, steps, smoke_size = PHASES[size]
    steps = args.steps or steps
    minibatch = args.minibatch or minibatch
    t = time.perf_counter()
    policy = build(smoke_size if args.smoke else size, device, dtype)
    policy.add_lora(LoraSettings(rank=rank))
    build_s = time.perf_counter() - t
    params = int(sum(p.numel() for n, p in policy.backbone.named_parameters()
                     if 'lora_' not in n))
    config = TGRPOConfig(estimator=args.estimator, group_size=args.group_size, lr=3e-4,
                         minibatch_size=minibatch, beta=0.04, update_epochs=1)
    trainer = TGRPOTrainer(policy, config, seed=0)
    trainable = int(sum(p.numel() for p in policy.trainable_parameters()))
    reset_peak(device)
    t = time.perf_counter()
    buffer, sample_times = collect(policy, args.group_size, steps, seed=1)
    collect_s = time.perf_counter() - t
    sampling_memory = memory_gib(device)
    updates = []
    for _ in range(2):
        reset_peak(device)
        sync(device)
        t = time.perf_counter()
        r = trainer.update(buffer)
        sync(device)
        seconds = time.perf_counter() - t
        updates.append({'seconds': seconds, 'samples_per_s': r.samples / seconds,
                        'minibatches': r.minibatches, 'loss': r.loss, 'kl_ref': r.kl_ref,
                        'grad_norm': r.grad_norm,
                        'first_abs_log_ratio_max': r.first_abs_log_ratio_max,
                        'memory': memory_gib(device)})
        print(f'  {size}: update of {r.samples} samples in {seconds:.2f} s '
              f'({r.samples / seconds:.1f} samples/s)', flush=True)
    warm = updates[1]
    sample_s = float(np.median(sample_times[1:] if len(sample_times) > 1 else sample_times))
    return {
        'size': size, 'built_as': smoke_size if args.smoke else size, 'parameters': params,
        'trainable_parameters': trainable, 'lora_rank': rank, 'minibatch_size': minibatch,
        'group_size': args.group_size, 'steps': steps, 'samples': len(buffer),
        'build_seconds': build_s, 'collect_seconds': collect_s,
        'group_sample_seconds_median': sample_s,
        'update_seconds': warm['seconds'], 'update_samples_per_s': warm['samples_per_s'],
        'update_seconds_per_1000_samples': 1000.0 * warm['seconds'] / len(buffer),
        # sampler vs learner on the first update, before any step: bf16 is coarse here
        'first_abs_log_ratio_max': updates[0]['first_abs_log_ratio_max'],
        'sampling_memory': sampling_memory, 'update_memory': warm['memory'],
        'updates': updates,
    }


def write_markdown(results: dict, path: Path) -> None:
    lines = [f"# TGRPO update at growing model sizes ({results['device_name']}, "
             f"{results['dtype']})", '',
             f"Measured {results['date_utc']} by `benchmarks/bench_update.py`"
             f"{' (--smoke)' if results['smoke'] else ''}; group of "
             f"{results['group_size']} environments, estimator `{results['estimator']}`.", '',
             '| size | parameters | LoRA r | minibatch | samples | update s | samples/s '
             '| s per 1000 samples | group sample s/step | peak update GiB |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for name, r in results['phases'].items():
        if 'error' in r:
            lines.append(f'| {name} | error: {r["error"]} | | | | | | | | |')
            continue
        peak = r['update_memory'].get('peak_allocated_gib')
        lines.append(
            f"| {name} | {r['parameters'] / 1e6:.1f}M | {r['lora_rank']} | "
            f"{r['minibatch_size']} | {r['samples']} | {r['update_seconds']:.2f} | "
            f"{r['update_samples_per_s']:.1f} | {r['update_seconds_per_1000_samples']:.2f} | "
            f"{r['group_sample_seconds_median']:.3f} | "
            f"{'-' if peak is None else f'{peak:.1f}'} |")
    path.write_text('\n'.join(lines) + '\n')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='folder for update_scaling.json/.md')
    parser.add_argument('--sizes', nargs='+', default=list(PHASES), choices=list(PHASES))
    parser.add_argument('--smoke', action='store_true',
                        help='build the large sizes shrunk (a CPU check of the script)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--dtype', default='bf16', choices=sorted(DTYPES))
    parser.add_argument('--group-size', type=int, default=4, help='environments per group')
    parser.add_argument('--steps', type=int, default=None,
                        help='steps per environment for every size (default: per size)')
    parser.add_argument('--minibatch', type=int, default=None,
                        help='minibatch size for every size (default: per size)')
    parser.add_argument('--estimator', default='tgrpo',
                        choices=['tgrpo', 'traj', 'step', 'grpo_outcome'])
    parser.add_argument('--threads', type=int, default=None, help='torch CPU threads')
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('CUDA requested but not available; use --device cpu')
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    start = time.monotonic()
    results = {
        'what': 'TGRPOTrainer.update over one group, and the group sample per rollout step, '
                'at growing model sizes (random weights)',
        'smoke': args.smoke, 'device': str(device), 'dtype': args.dtype,
        'device_name': (torch.cuda.get_device_name(device) if device.type == 'cuda' else
                        f'CPU ({os.cpu_count()} cores, {torch.get_num_threads()} torch threads, '
                        f'{platform.machine()})'),
        'estimator': args.estimator, 'group_size': args.group_size,
        'torch': torch.__version__,
        'date_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()), 'phases': {},
    }
    def write():
        results['elapsed_s'] = time.monotonic() - start
        (out_dir / 'update_scaling.json').write_text(json.dumps(results, indent=2))
        write_markdown(results, out_dir / 'update_scaling.md')

    run_phases(results, args.sizes, lambda size: phase(size, args, device, dtype), device,
               write)
    print((out_dir / 'update_scaling.md').read_text())
    raise_if_failed(results)


if __name__ == '__main__':
    main()
