"""Outputs that are either complete and verified, or not there at all.

Every file the program writes for the user (a stylized image or video, a recording, its last
frame, a snapshot, a trained model with its card and thumbnail, an ONNX export, an eval sheet,
a bench JSON) goes through here:

1. :func:`refuse_inputs` — an output that resolves to the same file as an input is refused
   before anything is written. The inputs are a value: the paths a caller names, and an
   :class:`InputsRead` that a command creates and hands to the readers it calls (each notes
   the files it opens), so files the program reads on its own (a preset's painting, a user
   style's files, AdaIN's style image) count as well. No process-wide registry.
2. The bytes go to a temporary file *in the destination folder*, named
   ``.<stem>.partial-<pid>-<token><suffix>`` (so a crash leaves a name that says what it is,
   and the final rename never crosses file systems). Partial files whose process is gone (a
   run killed with SIGKILL) are removed by the next writer into that folder, which says so.
3. The temporary file is verified (an image decodes to the expected size; a video's frames
   decode and there are as many as were written), flushed to disk, then ``os.replace``\\ d over
   the target. On any failure it is removed, the target is untouched and an
   :class:`~artem_vr.errors.ImageError` says what happened.

Entry points: :func:`write_image_atomic`, :class:`AtomicVideoWriter`, :func:`write_file_atomic`
(any writer, e.g. safetensors), :func:`write_bytes_atomic` / :func:`write_text_atomic`, and
:class:`AtomicGroup` — several files (a model's weights, card and thumbnail) replaced together
or not at all. :class:`OutputLock` makes two writers of one name exclusive (``flock``): the
second gets one line, never a silent overwrite.
"""

from __future__ import annotations

import os
import re
import secrets
import sys
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from artem_vr.errors import ImageError, UsageError

if TYPE_CHECKING:
    import numpy as np

_NOT_INPUT_FIX = "write to another file name: artem-vr never overwrites its input"
_DISK_FIX = "check the disk is not full and the folder is writable"

# ---------------------------------------------------------------------------- inputs
class InputsRead:
    """The files one command reads; :func:`refuse_inputs` refuses each of them as an output.

    A command creates one, seeds it with what it knows it will read (its input, the style's
    files) and hands it to the readers it calls (``read_image(path, inputs)``), which note what
    they open. Paths, not inode numbers, are kept (an inode can be reused once a file is
    deleted); the newest 4096 are remembered. Thread-safe; iterating gives the paths.
    """

    MAX = 4096

    def __init__(self, paths: Iterable[str | os.PathLike | None] = ()):
        self._paths: "OrderedDict[str, None]" = OrderedDict()
        self._lock = threading.Lock()
        for p in paths:
            if p is not None:
                self.note(p)

    def note(self, path: str | os.PathLike) -> None:
        key = os.path.abspath(os.fspath(path))
        with self._lock:
            self._paths[key] = None
            self._paths.move_to_end(key)
            while len(self._paths) > self.MAX:
                self._paths.popitem(last=False)

    def __iter__(self):
        with self._lock:
            return iter(list(self._paths))

    def __len__(self) -> int:
        return len(self._paths)

    def __repr__(self) -> str:
        return f"InputsRead({list(self)!r})"


def same_file(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """True if ``a`` and ``b`` are the same file (links and hard links included), or would be."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one does not exist (yet): compare where they resolve to
        return Path(a).resolve() == Path(b).resolve()


def refuse_inputs(output: str | os.PathLike, inputs: Iterable[str | os.PathLike | None] = (), what: str = "output") -> None:
    """UsageError if ``output`` is the same file as any of ``inputs`` (paths, or an :class:`InputsRead`)."""
    for inp in list(inputs):
        if inp is None or not os.fspath(inp):
            continue
        if same_file(output, inp):
            shown = "the input" if os.path.abspath(os.fspath(inp)) == os.path.abspath(os.fspath(output)) else f"the input {inp}"
            raise UsageError(f"{what} {output} is the same file as {shown}", _NOT_INPUT_FIX)


def _keep(inputs: Iterable) -> "InputsRead | list":
    """``inputs`` as writers keep it: an :class:`InputsRead` stays live (files read later count)."""
    return inputs if isinstance(inputs, InputsRead) else [i for i in inputs if i is not None]


# ---------------------------------------------------------------------------- temp file
#: ``.<stem>.partial-<pid>-<token><suffix>`` (a write in progress) and ``.<name>.old-<pid>-<token>``
#: (the previous file, kept while a group of files is replaced)
_LEFTOVER_RE = re.compile(r"^\.(?P<stem>.+)\.(?P<kind>partial|old|commit)-(?P<pid>\d+)-[0-9a-f]{8}(?P<suffix>.*)$")


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
        _remove(marker)
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
                m = _LEFTOVER_RE.match(e.name)
                if m is not None and m["kind"] == "old" and int(m["pid"]) == pid:
                    _remove(Path(e.path))
    except OSError:
        return done  # left for the next writer (or for the user, who is told below)
    _remove(marker)
    return done


def clean_stale_partials(folder: str | os.PathLike, notify: Callable[[str], None] | None = None) -> list[Path]:
    """Remove the partial files in ``folder`` whose writing process is gone (a run killed with
    SIGKILL, a power cut); a previous file kept aside by a killed :class:`AtomicGroup` is put
    back if its name is free. Says what it did on stderr (or to ``notify``); returns the paths."""
    folder = Path(folder)
    done: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return done
    # a group killed while renaming its files: finish it (every file was verified before)
    for e in entries:
        m = _LEFTOVER_RE.match(e.name)
        if m is not None and m["kind"] == "commit" and not owner_alive(int(m["pid"]), _mtime(e)):
            done += _finish_commit(Path(e.path), int(m["pid"]))
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return done
    for e in entries:
        m = _LEFTOVER_RE.match(e.name)
        if m is None or m["kind"] == "commit":
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


def _fsync(path: Path) -> None:
    """Flush ``path`` and its folder entry to disk (a full disk can show only here)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise ImageError(f"could not flush {path} to disk ({e.strerror or e})", _DISK_FIX) from None


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some file systems cannot sync a directory; the rename is done either way
    finally:
        os.close(fd)


def _remove(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass


def commit(tmp: Path, target: Path, verify: Callable[[Path], None], inputs: Iterable = (), what: str = "output",
           exclusive: bool = False) -> Path:
    """Verify ``tmp``, flush it, and rename it over ``target``; on failure remove ``tmp`` and raise.

    ``verify(tmp)`` raises :class:`ImageError` when the file is not what was meant to be written.
    ``exclusive``: never replace an existing ``target`` (UsageError if one appeared meanwhile).
    """
    try:
        _check_written(tmp, target, verify)
        refuse_inputs(target, inputs, what)  # again: inputs opened since the start count too
        if exclusive:
            try:
                os.link(tmp, target)  # fails if the name is taken, even by a concurrent writer
            except FileExistsError:
                raise UsageError(f"{what} {target} appeared while it was being written", "try again") from None
            except OSError as e:
                raise ImageError(f"could not write {target} ({e.strerror or e})", _DISK_FIX) from None
            _remove(tmp)
        else:
            _replace(tmp, target)
    except BaseException:
        _remove(tmp)
        raise
    _fsync_dir(target.parent)
    return target


def _check_written(tmp: Path, target: Path, verify: Callable[[Path], None] | None) -> None:
    if not tmp.is_file() or tmp.stat().st_size == 0:
        raise ImageError(f"nothing was written for {target} (empty file)", _DISK_FIX)
    if verify is not None:
        verify(tmp)
    _fsync(tmp)


def _replace(src: Path, dst: Path) -> None:
    try:
        os.replace(src, dst)
    except OSError as e:
        raise ImageError(f"could not replace {dst} ({e.strerror or e})", "check the folder is writable") from None


def write_file_atomic(target: str | os.PathLike, write: Callable[[Path], object], verify: Callable[[Path], None] | None = None,
                      inputs: Iterable = (), what: str = "output", exclusive: bool = False) -> Path:
    """``write(tmp)`` writes the file (to a partial name beside ``target``, same suffix);
    ``verify(tmp)`` checks it; then it replaces ``target``: all or nothing. An OSError while
    writing (a full disk, a read-only folder) is an :class:`ImageError` naming ``target``."""
    target = Path(target)
    inputs = _keep(inputs)
    refuse_inputs(target, inputs, what)
    _check_folder(target, what)
    tmp = partial_path(target)
    _write_partial(tmp, target, write)
    return commit(tmp, target, verify or (lambda p: None), inputs, what, exclusive)


def _write_partial(tmp: Path, target: Path, write: Callable[[Path], object]) -> None:
    try:
        write(tmp)
    except OSError as e:
        _remove(tmp)
        raise ImageError(f"could not write {target} ({e.strerror or e})", _DISK_FIX) from None
    except BaseException:
        _remove(tmp)
        raise


def write_bytes_atomic(target: str | os.PathLike, data: bytes, inputs: Iterable = (), what: str = "output",
                       verify: Callable[[Path], None] | None = None) -> Path:
    """``data`` to ``target``, all or nothing (checked to be all there when read back)."""
    n = len(data)

    def check(p: Path) -> None:
        if p.stat().st_size != n:
            raise ImageError(f"{target}: {p.stat().st_size} of {n} bytes were written (disk full?)", _DISK_FIX)
        if verify is not None:
            verify(p)

    return write_file_atomic(target, lambda p: p.write_bytes(data), check, inputs, what)


def write_text_atomic(target: str | os.PathLike, text: str, inputs: Iterable = (), what: str = "output") -> Path:
    """UTF-8 ``text`` to ``target``, all or nothing."""
    return write_bytes_atomic(target, text.encode("utf-8"), inputs, what)


# ---------------------------------------------------------------------------- groups
class AtomicGroup:
    """Files that are replaced together or not at all (a model's weights, card and thumbnail).

    Each file is written to a partial name beside its target (:meth:`add` / :meth:`add_bytes`
    / :meth:`add_text`) and verified; nothing is touched until :meth:`commit`. ``commit`` keeps
    each existing target aside (a hard link ``.<name>.old-<pid>-<token>``, so the name never
    disappears), renames the partial files into place one by one and, should one rename fail,
    puts every target back as it was. :meth:`remove` drops an old file with the group (a
    thumbnail the new model no longer has). Leaving a ``with`` block on an exception discards
    the partial files. Before the first rename, a ``.<name>.commit-<pid>-<token>.json`` marker
    lists them: a process killed between two renames (SIGKILL, a power cut) leaves a group that
    the next writer into the folder finishes (:func:`clean_stale_partials`) — every file was
    verified before the marker was written, so finishing is always the right way out.
    """

    def __init__(self, inputs: Iterable = (), what: str = "output"):
        self.inputs = _keep(inputs)
        self.what = what
        self._items: list[tuple[Path, Path]] = []  # (partial, target)
        self._removals: list[Path] = []
        self.done = False

    def add(self, target: str | os.PathLike, write: Callable[[Path], object],
            verify: Callable[[Path], None] | None = None) -> Path:
        """``write(tmp)`` writes the new ``target``; checked by ``verify(tmp)``. Returns the partial path."""
        target = Path(target)
        refuse_inputs(target, self.inputs, self.what)
        _check_folder(target, self.what)
        if any(same_file(t, target) for _, t in self._items):
            raise UsageError(f"{target} is twice in one group of outputs")
        tmp = partial_path(target)
        _write_partial(tmp, target, write)
        try:
            _check_written(tmp, target, verify)
        except BaseException:
            _remove(tmp)
            raise
        self._items.append((tmp, target))
        return tmp

    def add_bytes(self, target, data: bytes, verify: Callable[[Path], None] | None = None) -> Path:
        n = len(data)

        def check(p: Path) -> None:
            if p.stat().st_size != n:
                raise ImageError(f"{target}: {p.stat().st_size} of {n} bytes were written (disk full?)", _DISK_FIX)
            if verify is not None:
                verify(p)

        return self.add(target, lambda p: p.write_bytes(data), check)

    def add_text(self, target, text: str) -> Path:
        return self.add_bytes(target, text.encode("utf-8"))

    def remove(self, target: str | os.PathLike) -> None:
        """Remove ``target`` (if it exists) as part of the group; restored if the group fails."""
        self._removals.append(Path(target))

    def commit(self) -> list[Path]:
        """Rename every partial file into place, or none; the targets, in the order added."""
        if self.done:
            raise ImageError("this group of outputs was already committed or discarded")
        self.done = True
        kept: list[tuple[Path, Path | None]] = []  # (target, its previous file kept aside, or None: new)
        marker: Path | None = None
        try:
            for tmp, target in self._items:
                refuse_inputs(target, self.inputs, self.what)  # inputs opened since count too
            marker = self._write_marker()
            for tmp, target in self._items:
                kept.append((target, _keep_aside(target)))
                _replace(tmp, target)
            for target in self._removals:
                if target.is_file() and not any(same_file(target, t) for _, t in self._items):
                    aside = _keep_aside(target, move=True)
                    kept.append((target, aside))
        except BaseException:
            for target, aside in reversed(kept):  # put everything back as it was
                try:
                    if aside is not None:
                        os.replace(aside, target)
                    elif target.exists():
                        target.unlink()
                except OSError:
                    pass
            for tmp, _ in self._items:
                _remove(tmp)
            _remove(marker)
            raise
        for _, aside in kept:
            _remove(aside)
        for folder in {t.parent for _, t in self._items}:
            _fsync_dir(folder)
        _remove(marker)
        return [t for _, t in self._items]

    def _write_marker(self) -> Path | None:
        """``.<name>.commit-<pid>-<token>.json`` beside the first target: what this commit renames,
        so that a process killed half-way is finished by the next writer (:func:`clean_stale_partials`)."""
        import json

        if not self._items:
            return None
        first = self._items[0][1]
        marker = first.with_name(f".{first.stem}.commit-{os.getpid()}-{secrets.token_hex(4)}.json")
        plan = {"items": [[os.path.abspath(t), os.path.abspath(g)] for t, g in self._items],
                "removals": [os.path.abspath(r) for r in self._removals
                             if r.is_file() and not any(same_file(r, g) for _, g in self._items)]}
        try:
            marker.write_text(json.dumps(plan), encoding="utf-8")
            _fsync(marker)
        except (OSError, ImageError):
            _remove(marker)
            raise ImageError(f"could not start replacing {first} (disk full?)", _DISK_FIX) from None
        _fsync_dir(first.parent)
        return marker

    def discard(self) -> None:
        """Drop the partial files; every target stays as it was."""
        self.done = True
        for tmp, _ in self._items:
            _remove(tmp)

    def __enter__(self) -> "AtomicGroup":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None or not self.done:
            self.discard()


def _keep_aside(target: Path, move: bool = False) -> Path | None:
    """A second name for ``target`` (a hard link; a rename when ``move`` or links are not
    supported) so it can be put back; None if there is no ``target``."""
    if not target.exists():
        return None
    aside = target.with_name(f".{target.stem}.old-{os.getpid()}-{secrets.token_hex(4)}{target.suffix}")
    try:
        if move:
            os.replace(target, aside)
        else:
            try:
                os.link(target, aside)
            except OSError:  # a file system without hard links: a copy
                import shutil

                shutil.copy2(target, aside)
    except OSError as e:
        raise ImageError(f"could not keep {target} aside while replacing it ({e.strerror or e})", _DISK_FIX) from None
    return aside


# ---------------------------------------------------------------------------- one writer per name
class OutputLock:
    """Only one process writes ``target`` at a time: an exclusive ``flock`` on
    ``.<name>.lock`` beside it, taken without waiting. A second writer gets a UsageError (one
    line, exit 2) naming the process that holds it. The lock ends with :meth:`release` or the
    process (the kernel drops it even on SIGKILL); the lock file is removed when released."""

    def __init__(self, target: str | os.PathLike, what: str = "output"):
        self.target = Path(target)
        self.what = what
        self.path = self.target.with_name(f".{self.target.name}.lock")
        self._fd: int | None = None

    def acquire(self) -> "OutputLock":
        import fcntl

        for _ in range(20):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as e:
                raise ImageError(f"cannot create {self.path} ({e.strerror or e})", "check the folder is writable") from None
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                who = f"process {holder}" if holder else "another process"
                raise UsageError(f"{self.target} is being written by {who} right now",
                                 "wait for it to finish, or choose another name") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if not same:  # the holder released and removed it meanwhile: lock the new file
                os.close(fd)
                continue
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
            self._fd = fd
            return self
        raise UsageError(f"{self.target}: could not take its lock", "try again")

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is None:
            return
        try:
            self.path.unlink()  # while still holding it: a waiter then re-checks the inode
        except OSError:
            pass
        os.close(fd)

    def __enter__(self) -> "OutputLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()


def _read_pid(fd: int) -> int | None:
    try:
        data = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
        return int(data) if data.isdigit() else None
    except (OSError, ValueError):
        return None


def _check_folder(target: Path, what: str) -> None:
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"folder {folder} for the {what} does not exist", "create it first, or pick another path")
    if target.is_dir():
        raise UsageError(f"{what} {target} is a folder", "give a file name")


# ---------------------------------------------------------------------------- verification
def verify_image(path: Path, size: tuple[int, int] | None = None, name: Path | None = None) -> None:
    """The file decodes as an image of ``size`` (w, h) when given; else ImageError."""
    import cv2

    shown = name or path
    img = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if img is None or img.size == 0:
        raise ImageError(f"the image written for {shown} does not decode (disk full or write error?)", _DISK_FIX)
    if size is not None and (img.shape[1], img.shape[0]) != tuple(size):
        raise ImageError(f"the image written for {shown} is {img.shape[1]}x{img.shape[0]}, expected {size[0]}x{size[1]}", _DISK_FIX)


def count_video_frames(path: Path) -> tuple[int, tuple[int, int] | None]:
    """(frames that decode, (w, h) of the first) by reading the whole file; (0, None) if unreadable."""
    import cv2

    cap = cv2.VideoCapture(str(path))
    try:
        if not cap.isOpened():
            return 0, None
        ok, first = cap.read()
        if not ok or first is None:
            return 0, None
        n = 1
        while cap.grab():
            n += 1
        return n, (first.shape[1], first.shape[0])
    finally:
        cap.release()


def verify_video(path: Path, frames: int, size: tuple[int, int] | None = None, name: Path | None = None) -> None:
    """The file decodes, has exactly ``frames`` frames, of ``size`` (w, h) when given; else ImageError."""
    shown = name or path
    n, got = count_video_frames(path)
    if n == 0:
        raise ImageError(f"the video written for {shown} has no decodable frame (disk full or write error?)", _DISK_FIX)
    if n != frames:
        raise ImageError(f"the video written for {shown} has {n} decodable frames of the {frames} written "
                         "(disk full or write error?)", _DISK_FIX)
    if size is not None and got != tuple(size):
        raise ImageError(f"the video written for {shown} is {got[0]}x{got[1]}, expected {size[0]}x{size[1]}", _DISK_FIX)


# ---------------------------------------------------------------------------- writers
def write_image_atomic(target: str | os.PathLike, rgb: np.ndarray, inputs: Iterable = (), what: str = "output",
                       quality: int = 95, exclusive: bool = False) -> Path:
    """Write RGB uint8 (H, W, 3) ``rgb`` to ``target`` (format from the suffix): all or nothing.
    ``exclusive``: never replace an existing file (a snapshot's fresh name)."""
    from artem_vr.sources.imageio import encode_image  # reason: cv2 off the import path of atomic

    target = Path(target)
    inputs = _keep(inputs)
    refuse_inputs(target, inputs, what)
    _check_folder(target, what)
    data = encode_image(rgb, target.suffix, quality, str(target))
    h, w = rgb.shape[:2]
    return write_file_atomic(target, lambda p: p.write_bytes(data), lambda p: verify_image(p, (w, h), target),
                             inputs, what, exclusive)


class AtomicVideoWriter:
    """Write RGB uint8 frames to a video that appears at ``target`` only once complete and verified.

    ``write(rgb)`` appends a frame (to a temporary file beside the target); :meth:`close` checks
    that every frame decodes, renames it over the target and returns the final path;
    :meth:`discard` (or leaving a ``with`` block on an exception) removes it and leaves the target
    as it was. If OpenCV cannot write the target's codec, :class:`VideoWriterRGB` falls back to
    MJPG in ``.avi``: the final name is then ``target`` with ``.avi``; an existing file of that
    name is replaced only with ``replace_beside=True`` (said on stderr), else ImageError.
    """

    def __init__(self, target: str | os.PathLike, fps: float = 30.0, inputs: Iterable = (), what: str = "output",
                 replace_beside: bool = False):
        self.target = Path(target)
        self.fps = float(fps)
        self.inputs = _keep(inputs)
        self.what = what
        self.replace_beside = replace_beside
        refuse_inputs(self.target, self.inputs, what)
        _check_folder(self.target, what)
        self._tmp = partial_path(self.target)
        self._writer = None
        self.frames = 0
        self.size: tuple[int, int] | None = None
        self.closed = False

    @property
    def path(self) -> Path:
        """The file the video ends up in (the target, or its ``.avi`` when the codec fell back)."""
        if self._writer is not None and self._writer.path.suffix != self._tmp.suffix:
            return self.target.with_suffix(self._writer.path.suffix)
        return self.target

    def write(self, rgb: np.ndarray) -> None:
        if self.closed:
            raise ImageError(f"the video writer for {self.target} is closed", "open a new one")
        if self._writer is None:
            from artem_vr.sources.imageio import VideoWriterRGB

            self._writer = VideoWriterRGB(self._tmp, self.fps, (rgb.shape[1], rgb.shape[0]))
            self.size = (rgb.shape[1], rgb.shape[0])
        self._writer.write(rgb)
        self.frames += 1

    def close(self) -> Path | None:
        """Finish, verify and rename into place; the final path (None if no frame was written)."""
        if self.closed:
            return self.path if self.frames else None
        self.closed = True
        if self._writer is None:
            return None
        final = self.path
        tmp = Path(self._writer.path)
        try:
            self._writer.close()
            if final != self.target and final.exists():
                if not self.replace_beside:
                    raise ImageError(f"{final} exists (the codec for {self.target.suffix} is missing here, so the video "
                                     "would be written as MJPG .avi)", f"move {final} away, or write to an .avi name")
                print(f"note: replacing {final} (the video is written as MJPG .avi here)", file=sys.stderr)
        except BaseException:
            _remove(tmp)
            raise
        return commit(tmp, final, lambda p: verify_video(p, self.frames, self.size, final), self.inputs, self.what)

    def discard(self) -> None:
        """Drop what was written; the target is untouched."""
        self.closed = True
        if self._writer is not None:
            tmp = Path(self._writer.path)
            self._writer.close()
            _remove(tmp)
        _remove(self._tmp)

    def __enter__(self):
        return self

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.close()
        else:
            self.discard()
