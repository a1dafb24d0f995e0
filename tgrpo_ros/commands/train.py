# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros train``: the TGRPO loop in one process (no ROS), same settings as ``sim_train``.

Settings (tgrpo_ros.training.settings, named ``<section>.<field>``) combine as in the graph:
the declared defaults (config/sim_train.yaml), then ``--preset NAME`` (config/presets/), then
``--config FILE`` (a ROS 2 parameter file: its ``/**`` and ``/learner`` sections), then
``--set NAME=VALUE`` (a full name such as ``algo.lr``, or a short one such as ``lr``).
``--resume`` continues the run in ``run.output_dir`` after its last complete iteration. The
estimator ``gae`` selects the PPO baseline (value head + GAE + clipped value loss).
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Sequence

import yaml

from tgrpo_ros.training.driver import train_in_process
from tgrpo_ros.training.settings import (canonical, entries, parse_text, preset_names,
                                         render_parameter_file, resolve)

EXAMPLES = """
examples:
  # the whole pipeline in about a minute (tiny random policy, groups of 2, short episodes)
  tgrpo-ros train --preset smoke --set run.output_dir=runs/smoke

  # 20 TGRPO iterations from the shipped SFT policy on LIBERO-Object task 0, states 0-9
  tgrpo-ros train --set policy.model=sft:object_task0 run.iterations=20 env.max_steps=160 \\
      env.init_states=0,1,2,3,4,5,6,7,8,9 run.output_dir=runs/tgrpo_t0

  # the same run continued after an interruption
  tgrpo-ros train --set policy.model=sft:object_task0 run.iterations=20 env.max_steps=160 \\
      env.init_states=0,1,2,3,4,5,6,7,8,9 run.output_dir=runs/tgrpo_t0 --resume

  # the PPO baseline, and GRPO on 0/1 success (needs every episode to finish: all_done)
  tgrpo-ros train --set algo.estimator=gae algo.group_completion=all_done output_dir=runs/ppo
  tgrpo-ros train --set algo.estimator=grpo_outcome algo.group_completion=all_done

  # your own parameter file (same format as config/sim_train.yaml), one value changed
  tgrpo-ros train --config my_run.yaml --set iterations=5

  # every setting with its value, or the documented parameter file
  tgrpo-ros train --preset smoke --print-settings
  tgrpo-ros train --print-parameter-file
"""


def parse_overrides(items: Sequence[str]) -> dict:
    """``['algo.lr=1e-4', 'tasks=0,1']`` -> ``{'algo.lr': 0.0001, 'env.tasks': ('0', '1')}``.

    Names may be short (a field name unique across the sections); an unknown name is refused
    with the close matches. Values are parsed as the setting's declared type.
    """
    out = {}
    for item in items:
        if '=' not in item:
            raise ValueError(f'--set expects NAME=VALUE, got {item!r}')
        key, value = item.split('=', 1)
        path = canonical(key.strip())
        out[path] = parse_text(entries()[path], value)
    return out


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='tgrpo-ros train', description=__doc__.split('\n\n')[0], epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--preset', default='', metavar='NAME',
                   help=f'named settings applied over the defaults: {", ".join(preset_names())}'
                        ' (config/presets/) or a preset file')
    p.add_argument('--config', default=None, metavar='FILE',
                   help='ROS 2 parameter file (its /** and /learner sections), over the preset')
    p.add_argument('--set', nargs='*', default=[], metavar='NAME=VALUE',
                   help='override settings, over the file: <section>.<field>=value (e.g. '
                        'algo.lr=1e-4) or a unique short name (lr=1e-4)')
    p.add_argument('--resume', action='store_true', help='continue the run in run.output_dir')
    p.add_argument('--print-settings', action='store_true',
                   help='print the resolved settings, by section, and exit')
    p.add_argument('--print-parameter-file', action='store_true',
                   help='print config/sim_train.yaml as the declaration documents it, and exit')
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.print_parameter_file:
        print(render_parameter_file(), end='')
        return 0
    try:
        overrides = parse_overrides(args.set)
        if args.resume:
            overrides['run.resume'] = True
        settings = resolve(args.preset, args.config or '', overrides)
    except (ValueError, TypeError, FileNotFoundError) as exc:
        raise SystemExit(f'tgrpo-ros train: {exc}') from None
    if args.print_settings:
        print(yaml.safe_dump(settings.to_dict(), sort_keys=False))
        return 0
    summary = train_in_process(settings)
    print(json.dumps(summary, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
