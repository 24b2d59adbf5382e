"""Compile the project's CUDA C kernels (``artem_vr/cuda/*.cu``) at run time with NVRTC.

NVRTC (through ``cuda.bindings.nvrtc``) needs no GPU and no driver, so every kernel is
compiled to PTX for sm_80 and sm_90 on every test run, on any machine. Loading and
launching need a driver (:mod:`artem_vr.cuda.launch`).

* :func:`compile_source` / :func:`compile_kernel_file` → PTX text or CUBIN bytes for one
  architecture, cached on disk under ``~/.cache/artem_vr/nvrtc`` (or ``$ARTEM_VR_CACHE/nvrtc``)
  by the SHA-256 of (source, arch, target, options, NVRTC version).
* A compile error raises :class:`NvrtcError` carrying NVRTC's log.
* :func:`doctor_checks` reports the NVRTC version, a test compile and the driver.

``arch`` is ``"sm_80"``, ``"sm_90"`` (any ``sm_XY`` NVRTC supports) or ``None`` for the
current device's (needs CUDA).
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from pathlib import Path

from artem_vr.checks import Check
from artem_vr.cuda.device import NO_DRIVER, current_arch, driver_status
from artem_vr.errors import ArtemError, UsageError

KERNEL_DIR = Path(__file__).resolve().parent
DEFAULT_OPTIONS: tuple[str, ...] = ("--std=c++17",)
TARGETS = ("ptx", "cubin")


class NvrtcError(ArtemError):
    """A kernel failed to compile; ``.log`` holds NVRTC's log."""

    def __init__(self, what: str, log: str = "", fix: str | None = None):
        self.log = log
        super().__init__(f"{what}\n{log.strip()}" if log.strip() else what, fix)


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except Exception as e:
        raise NvrtcError(
            f"NVRTC is not importable ({type(e).__name__}: {e})",
            fix="pip install cuda-python nvidia-cuda-nvrtc",
        ) from e
    return nvrtc


def _check(result, what: str):
    """cuda.bindings returns (err, *values); raise on a non-success code."""
    nvrtc = _nvrtc()
    err, *rest = result
    if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
        _, msg = nvrtc.nvrtcGetErrorString(err)
        raise NvrtcError(f"NVRTC {what} failed: {msg.decode(errors='replace')}")
    return rest[0] if len(rest) == 1 else rest


def nvrtc_version() -> tuple[int, int]:
    return tuple(_check(_nvrtc().nvrtcVersion(), "version"))  # type: ignore[return-value]


def supported_archs() -> list[int]:
    """Compute capabilities this NVRTC can target, e.g. [75, 80, 86, ..., 90, 100, 120]."""
    return list(_check(_nvrtc().nvrtcGetSupportedArchs(), "nvrtcGetSupportedArchs"))


def normalize_arch(arch: str | int | None) -> str:
    """``None`` → current device's; ``90``/``"90"``/``"sm_90"``/``"compute_90"`` → ``"sm_90"``."""
    if arch is None or arch == "native":
        return current_arch()
    m = re.fullmatch(r"(?:sm_|compute_)?(\d{2,3})a?", str(arch))
    if not m:
        raise UsageError(f"unknown CUDA architecture {arch!r}", "give sm_80, sm_90 or another sm_XY")
    cc = int(m.group(1))
    ok = supported_archs()
    if cc not in ok:
        raise UsageError(f"NVRTC {'.'.join(map(str, nvrtc_version()))} cannot target sm_{cc}", f"choose one of sm_{ok}")
    return f"sm_{cc}"


def cache_dir() -> Path:
    base = os.environ.get("ARTEM_VR_CACHE")
    if base:
        return Path(base) / "nvrtc"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "artem_vr" / "nvrtc"


def cache_key(source: str, arch: str, target: str, options: tuple[str, ...]) -> str:
    h = hashlib.sha256()
    for part in (source, arch, target, "\0".join(options), ".".join(map(str, nvrtc_version()))):
        h.update(part.encode())
        h.update(b"\x1f")
    return h.hexdigest()


def _compile_uncached(source: str, name: str, arch: str, target: str, options: tuple[str, ...]) -> bytes:
    nvrtc = _nvrtc()
    cc = arch.split("_")[1]
    gpu = f"compute_{cc}" if target == "ptx" else f"sm_{cc}"
    opts = [o.encode() for o in (*options, f"--gpu-architecture={gpu}")]
    prog = _check(nvrtc.nvrtcCreateProgram(source.encode(), name.encode(), 0, [], []), "nvrtcCreateProgram")
    try:
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        size = _check(nvrtc.nvrtcGetProgramLogSize(prog), "nvrtcGetProgramLogSize")
        buf = b" " * size
        _check((*nvrtc.nvrtcGetProgramLog(prog, buf), None), "nvrtcGetProgramLog")
        log = buf.rstrip(b"\0 ").decode(errors="replace")
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise NvrtcError(
                f"compiling {name} for {gpu} failed ({err.name})",
                log,
                fix="fix the kernel source (NVRTC's log above names the line)",
            )
        if target == "ptx":
            size = _check(nvrtc.nvrtcGetPTXSize(prog), "nvrtcGetPTXSize")
            out = b" " * size
            _check((*nvrtc.nvrtcGetPTX(prog, out), None), "nvrtcGetPTX")
            return out.rstrip(b"\0")  # PTX text without the trailing NUL
        size = _check(nvrtc.nvrtcGetCUBINSize(prog), "nvrtcGetCUBINSize")
        out = b" " * size
        _check((*nvrtc.nvrtcGetCUBIN(prog, out), None), "nvrtcGetCUBIN")
        return out
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


def compile_source(
    source: str,
    name: str = "kernel.cu",
    arch: str | int | None = None,
    target: str = "ptx",
    options: tuple[str, ...] = DEFAULT_OPTIONS,
    use_cache: bool = True,
) -> bytes:
    """Compile CUDA C ``source`` → PTX (text as bytes) or CUBIN for ``arch``.

    Cached on disk by (source hash, arch, target, options, NVRTC version); an unwritable
    cache directory only turns caching off. Raises :class:`NvrtcError` with NVRTC's log.
    """
    if target not in TARGETS:
        raise UsageError(f"unknown NVRTC target {target!r}", f"choose one of {TARGETS}")
    arch = normalize_arch(arch)
    options = tuple(options)
    path = cache_dir() / f"{cache_key(source, arch, target, options)}.{target}"
    if use_cache and path.is_file():
        return path.read_bytes()
    out = _compile_uncached(source, name, arch, target, options)
    if use_cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=path.parent, delete=False, suffix=".tmp") as f:
                f.write(out)
            os.replace(f.name, path)  # atomic: concurrent compiles never see half a file
        except OSError:
            pass
    return out


def kernel_files() -> list[Path]:
    """Every ``*.cu`` shipped in artem_vr/cuda."""
    return sorted(KERNEL_DIR.glob("*.cu"))


def kernel_source(name: str) -> str:
    """Source of ``artem_vr/cuda/<name>.cu`` (``name`` with or without ``.cu``)."""
    p = KERNEL_DIR / (name if name.endswith(".cu") else f"{name}.cu")
    if not p.is_file():
        raise UsageError(f"no kernel file {p.name} in {KERNEL_DIR}", f"choose one of {[f.name for f in kernel_files()]}")
    return p.read_text()


def compile_kernel_file(name: str, arch: str | int | None = None, target: str = "ptx", **kw) -> bytes:
    """Compile ``artem_vr/cuda/<name>.cu`` (see :func:`compile_source`)."""
    fname = name if name.endswith(".cu") else f"{name}.cu"
    return compile_source(kernel_source(fname), fname, arch, target, **kw)


def kernel_names(ptx: bytes | str) -> list[str]:
    """Names of the ``.entry`` points in PTX text (the ``extern "C"`` kernels)."""
    text = ptx.decode() if isinstance(ptx, bytes) else ptx
    return re.findall(r"\.entry\s+([A-Za-z_][A-Za-z0-9_]*)", text)


def doctor_checks():
    checks = []
    try:
        major, minor = nvrtc_version()
        t0 = time.perf_counter()
        ptx = compile_source(
            'extern "C" __global__ void probe(unsigned* a){ a[threadIdx.x] = __popc(a[threadIdx.x]); }',
            "probe.cu",
            "sm_90",
            use_cache=False,
        )
        ms = (time.perf_counter() - t0) * 1e3
        ok = b"popc" in ptx
        checks.append(Check("nvrtc", ok, f"NVRTC {major}.{minor}; test compile to PTX sm_90 in {ms:.0f} ms"))
    except ArtemError as e:
        checks.append(Check("nvrtc", False, str(e).splitlines()[0], e.fix or "pip install cuda-python nvidia-cuda-nvrtc"))
    ok, why = driver_status()
    if ok:
        checks.append(Check("cuda driver", True, why))
    else:
        # the `cuda` line has said why and that the CPU path is taken: this one says what else is off
        checks.append(Check("cuda driver", None, "none: the GPU kernels and the CUDA-GL upload are off"
                            if why == NO_DRIVER else f"{why}: the GPU kernels and the CUDA-GL upload are off"))
    return checks
