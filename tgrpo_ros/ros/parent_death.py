# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Nodes die with their launcher: Linux's parent-death signal (prctl PR_SET_PDEATHSIG).

A launcher killed outright (SIGKILL, out of memory) cannot stop its nodes, and an orphaned
environment or policy node would go on serving a graph that is gone. Two ways in:

- ``tgrpo-ros launch`` sets SIGKILL in the forked child before exec (``preexec_die_with_parent``);
- a node started by ``ros2 launch`` sets SIGTERM on itself (``die_with_parent``, called by
  ``node_main.run_node`` when the launch file passes ``DIE_WITH_PARENT_ENV=1``): launch_ros cannot
  set it, and rclpy turns SIGTERM into a clean shutdown.

Both re-check the parent's pid after the call, which covers a parent that died just before it.
Off Linux both do nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import signal
import sys

DIE_WITH_PARENT_ENV = 'TGRPO_ROS_DIE_WITH_PARENT'
_PR_SET_PDEATHSIG, _PR_GET_PDEATHSIG = 1, 2


def _prctl():
    """Return libc's prctl, or None off Linux or without libc."""
    if not sys.platform.startswith('linux'):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library('c') or 'libc.so.6', use_errno=True).prctl
    except (OSError, AttributeError):
        return None


def preexec_die_with_parent():
    """Return a subprocess ``preexec_fn`` giving the child SIGKILL when this process dies.

    The setting survives the exec of the node's Python. libc is resolved here, in the parent, so
    the forked child only makes two system calls. None where there is no prctl.
    """
    prctl = _prctl()
    if prctl is None:
        return None
    parent = os.getpid()

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:
            os._exit(1)

    return preexec


def die_with_parent() -> bool:
    """Ask for SIGTERM when this process's parent dies; keep a signal already set.

    Returns whether a signal is set. Exits at once if the parent died before the call.
    """
    prctl = _prctl()
    if prctl is None:
        return False
    current = ctypes.c_int(0)
    prctl(_PR_GET_PDEATHSIG, ctypes.byref(current), 0, 0, 0)
    if current.value:
        return True
    parent = os.getppid()
    if prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0) != 0:
        return False
    if os.getppid() != parent:
        sys.exit(f'parent process {parent} is gone: not starting')
    return True
