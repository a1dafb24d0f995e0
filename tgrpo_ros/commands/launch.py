# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``tgrpo-ros launch GRAPH [name:=value ...]``: start a node graph without the ros2 CLI.

Each node runs as its own process with the parameter files ``ros2 launch`` would give it; node
output goes to ``<run_dir>/logs/<node>.log``. Ctrl-C or SIGTERM stops every node before the
command exits (130 or 143); when a required node exits, everything is stopped. The runner is
``tgrpo_ros.ros.runner``, the graphs ``tgrpo_ros.ros.graphs``.
"""

from __future__ import annotations

import argparse
import sys

from tgrpo_ros.ros.graph import get_graph, graph_names
from tgrpo_ros.ros.runner import parse_launch_args, run_graph

EXAMPLES = """examples:
  tgrpo-ros launch sim_train                         # embedded defaults (LIBERO-Object, tiny VLA)
  tgrpo-ros launch sim_train group_size:=2 iterations:=3 output_dir:=runs/try
  tgrpo-ros launch sim_train --resume runs/sim_train_20261126_101500 iterations:=30
  tgrpo-ros launch real_deploy robot_profile:=franka   # see config/robots/
  tgrpo-ros launch sim_train --show-args             # list the graph's launch arguments
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog='tgrpo-ros launch', description=__doc__.split('\n\n')[0], epilog=EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('graph', help=f'graph to start: {", ".join(graph_names())}')
    parser.add_argument('args', nargs='*', metavar='name:=value', help='launch arguments')
    parser.add_argument('--show-args', action='store_true', help='list launch arguments, exit')
    parser.add_argument('--resume', metavar='RUN_DIR',
                        help='continue the run in RUN_DIR from its last complete iteration')
    # intermixed: 'sim_train --resume RUN iterations:=30' (arguments after the option) parses
    ns = parser.parse_intermixed_args(argv)
    try:
        graph = get_graph(ns.graph)
        values = parse_launch_args(ns.args)
        if ns.resume:
            values = graph.resume_args(ns.resume, values)
        graph.resolve_args(values)
    except (KeyError, ValueError, FileNotFoundError) as exc:
        parser.error(str(exc.args[0] if isinstance(exc, KeyError) else exc))
    if ns.show_args:
        print(graph.show_args(values))
        return 0
    return run_graph(ns.graph, values)


if __name__ == '__main__':
    sys.exit(main())
