# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Policy throughput on this machine: actions/s at batch 1/4/8 and update samples/s.

Usage::

    python benchmarks/bench_policy.py                       # tiny sizes, writes results JSON
    python benchmarks/bench_policy.py --sizes test --repeats 2 --out /tmp/x.json

"actions/s" times ``policy.sample`` end to end (image preprocessing, prefix, 7 cached decoding
steps, de-tokenisation). "update samples/s" times one LoRA update on a batch: teacher-forced
log-probs with gradients, a clipped-ratio loss, backward, AdamW step. Float32 on the CPU.
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

from tgrpo_ros.observation import Observation  # noqa: E402
from tgrpo_ros.policy.lora import LoraSettings  # noqa: E402
from tgrpo_ros.policy.tiny import build_tiny_policy, count_parameters  # noqa: E402

TASKS = ['pick up the alphabet soup and place it in the basket', 'put the bowl on the plate',
         'open the top drawer and put the bowl inside', 'turn on the stove']


def make_observations(n: int, side: int = 256, seed: int = 0,
                      cameras: tuple[str, ...] = ('agentview',)) -> list[Observation]:
    """N observations with random 256x256 camera images (LIBERO's render size)."""
    rng = np.random.default_rng(seed)
    return [Observation(images={c: rng.integers(0, 256, (side, side, 3), dtype=np.uint8)
                                for c in cameras},
                        instruction=TASKS[i % len(TASKS)]) for i in range(n)]


def sync(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)


def time_sampling(policy, batch: int, repeats: int) -> dict:
    """Return actions/s and seconds per call for ``policy.sample`` at one batch size."""
    obs = make_observations(batch)
    gen = torch.Generator().manual_seed(0)
    policy.sample(obs, 1.0, gen)                       # warm-up (allocations, kernels)
    times = []
    for _ in range(repeats):
        sync(policy.device)
        t = time.perf_counter()
        policy.sample(obs, 1.0, gen)
        sync(policy.device)
        times.append(time.perf_counter() - t)
    med = float(np.median(times))
    return {'batch': batch, 'seconds_per_call': med, 'actions_per_s': batch / med}


def time_update(policy, batch: int, repeats: int, lr: float = 1e-5) -> dict:
    """Return samples/s of one update step (log-probs with grad, loss, backward, AdamW)."""
    obs = make_observations(batch, seed=1)
    sample = policy.sample(obs, 1.0, torch.Generator().manual_seed(1))
    old = sample.logprobs.to(policy.device)
    adv = torch.randn(batch, 1, device=policy.device)
    params = policy.trainable_parameters()
    opt = torch.optim.AdamW(params, lr=lr)

    def step():
        lp = policy.token_logprobs(obs, sample.token_ids, 1.0, grad=True)
        ratio = torch.exp(lp - old)
        loss = -torch.min(ratio * adv, ratio.clamp(0.8, 1.2) * adv).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return float(loss.detach())

    step()                                             # warm-up (creates optimiser state)
    times = []
    for _ in range(repeats):
        sync(policy.device)
        t = time.perf_counter()
        step()
        sync(policy.device)
        times.append(time.perf_counter() - t)
    med = float(np.median(times))
    return {'batch': batch, 'seconds_per_step': med, 'samples_per_s': batch / med,
            'trainable_parameters': int(sum(p.numel() for p in params))}


def bench_size(size: str, repeats: int, batches=(1, 4, 8), update_batch: int = 8,
               device='cpu', dtype=torch.float32, lora_rank: int = 32) -> dict:
    policy = build_tiny_policy(size, seed=0, device=device, dtype=dtype, jpeg=True,
                               center_crop=True)
    n_params = count_parameters(policy.backbone)
    policy.add_lora(LoraSettings(rank=lora_rank))
    return {
        'size': size, 'parameters': n_params,
        'image_size': policy.spec.preprocessing.image_size,
        'sampling': [time_sampling(policy, b, repeats) for b in batches],
        'update': time_update(policy, update_batch, repeats),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--sizes', nargs='+', default=['test', 'cpu-5m', 'cpu-20m'])
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--threads', type=int, default=1,
                        help='torch threads (1 is steadier on a shared machine)')
    parser.add_argument('--out', default=str(Path(__file__).parent / 'results' /
                                             'policy_cpu.json'))
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    results = {
        'what': 'tgrpo_ros policy throughput (tiny OpenVLA-architecture models, LoRA rank 32)',
        'machine': {'platform': platform.platform(), 'cpus': os.cpu_count(),
                    'torch_threads': torch.get_num_threads(), 'torch': torch.__version__,
                    'python': platform.python_version(),
                    'load_average_at_start': os.getloadavg()},
        'dtype': 'float32', 'device': 'cpu',
        'note': 'median of repeats after one warm-up; end to end incl. JPEG/resize/crop; '
                '256x256 input images; shared 2-core machine, numbers vary with load',
        'date_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'results': [],
    }
    for size in args.sizes:
        r = bench_size(size, args.repeats)
        results['results'].append(r)
        s = ', '.join(f'b{x["batch"]}: {x["actions_per_s"]:.1f}' for x in r['sampling'])
        print(f'{size} ({r["parameters"] / 1e6:.2f}M params): actions/s {s}; update '
              f'{r["update"]["samples_per_s"]:.1f} samples/s', flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    with open(args.out, 'w') as f:
        json.dump(results, f, indent=2)
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
