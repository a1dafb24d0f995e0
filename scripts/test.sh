#!/usr/bin/env bash
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# Set everything up (scripts/setup.sh), then run the test suite in two passes:
#   kilted: the whole suite against the ROS 2 Kilted wheels (.venv, install/);
#   jazzy:  every ROS-facing test (pytest marker `ros`) against the ROS 2 Jazzy wheels, the LTS
#           (.venv-jazzy, install-jazzy/, made by scripts/setup.sh --distro jazzy).
# Extra arguments go to pytest in both passes (e.g. scripts/test.sh -k policy).
# TGRPO_TEST_DISTROS="kilted" (or "jazzy") runs one pass only; default "kilted jazzy".
# Exit status: 0 when every pass passed, else the first failing pass's pytest status.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

# One pass in a fresh shell, so neither distribution's environment reaches the other's.
run_pass() {
  local distro="$1"; shift
  bash -c 'set -euo pipefail
    export TGRPO_ROS_DISTRO="$1"; shift
    # shellcheck source=scripts/prepare_shell.sh
    source scripts/prepare_shell.sh
    exec python -m pytest -p no:cacheprovider "$@"' run_pass "$distro" "$@"
}

overall=0
summary=""
for distro in ${TGRPO_TEST_DISTROS:-kilted jazzy}; do
  case "$distro" in
    kilted) what="the whole suite"; args=() ;;
    jazzy) what="the ROS-facing tests (-m ros)"; args=(-m ros) ;;
    *) echo "[test] ERROR: unknown distribution '$distro' in TGRPO_TEST_DISTROS" >&2; exit 2 ;;
  esac
  echo "[test] $(date -u +%H:%M:%S) ROS 2 $distro: setup, then $what" \
    "($(df -h --output=avail . 2>/dev/null | tail -1 | tr -d ' ') free on this file system)"
  start=$SECONDS
  status=0
  run_pass "$distro" "${args[@]}" "$@" || status=$?
  # pytest's 5 means it collected no test. Unfiltered, the Jazzy pass selects dozens of tests, so
  # 5 there is a failure (a lost marker); with a user's filter (-k ...) matching none it is not.
  if [ "$status" -eq 5 ] && [ "$distro" = jazzy ] && (($#)); then
    echo "[test] ROS 2 jazzy: no ROS-facing test matches the given arguments"
    status=0
  fi
  echo "[test] ROS 2 $distro: $what finished in $((SECONDS - start)) s (setup included) with status $status"
  summary+="${summary:+; }$distro: status $status, $((SECONDS - start)) s"
  [ "$status" -eq 0 ] || [ "$overall" -ne 0 ] || overall=$status
done
# Fast DDS leaves shared-memory files behind when a process is killed; do not let them pile up.
find /dev/shm -maxdepth 1 -name 'fastdds_*' -user "$(id -u)" -mmin +5 -delete 2>/dev/null || true
echo "[test] passes: $summary"
exit $overall
