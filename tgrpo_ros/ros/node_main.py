# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""``main()`` for Humble, Jazzy and Kilted: init, spin, clean shutdown on Ctrl-C/SIGTERM."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys
from typing import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, \
    SingleThreadedExecutor
from rclpy.utilities import try_shutdown as _utilities_try_shutdown


def try_shutdown() -> None:
    if hasattr(rclpy, 'try_shutdown'):
        rclpy.try_shutdown()
    else:  # Humble has it only in rclpy.utilities
        _utilities_try_shutdown()


# Set by launch/*.launch.py (launch_ros cannot set a child's parent-death signal itself).
DIE_WITH_PARENT_ENV = 'TGRPO_ROS_DIE_WITH_PARENT'
_PR_SET_PDEATHSIG, _PR_GET_PDEATHSIG = 1, 2


def die_with_parent() -> bool:
    """Ask Linux to send this process SIGTERM when its parent (``ros2 launch``) dies.

    A launcher killed outright (SIGKILL, out of memory) cannot stop its nodes, and an orphaned
    environment or policy node would go on serving a graph that is gone. ``tgrpo-ros launch``
    sets the signal (SIGKILL) before the node starts; this covers launch_ros, which cannot.
    SIGTERM, not SIGKILL: rclpy turns it into a clean shutdown. A signal already set is kept.
    Returns whether a signal is set. Exits at once if the parent died before the call.
    """
    if not sys.platform.startswith('linux'):
        return False
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True).prctl
    except (OSError, AttributeError):
        return False
    current = ctypes.c_int(0)
    prctl(_PR_GET_PDEATHSIG, ctypes.byref(current), 0, 0, 0)
    if current.value:
        return True
    parent = os.getppid()
    if prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:  # the parent died between getppid and prctl
        sys.exit(f'parent process {parent} is gone: not starting')
    return True


def run_node(factory: Callable[[], object], args=None, threads: int = 1) -> int:
    """Create the node with ``factory`` after rclpy.init and spin it until shutdown."""
    if os.environ.get(DIE_WITH_PARENT_ENV) == '1':
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
