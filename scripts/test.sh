#!/usr/bin/env bash
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# Set everything up (scripts/setup.sh), then run the whole test suite. Extra arguments go to
# pytest (e.g. scripts/test.sh -k policy). Exit status is pytest's.
set -euo pipefail
# shellcheck source=scripts/prepare_shell.sh
source "$(dirname "${BASH_SOURCE[0]}")/prepare_shell.sh"
echo "[test] $(date -u +%H:%M:%S) running the test suite"
start=$SECONDS
status=0
python -m pytest -p no:cacheprovider "$@" || status=$?
echo "[test] suite finished in $((SECONDS - start)) s with status $status"
# Fast DDS leaves shared-memory files behind when a process is killed; do not let them pile up.
find /dev/shm -maxdepth 1 -name 'fastdds_*' -user "$(id -u)" -mmin +5 -delete 2>/dev/null || true
exit $status
