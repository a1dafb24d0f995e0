#!/usr/bin/env bash
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# Set everything up (scripts/setup.sh), then run the main job: TGRPO training in LIBERO-Object
# over ROS 2 topics on the embedded default (tgrpo-ros launch sim_train). Extra arguments are
# launch arguments (e.g. scripts/main_job.sh iterations:=3 group_size:=2).
set -euo pipefail
# shellcheck source=scripts/prepare_shell.sh
source "$(dirname "${BASH_SOURCE[0]}")/prepare_shell.sh"
exec tgrpo-ros launch sim_train "$@"
