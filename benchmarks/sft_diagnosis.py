# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Where a behaviour-cloned policy disagrees with its demonstrations, per action dimension.

Greedy actions on the recorded frames of some dataset episodes (open loop: the policy sees the
demonstration's frames, not its own), compared with the recorded actions: mean absolute error
per motion dimension next to the mean |label|, gripper agreement, and when the gripper first
closes in the demonstration and in the policy. A dimension whose error is as large as its
labels was not learned.

    python benchmarks/sft_diagnosis.py --policy models/sft_object_task0 \
        --dataset data/new_a_64c --episodes 3 --out benchmarks/results/sft_diagnosis.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

import numpy as np

AXES = ('x', 'y', 'z', 'roll', 'pitch', 'yaw')


def diagnose(policy, episode, batch: int = 32) -> dict:
    from tgrpo_ros.observation import Observation
    cams = policy.spec.cameras
    obs = [Observation(images={c: episode.images[c][t] for c in cams},
                       instruction=episode.instruction) for t in range(len(episode))]
    pred = np.concatenate([policy.sample(obs[i:i + batch], temperature=0.0).actions
                           for i in range(0, len(obs), batch)])
    label = np.asarray(episode.actions)
    closes_label, closes_pred = label[:, 6] > 0, pred[:, 6] > 0
    return {
        'steps': len(label),
        'mae': dict(zip(AXES, np.abs(pred[:, :6] - label[:, :6]).mean(0).round(4).tolist())),
        'mean_abs_label': dict(zip(AXES, np.abs(label[:, :6]).mean(0).round(4).tolist())),
        'gripper_agreement': round(float((closes_label == closes_pred).mean()), 4),
        'first_close_step': {'demonstration': int(np.argmax(closes_label)) if closes_label.any()
                             else None,
                             'policy': int(np.argmax(closes_pred)) if closes_pred.any()
                             else None},
    }


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--policy', required=True, help="policy folder or 'sft:<name>'")
    p.add_argument('--dataset', required=True, type=Path)
    p.add_argument('--episodes', type=int, default=3, help='first N episodes of the dataset')
    p.add_argument('--out', type=Path, default=None, help='write the figures as JSON here')
    args = p.parse_args(argv)
    import torch
    torch.set_num_threads(1)
    from tgrpo_ros.policy.checkpoint import load_policy
    from tgrpo_ros.policy.model_location import resolve_model
    from tgrpo_ros.training.sft import load_episodes
    policy = load_policy(resolve_model(args.policy))
    rows = {}
    for name, ep in load_episodes([args.dataset])[:args.episodes]:
        rows[name] = r = diagnose(policy, ep)
        print(f'{name}: MAE {r["mae"]} | mean |label| {r["mean_abs_label"]} | gripper '
              f'agreement {r["gripper_agreement"]} | first close {r["first_close_step"]}')
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps({'policy': args.policy, 'dataset': str(args.dataset),
                                        'episodes': rows}, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
