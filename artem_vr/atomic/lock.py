"""One writer per name: an exclusive flock beside the target."""

from __future__ import annotations

import os
from pathlib import Path

from artem_vr.errors import UsageError, path_error


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
                raise path_error(e, self.target, "write") from None  # the user's name, not the hidden lock's
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
