# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Offline evaluation throughput: samples evaluated per second on this CPU, tiny models.

Usage::

    python benchmarks/bench_eval_bag.py     # writes benchmarks/results/eval_bag_cpu.json
    python benchmarks/bench_eval_bag.py --sizes test --samples 16 --out /tmp/x.json

Two synthetic recordings with known contents (``tgrpo_ros.bags.synthetic``):
``sim``: this package's Observation/Action topics, raw rgb8 images, paired by ids (MCAP);
``robot``: JPEG CompressedImage + JointState + PoseStamped + Float64MultiArray action, paired by
time (sqlite3). For each: reading + pairing + image decoding alone (no policy), then the whole
``evaluate_bags`` (greedy prediction + teacher-forced NLL of the recorded tokens, both per
batch) at several batch sizes. "samples/s" = evaluated samples / wall time of the whole call,
report and plots included; "model samples/s" counts only the policy calls. The machine is
shared; the load average at start and end is recorded with the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
import platform
import sys
import tempfile
import time

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tgrpo_ros.bags.evaluate import evaluate_bags  # noqa: E402
from tgrpo_ros.bags.pairing import iter_samples, SkipLog  # noqa: E402
from tgrpo_ros.bags.reader import BagReader  # noqa: E402
from tgrpo_ros.bags.synthetic import write_policy_bag, write_robot_bag  # noqa: E402
from tgrpo_ros.bags.topic_map import parse_topic_map, sim_topic_map  # noqa: E402
from tgrpo_ros.policy.tiny import build_tiny_policy, count_parameters  # noqa: E402

ROBOT_MAP = {
    'cameras': {'agentview': '/camera/image_raw/compressed'}, 'joint_states': '/joint_states',
    'gripper_joints': ['panda_finger_joint1', 'panda_finger_joint2'],
    'eef_pose': '/franka/eef_pose', 'instruction': {'topic': '/task_instruction'},
    'action': '/tgrpo/action', 'pairing': {'mode': 'time'}}


def pairing_rate(bag: Path, tmap) -> float:
    t = time.perf_counter()
    with BagReader(bag) as r:
        n = sum(1 for _ in iter_samples(r, tmap, SkipLog()))
    return n / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--sizes', nargs='*', default=['test', 'cpu-5m'])
    p.add_argument('--samples', type=int, default=48, help='samples per recording')
    p.add_argument('--batch-sizes', nargs='*', type=int, default=[1, 8])
    p.add_argument('--image-size', type=int, default=128, help='recorded image side [px]')
    p.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    p.add_argument('--out', default=str(Path(__file__).parent / 'results' / 'eval_bag_cpu.json'))
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    results = {'machine': {'cpu': platform.processor() or platform.machine(),
                           'cores': os.cpu_count(), 'torch_threads': torch.get_num_threads(),
                           'load_average_start': os.getloadavg()},
               'samples_per_recording': args.samples, 'image_size': args.image_size,
               'runs': []}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for size in args.sizes:
            policy = build_tiny_policy(size, seed=0)
            steps = max(1, args.samples // 2)
            write_policy_bag(tmp / f'sim_{size}', policy, episodes=2, steps=steps,
                             image_size=args.image_size)
            write_robot_bag(tmp / f'robot_{size}', storage='sqlite3', steps=steps, episodes=2,
                            compressed='jpeg', camera='/camera/image_raw/compressed',
                            image_size=args.image_size)
            for kind, tmap in (('sim', sim_topic_map()), ('robot', parse_topic_map(ROBOT_MAP))):
                bag = tmp / f'{kind}_{size}'
                rate = pairing_rate(bag, tmap)
                for bs in args.batch_sizes:
                    report = evaluate_bags([bag], {'p': policy}, tmap, tmp / f'out_{kind}_{bs}',
                                           batch_size=bs, progress=False, max_plots=2)
                    th = report['throughput']
                    run = {'model': f'tiny:{size}', 'parameters': count_parameters(
                        policy.backbone), 'model_input_px': policy.spec.preprocessing.image_size,
                        'recording': kind, 'batch_size': bs, 'samples': th['samples'],
                        'samples_per_second': round(th['samples_per_second'], 3),
                        'model_samples_per_second': round(th['model_samples_per_second'], 3),
                        'read_pair_decode_samples_per_second': round(rate, 1),
                        'token_accuracy': report['overall']['p']['token_accuracy']}
                    results['runs'].append(run)
                    print(json.dumps(run))
    results['machine']['load_average_end'] = os.getloadavg()
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(results, indent=2) + '\n')
    print(f'wrote {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
