"""Build hook (metadata lives in pyproject.toml): ship the repository's ``shaders/`` and ``assets/``
inside the package as ``artem_vr/_data/``, where :mod:`artem_vr.paths` finds them through
importlib.resources. The top-level folders stay the source of truth; nothing is copied into the
source tree. An editable install copies nothing: it reads the repository (see artem_vr/paths.py).
"""

from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
#: repository folder → folder inside the package
DATA = {"shaders": "artem_vr/_data/shaders", "assets": "artem_vr/_data/assets"}
SKIP = {"__pycache__", ".DS_Store"}


def data_files() -> list[tuple[Path, str]]:
    """(source file, path inside build_lib) for every shipped data file."""
    out = []
    for src, dst in DATA.items():
        base = ROOT / src
        if not base.is_dir():
            raise SystemExit(f"setup.py: {base} is missing; build from a complete checkout or sdist")
        for f in sorted(base.rglob("*")):
            if f.is_file() and not SKIP & set(f.parts) and ".tmp" not in f.name:
                out.append((f, f"{dst}/{f.relative_to(base).as_posix()}"))
    return out


class build_py_with_data(build_py):
    def run(self):
        super().run()
        if self.editable_mode:
            return
        for f, rel in data_files():
            target = Path(self.build_lib) / rel
            self.mkpath(str(target.parent))
            self.copy_file(str(f), str(target))

    def get_outputs(self, include_bytecode=True):
        extra = [] if self.editable_mode else [str(Path(self.build_lib) / rel) for _, rel in data_files()]
        return super().get_outputs(include_bytecode) + extra


setup(cmdclass={"build_py": build_py_with_data})
