# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``main()`` for Humble, Jazzy and Kilted: init, spin, clean shutdown on Ctrl-C/SIGTERM."""

from __future__ import annotations

import os
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, \
    SingleThreadedExecutor
from rclpy.utilities import try_shutdown as _utilities_try_shutdown

from tgrpo_ros.ros.parent_death import die_with_parent, DIE_WITH_PARENT_ENV


def try_shutdown() -> None:
    if hasattr(rclpy, 'try_shutdown'):
        rclpy.try_shutdown()
    else:  # Humble has it only in rclpy.utilities
        _utilities_try_shutdown()


def run_node(factory: Callable[[], object], args=None, threads: int = 1) -> int:
    """Create the node with ``factory`` after rclpy.init and spin it until shutdown."""
    if os.environ.get(DIE_WITH_PARENT_ENV) == '1':  # set by launch/*.launch.py
        die_with_parent()
    rclpy.init(args=args)
    node = None
    code = 0
    try:
        node = factory()
        executor = MultiThreadedExecutor(threads) if threads > 1 else SingleThreadedExecutor()
        executor.add_node(node)
        executor.spin()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except RuntimeError:
        # SIGINT landing inside a message take surfaces as a RuntimeError from rclpy once the
        # context is shut down; only a RuntimeError while rclpy is still running is ours.
        if rclpy.ok():
            raise
    except SystemExit as exc:  # a node asked to end (e.g. the learner finished its run)
        code = int(exc.code or 0)
    finally:
        if node is not None:
            node.destroy_node()
        try_shutdown()
    return code
