#!/usr/bin/env bash
# Create (or repair) the project's Python environment and point ./.venv at it.
#
# The environment is large (torch alone is 5.5 GB) and mmcv 2.1.0 has to be compiled from its
# sdist (about 20 minutes on 2 cores), so both are kept in a cache outside the repository:
#
#   $RAP_SAM_CACHE (default ~/.cache/rap_sam)/
#     wheels/mmcv-2.1.0_torch-<version>_<python>/mmcv-2.1.0-*.whl   built once per torch version
#     venv-<key>/                                                   one per pinned requirement set
#
# <key> hashes requirements/*.txt, RECIPE_VERSION and the Python version, so a fresh clone with
# the same pins reuses the same environment and a change of pins (or of the recipe: bump
# RECIPE_VERSION) builds a new one. A venv that lacks
# its completion marker or fails the import check is rebuilt, never used half-made.
#
# Usage: tools/setup_env.sh [--force]
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${RAP_SAM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rap_sam}"
PYTHON="${PYTHON:-python3.11}"
command -v "$PYTHON" >/dev/null 2>&1 || PYTHON=python3
FORCE=0
RECIPE_VERSION=2
[[ "${1:-}" == "--force" ]] && FORCE=1

log() { printf '[setup_env] %s\n' "$*" >&2; }

pyver="$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
if [[ "$pyver" != "3.11" ]]; then
  log "Python 3.11 is required (found $pyver at $(command -v "$PYTHON")); set PYTHON=/path/to/python3.11"
  exit 1
fi

key="$( { cat "$REPO"/requirements/*.txt; echo "recipe $RECIPE_VERSION python $pyver"; } \
       | sha256sum | cut -c1-16)"
VENV="$CACHE/venv-$key"
MARKER="$VENV/.rap_sam_complete"

health_check() {
  "$1/bin/python" - <<'EOF' >/dev/null 2>&1
import mmcv, mmdet, mmengine, mmseg, open_clip, pkg_resources, torch, torchvision  # noqa: F401
import fastapi, onnxruntime, panopticapi, pytest  # noqa: F401
from mmcv.ops import ModulatedDeformConv2d  # noqa: F401  (compiled ops present)
assert mmcv.__version__ == '2.1.0', mmcv.__version__
EOF
}

ensure_editable() {
  # The cached venv is shared by every clone: (re)point the editable install at this one.
  local where
  where="$("$VENV/bin/python" -c 'import os, rap_sam; print(os.path.realpath(rap_sam.__file__))' \
           2>/dev/null || true)"
  if [[ "$where" != "$REPO/projects/rap_sam/rap_sam/"* ]]; then
    log "installing the rap_sam plugin (editable) from $REPO"
    "$VENV/bin/pip" install -q --no-deps --no-build-isolation -e "$REPO"
  fi
}

link_venv() {
  if [[ -e "$REPO/.venv" && ! -L "$REPO/.venv" ]]; then
    log "$REPO/.venv exists and is not a link to the cache; moving it aside to .venv.old"
    rm -rf "$REPO/.venv.old"
    mv "$REPO/.venv" "$REPO/.venv.old"
  fi
  ln -sfn "$VENV" "$REPO/.venv"
}

ensure_chromium() {
  # The web demo's end-to-end test drives Debian's Chromium (it skips
  # without it). Best effort: only where apt-get can run as root.
  if [[ -x /usr/bin/chromium ]] || ! command -v apt-get >/dev/null 2>&1 \
     || [[ $(id -u) != 0 ]]; then
    return 0
  fi
  log "installing Debian's chromium for the browser test"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
     apt-get install -y -qq chromium >/dev/null) \
    || log "could not install chromium: the browser test will be skipped"
}

if [[ $FORCE == 0 && -f "$MARKER" ]] && health_check "$VENV"; then
  link_venv
  ensure_editable
  ensure_chromium
  exit 0
fi

mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
log "waiting for the cache lock ($CACHE/.lock)"
flock 9
# Another process may have finished the same environment while we waited.
if [[ $FORCE == 0 && -f "$MARKER" ]] && health_check "$VENV"; then
  link_venv
  ensure_editable
  exit 0
fi

if [[ -d "$VENV" ]]; then
  log "environment $VENV is incomplete or broken: rebuilding it"
  rm -rf "$VENV"
fi
log "creating $VENV"
"$PYTHON" -m venv "$VENV"
PIP=("$VENV/bin/python" -m pip)
# torch 2.14 needs setuptools>=77; mmcv's setup.py and openmim import pkg_resources, which
# setuptools 81 removed.
SETUPTOOLS='setuptools>=77.0.3,<81'
"${PIP[@]}" install -q --upgrade "pip<26" "$SETUPTOOLS" wheel ninja

torch_pin="$(grep -E '^torch==' "$REPO/requirements/build.txt")"
tv_pin="$(grep -E '^torchvision==' "$REPO/requirements/build.txt")"
mmcv_pin="$(grep -E '^mmcv==' "$REPO/requirements/build.txt")"
log "installing $torch_pin $tv_pin"
"${PIP[@]}" install -q "$torch_pin" "$tv_pin" "$SETUPTOOLS"

torch_ver="$("$VENV/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
mmcv_ver="${mmcv_pin#mmcv==}"
WHEELS="$CACHE/wheels/mmcv-${mmcv_ver}_torch-${torch_ver}_py${pyver}"
if ! ls "$WHEELS"/mmcv-*.whl >/dev/null 2>&1; then
  build="$(mktemp -d)"
  log "no cached mmcv wheel in $WHEELS: building $mmcv_pin from source (about 20 min on 2 cores)"
  "${PIP[@]}" download -q --no-deps --no-build-isolation --no-binary :all: -d "$build" "$mmcv_pin"
  tar -xzf "$build"/mmcv-*.tar.gz -C "$build"
  src="$(find "$build" -maxdepth 1 -type d -name 'mmcv-*' | head -1)"
  # Newer torch headers refuse to compile below C++20; patch only when this torch needs it.
  torch_inc="$("$VENV/bin/python" -c 'import os, torch; print(os.path.dirname(torch.__file__))')/include"
  if grep -qs "C++20 or later compatible compiler is required" "$torch_inc/ATen/ATen.h"; then
    log "torch $torch_ver needs C++20: patching mmcv's setup.py"
    sed -i 's/-std=c++17/-std=c++20/g' "$src/setup.py"
  fi
  (cd "$src" && MMCV_WITH_OPS=1 MAX_JOBS="${MAX_JOBS:-$(nproc)}" \
     "$VENV/bin/python" -m pip wheel -q --no-build-isolation --no-deps -w "$build/dist" .)
  mkdir -p "$WHEELS.tmp"
  cp "$build"/dist/mmcv-*.whl "$WHEELS.tmp/"
  rm -rf "$WHEELS" && mv "$WHEELS.tmp" "$WHEELS"
  rm -rf "$build"
fi
log "installing mmcv (cached wheel), runtime, optional and test requirements"
"${PIP[@]}" install -q "$(ls "$WHEELS"/mmcv-*.whl | head -1)" \
  -r "$REPO/requirements/runtime.txt" -r "$REPO/requirements/optional.txt" \
  -r "$REPO/requirements/tests.txt" "$SETUPTOOLS"
"${PIP[@]}" install -q --no-deps -r "$REPO/requirements/nodeps.txt"
"${PIP[@]}" install -q --no-deps --no-build-isolation -e "$REPO"

if ! health_check "$VENV"; then
  log "the new environment fails its import check:"
  "$VENV/bin/python" -c 'import mmcv, mmdet, mmseg, open_clip; from mmcv.ops import ModulatedDeformConv2d' || true
  exit 1
fi
date -u +%FT%TZ > "$MARKER"
ensure_chromium
link_venv
# Keep this environment and the previous one (another clone may still pin
# it); older ones are 5.5 GB each.
ls -dt "$CACHE"/venv-* 2>/dev/null | tail -n +3 | xargs -r rm -rf
log "environment ready: .venv -> $VENV"
