"""The package's layers hold: no import points up, no cycles, and every function-level import of
an ``artem_vr`` module earns its place.

The layers are written once, in ``pyproject.toml`` (``[tool.importlinter]``), and checked by
import-linter, which reads every import statement — function-level ones included (the first
test proves that on a small package of its own). Function-level imports are then counted here
(an AST walk): each must keep a heavy optional dependency off the start-up path (the module it
imports brings one, at import, that the importing module does not) and say why in a comment on
its line or the line above; the count is pinned so a new one is a visible change.
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "artem_vr"

#: third-party packages whose import is heavy or needs a device (start-up cost or native libraries)
HEAVY = {"torch", "torchvision", "xr", "OpenGL", "glfw", "cuda", "onnx", "onnxruntime", "cv2", "triton",
         "safetensors", "mss", "numpy"}

#: files another change is editing at the same time (issue 21): their function-level imports are
#: counted here as they stand and checked once that change has landed. file -> how many.
PENDING = {
}

#: every function-level import of an artem_vr module, pinned: a new one must be added here on purpose
EXPECTED_COUNT = 30


def lint_imports(cwd: Path) -> subprocess.CompletedProcess:
    code = ("import sys\nfrom importlinter.cli import lint_imports\n"
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))")
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=300)


def test_layer_contracts_hold():
    """Zero upward imports, zero cycles (``lint-imports`` on this repository's contracts)."""
    r = lint_imports(ROOT)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 broken" in r.stdout


def test_the_linter_sees_function_level_imports(tmp_path):
    """A lazy upward import breaks a layers contract: import-linter reads function bodies."""
    pkg = tmp_path / "lazypkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "high.py").write_text("from lazypkg import low\n")
    (pkg / "low.py").write_text("def f():\n    from lazypkg import high  # upward, deferred\n    return high\n")
    (tmp_path / "pyproject.toml").write_text(textwrap.dedent("""
        [tool.importlinter]
        root_package = "lazypkg"

        [[tool.importlinter.contracts]]
        name = "layers"
        type = "layers"
        layers = ["lazypkg.high", "lazypkg.low"]
    """))
    code = ("import sys\nsys.path.insert(0, %r)\nfrom importlinter.cli import lint_imports\n"
            "sys.exit(lint_imports(config_filename='pyproject.toml', no_cache=True, no_logo=True))" % str(tmp_path))
    r = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert r.returncode != 0, r.stdout
    assert "lazypkg.low -> lazypkg.high" in r.stdout


# ----------------------------------------------------------------------------- function-level imports


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = module.split(".")[: None if is_package else -1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Modules:
    """Module-level and function-level imports of every module in the package."""

    def __init__(self):
        self.top: dict[str, set[str]] = {}
        self.lazy: list[tuple[str, str, int, str, list[str]]] = []  # (module, file, line, target, source lines)
        for path in sorted(PACKAGE.rglob("*.py")):
            self._read(path)
        self._heavy: dict[str, set[str]] = {}

    def _read(self, path: Path) -> None:
        module, src = _module_name(path), path.read_text(encoding="utf-8")
        lines, top = src.splitlines(), set()
        is_package = path.name == "__init__.py"

        def walk(node, in_function):
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                    continue
                inner = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                targets = []
                if isinstance(child, ast.Import):
                    targets = [a.name for a in child.names]
                elif isinstance(child, ast.ImportFrom):
                    base = _absolute(module, is_package, child)
                    targets = [base] + [f"{base}.{a.name}" for a in child.names]
                if targets and in_function:
                    ours = [t for t in targets if t.split(".")[0] == "artem_vr"]
                    if ours:
                        self.lazy.append((module, str(path.relative_to(ROOT)), child.lineno, ours[0],
                                          lines[max(child.lineno - 2, 0):child.end_lineno]))
                elif targets:
                    top.update(targets)
                walk(child, inner)

        walk(ast.parse(src), False)
        self.top[module] = top

    def owner(self, name: str) -> str | None:
        while name and name not in self.top:
            name = name.rpartition(".")[0]
        return name or None

    def heavy(self, module: str, seen: frozenset = frozenset()) -> set[str]:
        """Heavy third-party packages that importing ``module`` loads (module-level imports, transitively)."""
        if module in self._heavy:
            return self._heavy[module]
        if module in seen:
            return set()
        seen = seen | {module}
        found = set()
        parts = module.split(".")
        for i in range(1, len(parts)):  # importing a module imports its packages first
            found |= self.heavy(".".join(parts[:i]), seen)
        for name in self.top[module]:
            if name.split(".")[0] in HEAVY:
                found.add(name.split(".")[0])
            owner = self.owner(name) if name.startswith("artem_vr") else None
            if owner and owner != module:
                found |= self.heavy(owner, seen)
        self._heavy[module] = found
        return found


@pytest.fixture(scope="module")
def modules() -> _Modules:
    return _Modules()


def test_function_level_imports_are_counted(modules):
    assert len(modules.lazy) == EXPECTED_COUNT, (
        f"{len(modules.lazy)} function-level imports of artem_vr modules, {EXPECTED_COUNT} expected: move a new "
        "one to the top of its module (or, if it keeps a heavy dependency off start-up, update the count)")


def test_each_function_level_import_keeps_a_heavy_dependency_off_start_up(modules):
    pending = dict.fromkeys(PENDING, 0)
    needless = []
    for module, file, line, target, _src in modules.lazy:
        if file in pending:
            pending[file] += 1
            continue
        owner = modules.owner(target)
        if owner is not None and modules.heavy(owner) - modules.heavy(module):
            continue
        needless.append(f"{file}:{line}: {target} brings nothing heavy that {module} lacks: import it at the top")
    assert not needless, "\n".join(needless)
    assert pending == PENDING, f"pending function-level imports per file changed: {pending} (update PENDING)"


def test_each_function_level_import_says_why(modules):
    silent = []
    for _module, file, line, target, src in modules.lazy:
        if file in PENDING:
            continue
        above, statement = src[0], "\n".join(src[1:])  # the line before, then the import itself
        if "#" not in statement and not above.strip().startswith("#"):
            silent.append(f"{file}:{line}: {target}")
    assert not silent, "function-level imports without a one-line reason comment:\n" + "\n".join(silent)
