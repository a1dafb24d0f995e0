#!/usr/bin/env bash
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# Set everything up (scripts/setup.sh), then run the main job: TGRPO training in LIBERO-Object
# over ROS 2 topics on the embedded default (tgrpo-ros launch sim_train). Extra arguments are
# launch arguments (e.g. scripts/main_job.sh iterations:=3 group_size:=2).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
scripts/setup.sh
# The activation scripts read unset variables: relax -u while sourcing them.
set +u
# shellcheck disable=SC1091
source .venv/bin/activate
# shellcheck disable=SC1091
source install/setup.bash
set -u
export MUJOCO_GL="${MUJOCO_GL:-egl}"
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
exec tgrpo-ros launch sim_train "$@"
