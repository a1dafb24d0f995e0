# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
"""Every ``tgrpo-ros`` subcommand, one module each (``cli`` dispatches to them).

A command parses its arguments and calls the core or the ROS layer; nothing imports a command.
"""
