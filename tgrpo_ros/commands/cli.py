# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros``: one command with subcommands; each lives in the module named for its job.

Every subcommand has ``--help`` with examples. Modules are imported only when their subcommand
runs, so ``tgrpo-ros --help`` is instant and a missing optional dependency only affects the
subcommand that needs it.
"""

from __future__ import annotations

import importlib
import sys

# name -> (module with main(argv) -> int | None, one-line help)
SUBCOMMANDS: dict[str, tuple[str, str]] = {
    'launch': ('tgrpo_ros.commands.launch',
               'start a node graph (sim_train, real_deploy) without ros2'),
    'train': ('tgrpo_ros.commands.train', 'TGRPO training in one process, no ROS'),
    'eval-sim': ('tgrpo_ros.commands.eval_sim',
                 'success rates of a policy/expert/random in LIBERO'),
    'eval-bag': ('tgrpo_ros.commands.eval_bag', 'offline evaluation of policies on recorded bags'),
    'record': ('tgrpo_ros.commands.record', 'record observation/action/result topics to a bag'),
    'bags-to-dataset': ('tgrpo_ros.commands.bags_to_dataset',
                        'turn recorded bags into an SFT dataset'),
    'demonstrations': ('tgrpo_ros.commands.demonstrations',
                       'scripted-expert demonstrations as an SFT dataset'),
    'sft': ('tgrpo_ros.commands.sft', 'supervised fine-tuning from demonstrations'),
    'init-states': ('tgrpo_ros.commands.init_states',
                    'sample LIBERO initial states beyond the benchmark 50 into a file'),
    'reward-spec': ('tgrpo_ros.commands.reward_spec',
                    'generate dense reward specs from LIBERO goals; validate one live'),
    'sim-episode': ('tgrpo_ros.commands.sim_episode',
                    'run one LIBERO episode and save its frames'),
}


def _available() -> dict[str, tuple[str, str]]:
    out = {}
    for name, (module, text) in SUBCOMMANDS.items():
        try:
            found = importlib.util.find_spec(module) is not None
        except ModuleNotFoundError:
            found = False
        if found:
            out[name] = (module, text)
    return out


def _usage(available: dict[str, tuple[str, str]]) -> str:
    lines = ['usage: tgrpo-ros SUBCOMMAND [args]   (tgrpo-ros SUBCOMMAND --help for examples)',
             '', 'subcommands:']
    width = max(len(n) for n in available) + 2
    lines += [f'  {name:<{width}} {text}' for name, (_, text) in available.items()]
    return '\n'.join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    available = _available()
    if not argv or argv[0] in ('-h', '--help'):
        print(_usage(available))
        return 0
    name, rest = argv[0], argv[1:]
    if name not in available:
        print(f'tgrpo-ros: unknown subcommand {name!r}\n\n{_usage(available)}', file=sys.stderr)
        return 2
    module = importlib.import_module(available[name][0])
    result = module.main(rest)
    return int(result or 0)


if __name__ == '__main__':
    sys.exit(main())
