"""Partial files: their names, and tidying those whose writing process is gone."""

from __future__ import annotations

import os
import re
import secrets
import sys
from collections.abc import Callable
from pathlib import Path

from artem_vr.atomic._fs import remove

#: ``.<stem>.partial-<pid>-<token><suffix>`` (a write in progress) and ``.<name>.old-<pid>-<token>``
#: (the previous file, kept while a group of files is replaced)
LEFTOVER_RE = re.compile(r"^\.(?P<stem>.+)\.(?P<kind>partial|old|commit)-(?P<pid>\d+)-[0-9a-f]{8}(?P<suffix>.*)$")


def partial_path(target: Path) -> Path:
    """A fresh temporary name beside ``target`` that keeps its suffix (writers pick the format by
    it); first removes what killed runs left in that folder (:func:`clean_stale_partials`)."""
    clean_stale_partials(target.parent)
    return target.with_name(f".{target.stem}.partial-{os.getpid()}-{secrets.token_hex(4)}{target.suffix}")


def _boot_time() -> float | None:
    try:
        with open("/proc/stat", encoding="ascii") as f:
            for line in f:
                if line.startswith("btime "):
                    return float(line.split()[1])
    except OSError:
        pass
    return None


def owner_alive(pid: int, since: float | None = None) -> bool:
    """True if process ``pid`` exists and (when ``since``, a file's mtime, is given and the start
    time is known) started before ``since`` — a process that started later only reuses the number."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process: it exists
    if since is None:
        return True
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        boot = _boot_time()
        if boot is None:
            return True
        started = boot + int(fields[19]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return True
    return started <= since + 1.0


def _mtime(e: os.DirEntry) -> float | None:
    try:
        return e.stat(follow_symlinks=False).st_mtime
    except OSError:
        return None


def _finish_commit(marker: Path, pid: int) -> list[Path]:
    """Roll forward the :class:`AtomicGroup` commit that ``marker`` describes (its process died
    between two renames): the partial files still there go to their targets, the files to
    remove go, the kept-aside old files are dropped. A marker that does not parse was not
    finished being written: no rename had started, the partial files are tidied as usual."""
    import json

    done: list[Path] = []
    try:
        plan = json.loads(marker.read_text(encoding="utf-8"))
        items, removals = plan["items"], plan["removals"]
    except (OSError, ValueError, KeyError, TypeError):
        remove(marker)
        return done
    try:
        for tmp, target in items:
            if os.path.exists(tmp):
                os.replace(tmp, target)
                done.append(Path(target))
        for target in removals:
            if os.path.isfile(target):
                os.unlink(target)
                done.append(Path(target))
        for folder in {os.path.dirname(t) for _, t in items} | {os.path.dirname(t) for t in removals}:
            for e in os.scandir(folder):
                m = LEFTOVER_RE.match(e.name)
                if m is not None and m["kind"] == "old" and int(m["pid"]) == pid:
                    remove(Path(e.path))
    except OSError:
        return done  # left for the next writer (or for the user, who is told below)
    remove(marker)
    return done


def _leftovers(folder: Path) -> list[tuple[os.DirEntry, re.Match]]:
    """The leftover files in ``folder`` (by :data:`LEFTOVER_RE`) with their names' parts; none
    where the folder cannot be read."""
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []
    return [(e, m) for e in entries if (m := LEFTOVER_RE.match(e.name)) is not None]


def clean_stale_partials(folder: str | os.PathLike, notify: Callable[[str], None] | None = None) -> list[Path]:
    """Remove the partial files in ``folder`` whose writing process is gone (a run killed with
    SIGKILL, a power cut); a previous file kept aside by a killed :class:`AtomicGroup` is put
    back if its name is free. Says what it did on stderr (or to ``notify``); returns the paths."""
    folder = Path(folder)
    done: list[Path] = []
    # a group killed while renaming its files: finish it (every file was verified before)
    for e, m in _leftovers(folder):
        if m["kind"] == "commit" and not owner_alive(int(m["pid"]), _mtime(e)):
            done += _finish_commit(Path(e.path), int(m["pid"]))
    for e, m in _leftovers(folder):  # again: finishing a commit renamed and removed files
        if m["kind"] == "commit":
            continue
        path = Path(e.path)
        try:
            if not e.is_file(follow_symlinks=False) or owner_alive(int(m["pid"]), e.stat(follow_symlinks=False).st_mtime):
                continue
            if m["kind"] == "old":
                original = folder / f"{m['stem']}{m['suffix']}"
                if not original.exists():
                    os.replace(path, original)  # the group was stopped between its renames: undo
                    done.append(original)
                    continue
            path.unlink()
            done.append(path)
        except FileNotFoundError:
            continue  # another process tidied it first
        except OSError:
            continue  # not ours to remove (permissions): left as it is
    if done:
        say = notify or (lambda line: print(line, file=sys.stderr, flush=True))
        say(f"note: tidied {len(done)} file(s) left in {folder} by a run that was stopped before it finished: "
            + ", ".join(p.name for p in done[:3]) + (" …" if len(done) > 3 else ""))
    return done
