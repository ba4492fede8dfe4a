"""Which released file a weight file is, by its SHA-256: refuse a known file of another model.

Some released files hold no record of their scale (SRCNN's and FSRCNN's
``.mat`` files: x2, x3 and x4 have the same shapes), so their loaders cannot
tell a file of another scale from the right one by reading it. The
package's copy of the manifest (:data:`defian.data.download.RELEASED_MANIFEST`,
the same rows as ``../shared/released/MANIFEST.tsv``) gives the SHA-256 of
every released file; :data:`defian.zoo.registry.RELEASED` says which
method and scales each weight file serves. :func:`check_release` joins the
two: a file whose hash is a released file of another method or scale than
the one asked for is refused; a file whose hash is not in the manifest (one's
own training, a converted copy) is not judged.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

from defian.zoo.errors import ReleasedWeightsError

__all__ = ["check_release", "released_identity", "sha256"]


def sha256(path: str | Path) -> str:
    """Hex SHA-256 of the bytes of ``path``."""
    h = hashlib.sha256()
    with Path(path).open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


@functools.lru_cache(maxsize=1)
def _by_hash() -> dict[str, tuple[str, tuple[tuple[str, int], ...]]]:
    """SHA-256 -> (manifest destination, the (method, scale) pairs of the registry it serves)."""
    from defian.data.download import RELEASED_MANIFEST, read_manifest
    from defian.zoo.registry import RELEASED  # lazy: the registry imports the method modules

    serves: dict[str, list[tuple[str, int]]] = {}
    for spec in RELEASED.values():
        for scale, name in spec.files.items():
            serves.setdefault(f"weights/{spec.folder}/{name}", []).append((spec.name, scale))
    return {f.sha256: (f.dest, tuple(sorted(serves.get(f.dest, [])))) for f in read_manifest(RELEASED_MANIFEST)}


def released_identity(path: str | Path) -> tuple[str, tuple[tuple[str, int], ...]] | None:
    """The manifest destination of the released file with the bytes of ``path`` and what it serves, or ``None``.

    Returns:
        ``(dest, ((method, scale), ...))`` -- e.g. ``("weights/srcnn/9-1-5_91images_x3.mat",
        (("SRCNN-915", 3),))``; the pairs are empty for a released file no registry
        entry loads (an image, a deploy ``.prototxt``). ``None`` for an unknown hash.
    """
    return _by_hash().get(sha256(path))


def _describe(pairs: tuple[tuple[str, int], ...]) -> str:
    methods = dict.fromkeys(m for m, _ in pairs)
    return ", ".join(f"{m} x{'/x'.join(str(s) for mm, s in pairs if mm == m)}" for m in methods)


def check_release(path: str | Path, method: str, scale: int) -> None:
    """Refuse ``path`` if it is a released file, by SHA-256, that is not ``method``'s at ``scale``.

    Args:
        path: The weight file being loaded.
        method: The :data:`defian.zoo.registry.RELEASED` name asked for (e.g. ``"SRCNN-955"``).
        scale: The scale asked for.

    Raises:
        ReleasedWeightsError: The hash is that of a released file serving other
            (method, scale) pairs; the message names the file, what it is and what was asked.
    """
    found = released_identity(path)
    if found is None:
        return  # not a released file: nothing to compare with
    dest, pairs = found
    if (method, scale) in pairs:
        return
    what = f"the released {_describe(pairs)} weights" if pairs else "a released file that is no model's weights"
    raise ReleasedWeightsError(
        f"{path}: its SHA-256 is that of {dest} in the released manifest, {what}; asked for {method} x{scale}")
