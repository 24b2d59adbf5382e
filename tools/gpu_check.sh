#!/usr/bin/env bash
# The one GPU check: on an NVIDIA machine with no network and its own PyTorch, in < 8 minutes:
#   1. install what the image lacks from carried wheels (.whl/) and GL loaders (.gl/)
#   2. pytest -m gpu: every NVRTC kernel bit-exact vs its torch reference, the XNOR generator's
#      CUDA path vs its CPU path, the CUDA-GL interop round trip vs the CPU PBO path
#   3. artem-vr bench at 2x960x1080, 2x1440x1600, 2x2016x2240 (generator compact/full, AdaIN
#      fast/full, XNOR full) + the per-layer XNOR vs cuDNN fp16/fp32 bench
#   3b. the same with CUDA graphs (generator full/compact, XNOR full at 2x1440x1600)
#   4. a 200-iteration training burst of the full generator at 256 px with bf16 AMP
# Everything lands in $OUT (or ./out/gpu_check): env.txt, pytest_gpu.log, bench_gpu.json,
# bench.log, bench_gpu.svg (chart), train_burst.json, train_burst.log, summary.txt (8 files: the
# device tool brings back at most 8).
#
# Prepare once where there is network:  bash tools/gpu_prep.sh   (fills .whl/ and .gl/)
# Run through the device tool:          command "bash tools/gpu_check.sh", carry [".whl", ".gl"],
#                                       timeout_s 540
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-out/gpu_check}
mkdir -p "$OUT"
PY=${PY:-python3}
# overridable for a dry run on a CPU machine (e.g. BENCH_SIZES=64x64 BURST_ITERS=2 BURST_SIZE=64)
BENCH_SIZES=${BENCH_SIZES:-960x1080 1440x1600 2016x2240}
BURST_ITERS=${BURST_ITERS:-200}; BURST_SIZE=${BURST_SIZE:-256}; GRAPH_SIZE=${GRAPH_SIZE:-1440x1600}
export PYTHONUNBUFFERED=1 PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
T0=$(date +%s)
step() { echo "=== [$(( $(date +%s) - T0 ))s] $*"; }

# --- 1. environment -----------------------------------------------------------------------
step "environment"
{
  date -u; nvidia-smi -L 2>&1; nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm --format=csv 2>&1
  $PY -c "import sys, torch; print(sys.version); print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.is_available())"
} >"$OUT/env.txt" 2>&1
if compgen -G ".gl/*.deb" >/dev/null; then
  for f in .gl/*.deb; do dpkg -x "$f" / ; done; ldconfig
  echo "unpacked $(ls .gl/*.deb | wc -l) GL packages" >>"$OUT/env.txt"
fi
v=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
[ -f "$v" ] && export __EGL_VENDOR_LIBRARY_FILENAMES=$v
export EGL_PLATFORM=${EGL_PLATFORM:-surfaceless}

need=()
$PY -c "import OpenGL" 2>/dev/null || need+=(PyOpenGL)
$PY -c "from cuda.core import GraphicsResource, ObjectCode, launch; from cuda.bindings import nvrtc" 2>/dev/null \
  || need+=(cuda_core cuda_bindings cuda_pathfinder)
if [ ${#need[@]} -gt 0 ]; then
  whls=()
  for n in "${need[@]}"; do for w in .whl/${n}-*.whl .whl/$(echo "$n" | tr '_' '-')-*.whl; do [ -f "$w" ] && whls+=("$w"); done; done
  step "installing from .whl: ${need[*]} -> ${whls[*]:-(none carried!)}"
  if [ ${#whls[@]} -gt 0 ]; then
    $PY -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site "${whls[@]}" >>"$OUT/env.txt" 2>&1
    export PYTHONPATH="/tmp/site:$PYTHONPATH"
  fi
fi
$PY -c "
import cuda.core, cuda.bindings, torch
from artem_vr.cuda.device import cuda_available
from artem_vr.cuda.nvrtc import nvrtc_version
print('cuda.core', cuda.core.__version__, 'cuda.bindings', cuda.bindings.__version__, 'nvrtc', nvrtc_version())
print('cuda_available', cuda_available())" >>"$OUT/env.txt" 2>&1
cat "$OUT/env.txt"

# --- 2. GPU tests ---------------------------------------------------------------------------
step "pytest -m gpu"
timeout 150 $PY -m pytest -q -m gpu -rs -p no:cacheprovider tests/cuda tests/style \
  >"$OUT/pytest_gpu.log" 2>&1
echo "pytest exit $?" >>"$OUT/pytest_gpu.log"
tail -n 25 "$OUT/pytest_gpu.log"

# --- 3. bench -------------------------------------------------------------------------------
step "bench (3 eye sizes, stereo) + per-layer XNOR vs cuDNN"
timeout 220 $PY -m artem_vr bench --method generator adain:fast adain:full xnor:full \
  --eye-size $BENCH_SIZES --eyes 2 --seconds 1.5 $($PY -c "import torch; print('--layers' if torch.cuda.is_available() else '')") --json "$OUT/bench_gpu.json" \
  >"$OUT/bench.log" 2>&1
echo "bench exit $?" >>"$OUT/bench.log"
tail -n 30 "$OUT/bench.log"
step "bench with CUDA graphs (generator, xnor at 2x1440x1600)"
timeout 90 $PY -m artem_vr bench --method generator:full generator:compact xnor:full --eye-size $GRAPH_SIZE --eyes 2 \
  --seconds 1.5 --cuda-graph --json "$OUT/bench_graph.json" >>"$OUT/bench.log" 2>&1
echo "graph bench exit $?" >>"$OUT/bench.log"
$PY - "$OUT" <<'EOF2'
import json, sys, pathlib
out = pathlib.Path(sys.argv[1]); g = out / "bench_graph.json"; m = out / "bench_gpu.json"
if g.is_file():
    recs = json.loads(m.read_text()) if m.is_file() else []
    m.write_text(json.dumps(recs + json.loads(g.read_text()), indent=1)); g.unlink()
EOF2
$PY tools/bench_chart.py "$OUT/bench_gpu.json" "$OUT/bench_gpu.svg" --target 90 \
  --title "artem-vr bench, stereo, fp16 ($(nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1))" || true

# --- 4. training burst ----------------------------------------------------------------------
step "training burst"
timeout 80 $PY tools/gpu_train_burst.py --iters $BURST_ITERS --size $BURST_SIZE --batch 8 --arch full --amp bf16 \
  --json "$OUT/train_burst.json" >"$OUT/train_burst.log" 2>&1
echo "train exit $?" >>"$OUT/train_burst.log"
tail -n 3 "$OUT/train_burst.log"

# --- summary --------------------------------------------------------------------------------
step "summary"
$PY - "$OUT" <<'EOF' | tee "$OUT/summary.txt"
import json, sys, pathlib
out = pathlib.Path(sys.argv[1])
try:
    recs = json.loads((out / "bench_gpu.json").read_text())
except Exception as e:
    print("no bench JSON:", e); recs = []
print(f"{'method':<24}{'eye':>11}{'FPS':>9}{'stylize':>9}{'interop':>9}{'floor':>8}{'ratio':>7}")
for r in recs:
    if "stereo_fps" not in r:
        continue
    s = r["stages_ms"]; cp = s.get("interop") or s.get("readback") or {}
    print(f"{r['method'] + ':' + r['arch'] + (' graph' if r.get('cuda_graph') else ''):<24}{'%dx%d' % tuple(r['eye_size']):>11}{r['stereo_fps']:>9.1f}"
          f"{s['stylize']['median']:>9.2f}{cp.get('median', float('nan')):>9.2f}{r['floor_ms'] or 0:>8.2f}{r['ratio'] or 0:>7.1f}")
for r in recs:
    if "layer" in r:
        print(f"{r['layer']} {r['shape']}: xnor {r['xnor_ms']:.3f} ms (conv popc {r['xnor_conv_only_ms']:.3f}, "
              f"tensor-core {r.get('xnor_mma_conv_only_ms')}) vs cuDNN fp16 {r['cudnn_fp16_ms']:.3f} / fp32 "
              f"{r['cudnn_fp32_ms']:.3f} ({r['speedup_vs_fp16']:.2f}x vs fp16)")
try:
    t = json.loads((out / "train_burst.json").read_text())
    print(f"train burst: {t['iters_per_s']} it/s, {t['images_per_s']} img/s at {t['size']} px, batch {t['batch']}, {t['amp']}")
except Exception as e:
    print("no train burst:", e)
EOF
step "done"
