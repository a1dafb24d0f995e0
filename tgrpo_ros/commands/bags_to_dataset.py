# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros bags-to-dataset``: recorded demonstrations -> the dataset ``tgrpo-ros sft`` reads.

The format is documented in ``tgrpo_ros.data.episodes``.
"""

from __future__ import annotations

import argparse
import sys

from tgrpo_ros.bags.to_dataset import bags_to_dataset
from tgrpo_ros.bags.topic_map import resolve_topic_map, TopicMapError

EXAMPLES = """examples:
  # teleoperation sessions, mapped like the evaluation
  tgrpo-ros bags-to-dataset bags/teleop_* --topics config/topic_maps/real_franka_action.yaml \\
      --out datasets/teleop --key franka_teleop

  # demonstrations recorded from the simulation (this package's own topics)
  tgrpo-ros bags-to-dataset bags/expert --topics sim --out datasets/expert --min-length 20
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog='tgrpo-ros bags-to-dataset',
                                description='turn recorded bags into an SFT dataset',
                                epilog=EXAMPLES,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('bags', nargs='+', metavar='BAG')
    p.add_argument('--topics', required=True, metavar='MAP.yaml|sim[:ENV]', help='topic map')
    p.add_argument('--out', required=True, metavar='DIR', help='dataset folder to create')
    p.add_argument('--key', default='bags', help='key of dataset_statistics.json (unnorm_key)')
    p.add_argument('--min-length', type=int, default=1, help='shortest episode kept')
    p.add_argument('--no-progress', action='store_true')
    args = p.parse_args(argv)
    try:
        tmap = resolve_topic_map(args.topics)
        index = bags_to_dataset(args.bags, tmap, args.out, statistics_key=args.key,
                                min_length=args.min_length, progress=not args.no_progress)
    except (TopicMapError, FileExistsError) as exc:
        print(f'tgrpo-ros bags-to-dataset: {exc}', file=sys.stderr)
        return 2
    print(f'{len(index["episodes"])} episodes, {index["num_transitions"]} transitions, '
          f'skipped {index["skipped"]["total"]} -> {args.out}')
    for e in index['errors']:
        print(f'tgrpo-ros bags-to-dataset: ERROR in {e["bag"]}: {e["error"]}', file=sys.stderr)
    return 1 if index['errors'] else 0


if __name__ == '__main__':
    raise SystemExit(main())
