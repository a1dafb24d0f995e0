#!/usr/bin/env bash
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# Sourced by scripts/test.sh and scripts/main_job.sh: set everything up (scripts/setup.sh), then
# enter the environment the package runs in. Usable by hand too: source scripts/prepare_shell.sh
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || return 1
scripts/setup.sh || return 1
# The activation scripts read unset variables: relax -u while sourcing them.
_tgrpo_u=$([[ $- == *u* ]] && echo 1 || true)
set +u
# shellcheck disable=SC1091
source .venv/bin/activate
# shellcheck disable=SC1091
source install/setup.bash
[ -n "$_tgrpo_u" ] && set -u
unset _tgrpo_u
export MUJOCO_GL="${MUJOCO_GL:-egl}"
# Discovery stays on this machine (tests pick their own random ROS_DOMAIN_ID).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
