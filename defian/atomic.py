"""Atomic file writes: nothing the project writes is ever left half-written.

Every file (checkpoints, run records, evaluation CSVs, tables, figures, the LR
cache, executed notebooks) goes through :func:`atomic_file`: a temporary file in
the target's folder, flushed, then ``os.replace``'d over the target, so a crash
or a SIGKILL leaves either the old file or the new one. Temporary names end in
``.tmp`` (the trainer sweeps leftovers of a killed run).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO


@contextmanager
def atomic_file(path: str | os.PathLike[str], *, durable: bool = False) -> Iterator[BinaryIO]:
    """Open a binary file that replaces ``path`` only when the ``with`` block succeeds.

    Args:
        path: The target; its folder is created if missing.
        durable: Also fsync the file and its folder (checkpoints: survive a power cut, not just a kill).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            yield fh
            if durable:
                fh.flush()
                os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    if durable:
        _fsync_dir(path.parent)


def write_atomic(path: str | os.PathLike[str], data: str | bytes) -> Path:
    """Write ``data`` (text is UTF-8 encoded) to ``path`` atomically; return the path."""
    with atomic_file(path) as fh:
        fh.write(data.encode() if isinstance(data, str) else data)
    return Path(path)


def _fsync_dir(folder: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
