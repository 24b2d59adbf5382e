"""The wheel is complete: built from the source tree, installed into a fresh virtual environment
and run from another folder, it renders, stylizes, lists styles and finds its data files — no
repository beside it. Dependencies come from this test environment (no network): the fresh
environment sees this one's site-packages after its own, so its ``artem_vr`` is the wheel's."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import numpy as np
import pytest

from artem_vr.paths import MODELS_DIR, PACKAGE_DIR, STYLES_DIR

REPO = PACKAGE_DIR.parent
#: what a build needs from the source tree (the rest of the repository must not matter)
SOURCES = ["pyproject.toml", "setup.py", "MANIFEST.in", "README.md", "LICENSE", "artem_vr", "shaders", "assets"]


def _run(cmd, cwd, env, timeout=300):
    r = subprocess.run([str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert r.returncode == 0, f"{cmd}\n{r.stdout[-3000:]}\n{r.stderr[-3000:]}"
    return r.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    if not (REPO / "setup.py").is_file():
        pytest.skip("not a source checkout (no setup.py beside the package)")
    src = tmp_path_factory.mktemp("src")
    for name in SOURCES:
        p = REPO / name
        if p.is_dir():
            shutil.copytree(p, src / name, ignore=shutil.ignore_patterns("__pycache__", "_data", "*.pyc"))
        else:
            shutil.copy(p, src / name)
    dist = tmp_path_factory.mktemp("dist")
    _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index", "-q", "-w", dist, "."],
         src, os.environ.copy())
    (whl,) = dist.glob("artem_vr-*.whl")
    return whl


def test_the_wheel_holds_shaders_models_cards_thumbnails_and_attribution(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    want = {f"artem_vr/_data/shaders/{p.name}" for p in (REPO / "shaders").iterdir()}
    for p in list(MODELS_DIR.glob("*.safetensors")) + list(MODELS_DIR.glob("*.md")) + list(STYLES_DIR.iterdir()):
        want.add(f"artem_vr/_data/assets/{p.parent.name}/{p.name}")
    assert "artem_vr/_data/assets/styles/ATTRIBUTION.md" in want and len(want) > 30
    assert not want - names, sorted(want - names)
    assert "artem_vr/cuda/xnor.cu" in names and "artem_vr/style/catalog.py" in names
    # the bytes are the repository's (weights are not re-encoded on the way)
    z = zipfile.ZipFile(wheel)
    for p in MODELS_DIR.glob("*.safetensors"):
        assert z.read(f"artem_vr/_data/assets/models/{p.name}") == p.read_bytes()


@pytest.mark.slow
def test_the_installed_wheel_runs_from_any_folder(wheel, tmp_path):
    from artem_vr.style.presets import preset

    venv = tmp_path / "fresh"
    _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp_path, os.environ.copy(), timeout=120)
    bindir = venv / ("Scripts" if os.name == "nt" else "bin")
    py = bindir / ("python.exe" if os.name == "nt" else "python")
    _run([sys.executable, "-m", "pip", "--python", py, "install", "--no-deps", "--no-index", "-q", wheel], tmp_path,
         os.environ.copy())
    site = Path(_run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], tmp_path, os.environ.copy()).strip())
    # this environment's packages (torch, opencv, …) after the fresh one's own: no network, no second torch
    deps = dict.fromkeys([sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]])
    (site / "_test_deps.pth").write_text("\n".join(deps) + "\n")

    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["ARTEM_VR_DATA"] = str(tmp_path / "userdata")
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    exe = bindir / "artem-vr"

    where = _run([py, "-c", "import artem_vr, artem_vr.paths as p; print(artem_vr.__file__); print(p.DATA_LAYOUT); "
                  "print(p.DATA_ROOT)"], elsewhere, env).splitlines()
    assert Path(where[0]).is_relative_to(venv) and where[1] == "installed package", where
    assert Path(where[2]) == site / "artem_vr" / "_data"

    # a user style (a shipped generator under a new name with a thumbnail) in the user folder
    users = tmp_path / "userdata" / "models"
    users.mkdir(parents=True)
    shutil.copy(MODELS_DIR / "the_scream_compact.safetensors", users / "mine.safetensors")
    shutil.copy(preset("the_scream").image, users / "mine.jpg")

    out = _run([exe, "doctor"], elsewhere, env)
    data = next(ln for ln in out.splitlines() if "data files" in ln)
    assert data.startswith("[ok  ]") and "installed package" in data and str(site) in data, data
    assert "1 user style(s) (mine)" in out and str(users) in out

    out = _run([exe, "styles"], elsewhere, env)
    assert next(ln for ln in out.splitlines() if ln.startswith("great_wave ")).split()[1] == "preset"
    assert next(ln for ln in out.splitlines() if ln.startswith("mine ")).split()[1] == "user"

    out = _run([exe, "run", "--output", "headless", "--frames", "5", "--eye-size", "96x64", "--device", "cpu"],
               elsewhere, env)
    assert "presented 5 frames" in out, out
    from artem_vr.sources.imageio import read_image

    last = read_image(elsewhere / "out" / "last.png")
    assert last.shape == (64, 192, 3) and last.std() > 10  # both eyes, rendered through the shipped shaders

    photo = preset("great_wave").image
    for style in ("starry_night", "mine"):
        _run([exe, "stylize", photo, f"{style}.png", "--style", style, "--device", "cpu"], elsewhere, env)
    a, b = read_image(elsewhere / "starry_night.png"), read_image(elsewhere / "mine.png")
    src = read_image(photo)
    assert a.shape == src.shape and np.abs(a.astype(int) - src).mean() > 5 and np.abs(a.astype(int) - b).mean() > 5
    assert not list(elsewhere.glob("assets")) and not (elsewhere / "shaders").exists()
