#!/usr/bin/env bash
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# Sourced by scripts/test.sh and scripts/main_job.sh: set everything up (scripts/setup.sh), then
# enter the environment the package runs in. Usable by hand too: source scripts/prepare_shell.sh
# TGRPO_ROS_DISTRO=jazzy selects ROS 2 Jazzy (.venv-jazzy, install-jazzy/); default: Kilted.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT" || return 1
_tgrpo_distro="${TGRPO_ROS_DISTRO:-kilted}"
# Paths that another distribution's environment put into this shell would shadow this one's
# packages: drop every entry inside this repository before sourcing ours.
# shellcheck source=scripts/drop_repo_paths.sh
source scripts/drop_repo_paths.sh
tgrpo_drop_repo_paths "$ROOT"
scripts/setup.sh --distro "$_tgrpo_distro" || return 1
_tgrpo_suffix=$([ "$_tgrpo_distro" = kilted ] || echo "-$_tgrpo_distro")
# The activation scripts read unset variables: relax -u while sourcing them.
_tgrpo_u=$([[ $- == *u* ]] && echo 1 || true)
set +u
# shellcheck disable=SC1090,SC1091
source ".venv$_tgrpo_suffix/bin/activate"
# shellcheck disable=SC1090,SC1091
source "install$_tgrpo_suffix/setup.bash"
[ -n "$_tgrpo_u" ] && set -u
unset _tgrpo_u _tgrpo_distro _tgrpo_suffix
unset -f tgrpo_drop_repo_paths
export MUJOCO_GL="${MUJOCO_GL:-egl}"
# Discovery stays on this machine (tests pick their own random ROS_DOMAIN_ID).
export ROS_AUTOMATIC_DISCOVERY_RANGE="${ROS_AUTOMATIC_DISCOVERY_RANGE:-LOCALHOST}"
