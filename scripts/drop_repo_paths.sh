# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# Sourced by setup.sh and prepare_shell.sh. A shell with the other ROS distribution's environment
# sourced must not leak it into this one (colcon would even chain that install/ into ours as an
# underlay, from COLCON_PREFIX_PATH): drop every search-path entry inside the repository ($1,
# its venvs and install folders) before ours are added.
tgrpo_drop_repo_paths() {
  local root="$1" var
  for var in PYTHONPATH AMENT_PREFIX_PATH CMAKE_PREFIX_PATH COLCON_PREFIX_PATH LD_LIBRARY_PATH; do
    if [ -n "${!var:-}" ]; then
      export "$var=$(tr ':' '\n' <<< "${!var}" | grep -v -e "^$root/" -e '^$' | paste -sd: || true)"
      [ -n "${!var}" ] || unset "$var"
    fi
  done
}
