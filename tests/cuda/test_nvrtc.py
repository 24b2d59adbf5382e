"""NVRTC compiles every shipped kernel for sm_80 and sm_90 here (no GPU needed)."""

import pytest

from artem_vr.cuda import nvrtc
from artem_vr.cuda.device import cuda_available

KERNELS = {
    "xnor.cu": {"xnor_pack_f32", "xnor_pack_f16", "xnor_conv", "xnor_conv_h"},
    "to_rgba8.cu": {"float_to_rgba8"},
    "xnor_mma.cu": {"xnor_conv_mma"},
}


def test_every_kernel_file_is_listed():
    assert {p.name for p in nvrtc.kernel_files()} == set(KERNELS)


@pytest.mark.parametrize("arch", ["sm_80", "sm_90"])
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_kernel_compiles_to_ptx(name, arch, tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEM_VR_CACHE", str(tmp_path))
    ptx = nvrtc.compile_kernel_file(name, arch, "ptx")
    text = ptx.decode()
    assert f".target {arch}" in text
    assert set(nvrtc.kernel_names(text)) == KERNELS[name]
    if name == "xnor.cu":
        assert "popc.b32" in text  # the XNOR accumulation really uses popcount
        assert "cvt.rn.f16.f32" in text  # the fp16-output variant rounds once, to nearest even
        assert "cvt.f32.f16" in text  # the fp16 pack compares each half as a float (one pack template)
    if name == "xnor_mma.cu":
        assert "mma.sync.aligned.m16n8k256.row.col.s32.b1.b1.s32.and.popc" in text  # binary tensor cores


def test_cubin_is_an_elf_for_the_arch(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEM_VR_CACHE", str(tmp_path))
    cubin = nvrtc.compile_kernel_file("xnor", "sm_90", "cubin")
    assert cubin[:4] == b"\x7fELF"


def test_cache_is_keyed_by_source_arch_and_options(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEM_VR_CACHE", str(tmp_path))
    src = 'extern "C" __global__ void k(int* a) { a[threadIdx.x] = 1; }'
    a = nvrtc.compile_source(src, "k.cu", "sm_80")
    files = list((tmp_path / "nvrtc").iterdir())
    assert len(files) == 1 and files[0].read_bytes() == a
    # a second call is served from the file: make the cached file recognisable
    files[0].write_bytes(a + b"// cached")
    assert nvrtc.compile_source(src, "k.cu", "sm_80").endswith(b"// cached")
    nvrtc.compile_source(src, "k.cu", "sm_90")
    nvrtc.compile_source(src, "k.cu", "sm_80", options=("--std=c++17", "-lineinfo"))
    nvrtc.compile_source(src + "\n", "k.cu", "sm_80")
    assert len(list((tmp_path / "nvrtc").iterdir())) == 4


def test_compile_error_carries_nvrtc_log(tmp_path, monkeypatch):
    monkeypatch.setenv("ARTEM_VR_CACHE", str(tmp_path))
    with pytest.raises(nvrtc.NvrtcError) as ei:
        nvrtc.compile_source('extern "C" __global__ void k(int* a) { a[0] = not_declared; }', "broken.cu", "sm_90")
    assert "not_declared" in ei.value.log and "broken.cu" in ei.value.log
    assert "not_declared" in str(ei.value)
    assert not (tmp_path / "nvrtc").exists() or not list((tmp_path / "nvrtc").iterdir())


def test_arch_names():
    assert nvrtc.normalize_arch("sm_90") == "sm_90"
    assert nvrtc.normalize_arch(80) == "sm_80"
    assert nvrtc.normalize_arch("compute_90") == "sm_90"
    from artem_vr.errors import UsageError

    with pytest.raises(UsageError):
        nvrtc.normalize_arch("sm_xx")
    with pytest.raises(UsageError):
        nvrtc.normalize_arch("sm_10")


def test_doctor_reports_nvrtc_and_driver():
    checks = {c.name: c for c in nvrtc.doctor_checks()}
    assert checks["nvrtc"].ok is True and "NVRTC" in checks["nvrtc"].detail
    ok, why = cuda_available()
    drv = checks["cuda driver"]
    if ok:
        assert drv.ok is True
    else:
        assert drv.ok is None and drv.detail.endswith("the GPU kernels and the CUDA-GL upload are off"), drv.detail


def test_cuda_available_never_raises_and_gives_a_reason():
    ok, why = cuda_available()
    assert isinstance(ok, bool) and why


@pytest.mark.skipif(cuda_available()[0], reason="this machine has CUDA; the no-driver path is tested elsewhere")
def test_without_driver_kernels_refuse_cleanly():
    from artem_vr.cuda.launch import get_kernel
    from artem_vr.errors import CudaUnavailable

    with pytest.raises(CudaUnavailable) as ei:
        get_kernel("xnor", "xnor_conv")
    assert "CPU" in str(ei.value)
