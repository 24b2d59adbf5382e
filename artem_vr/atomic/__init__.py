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

from artem_vr.atomic.files import (AtomicVideoWriter, check_can_create, check_writable, commit, count_video_frames, read_png_text, verify_image,
                                   verify_video, write_bytes_atomic, write_file_atomic, write_image_atomic,
                                   write_text_atomic)
from artem_vr.atomic.group import AtomicGroup
from artem_vr.atomic.inputs import InputsRead, refuse_inputs, same_file
from artem_vr.atomic.leftovers import clean_stale_partials, owner_alive, partial_path
from artem_vr.atomic.lock import OutputLock

__all__ = ["AtomicGroup", "AtomicVideoWriter", "InputsRead", "OutputLock", "check_can_create", "check_writable", "clean_stale_partials", "commit",
           "count_video_frames", "owner_alive", "partial_path", "read_png_text", "refuse_inputs", "same_file", "verify_image",
           "verify_video", "write_bytes_atomic", "write_file_atomic", "write_image_atomic", "write_text_atomic"]
