# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros train``: the TGRPO loop in one process (no ROS), same settings as ``sim_train``.

Settings come from ``config/sim_train.yaml`` (the learner node's parameters) or the defaults
of ``SimTrainSettings``, then ``--set NAME=VALUE`` overrides (``algo.<field>`` for the
algorithm); ``--resume`` continues the run in ``output_dir`` after its last complete
iteration. The estimator ``gae`` selects the PPO baseline (value head + GAE + clipped value
loss) in the same trainer.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

import yaml

EXAMPLES = """
examples:
  # 20 TGRPO iterations from the shipped SFT policy on LIBERO-Object task 0, training states 0-24
  tgrpo-ros train --set model=sft:object_task0 iterations=20 max_steps=160 \\
      "init_states=[0,1,2,3,4,5,6,7,8,9]" output_dir=runs/tgrpo_t0

  # the same run continued after an interruption
  tgrpo-ros train --set model=sft:object_task0 iterations=20 max_steps=160 \\
      "init_states=[0,1,2,3,4,5,6,7,8,9]" output_dir=runs/tgrpo_t0 --resume

  # the PPO baseline, and GRPO on 0/1 success (needs every episode to finish: all_done)
  tgrpo-ros train --set algo.estimator=gae algo.group_completion=all_done output_dir=runs/ppo
  tgrpo-ros train --set algo.estimator=grpo_outcome algo.group_completion=all_done

  # start from the graph's parameter file
  tgrpo-ros train --config config/sim_train.yaml --set iterations=5
"""


def parse_overrides(items: Sequence[str]) -> dict:
    """``['a=1', 'algo.lr=1e-4', 'tasks=[0, 1]']`` -> typed dict (values parsed as YAML)."""
    out = {}
    for item in items:
        if '=' not in item:
            raise SystemExit(f'--set expects NAME=VALUE, got {item!r}')
        key, value = item.split('=', 1)
        out[key.strip()] = yaml.safe_load(value) if value.strip() else ''
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='tgrpo-ros train', description=__doc__.split('\n\n')[0], epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--config', default=None,
                   help='ROS 2 parameter file whose learner section gives the settings')
    p.add_argument('--set', nargs='*', default=[], metavar='NAME=VALUE',
                   help='override settings (SimTrainSettings fields, algo.<TGRPOConfig field>)')
    p.add_argument('--resume', action='store_true', help='continue the run in output_dir')
    p.add_argument('--print-settings', action='store_true',
                   help='print the resolved settings and exit')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    from tgrpo_ros.training.driver import load_settings, train_in_process
    args = build_parser().parse_args(argv)
    overrides = parse_overrides(args.set)
    if args.resume:
        overrides['resume'] = True
    try:
        settings = load_settings(args.config, overrides)
    except (ValueError, TypeError) as exc:
        raise SystemExit(f'tgrpo-ros train: {exc}') from None
    if args.print_settings:
        print(yaml.safe_dump(settings.to_dict(), sort_keys=False))
        return 0
    summary = train_in_process(settings)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
