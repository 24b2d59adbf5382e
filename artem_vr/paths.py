"""Where the project's files live: the data shipped with it, and the user's own.

Shipped data (shaders, preset models with their cards, style thumbnails and their attribution):
the repository's top-level ``shaders/`` and ``assets/`` are the source of truth; a wheel carries
them inside the package as ``artem_vr/_data/{shaders,assets}`` (copied at build time by
``setup.py``), found here through :mod:`importlib.resources`. A source checkout or an editable
install has no ``_data``: then the repository layout beside the package is used.

User data (styles and decoders the user trains): a per-user folder by the platform's convention
(:func:`platformdirs.user_data_dir`: ``~/.local/share/artem-vr`` on Linux, ``%LOCALAPPDATA%\\artem-vr``
on Windows, ``~/Library/Application Support/artem-vr`` on macOS), or ``$ARTEM_VR_DATA`` when set.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
#: environment variable that moves the user data folder
USER_DATA_ENV = "ARTEM_VR_DATA"


def _data_root() -> tuple[Path, str]:
    """(folder holding ``shaders/`` and ``assets/``, "installed package" | "source checkout")."""
    packaged = resources.files("artem_vr").joinpath("_data")
    if packaged.is_dir():
        # wheels install unzipped, so the traversable is a real folder
        return Path(str(packaged)), "installed package"
    return PACKAGE_DIR.parent, "source checkout"


DATA_ROOT, DATA_LAYOUT = _data_root()
SHADERS_DIR = DATA_ROOT / "shaders"
ASSETS_DIR = DATA_ROOT / "assets"
MODELS_DIR = ASSETS_DIR / "models"
STYLES_DIR = ASSETS_DIR / "styles"
SAMPLES_DIR = ASSETS_DIR / "samples"


def shader_path(name: str) -> Path:
    p = SHADERS_DIR / name
    if not p.is_file():
        raise FileNotFoundError(f"shader {name!r} not found in {SHADERS_DIR} ({DATA_LAYOUT}); reinstall artem-vr")
    return p


def user_data_dir() -> Path:
    """The user's artem-vr folder (not created here): ``$ARTEM_VR_DATA``, else the platform's."""
    env = os.environ.get(USER_DATA_ENV)
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_data_dir("artem-vr", appauthor=False))


def user_models_dir() -> Path:
    """Where ``artem-vr train`` writes by default and user styles are found: weights, cards, thumbnails."""
    return user_data_dir() / "models"
