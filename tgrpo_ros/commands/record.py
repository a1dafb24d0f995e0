# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros record``: record this package's topics (and others) into a ROS 2 bag.

Runs the bag_recorder node in this process (see ``tgrpo_ros.ros.nodes.bag_recorder``).
"""

from __future__ import annotations

import argparse

from tgrpo_ros.bags.recorder import parse_versions
from tgrpo_ros.ros.nodes.bag_recorder import main as node_main

EXAMPLES = """examples:
  # the observation, action and step_result topics of env0, MCAP, until Ctrl-C
  tgrpo-ros record -o bags/run1

  # two environments plus a camera and the joint states, sqlite3 storage
  tgrpo-ros record -o bags/run2 --namespaces env0 env1 \\
      --topics /camera/color/image_raw/compressed /joint_states --storage sqlite3

  # a training run: only episodes acted on by policy versions 0, 10 and 20..22
  tgrpo-ros record -o bags/train_iters --namespaces env0 env1 env2 env3 \\
      --policy-versions 0,10,20-22

  # stop by itself after 5 episodes have ended
  tgrpo-ros record -o bags/five --max-episodes 5

The bag is a folder with metadata.yaml and one .mcap (or .db3) file; `ros2 bag info` and
`ros2 bag play` on a full ROS 2 install read it, and `tgrpo-ros eval-bag` evaluates it.
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog='tgrpo-ros record', description=__doc__.splitlines()[0].split(': ', 1)[1],
        epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('-o', '--output', default='',
                   help='bag folder to create (must not exist); default bags/tgrpo_<time>')
    p.add_argument('--storage', choices=('mcap', 'sqlite3'), default='mcap',
                   help='storage format (default: mcap)')
    p.add_argument('--namespaces', nargs='*', default=['env0'], metavar='NS',
                   help="environment namespaces whose observation/action/step_result topics "
                        "are recorded (default: env0; '' for the root namespace)")
    p.add_argument('--topics', nargs='*', default=[], metavar='TOPIC',
                   help='other topics to record (types looked up in the running graph)')
    p.add_argument('--policy-versions', default='', metavar='LIST',
                   help='record only episodes acted on by these policy versions, e.g. 0,5,10-12')
    p.add_argument('--max-episodes', type=int, default=0,
                   help='stop after this many episodes ended (default 0: until Ctrl-C)')
    p.add_argument('--compress', action='store_true', help='zstd compression')
    p.add_argument('--qos-depth', type=int, default=100, help='subscription queue depth')
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        parse_versions(args.policy_versions)
    except ValueError as exc:
        build_parser().error(str(exc))
    return node_main(args=[], output=args.output, storage=args.storage,
                     namespaces=list(args.namespaces) or [''],
                     topics=list(args.topics) or [''], policy_versions=args.policy_versions,
                     max_episodes=args.max_episodes, compress=args.compress,
                     qos_depth=args.qos_depth)


if __name__ == '__main__':
    raise SystemExit(main())
