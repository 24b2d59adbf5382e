"""What the user reads: foreign text escaped, secrets kept, memory bounded, telemetry off, and the
messages that used to confuse now say what happened, in the user's words and paths."""

from __future__ import annotations

import json
import os
import re
import resource
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import torch
from faults_helpers import ARTEM, HostileMjpegServer, child_env, digest, one_error_line, run_cli, write_png
from safetensors import safe_open
from safetensors.torch import save_file
from test_fault_inputs import png_claiming

from artem_vr.errors import user_facing
from artem_vr.paths import MODELS_DIR
from artem_vr.text import printable

HOSTILE = "Evil\x1b[2J\x1b]0;owned\x07\x9b31m\u202emoc.exe"
ESCAPES = ("\x1b", "\x07", "\x9b", "\u202e")


def _hostile_model(folder: Path, name: str = "evil\x1b[31mname") -> Path:
    """A real generator (a shipped one's tensors) whose file name, metadata and card carry escape sequences."""
    src = MODELS_DIR / "great_wave_compact.safetensors"
    with safe_open(str(src), "pt") as f:
        meta = dict(f.metadata())
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    inner = json.loads(meta["meta"])
    inner.update(painting=HOSTILE, style=HOSTILE)
    meta["meta"] = json.dumps(inner)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.safetensors"
    save_file(tensors, str(path), metadata=meta)
    path.with_suffix(".md").write_text(f"# {HOSTILE}\n\n- style image: `{HOSTILE}.png`\n")
    return path


def test_printable_escapes_controls_and_keeps_text():
    assert printable("plain — text ü 東京") == "plain — text ü 東京"
    assert printable("a\x1b[2Jb") == "a\\x1b[2Jb"
    assert printable("x\u202ey\x9bz\x7f") == "x\\u202ey\\x9bz\\x7f"
    assert printable("one\ntwo") == "one\\x0atwo" and printable("one\ntwo", keep_newlines=True) == "one\ntwo"
    assert printable("a\tb") == "a    b"


def test_a_hostile_card_reaches_no_terminal_through_styles_doctor_or_run(tmp_path, cli, user_data):
    model = _hostile_model(user_data)
    for argv in (["styles", "--paths"], ["doctor"],
                 ["run", "--output", "headless", "--style", model, "--frames", "2", "--eye-size", "64x48",
                  "--out", tmp_path / "o"]):
        code, out, err = cli(*argv)
        assert code == 0, err
        for e in ESCAPES:
            assert e not in out + err, (argv, out, err)
        if argv[0] == "styles":
            assert "Evil\\x1b[2J" in out  # shown, escaped
        if argv[0] == "run":
            assert "\\x1b" in out


def test_an_error_quoting_foreign_text_is_escaped(tmp_path, cli):
    bad = tmp_path / "bad\x1b[2J.png"
    bad.write_text("not an image")
    code, _, err = cli("stylize", bad, tmp_path / "o.png", "--method", "identity")
    assert code == 2 and "\x1b" not in err and "bad\\x1b[2J.png" in one_error_line(err)


@pytest.mark.parametrize("argv", [
    ["bench", "--eye-size", "64x64", "--seconds", "0.2", "--warmup", "1", "--method", "identity", "--json", "OUT.json"],
    ["run", "--output", "headless", "--frames", "2", "--method", "identity", "--eye-size", "64x48", "--record", "OUT.mp4",
     "--out", "o"],
])
def test_a_path_the_user_gave_is_printed_escaped_on_stdout(tmp_path, cli, argv):
    """`wrote 1 record to b\x1b[2J.json` cleared the screen: a command's own lines printed the user's path raw."""
    out_name = str(tmp_path / "out\x1b[2J\x1b]0;title\x07")
    code, out, err = cli(*[out_name + a[3:] if a.startswith("OUT.") else tmp_path / a if a == "o" else a for a in argv])
    assert code == 0, err
    assert "\x1b" not in out + err and "\x07" not in out + err
    assert "out\\x1b[2J\\x1b]0;title\\x07" in out


def test_debug_traceback_keeps_the_password(tmp_path):
    """--debug prints the traceback, redacted like every line: no password, no secret token."""
    r = run_cli("--debug", "run", "--output", "headless", "--source",
                "http://user:hunter22@127.0.0.1:9/video?token=s3cr3tvalue", "--frames", "2", "--method", "identity",
                "--out", tmp_path / "o", cwd=tmp_path, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "Traceback" in r.stderr
    assert "hunter22" not in r.stdout + r.stderr and "s3cr3tvalue" not in r.stdout + r.stderr
    assert "user:***@" in r.stderr


def _cache_files(home: Path) -> list[Path]:
    return sorted(p for p in home.rglob("*") if p.is_file() and "Microsoft" in p.parts)


def test_onnx_runtime_keeps_no_telemetry_database(tmp_path):
    """ONNX Runtime 1.2x+ on Linux writes ~/.cache/Microsoft/DeveloperTools/.onnxruntime/{onnxruntime.db,
    deviceid} when it is imported (disable_telemetry_events() does not stop it; ORT_DISABLE_TELEMETRY=1
    before the import does). The control shows the database is observable here; the CLI writes none."""
    env = child_env()
    env.pop("ORT_DISABLE_TELEMETRY", None)
    control = tmp_path / "control"
    control.mkdir()
    env.update(HOME=str(control), XDG_CACHE_HOME=str(control / ".cache"))
    subprocess.run([ARTEM[0], "-c", "import onnxruntime"], env=env, check=True, timeout=120)
    if not _cache_files(control):
        pytest.skip("this onnxruntime build keeps no telemetry database to observe")
    home = tmp_path / "home"
    home.mkdir()
    env.update(HOME=str(home), XDG_CACHE_HOME=str(home / ".cache"))
    src = write_png(tmp_path / "in.png", size=(64, 48))
    r = subprocess.run([*ARTEM, "stylize", str(src), str(tmp_path / "o.png"), "--style", "starry_night",
                        "--method", "generator", "--engine", "ort"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert r.returncode == 0, r.stderr
    assert "generator engine: ort" in r.stdout
    assert _cache_files(home) == []


def _limit_memory(limit: int):
    def pre():
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return pre


def test_a_bomb_within_the_megapixel_cap_is_refused_by_memory_before_allocating(tmp_path):
    """A tiny PNG whose header claims 60000×60000 (3600 MP, under --max-megapixels 5000): refused from
    the header because it cannot fit in memory (the child may map 16 GiB), never decoded."""
    bomb = png_claiming(tmp_path / "bomb.png", 60000, 60000)
    assert bomb.stat().st_size < 1000
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with open(out, "w") as o, open(err, "w") as e:
        p = subprocess.Popen([*ARTEM, "stylize", str(bomb), str(tmp_path / "o.png"), "--method", "identity",
                              "--max-megapixels", "5000", "--max-side", "0"], cwd=tmp_path, env=child_env(),
                             stdout=o, stderr=e, preexec_fn=_limit_memory(16 << 30))
        _pid, status, usage = os.wait4(p.pid, 0)  # the child's own peak memory
    p.returncode = os.waitstatus_to_exitcode(status)
    assert p.returncode == 2, err.read_text()
    line = one_error_line(err.read_text())
    assert "60000x60000" in line and "GiB of memory" in line and "bomb.png" in line
    assert usage.ru_maxrss * 1024 < 3 << 30, usage.ru_maxrss  # the start-up (torch) only: nothing was decoded
    assert not (tmp_path / "o.png").exists()


def test_check_memory_uses_what_is_available(monkeypatch):
    from artem_vr import frames
    from artem_vr.errors import ImageError

    monkeypatch.setattr(frames, "available_memory", lambda: 100 * 2**20)
    frames.check_memory(1000, 1000, "ok.png")  # 8 MB of 100 MB
    with pytest.raises(ImageError, match="needs about 0.4 GiB of memory and 0.1 GiB is available"):
        frames.check_memory(8000, 6000, "big.png")
    assert frames.available_memory is not None


def test_available_memory_is_known_and_below_the_machine():
    from artem_vr.frames import available_memory

    avail = available_memory()
    assert avail is not None and 0 < avail
    total = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    assert avail <= total


# ---------------------------------------------------------------------------- messages


def test_output_that_is_a_folder_says_so(tmp_path, cli):
    src = write_png(tmp_path / "in.png")
    (tmp_path / "outdir").mkdir()
    code, _, err = cli("stylize", src, tmp_path / "outdir", "--method", "identity")
    assert code == 2 and "is a folder" in one_error_line(err) and "unknown image type" not in err


def test_messages_name_the_users_file_not_the_temporary_one():
    assert user_facing("could not flush /x/.out.partial-12-0a1b2c3d.mp4 to disk") == "could not flush /x/out.mp4 to disk"
    assert user_facing("cannot write /x/.m.onnx.tmp: full") == "cannot write /x/m.onnx: full"
    assert user_facing("cannot write b.json.tmp") == "cannot write b.json"


def test_401_with_credentials_says_they_were_refused(cli, tmp_path):
    server = HostileMjpegServer().start()
    try:
        for url, needle in ((server.url.replace("http://", "http://user:wrong9@") + "/auth", "refused the user and password"),
                            (server.url + "/auth", "asks for a user and password")):
            code, out, err = cli("run", "--output", "headless", "--source", url, "--frames", "2", "--method", "identity",
                                 "--out", tmp_path)
            assert code == 2
            line = one_error_line(err)
            assert needle in line and "401" in line and "wrong9" not in out + err
    finally:
        server.stop()


@pytest.fixture
def html_server():
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *a):
            pass

        def do_GET(self):
            body = b"<html><body>\x1b[2J camera login</body></html>"
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/index.html"
    httpd.shutdown()
    httpd.server_close()


def test_a_web_page_is_called_a_web_page(cli, tmp_path, html_server):
    code, _, err = cli("run", "--output", "headless", "--source", html_server, "--frames", "2", "--method", "identity",
                       "--out", tmp_path)
    assert code == 2
    line = one_error_line(err)
    assert "is a web page (text/html), not a video stream" in line and "OpenCV" not in line


def test_an_animated_gif_says_only_its_first_frame_is_stylized(tmp_path, cli):
    from PIL import Image

    frames = [Image.fromarray(np.full((40, 48, 3), 40 * i, np.uint8)) for i in range(4)]
    gif = tmp_path / "anim.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=100, loop=0)
    code, out, err = cli("stylize", gif, tmp_path / "o.png", "--method", "identity")
    assert code == 0, err
    assert "anim.gif is animated (4 frames): only its first frame is stylized" in err
    assert "wrote" in out


def test_export_does_not_replace_a_file_without_force(tmp_path, cli):
    out = tmp_path / "onnx"
    out.mkdir()
    old = out / "great_wave_compact.onnx"
    old.write_bytes(b"an earlier export")
    code, _, err = cli("export", "great_wave_compact", "--out", out)
    assert code == 2
    line = one_error_line(err)
    assert "great_wave_compact.onnx already exists" in line and "--force" in line
    assert old.read_bytes() == b"an earlier export"


@pytest.mark.slow
def test_export_force_replaces_the_earlier_file(tmp_path, cli):
    out = tmp_path / "onnx"
    out.mkdir()
    (out / "great_wave_compact.onnx").write_bytes(b"an earlier export")
    code, stdout, err = cli("export", "great_wave_compact", "--out", out, "--force")
    assert code == 0, err
    assert "wrote" in stdout and (out / "great_wave_compact.onnx").stat().st_size > 100_000
    assert "## ONNX export" in (out / "great_wave_compact.md").read_text()


def test_style_names_differing_only_in_case_are_refused(tmp_path, cli, user_data):
    _hostile_model(user_data, "my_klimt")
    content = tmp_path / "content"
    content.mkdir()
    write_png(content / "a.png", size=(64, 64))
    style = write_png(tmp_path / "s.png", size=(64, 64))
    for name, other in (("My_Klimt", "my_klimt"), ("STARRY_NIGHT", "starry_night")):
        code, _, err = cli("train", "generator", "--content", content, "--style", style, "--out", name, "--iters", "1",
                           "--force")
        assert code == 2
        line = one_error_line(err)
        assert f"a style named {other} already exists" in line and "differ only in case" in line
    assert sorted(p.name for p in user_data.iterdir()) == ["my_klimt.md", "my_klimt.safetensors"]


def test_model_cards_state_the_real_smallest_input(tmp_path):
    """Each exported part's card says "H, W >= N": the graph's module runs at N and fails below."""
    from artem_vr.export import parts_for

    torch.set_grad_enabled(False)
    try:
        for name in ("great_wave_compact", "great_wave_xnor_compact", "adain_fast", "adain_full"):
            for part in parts_for(MODELS_DIR / f"{name}.safetensors"):
                m = re.search(r"(?:H, W|h, w)[^(]*\((?:H, W )?>= (\d+)\)", part.inputs)
                assert m, part.inputs
                n = int(m.group(1))
                part.module(torch.rand(1, part.channels, n, n + 1))
                with pytest.raises(RuntimeError):
                    part.module(torch.rand(1, part.channels, n - 1, n + 1))
    finally:
        torch.set_grad_enabled(True)


# ---------------------------------------------------------------------------- doctor and the runtime


def test_doctor_reports_a_built_monado_and_xvfb(cli, monkeypatch, tmp_path):
    monkeypatch.setenv("ARTEM_XR_DIR", str(tmp_path / "nothing-here"))
    code, out, _ = cli("doctor")
    assert code == 0 and f"not built at {tmp_path / 'nothing-here'}" in out
    fake = tmp_path / "xr"
    for f in ("install/bin/monado-service", "install/share/openxr/1/openxr_monado.json"):
        (fake / f).parent.mkdir(parents=True, exist_ok=True)
        (fake / f).write_text("{}")
    monkeypatch.setenv("ARTEM_XR_DIR", str(fake))
    code, out, _ = cli("doctor")
    assert f"built at {fake}" in out
    xvfb = shutil.which("Xvfb")
    assert (f"installed at {xvfb}" if xvfb else "Xvfb") in out


def test_doctor_calls_a_data_folder_that_is_a_file_a_file(cli, monkeypatch, tmp_path):
    (tmp_path / "data").write_text("oops")
    monkeypatch.setenv("ARTEM_VR_DATA", str(tmp_path / "data"))
    code, out, _ = cli("doctor")
    assert code == 0
    assert f"{tmp_path / 'data'} is a file, not a folder" in out and "not created yet" not in out


MONADO_JSON = Path(os.environ.get("ARTEM_XR_DIR", "/var/cache/artem-xr")) / "install/share/openxr/1/openxr_monado.json"


@pytest.mark.skipif(not MONADO_JSON.is_file(), reason=f"no built Monado at {MONADO_JSON}")
def test_a_runtime_that_is_installed_but_not_running_is_called_that(tmp_path):
    """Monado's manifest, but no monado-service (a fresh, empty runtime dir): "not running", "start the
    runtime", not "install a runtime"."""
    env = child_env()
    run_dir = tmp_path / "run"
    run_dir.mkdir(mode=0o700)
    env.update(XR_RUNTIME_JSON=str(MONADO_JSON), XDG_RUNTIME_DIR=str(run_dir), XDG_CONFIG_HOME=str(tmp_path))
    code = ("import json; from artem_vr.xr.probe import doctor_checks; "
            "print(json.dumps([[c.name, c.ok, c.detail, c.fix] for c in doctor_checks()]))")
    r = subprocess.run([ARTEM[0], "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    checks = {c[0]: c for c in json.loads(r.stdout.strip().splitlines()[-1])}
    _name, ok, detail, fix = checks["OpenXR runtime"]
    assert ok is False and "installed but did not answer" in detail and "not running" in detail, detail
    assert fix.startswith("start the runtime") and "install an OpenXR runtime" not in fix
    r = subprocess.run([*ARTEM, "run", "--output", "xr", "--frames", "2", "--method", "identity"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=180)
    assert r.returncode == 2, r.stderr
    assert "Traceback" not in r.stderr
    line = r.stderr.strip().splitlines()[-1]  # the runtime's loader prints its own lines before ours
    assert line.startswith("artem-vr run: error: ") and "installed but did not" in line and "not running" in line and "start the runtime" in line, line


@pytest.mark.parametrize("argv, said", [
    (["stylize", "IN", "o.png", "--strength", "2"], "stylize: error: --strength 2 is outside 0–1"),
    (["stylize", "IN", "o.png", "--strength", "1.25"], "stylize: error: --strength 1.25 is outside 0–1"),
    (["stylize", "IN", "o.png", "--max-megapixels", "0"], "stylize: error: --max-megapixels 0 is out of range"),
    (["bench", "--seconds", "0"], "bench: error: --seconds 0 is out of range"),
    (["bench", "--seconds", "1e308"], "bench: error: --seconds 1e+308 is out of range"),  # would never end
    (["bench", "--warmup", "4000"], "bench: error: --warmup 4000 is out of range"),
    (["bench", "--internal-scale", "2"], "bench: error: --internal-scale 2 is out of range"),
])
def test_a_number_out_of_range_is_echoed_as_typed(tmp_path, cli, argv, said):
    """argparse makes ``2`` the float ``2.0``: the message gives back what the user typed."""
    src = write_png(tmp_path / "in.png")
    code, _, err = cli(*[src if a == "IN" else tmp_path / a if a == "o.png" else a for a in argv])
    assert code == 2 and one_error_line(err).startswith(f"artem-vr {said} — "), err


@pytest.mark.parametrize("weights, said", [
    (":nan", "the weight nan of STYLE is not a finite number"),
    (":inf+starry_night:1", "the weight inf of STYLE is not a finite number"),
    ("+starry_night:-inf", "the weight -inf of starry_night is not a finite number"),
    (":1e308+starry_night:1e308", "style weights must be >= 0 with a positive, finite sum"),
])
def test_a_blend_weight_that_is_not_finite_is_refused(tmp_path, cli, weights, said):
    """A NaN or infinite weight in --style was taken, and the NaN picture it made was blamed on the model's weights."""
    src, style = write_png(tmp_path / "in.png"), write_png(tmp_path / "style.png", seed=5)
    code, stdout, err = cli("stylize", src, tmp_path / "o.png", "--style", f"{style}{weights}")
    line = one_error_line(err)
    assert code == 2 and said.replace("STYLE", str(style)) in line and "retrain" not in line, err
    assert not (tmp_path / "o.png").exists() and "wrote" not in stdout
