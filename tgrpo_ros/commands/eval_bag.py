# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros eval-bag``: offline evaluation of policies on recorded bags.

How would a policy have acted on recorded sessions, before risking the arm?

Reads MCAP and sqlite3 bags with rosbags (no ROS install needed), maps topics to the policy's
inputs and the recorded action with a topic map, runs one or more policies, and writes
report.json, plots and summary.md / summary.html to the output folder.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
import sys

import torch

from tgrpo_ros.bags.evaluate import evaluate_bags
from tgrpo_ros.bags.topic_map import resolve_topic_map, TopicMapError
from tgrpo_ros.policy.checkpoint import load_policy
from tgrpo_ros.training.policy_setup import build_policy

EXAMPLES = """examples:
  # a bag of this package's own topics (env0), tiny test policy served by the policy node
  tgrpo-ros eval-bag bags/run1 --policy tiny:test --topics sim --out eval/run1

  # real-robot recordings: compressed camera, joint states, an action topic
  tgrpo-ros eval-bag bags/teleop_*/ --policy runs/sft/policy \\
      --topics config/topic_maps/real_franka_action.yaml --out eval/teleop

  # SFT against TGRPO, side by side on the same recordings (adapter on a base model)
  tgrpo-ros eval-bag bags/a bags/b --policy sft=runs/sft/policy \\
      --policy tgrpo=runs/tgrpo/adapters/v0040 --base runs/sft/policy \\
      --topics config/topic_maps/real_franka_motion.yaml --out eval/sft_vs_tgrpo

POLICY is a policy/model folder, an adapter folder (with --base), or tiny:<size> (seeded
with --seed and given a fresh LoRA adapter exactly as the policy node does). Prefix NAME= to
name it in the report. --topics takes a topic map YAML (config/topic_maps/) or sim[:ENV] for
this package's own /ENV/observation, /ENV/action, /ENV/step_result: `sim` is sim:env0, and
`sim:` (nothing after the colon) the root namespace, where the sim_train graph's environments
share /observation, /action and /step_result.
Exit status: 0 all bags evaluated, 1 some bag failed (its error is in report.json; results
computed before it are kept), 2 bad arguments.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog='tgrpo-ros eval-bag', description=__doc__.split('\n\n')[0]
                                .split(': ', 1)[1], epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('bags', nargs='+', metavar='BAG', help='bag folders or .mcap/.db3 files')
    p.add_argument('--policy', action='append', required=True, metavar='[NAME=]POLICY',
                   help='policy to evaluate (repeat to compare several)')
    p.add_argument('--topics', required=True, metavar='MAP.yaml|sim[:ENV]',
                   help='topic map (see config/topic_maps/)')
    p.add_argument('--out', required=True, metavar='DIR', help='output folder')
    p.add_argument('--base', default='', metavar='MODEL',
                   help='base model for adapter folders (a model folder or tiny:<size>)')
    p.add_argument('--batch-size', type=int, default=8, help='samples per forward pass')
    p.add_argument('--device', default='cpu', help='torch device (default cpu)')
    p.add_argument('--seed', type=int, default=7, help='seed of tiny:<size> models (default 7, '
                   'as the policy node)')
    p.add_argument('--lora-rank', type=int, default=8,
                   help='LoRA rank attached to tiny models / bases (as the policy node)')
    p.add_argument('--lora-alpha', type=float, default=16.0, help='LoRA alpha (as above)')
    p.add_argument('--cameras', nargs='*', default=None,
                   help="camera names the policy reads (default: the policy's own)")
    p.add_argument('--threads', type=int, default=0,
                   help="torch CPU threads (default: torch's choice; 1 is often faster on a "
                   'busy machine)')
    p.add_argument('--max-plots', type=int, default=20, help='episodes to plot (default 20)')
    p.add_argument('--no-progress', action='store_true', help='no progress bar')
    return p


def parse_policy_args(values: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for i, v in enumerate(values):
        name, spec = (v.split('=', 1) if '=' in v and not v.startswith(('/', '.')) else
                      (None, v))
        name = name or (Path(spec).name if not spec.startswith('tiny:') else spec)
        if name in out:
            name = f'{name}_{i}'
        out[name] = spec
    return out


def load_eval_policy(spec: str, *, base: str = '', device: str = 'cpu', seed: int = 7,
                     cameras: list[str] | None = None, lora_rank: int = 8,
                     lora_alpha: float = 16.0):
    """Build the policy ``spec`` names (see EXAMPLES); errors name the spec."""
    kw = {'device': device, 'seed': seed, 'lora_rank': lora_rank, 'lora_alpha': lora_alpha}
    if cameras:
        kw['cameras'] = tuple(cameras)
    if spec.startswith('tiny:'):
        return build_policy(spec, **kw)
    path = Path(spec)
    if not path.exists():
        raise FileNotFoundError(f'policy {spec!r}: no such folder')
    if (path / 'adapter_model.safetensors').is_file() and not (
            (path / 'tgrpo_policy.json').is_file() or (path / 'config.json').is_file()):
        if not base:
            raise ValueError(f'policy {spec!r} is an adapter folder: pass --base MODEL')
        cfg_file = path / 'adapter_config.json'
        if cfg_file.is_file():
            cfg = json.loads(cfg_file.read_text())
            kw['lora_rank'] = int(cfg.get('r', lora_rank))
            kw['lora_alpha'] = float(cfg.get('lora_alpha', lora_alpha))
        return build_policy(base, adapter=str(path), **kw)
    return load_policy(path, device=device, cameras=list(cameras) if cameras else None)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.batch_size < 1:
        parser.error('--batch-size must be >= 1')
    if args.threads:
        torch.set_num_threads(args.threads)
    try:
        tmap = resolve_topic_map(args.topics)
    except TopicMapError as exc:
        print(f'tgrpo-ros eval-bag: {exc}', file=sys.stderr)
        return 2
    policies, info = {}, {}
    for name, spec in parse_policy_args(args.policy).items():
        try:
            pol = load_eval_policy(spec, base=args.base, device=args.device, seed=args.seed,
                                   cameras=args.cameras, lora_rank=args.lora_rank,
                                   lora_alpha=args.lora_alpha)
        except (OSError, ValueError, KeyError) as exc:
            print(f'tgrpo-ros eval-bag: cannot load policy {name} ({spec}): {exc}',
                  file=sys.stderr)
            return 2
        policies[name] = pol
        info[name] = {'spec': spec, 'version': pol.version.version, 'sha256': pol.version.sha256,
                      'cameras': list(pol.spec.cameras)}
    try:
        report = evaluate_bags(args.bags, policies, tmap, args.out, batch_size=args.batch_size,
                               progress=not args.no_progress, policy_info=info,
                               max_plots=args.max_plots)
    except KeyboardInterrupt:
        print(f'tgrpo-ros eval-bag: interrupted; the partial report is in {args.out}',
              file=sys.stderr)
        return 130
    for name, r in report['overall'].items():
        if r.get('samples'):
            print(f'{name}: {r["samples"]} samples, MAE {r["mae_mean"]:.4f}, token accuracy '
                  f'{r["token_accuracy"]:.3f}, NLL {r["nll"]:.3f} nats/action, gripper '
                  f'agreement {r["gripper_agreement"]:.3f}')
        else:
            print(f'{name}: no samples evaluated')
    print(f'skipped {report["skipped"]["total"]}; report: {Path(args.out) / "report.json"}, '
          f'summary: {Path(args.out) / "summary.html"}')
    for e in report['errors']:
        print(f'tgrpo-ros eval-bag: ERROR in {e["bag"]}: {e["error"]}', file=sys.stderr)
    return 0 if report['complete'] else 1


if __name__ == '__main__':
    raise SystemExit(main())
