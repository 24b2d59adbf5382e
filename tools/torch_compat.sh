#!/usr/bin/env bash
# Run the CPU side of what tools/gpu_check.sh drives on another PyTorch release — the GPU
# machine's (2.11 at run 5, older than the one the tests here install) or a newer one — before a
# GPU lease is spent on it. A compiler lowering missing in that release fails here, on the CPU, in
# minutes: torch 2.11's Inductor could not lower the s2d/subpixel conv ways' bias (found this way,
# 2026-12-04).
#
# Usage: bash tools/torch_compat.sh TORCH_VERSION TORCHVISION_VERSION [pytest arguments]
#   e.g. bash tools/torch_compat.sh 2.11.0 0.26.0
#        bash tools/torch_compat.sh 2.11.0 0.26.0 tests/style/test_fused.py -k compiled
#
# Needs the dev environment (bash tools/setup.sh --dev). Copies .venv to
# ${TMPDIR:-/tmp}/artem-vr-torch-VERSION (kept: a second run reuses it) and installs the two wheels
# there from the package registry (the CUDA wheels: about 0.6 GB to download; they run on a machine
# without a GPU): torch with the CUDA libraries it was built against (torch 2.15's would not load
# 2.14's NVSHMEM), torchvision with --no-deps (a release whose own torchvision is not out yet takes
# the newest one). The copy is kept only when that torch imports. The project's own code is the
# working tree's (an editable install).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ $# -lt 2 ]; then
  sed -n '2,/^set -euo/{/^#/p}' "$0" | sed 's/^# \{0,1\}//' >&2
  exit 2
fi
TV=$1; VV=$2; shift 2
[ -x .venv/bin/python ] || { echo "torch_compat: no .venv here: run bash tools/setup.sh --dev first" >&2; exit 2; }
ENVDIR=${TMPDIR:-/tmp}/artem-vr-torch-$TV
PY=$ENVDIR/bin/python
have=$("$PY" -c 'import torch, torchvision; from importlib.metadata import version as v; print(v("torch"), v("torchvision"))' \
  2>/dev/null || true)  # the wheels' own versions, as asked ("2.12.1"; torch.__version__ says "2.12.1+cu130")
if [ "$have" != "$TV $VV" ]; then
  echo "[torch_compat] making $ENVDIR: the dev environment with torch $TV and torchvision $VV"
  rm -rf "$ENVDIR.partial"
  trap 'rm -rf "$ENVDIR.partial"' EXIT  # a failed copy or install leaves no half-made copy (6 GB) behind
  cp -a .venv "$ENVDIR.partial"
  # a pip constraint on this machine may cap torch at the tested release: this environment is the exception.
  # "===": exactly that release — "==2.13.0" also matches, and picks, a "2.13.0+cpu" wheel beside it
  # (a CPU-only torch, whose torchvision from the registry then does not load)
  PIP_CONSTRAINT=/dev/null "$ENVDIR.partial/bin/python" -m pip install -q "torch===$TV"
  PIP_CONSTRAINT=/dev/null "$ENVDIR.partial/bin/python" -m pip install -q --no-deps "torchvision===$VV"
  "$ENVDIR.partial/bin/python" -c 'import torch, torchvision'  # a release that does not load here stops here
  rm -rf "$ENVDIR"
  mv "$ENVDIR.partial" "$ENVDIR"
  trap - EXIT
fi
"$PY" -c 'import torch; print(f"[torch_compat] torch {torch.__version__} (the tests here: see tools/setup.sh)")'
if [ $# -eq 0 ]; then
  # the CPU side of every step of tools/gpu_check.py: fused engines and their conv ways compiled by
  # Inductor's C++ backend, frame graphs, device comfort, foveation, the profile, the bench, the script
  set -- tests/style/test_fused.py tests/style/test_adain_fused.py tests/style/test_engine.py \
    tests/temporal tests/test_frames.py tests/test_layer_profile.py tests/test_bench.py \
    tests/test_pipeline.py tests/test_gpu_check.py
fi
if [ -z "${ARTEM_VR_TEST_DATA:-}" ] && [ -f ../shared/data/assemble.sh ] && [ -f .ci/data-setup.sh ]; then
  ARTEM_VR_TEST_DATA=$(bash .ci/data-setup.sh) || true  # as tools/test.sh: the real-data tests skip, saying why, without it
  export ARTEM_VR_TEST_DATA
fi
export PYTHONUNBUFFERED=1
set +e
"$PY" -m pytest -q -ra --timeout=1500 -p no:cacheprovider "$@"
rc=$?
set -e
if [ $rc = 5 ]; then echo "no tests ran" >&2; exit 1; fi
exit $rc
