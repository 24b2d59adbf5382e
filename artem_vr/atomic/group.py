"""Several files replaced together or not at all."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterable
from pathlib import Path

from artem_vr.atomic._fs import DISK_FIX, fsync, fsync_dir, remove, replace
from artem_vr.atomic.files import bytes_check, check_folder, check_written, write_partial
from artem_vr.atomic.inputs import keep_inputs, refuse_inputs, same_file
from artem_vr.atomic.leftovers import partial_path
from artem_vr.errors import ImageError, UsageError


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
        self.inputs = keep_inputs(inputs)
        self.what = what
        self._items: list[tuple[Path, Path]] = []  # (partial, target)
        self._removals: list[Path] = []
        self.done = False

    def add(self, target: str | os.PathLike, write: Callable[[Path], object],
            verify: Callable[[Path], None] | None = None) -> Path:
        """``write(tmp)`` writes the new ``target``; checked by ``verify(tmp)``. Returns the partial path."""
        target = Path(target)
        refuse_inputs(target, self.inputs, self.what)
        check_folder(target, self.what)
        if any(same_file(t, target) for _, t in self._items):
            raise UsageError(f"{target} is twice in one group of outputs")
        tmp = partial_path(target)
        write_partial(tmp, target, write)
        try:
            check_written(tmp, target, verify)
        except BaseException:
            remove(tmp)
            raise
        self._items.append((tmp, target))
        return tmp

    def add_bytes(self, target, data: bytes, verify: Callable[[Path], None] | None = None) -> Path:
        return self.add(target, lambda p: p.write_bytes(data), bytes_check(target, len(data), verify))

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
                replace(tmp, target)
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
                remove(tmp)
            remove(marker)
            raise
        for _, aside in kept:
            remove(aside)
        for folder in {t.parent for _, t in self._items}:
            fsync_dir(folder)
        remove(marker)
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
            fsync(marker)
        except (OSError, ImageError):
            remove(marker)
            raise ImageError(f"could not start replacing {first} (disk full?)", DISK_FIX) from None
        fsync_dir(first.parent)
        return marker

    def discard(self) -> None:
        """Drop the partial files; every target stays as it was."""
        self.done = True
        for tmp, _ in self._items:
            remove(tmp)

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
        raise ImageError(f"could not keep {target} aside while replacing it ({e.strerror or e})", DISK_FIX) from None
    return aside
