"""The one frame path (artem_vr.pipeline): contracts, the real worker, the real Outputs.

Every test here drives the app's own classes: the Controller, the StylizerWorker with real
networks, the HeadlessOutput with a real EGL context and its FrameUpload. The CUDA half (the
same Output with CUDA–GL interop) runs where there is a GPU and skips with the reason here.
"""

from __future__ import annotations

import inspect
import time

import numpy as np
import pytest
import torch

from artem_vr.app import build_pipeline
from artem_vr.errors import UsageError
from artem_vr.app import choose_output
from artem_vr.config import HEADSET_ONLY, RunConfig
from artem_vr.contracts import COMMANDS, Commands, FrameFeed, Output
from artem_vr.control import ControlState, Controller
from artem_vr.pipeline import Pipeline, present
from artem_vr.worker import StylizerWorker
from artem_vr.render.headless import HeadlessOutput
from artem_vr.render.upload import HOST, INTEROP
from artem_vr.sources.base import FrameSource

CPU_OPTIONS = (("adain_variant", "auto"), ("arch", None), ("preserve_color", "none"))


class Stills(FrameSource):
    """A real source: fixed pictures (changing per frame) on its own capture thread."""

    name = "stills"
    pace = 0.01

    def __init__(self, h=24, w=32):
        super().__init__()
        self.h, self.w = h, w

    def _open(self):
        self.n = 0

    def _grab(self):
        self.n += 1
        img = np.zeros((self.h, self.w, 3), np.uint8)
        img[:, : self.w // 2] = (200, 60, 30)
        img[:, self.w // 2 :] = (30, 90, 210)
        img[self.h // 3 : 2 * self.h // 3] = (self.n * 7) % 256
        return img


class Capturing(Pipeline):
    """The real Pipeline, keeping every presented frame's eye images (the output's read-back)."""

    def __init__(self, *a, **kw):
        super().__init__(*a, **kw)
        self.images = []
        self.shown = []

    def frame_presented(self, eye_images=None, shown=None):
        super().frame_presented(eye_images, shown)
        if eye_images is not None:
            self.images.append((shown.method if shown else None, shown.style if shown else None, eye_images))
            self.shown.append(shown)


def _config(**kw):
    base = dict(output="headless", device="cpu", internal_scale=1.0, stylizer_options=CPU_OPTIONS,
                temporal=False, stereo_consistency=False, eye_size=(32, 24))
    base.update(kw)
    return RunConfig(**base)


# ------------------------------------------------------------------------------- contracts
def test_commands_table_resolves_to_the_real_controller():
    """Every XR action, every mirror key and every name in COMMANDS is a real method of the
    Controller the app uses (not something a __getattr__ made up)."""
    from artem_vr.render.keys import KEY_BINDINGS
    from artem_vr.xr.actions import ACTIONS

    members = dict(inspect.getmembers(Controller, inspect.isfunction))
    protocol = {n for n, _ in inspect.getmembers(Commands, inspect.isfunction) if not n.startswith("_")}
    assert set(COMMANDS) == protocol
    for name in COMMANDS:
        assert name in members, name
    for spec in ACTIONS:
        if spec.kind == "button":
            assert spec.name in COMMANDS, spec.name
    assert "set_strength" in COMMANDS  # the trigger (float action "strength")
    for key, (meth, _args) in KEY_BINDINGS.items():
        assert meth in COMMANDS, (key, meth)
    c = Controller(ControlState("identity", ["identity"], ["identity"]), printer=lambda _l: None)
    assert isinstance(c, Commands)
    with pytest.raises(AttributeError):
        c.no_such_command  # noqa: B018


def test_config_is_frozen_and_checked_once():
    cfg = _config()
    with pytest.raises(Exception):
        cfg.strength = 0.5  # frozen
    for bad in (dict(strength=2.0), dict(frames=0), dict(internal_scale=0.0), dict(output="hologram"),
                dict(ipd_mm=150.0), dict(xr_scale=9.0)):
        with pytest.raises(UsageError):
            _config(**bad)


@pytest.mark.parametrize("option", sorted(HEADSET_ONLY))
def test_headset_only_options_on_a_desk_output_are_refused(option):
    """--mirror, --xr-scale, … with --output mirror/headless would be ignored: one clear error instead."""
    value = {"xr_mirror": True, "xr_graphics": "egl", "xr_scale": 0.5, "xr_space": "stage", "xr_validation": True,
             "xr_hang_timeout": 3.0, "pose_source": "runtime"}[option]
    for desk in ("headless", "mirror"):
        with pytest.raises(UsageError, match=f"{HEADSET_ONLY[option]} only applies to the headset .*output is {desk}"):
            _config(output=desk, **{option: value})
    where = {"view_mode": "passthrough"} if option == "pose_source" else {}  # a passthrough option too
    assert getattr(_config(output="xr", **where, **{option: value}), option) == value  # where they belong
    with pytest.raises(UsageError, match="--mirror, --xr-scale only apply to the headset") as e:
        _config(xr_mirror=True, xr_scale=0.5)
    assert e.value.fix.startswith("drop --mirror and --xr-scale, or use --output xr")
    with pytest.raises(UsageError) as e:  # the fix names the one option given, not "them"
        _config(output="headless", xr_scale=0.5)
    assert e.value.fix.startswith("drop --xr-scale, or use --output xr")


def test_a_file_where_the_run_writes_a_folder_is_refused_up_front(tmp_path):
    """--out FILE (headless) or --record FILE/x.mp4: one error before the run, not after it at the recording's end."""
    from artem_vr.errors import NotADirectory

    a_file = tmp_path / "photo.jpg"
    a_file.write_bytes(b"x")
    with pytest.raises(NotADirectory, match=r"--out .*photo.jpg: .*photo.jpg is a file, not a folder — give --out a folder, e.g. --out out"):
        _config(out_dir=a_file, record=tmp_path / "rec.mp4")
    with pytest.raises(NotADirectory, match=r"--record .*rec.mp4: .*photo.jpg is a file, not a folder"):
        _config(output="mirror", record=a_file / "rec.mp4")
    assert _config(output="mirror", out_dir=a_file).out_dir == a_file  # a desk window writes there only on a snapshot
    assert _config(out_dir=a_file).out_dir == a_file  # headless without a recording (the bench) writes nothing there
    assert _config(out_dir=tmp_path / "new" / "folder").out_dir.name == "folder"  # made when written


def test_output_selection_xr_then_mirror_then_headless(monkeypatch):
    """auto: an OpenXR runtime first, else a display, else headless; explicit choices stand."""
    import artem_vr.app as pl
    import artem_vr.xr.probe as probe

    lines = []
    monkeypatch.setattr(probe, "xr_available", lambda: (False, "no runtime"))
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert choose_output("auto", lines.append) == "headless" and "no display" in lines[-1]
    monkeypatch.setattr(pl, "display_works", lambda: True)
    assert choose_output("auto", lines.append) == "mirror"
    monkeypatch.setattr(probe, "xr_available", lambda: (True, ""))
    assert choose_output("auto", lines.append) == "xr"
    assert choose_output("headless", lines.append) == "headless"
    with pytest.raises(UsageError):
        choose_output("hologram")


# ------------------------------------------------------------------------------- the real path
def _run_headless(pipeline, eye=(32, 24), upload=None):
    out = HeadlessOutput(eye, context_kind="egl", repeat_after_s=None, upload=upload)
    with pipeline.source:
        present(pipeline, out, printer=lambda _l: None)
    pipeline.worker.stop()
    return out


def test_headless_output_is_a_feed_reader_and_an_output():
    cfg = _config(method="identity", frames=3)
    p = build_pipeline(cfg, printer=lambda _l: None, source=Stills())
    assert isinstance(p, FrameFeed) and issubclass(HeadlessOutput, Output)
    out = _run_headless(p)
    assert out.upload_kind == HOST and p.frames_presented == 3
    assert p.worker.keep_on_device is False
    st = p.clock.summary()
    assert st["capture_wait"]["n"] >= 1 and st["to_texture"]["n"] >= 1 and st["render"]["n"] >= 1


def test_cpu_host_path_shows_the_stylized_frame():
    """The CPU twin of the interop path: the eye texture the Output renders holds the stylizer's
    output (read back through the real renderer in full view and compared with the stylizer's own
    result on the same source frame)."""
    from artem_vr.render.geometry import ViewConfig

    src = Stills(48, 64)
    cfg = _config(method="generator", style="starry_night", frames=2, eye_size=(64, 48), view_mode="full", ipd_mm=0.0)
    p = Capturing(*_parts(cfg, src))
    out = HeadlessOutput((64, 48), ViewConfig(mode="full", desk_ipd=0.0), "egl", repeat_after_s=None)
    with src:
        present(p, out, printer=lambda _l: None)
    p.worker.stop()
    _m, _s, eyes = p.images[-1]
    want = p.shown[-1].host_eyes()[0]
    d = np.abs(eyes[0].astype(int) - want.astype(int))
    assert d.mean() < 2.0 and np.percentile(d, 99) <= 3, (d.mean(), d.max())
    plain = np.abs(want.astype(int) - src._grab().astype(int)).mean()
    assert plain > 10  # it really is stylized, not the source


def _parts(cfg, src):
    p = build_pipeline(cfg, printer=lambda _l: None, source=src)
    return p.source, p.worker, p.controller, p.max_frames


def test_method_cycling_in_the_real_worker_changes_the_picture():
    """cycle_method (key m, controller button) switches the worker's stylizer between frames; the
    presented eye image changes with it."""
    src = Stills()
    lines = []
    p = Capturing(*_parts(_config(method="generator", frames=None), src))
    p.controller._print = lines.append
    methods = p.controller.state.methods
    assert len(methods) >= 2, methods

    def press():
        while p.frames_presented < 3:
            time.sleep(0.01)
        p.controller.cycle_method()
        n = p.worker.frames_done
        while p.worker.frames_done < n + 3 and not p.worker.finished.is_set():
            time.sleep(0.01)
        while p.frames_presented < 3 + 6:
            time.sleep(0.01)
        p.controller.quit()

    import threading

    t = threading.Thread(target=press, daemon=True)
    t.start()
    _run_headless(p)
    t.join(5)
    seen = [m for m, _s, _e in p.images]
    assert seen[0] == "generator" and seen[-1] == methods[(methods.index("generator") + 1) % len(methods)], seen
    assert any(ln.startswith("method: ") for ln in lines)
    first = p.images[0][2][0].astype(int)
    last = p.images[-1][2][0].astype(int)
    assert np.abs(first - last).mean() > 3  # another network, another picture


def test_a_stylizer_that_raises_mid_run_stops_the_run_with_its_error():
    class Boom(RuntimeError):
        pass

    calls = {"n": 0}

    def factory(method, style=None, device="cpu"):
        from artem_vr.style.methods import make_stylizer

        s = make_stylizer("identity", None, device=device)
        real = s.stylize

        def stylize(x):
            calls["n"] += 1
            if calls["n"] > 4:
                raise Boom("the network fell over")
            return real(x)

        s.stylize = stylize
        return s

    src = Stills()
    c = Controller(ControlState("identity", ["identity"], ["identity"]), printer=lambda _l: None)
    w = StylizerWorker(src, c, device="cpu", factory=factory)
    p = Pipeline(src, w, c, max_frames=10_000)
    _run_headless(p)
    assert isinstance(w.error, Boom) and 1 <= p.frames_presented < 10_000


def test_a_method_that_fails_to_build_is_an_error_not_absence(monkeypatch):
    """A bug inside a stylizer's construction is an error naming the cause, not "no models"."""
    import artem_vr.style.xnor as xnor

    def broken(self):
        raise ZeroDivisionError("a bug in the stylizer")

    monkeypatch.setattr(xnor.XnorStylizer, "styles", broken)
    with pytest.raises(ZeroDivisionError):
        build_pipeline(_config(method="generator"), printer=lambda _l: None, source=Stills())


# ------------------------------------------------------------------------------- CUDA
def _cuda():
    from artem_vr.cuda.device import cuda_available

    return cuda_available()


@pytest.mark.gpu
def test_live_output_uses_interop_and_matches_the_host_path():
    """On CUDA with a GL context on the NVIDIA GPU: the live Output chooses CUDA–GL interop, the
    worker keeps frames on the device (no host copy), and the eyes it renders equal the host
    path's on the same frames (the CPU twin above)."""
    ok, why = _cuda()
    if not ok:
        pytest.skip(f"needs CUDA: {why}")
    from artem_vr.render.geometry import ViewConfig

    results = {}
    for upload in (None, HOST):
        src = Stills(48, 64)
        cfg = _config(method="generator", style="starry_night", frames=3, eye_size=(64, 48), device="cuda",
                      view_mode="full", ipd_mm=0.0)
        p = Capturing(*_parts(cfg, src))
        out = HeadlessOutput((64, 48), ViewConfig(mode="full", desk_ipd=0.0), "egl", repeat_after_s=None, upload=upload)
        with src:
            present(p, out, printer=lambda _l: None)
        p.worker.stop()
        results[upload] = (out.upload_kind, p.shown[-1], p.images[-1][2])
    kind, frame, eyes = results[None]
    assert kind == INTEROP, "the NVIDIA EGL context should share with CUDA"
    assert frame.tensor is not None and frame.eyes is None  # kept on the device: no host copy
    want = np.asarray(frame.host_eyes()[0]).astype(int)
    d = np.abs(eyes[0].astype(int) - want)
    assert d.max() <= 2, d.max()
    assert results[HOST][0] == HOST and torch.cuda.is_available()
