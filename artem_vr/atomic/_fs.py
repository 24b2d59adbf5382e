"""File-system steps every atomic writer shares: flush, rename, remove."""

from __future__ import annotations

import os
from pathlib import Path

from artem_vr.errors import ImageError

NOT_INPUT_FIX = "write to another file name: artem-vr never overwrites its input"
DISK_FIX = "check the disk is not full and the folder is writable"


def fsync(path: Path) -> None:
    """Flush ``path`` and its folder entry to disk (a full disk can show only here)."""
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as e:
        raise ImageError(f"could not flush {path} to disk ({e.strerror or e})", DISK_FIX) from None


def fsync_dir(folder: Path) -> None:
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


def remove(path: Path | None) -> None:
    if path is not None:
        try:
            path.unlink()
        except FileNotFoundError:
            pass



def replace(src: Path, dst: Path) -> None:
    try:
        os.replace(src, dst)
    except OSError as e:
        raise ImageError(f"could not replace {dst} ({e.strerror or e})", "check the folder is writable") from None
