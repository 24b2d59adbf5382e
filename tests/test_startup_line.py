"""Start-up: on a terminal, one line says PyTorch is loading before its import (seconds of
silence otherwise); on a pipe, with --quiet, or for work that never loads torch: nothing."""

from __future__ import annotations

import os
import pty
import subprocess
import sys

LINE = "artem-vr: loading PyTorch..."


def _run(*argv: str, stderr_tty: bool, cwd) -> tuple[int, str, str]:
    """``python -m artem_vr ARGV`` with stdout on a pipe and stderr on a pseudo-terminal or a pipe."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    cmd = [sys.executable, "-m", "artem_vr", *argv]
    if not stderr_tty:
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=cwd, env=env, timeout=120)
        return r.returncode, r.stdout, r.stderr
    master, slave = pty.openpty()
    try:
        p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=slave, stdin=subprocess.DEVNULL, cwd=cwd, env=env)
        os.close(slave)
        slave = None
        err = b""
        while True:  # until the child's end of the terminal closes (EIO on Linux)
            try:
                chunk = os.read(master, 4096)
            except OSError:
                break
            if not chunk:
                break
            err += chunk
        out = p.stdout.read().decode()
        p.stdout.close()
        return p.wait(timeout=120), out, err.decode(errors="replace")
    finally:
        os.close(master)
        if slave is not None:
            os.close(slave)


#: a command that loads torch (run's module imports it) and then ends at once on a user error
LOADS_TORCH = ("run", "--source", "missing.mp4", "--output", "headless")
SAID = "artem-vr run: error: no such file: missing.mp4 — check the path"


def test_a_terminal_is_told_torch_is_loading_once_before_it_loads(tmp_path):
    code, out, err = _run(*LOADS_TORCH, stderr_tty=True, cwd=tmp_path)
    lines = err.replace("\r\n", "\n").splitlines()
    assert code == 2 and out == ""
    assert len(lines) == 2 and lines[0] == LINE and lines[1].startswith(SAID), err


def test_a_pipe_and_quiet_get_no_line(tmp_path):
    code, out, err = _run(*LOADS_TORCH, stderr_tty=False, cwd=tmp_path)
    assert code == 2 and len(err.splitlines()) == 1 and err.startswith(SAID), err
    code, out, err = _run(*LOADS_TORCH, "--quiet", stderr_tty=True, cwd=tmp_path)
    lines = err.replace("\r\n", "\n").splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith(SAID), err


def test_no_line_where_torch_is_not_loaded(tmp_path):
    """The top level's help, and a command's: its options are parsed without torch (tests/test_cli_help.py)."""
    code, out, err = _run("--help", stderr_tty=True, cwd=tmp_path)
    assert code == 0 and "artem-vr run" in out and LINE not in err
    code, out, err = _run("run", "--help", stderr_tty=True, cwd=tmp_path)
    assert code == 0 and out.startswith("usage: artem-vr run") and LINE not in err
