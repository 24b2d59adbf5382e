"""Where the project's non-Python files live (shaders, assets)."""

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_ROOT = PACKAGE_DIR.parent
SHADERS_DIR = REPO_ROOT / "shaders"
ASSETS_DIR = REPO_ROOT / "assets"
MODELS_DIR = ASSETS_DIR / "models"
STYLES_DIR = ASSETS_DIR / "styles"
SAMPLES_DIR = ASSETS_DIR / "samples"


def shader_path(name: str) -> Path:
    p = SHADERS_DIR / name
    if not p.is_file():
        raise FileNotFoundError(f"shader {name!r} not found in {SHADERS_DIR}; is the repository complete?")
    return p
