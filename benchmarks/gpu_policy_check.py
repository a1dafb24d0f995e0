# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""GPU check of the policy: a ~1B tiny-architecture model and a full-size OpenVLA-7B.

Needs only torch, transformers, peft, safetensors, numpy, pillow and this repository. No
weights: both models are randomly initialised (OpenVLA-7B from OpenVLA's published config,
``openvla_layout.openvla_7b_config``), in bf16, directly on the device. Writes
``gpu_policy_check.json`` into ``--out`` after every phase, so a partial run still reports.

Phases:
1. ``1b``: the tiny architecture scaled to ~1B parameters (``tiny.SIZES['1b']``), LoRA rank 32:
   actions/s at batch 1/4/8, update samples/s at batch 8, peak memory.
2. ``openvla7b``: backend 1 end to end on the full-size Prismatic model (DINOv2-L + SigLIP-So400M
   fused, 3-layer projector, Llama-2-7B), LoRA rank 32 / alpha 16 on all linear layers: sample
   actions for batches 1/4/8, one LoRA update step at batch 4 and 8, peak memory, and the
   bf16 gap between sampled and teacher-forced log-probs. The prompt uses the tiny tokenizer
   (no Llama tokenizer offline), which gives a prompt of similar length.

Usage::

    python benchmarks/gpu_policy_check.py --out /tmp/gpu_out            # on the GPU, < 6 min
    python benchmarks/gpu_policy_check.py --out /tmp/smoke --smoke      # shrunk, runs on a CPU
"""

from __future__ import annotations

import argparse
import gc
import json
from pathlib import Path
import platform
import sys
import time
import traceback

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_policy import make_observations, time_sampling, time_update  # noqa: E402
from tgrpo_ros.policy.lora import LoraSettings  # noqa: E402
from tgrpo_ros.policy.normalization import compute_dataset_statistics  # noqa: E402
from tgrpo_ros.policy.openvla_layout import openvla_7b_config  # noqa: E402
from tgrpo_ros.policy.preprocessing import ImagePreprocessing  # noqa: E402
from tgrpo_ros.policy.prismatic import build_module, PrismaticVLA  # noqa: E402
from tgrpo_ros.policy.prompt import LLAMA2_EMPTY_TOKEN  # noqa: E402
from tgrpo_ros.policy.tiny import build_tiny_policy, build_tiny_tokenizer  # noqa: E402
from tgrpo_ros.policy.token_policy import PolicySpec, TokenVLAPolicy  # noqa: E402

DTYPES = {'bf16': torch.bfloat16, 'fp16': torch.float16, 'fp32': torch.float32}


def libero_like_statistics() -> dict:
    rng = np.random.default_rng(0)
    demo = np.concatenate([rng.normal(0, 0.3, (1000, 6)), rng.integers(0, 2, (1000, 1))], 1)
    return {'libero_object_no_noops': compute_dataset_statistics(demo)}


def reset_peak(device: torch.device) -> None:
    if device.type == 'cuda':
        torch.cuda.synchronize(device)
        torch.cuda.reset_peak_memory_stats(device)


def memory_gib(device: torch.device) -> dict:
    if device.type != 'cuda':
        return {}
    torch.cuda.synchronize(device)
    return {'allocated_gib': torch.cuda.memory_allocated(device) / 2**30,
            'peak_allocated_gib': torch.cuda.max_memory_allocated(device) / 2**30,
            'peak_reserved_gib': torch.cuda.max_memory_reserved(device) / 2**30}


def logprob_gap(policy, batch: int) -> float:
    """Max |sampled - teacher-forced| log-prob (float32 CPU gives ~1e-6; bf16 is coarser).

    The rows have prompts of different lengths, so left padding is exercised; a NaN here
    would mean padded positions leak into real ones.
    """
    obs = make_observations(batch, seed=3)
    s = policy.sample(obs, 1.0, torch.Generator().manual_seed(3))
    tf = policy.token_logprobs(obs, s.token_ids, 1.0, grad=False).float().cpu()
    if not (torch.isfinite(tf).all() and torch.isfinite(s.logprobs).all()):
        raise FloatingPointError('non-finite log-probs in a left-padded batch')
    return float((tf - s.logprobs).abs().max())


def measure(policy, device, batches, update_batches, repeats, deadline) -> dict:
    out = {'parameters': int(sum(p.numel() for n, p in policy.backbone.named_parameters()
                                 if 'lora_' not in n)),
           'trainable_parameters': int(sum(p.numel() for p in policy.trainable_parameters())),
           'after_build': memory_gib(device), 'sampling': [], 'update': []}
    reset_peak(device)
    for b in batches:
        if time.monotonic() > deadline:
            out['sampling'].append({'batch': b, 'skipped': 'time budget'})
            continue
        out['sampling'].append(time_sampling(policy, b, repeats))
        print(f'  sample b{b}: {out["sampling"][-1]["actions_per_s"]:.2f} actions/s', flush=True)
    out['sampling_memory'] = memory_gib(device)
    out['logprob_gap_sample_vs_teacher_forced'] = logprob_gap(policy, min(4, max(batches)))
    for b in update_batches:
        if time.monotonic() > deadline:
            out['update'].append({'batch': b, 'skipped': 'time budget'})
            continue
        reset_peak(device)
        r = time_update(policy, b, repeats)
        r['memory'] = memory_gib(device)
        out['update'].append(r)
        print(f'  update b{b}: {r["samples_per_s"]:.2f} samples/s', flush=True)
    return out


def phase_1b(args, device, dtype, deadline) -> dict:
    size = 'test' if args.smoke else '1b'
    t = time.perf_counter()
    policy = build_tiny_policy(size, seed=0, device=device, dtype=dtype, jpeg=True,
                               center_crop=True)
    policy.add_lora(LoraSettings(rank=32))
    build_s = time.perf_counter() - t
    r = measure(policy, device, args.batches, args.update_batches[-1:], args.repeats, deadline)
    r.update(size=size, build_seconds=build_s,
             image_size=policy.spec.preprocessing.image_size)
    return r


def run_phases(results: dict, names, run_one, device: torch.device, write) -> None:
    """Run ``run_one(name)`` into ``results['phases']``, writing after each phase.

    A failing phase records its error and the others still run: one out-of-memory size must
    not lose the measurements of the rest of a short GPU lease.
    """
    for name in names:
        print(f'phase {name}', flush=True)
        try:
            results['phases'][name] = run_one(name)
        except Exception as e:
            traceback.print_exc()
            results['phases'][name] = {'error': f'{type(e).__name__}: {e}'}
        gc.collect()
        if device.type == 'cuda':
            torch.cuda.empty_cache()
        write()


def raise_if_failed(results: dict) -> None:
    failed = [n for n, r in results['phases'].items() if 'error' in r]
    if failed:
        raise SystemExit(f'phases failed: {failed}')


def openvla_config(smoke: bool) -> dict:
    config = openvla_7b_config(libero_like_statistics())
    if smoke:
        # Same code path, small dimensions: tiny ViTs at 224 px / patch 14 (256 patches, as
        # OpenVLA), a 2-layer Llama with OpenVLA's 32064-token vocabulary.
        vit = {'depth': 2, 'num_heads': 2, 'mlp_hidden': 64, 'patch_size': 14,
               'image_size': 224}
        config['vision_specs'] = [
            dict(vit, embed_dim=32, class_token=True, reg_tokens=4, no_embed_class=True,
                 layer_scale=True),
            dict(vit, embed_dim=48, class_token=False, mean=[0.5] * 3, std=[0.5] * 3)]
        config['text_config'].update(hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                                     num_attention_heads=4, num_key_value_heads=4)
    return config


def build_openvla_policy(smoke: bool, device, dtype) -> TokenVLAPolicy:
    """Build the full-size OpenVLA-7B layout (``smoke``: shrunk) with random weights."""
    torch.manual_seed(0)
    backbone = build_module(PrismaticVLA, openvla_config(smoke), device, dtype)
    spec = PolicySpec(cameras=['agentview'], preprocessing=ImagePreprocessing(image_size=224),
                      prompt_suffix_ids=[LLAMA2_EMPTY_TOKEN],
                      action_vocab_size=backbone.action_vocab_size, gripper='openvla',
                      backend='prismatic')
    return TokenVLAPolicy(backbone, build_tiny_tokenizer(), spec, libero_like_statistics())


def phase_openvla(args, device, dtype, deadline) -> dict:
    t = time.perf_counter()
    policy = build_openvla_policy(args.smoke, device, dtype)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    policy.add_lora(LoraSettings(rank=32))          # OpenVLA's: r 32, alpha 16, all linear
    lora_s = time.perf_counter() - t
    s = policy.sample(make_observations(2), 1.0, torch.Generator().manual_seed(0))
    assert s.actions.shape == (2, 7) and np.isfinite(s.actions).all()
    assert ((s.token_ids >= 31744) & (s.token_ids < 32000)).all()
    r = measure(policy, device, args.batches, args.update_batches, args.repeats, deadline)
    r.update(build_seconds=build_s, lora_seconds=lora_s,
             action_vocab_size=policy.backbone.action_vocab_size, image_size=224,
             example_actions=s.actions.tolist())
    return r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out', required=True, help='folder for gpu_policy_check.json')
    parser.add_argument('--smoke', action='store_true', help='shrink everything (CPU check)')
    parser.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    parser.add_argument('--dtype', default='bf16', choices=sorted(DTYPES))
    parser.add_argument('--repeats', type=int, default=3)
    parser.add_argument('--batches', type=int, nargs='+', default=[1, 4, 8],
                        help='sampling batch sizes')
    parser.add_argument('--update-batches', type=int, nargs='+', default=[4, 8],
                        help='update batch sizes (the ~1B phase uses the last one)')
    parser.add_argument('--budget-s', type=float, default=300.0,
                        help='stop starting new measurements after this many seconds')
    parser.add_argument('--phases', nargs='+', default=['1b', 'openvla7b'])
    args = parser.parse_args()
    device, dtype = torch.device(args.device), DTYPES[args.dtype]
    if device.type == 'cuda' and not torch.cuda.is_available():
        raise SystemExit('CUDA requested but not available; use --device cpu --smoke')
    start = time.monotonic()
    deadline = start + args.budget_s
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    import peft
    import transformers
    results = {
        'what': 'tgrpo_ros policy on GPU: ~1B tiny architecture and full-size OpenVLA-7B '
                '(random init), LoRA rank 32, end to end incl. image preprocessing',
        'smoke': args.smoke, 'device': str(device), 'dtype': args.dtype,
        'device_name': torch.cuda.get_device_name(device) if device.type == 'cuda' else
        platform.processor() or 'cpu',
        'versions': {'torch': torch.__version__, 'transformers': transformers.__version__,
                     'peft': peft.__version__, 'python': platform.python_version()},
        'date_utc': time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime()),
        'phases': {},
    }

    def write():
        results['elapsed_s'] = time.monotonic() - start
        with open(out_dir / 'gpu_policy_check.json', 'w') as f:
            json.dump(results, f, indent=2)

    runners = {'1b': phase_1b, 'openvla7b': phase_openvla}
    run_phases(results, args.phases, lambda name: runners[name](args, device, dtype, deadline),
               device, write)
    print(json.dumps(results, indent=1)[:4000])
    raise_if_failed(results)


if __name__ == '__main__':
    main()
