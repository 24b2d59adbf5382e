#!/usr/bin/env bash
# Set up artem-vr on a fresh Debian 12 / Ubuntu machine: system packages (as root or with
# sudo), a virtual environment at .venv/ in the repository root, and the package itself.
# Idempotent: a second run only checks. Usage: bash tools/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
DEV=0; [ "${1:-}" = "--dev" ] && DEV=1
say() { echo "[setup] $*"; }

# System packages: Python venv, Mesa GL/EGL (llvmpipe when there is no GPU), Xvfb for the
# mirror window without a display, X tools for screen capture and screenshots in tests.
PKGS="python3 python3-venv python3-dev libgl1 libegl1 libgl1-mesa-dri libglx-mesa0 libegl-mesa0 libgles2
 xvfb xauth x11-utils x11-apps x11-xserver-utils imagemagick xdotool libxrandr2 libxinerama1 libxcursor1 libxi6"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  say "installing system packages:$missing"
  export DEBIAN_FRONTEND=noninteractive
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -qq
  # shellcheck disable=SC2086
  $SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends $missing >/dev/null
fi

PY=/usr/bin/python3; [ -x "$PY" ] || PY=$(command -v python3)
if [ ! -x .venv/bin/python ]; then
  say "creating .venv with $($PY --version)"
  "$PY" -m venv .venv
fi
# pyproject.toml accepts a range of torch releases; this set-up installs the one the tests ran on.
TESTED="torch==2.14.1 torchvision==0.29.1"
stamp=.venv/.artem-installed
want="$(cat pyproject.toml tools/setup.sh | sha1sum | cut -c1-12)-dev$DEV"
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  say "installing artem-vr and its dependencies into .venv (torch is large: a few minutes the first time)"
  .venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
  # shellcheck disable=SC2086
  if [ $DEV = 1 ]; then .venv/bin/python -m pip install -q -e ".[dev]" $TESTED; else .venv/bin/python -m pip install -q -e . $TESTED; fi
  echo "$want" > "$stamp"
fi
say "ready: $(.venv/bin/artem-vr --version)"
