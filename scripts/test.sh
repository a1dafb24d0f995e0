#!/usr/bin/env bash
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# Set everything up (scripts/setup.sh), then run the whole test suite. Extra arguments go to
# pytest (e.g. scripts/test.sh -k policy). Exit status is pytest's.
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
# Tests pick their own random ROS_DOMAIN_ID; keep discovery on this machine.
export ROS_AUTOMATIC_DISCOVERY_RANGE=LOCALHOST
echo "[test] $(date -u +%H:%M:%S) running the test suite"
start=$SECONDS
status=0
python -m pytest -p no:cacheprovider "$@" || status=$?
echo "[test] suite finished in $((SECONDS - start)) s with status $status"
# Fast DDS leaves shared-memory files behind when a process is killed; do not let them pile up.
find /dev/shm -maxdepth 1 -name 'fastdds_*' -user "$(id -u)" -mmin +5 -delete 2>/dev/null || true
exit $status
