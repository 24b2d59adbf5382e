#!/usr/bin/env bash
# CI step: make sure the headless Monado OpenXR runtime the XR tests use is built.
#
# Builds it with ../shared/xr/setup-monado.sh (XR=$ARTEM_XR_DIR, default /var/cache/artem-xr,
# INPROC=1: the service and the in-process runtime). A cached build (both installs present,
# stamped by setup-monado.sh) is used as it is, without touching apt or the network;
# FORCE=1 re-runs setup-monado.sh anyway (it is idempotent: ~10 s when nothing changed).
# Needs root (apt-get, /var/cache): uses sudo -n when not root.
set -euo pipefail
cd "$(dirname "$0")/.."
XR=${ARTEM_XR_DIR:-/var/cache/artem-xr}
SETUP=../shared/xr/setup-monado.sh

built() {
  [ -x "$XR/install/bin/monado-service" ] && [ -f "$XR/install/.built-from" ] &&
    [ -f "$XR/install-inproc/share/openxr/1/openxr_monado.json" ] && [ -f "$XR/install-inproc/.built-from" ]
}

if built && [ "${FORCE:-0}" != 1 ]; then
  echo "xr-setup: cached Monado runtime in $XR (built from $(cat "$XR/install/.built-from"))"
  exit 0
fi
if [ ! -f "$SETUP" ]; then
  echo "xr-setup: $SETUP not found: the XR tests need ../shared/xr beside the repository" >&2
  exit 1
fi
if [ "$(id -u)" = 0 ]; then
  XR="$XR" INPROC=1 bash "$SETUP"
else
  sudo -n env XR="$XR" INPROC=1 bash "$SETUP"
fi
built || { echo "xr-setup: setup-monado.sh finished but $XR has no complete runtime" >&2; exit 1; }
echo "xr-setup: Monado runtime ready in $XR"
