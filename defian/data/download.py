"""``defian data download div2k|benchmark --root DIR``: the paper's data (Sec. IV-A1).

The official archives are fetched with pooch (resumable cache, hash check),
kept under ``<root>/downloads/`` so a second run does not fetch them again,
and extracted into the layouts :mod:`defian.data.trainset` and
:mod:`defian.data.testsets` look for:

``div2k``      ``DIV2K_train_HR.zip`` (0001-0800) and ``DIV2K_valid_HR.zip``
               (0801-0900) from the DIV2K site -> ``<root>/DIV2K_train_HR/``,
               ``<root>/DIV2K_valid_HR/``. Size and SHA-256 as recorded by
               TensorFlow Datasets (``url_checksums/div2k.txt``); both checked.
``benchmark``  EDSR's ``benchmark.tar`` (Set5, Set14, B100, Urban100, with HR
               and MATLAB LR) -> ``<root>/benchmark/<Set>/HR``. MD5 as recorded
               by torchSR; its exact byte size is not known to us, so only the
               hash is checked. Manga109 is not in it: it is distributed on
               request by its authors (manga109.org); put its images in
               ``<root>/benchmark/Manga109/HR`` yourself.

``--mirror URL`` replaces the host and folder of every URL (for a local copy).
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass, replace
from pathlib import Path

__all__ = ["ARCHIVES", "Archive", "fetch", "main"]


@dataclass(frozen=True)
class Archive:
    """One official archive and what is known about it."""

    url: str
    known_hash: str | None  # "sha256:..." / "md5:..." as pooch takes it; None: unchecked
    size: int | None  # bytes; None when not known for sure
    provenance: str  # where the size/hash were recorded

    @property
    def filename(self) -> str:
        return self.url.rsplit("/", 1)[-1]


_TFDS = "TensorFlow Datasets url_checksums/div2k.txt"
ARCHIVES: dict[str, tuple[Archive, ...]] = {
    "div2k": (
        Archive("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_train_HR.zip",
                "sha256:9d0b9c463f6e35b6c62cc6a930ee2224f670b34c1df841a57670f9acf0f6c335", 3530603713, _TFDS),
        Archive("https://data.vision.ee.ethz.ch/cvl/DIV2K/DIV2K_valid_HR.zip",
                "sha256:20dd31fd84d777bc1cf5d6b7654a3f569c0aec74458ae094122ad1d0489900fc", 448993893, _TFDS),
    ),
    "benchmark": (
        Archive("https://cv.snu.ac.kr/research/EDSR/benchmark.tar", "md5:4ace41d33c2384b97e6b320cd0afd6ba", None,
                "torchSR (datasets for Set5/Set14/B100/Urban100); size not recorded"),
    ),
}


def fetch(archive: Archive, root: str | Path, progress: bool = False) -> Path:
    """Download (if needed), verify and extract one archive into ``root``.

    Args:
        archive: What to fetch.
        root: The data root; the archive is kept in ``root/downloads``.
        progress: Show a progress bar (tqdm).

    Returns:
        The path of the verified archive.

    Raises:
        ValueError: Hash or size mismatch (the bad file is removed), naming both values.
    """
    import pooch

    root = Path(root)
    downloads = root / "downloads"
    processor = pooch.Unzip(extract_dir=str(root)) if archive.filename.endswith(".zip") else (
        pooch.Untar(extract_dir=str(root)))
    path = Path(pooch.retrieve(archive.url, archive.known_hash, fname=archive.filename, path=downloads,
                               progressbar=progress, processor=None))
    if archive.size is not None and path.stat().st_size != archive.size:
        got = path.stat().st_size
        path.unlink()
        raise ValueError(f"{archive.filename}: {got} bytes, expected {archive.size} ({archive.provenance}); removed")
    processor(str(path), "download", None)
    return path


def _check_layout(what: str, root: Path) -> str:
    if what == "div2k":
        from defian.data.trainset import find_training_images

        return find_training_images(root)[1]
    from defian.data.testsets import find

    return ", ".join(f"{k} ({len(v)})" for k, v in find(root).items())


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``defian data``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="defian data",
                                     description="Download and verify the paper's data (DIV2K, benchmark sets).")
    sub = parser.add_subparsers(dest="command", required=True)
    dl = sub.add_parser("download", help="download and verify DIV2K or the benchmark sets")
    dl.add_argument("what", choices=sorted(ARCHIVES), help="which archives")
    dl.add_argument("--root", required=True, type=Path, help="data root to extract into (created if missing)")
    dl.add_argument("--mirror", default="", help="base URL replacing the official host and folder")
    dl.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    args.root.mkdir(parents=True, exist_ok=True)
    for archive in ARCHIVES[args.what]:
        if args.mirror:
            archive = replace(archive, url=f"{args.mirror.rstrip('/')}/{archive.filename}")
        print(f"{archive.filename}: {archive.url}")
        try:
            path = fetch(archive, args.root, progress=not args.quiet)
        except Exception as err:  # noqa: BLE001 (network, hash, archive errors all end the command)
            print(f"defian data: {archive.filename} failed: {err}", file=sys.stderr)
            return 1
        check = "size and hash" if archive.size is not None else ("hash" if archive.known_hash else "nothing")
        print(f"  verified {check} ({archive.provenance}); extracted from {path}")
    try:
        print(f"found: {_check_layout(args.what, args.root)}")
    except FileNotFoundError as err:
        print(f"defian data: extracted, but the expected layout is missing: {err}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
