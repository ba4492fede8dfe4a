"""The one error a released weight file can raise: :class:`ReleasedWeightsError`.

Every loader of :mod:`defian.zoo` turns what can go wrong with a file
somebody else published into this class, with the file named in the
message: a missing file, a truncated or corrupt one, a file of another
method (other keys/variables), or of another scale (an upsampler of another
shape; for SRCNN/FSRCNN, whose files hold no scale, a SHA-256 that the
released manifest gives to another scale's file, :mod:`defian.zoo.known`).
It derives from :class:`ValueError`, so callers that already catch bad input
keep working.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ReleasedWeightsError", "require_file"]


class ReleasedWeightsError(ValueError):
    """A released weight file that is missing, unreadable, or not the model asked for."""


def require_file(path: str | Path, what: str) -> Path:
    """Return ``path`` as a :class:`Path` if it is a file, else raise.

    Args:
        path: The file to check.
        what: What the file should hold (e.g. ``"IMDN x2 weights"``), for the message.

    Raises:
        ReleasedWeightsError: ``path`` does not exist or is not a file; the
            message says how the released files are obtained.
    """
    path = Path(path)
    if not path.is_file():
        raise ReleasedWeightsError(
            f"{what}: no file at {path}; the released artifacts are fetched by "
            "`defian data download released` (or point $DEFIAN_RELEASED at a copy)")
    return path
