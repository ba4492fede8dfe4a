"""``defian data download div2k|benchmark|released``: the paper's data (Sec. IV-A1) and the released artifacts.

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

``released``   every file of :data:`RELEASED_MANIFEST` (weights and outputs of the methods the
               paper compares with, published by their authors; the manifest gives each
               file's repository, commit, path, size and SHA-256): the raw file at the pinned
               commit, ``https://raw.githubusercontent.com/<repo>/<commit>/<path>``, verified
               by size and SHA-256 -> ``<root>/<dest>``; the manifest is copied to
               ``<root>/MANIFEST.tsv`` once every file is verified, so that
               :func:`defian.paths.released_root` finds the folder. ``--root`` defaults to
               :data:`defian.paths.RELEASED_CACHE` (``$DEFIAN_RELEASED`` when set).

``--mirror URL`` replaces the host and folder of every URL (for a local copy); for
``released`` it replaces ``https://raw.githubusercontent.com`` and keeps ``<repo>/<commit>/<path>``.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import sys
import urllib.parse
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from defian import paths

__all__ = ["ARCHIVES", "RAW_HOST", "RELEASED_MANIFEST", "Archive", "ManifestError", "ReleasedFile",
           "ReleasedFileError", "fetch", "fetch_released", "main", "read_manifest"]


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


# --- the released artifacts (``released``) ---------------------------------------------------------
#: The manifest shipped with the package (a copy of the development ``../shared/released/MANIFEST.tsv``).
RELEASED_MANIFEST: Path = Path(__file__).with_name("released_manifest.tsv")
RAW_HOST = "https://raw.githubusercontent.com"
_MANIFEST_COLUMNS = ("dest", "repo", "commit", "path", "bytes", "sha256")


class ManifestError(ValueError):
    """A manifest that cannot be used as it is (missing column, malformed or duplicate entry, unknown name)."""


class ReleasedFileError(ValueError):
    """A released file that could not be fetched, or whose size or SHA-256 differs from the manifest's."""


@dataclass(frozen=True)
class ReleasedFile:
    """One row of the manifest: where a published file lies and what its bytes are."""

    dest: str  # path under the released root, e.g. "weights/imdn/IMDN_x2.pth"
    repo: str  # "owner/name" on GitHub
    commit: str  # 40 hex digits
    path: str  # path inside the repository
    size: int  # bytes
    sha256: str  # 64 hex digits

    def url(self, host: str = RAW_HOST) -> str:
        """The raw file at the pinned commit (``host`` replaces ``https://raw.githubusercontent.com``)."""
        return f"{host.rstrip('/')}/{self.repo}/{self.commit}/{urllib.parse.quote(self.path)}"


def read_manifest(path: str | os.PathLike[str] = RELEASED_MANIFEST) -> list[ReleasedFile]:
    """The entries of a manifest (tab-separated, header :data:`_MANIFEST_COLUMNS`).

    Raises:
        FileNotFoundError: no such file.
        ManifestError: a missing column, a malformed entry (commit, size, SHA-256, a destination
            outside the root), or two entries with one destination; the message gives ``file:line``.
    """
    path = Path(path)
    with path.open(newline="") as fh:
        reader = csv.DictReader(fh, delimiter="\t")
        missing = [c for c in _MANIFEST_COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ManifestError(f"{path}: no column(s) {', '.join(missing)} (header: {reader.fieldnames})")
        out: list[ReleasedFile] = []
        for line, row in enumerate(reader, start=2):
            where = f"{path}:{line} ({row.get('dest')!r})"
            dest = PurePosixPath(row["dest"] or "")
            if not row["dest"] or dest.is_absolute() or ".." in dest.parts:
                raise ManifestError(f"{where}: destination must be a relative path inside the root")
            if not re.fullmatch(r"[0-9a-f]{40}", row["commit"] or ""):
                raise ManifestError(f"{where}: commit {row['commit']!r} is not 40 hex digits")
            if not re.fullmatch(r"[0-9a-f]{64}", row["sha256"] or ""):
                raise ManifestError(f"{where}: sha256 {row['sha256']!r} is not 64 hex digits")
            if not (row["bytes"] or "").isdigit():
                raise ManifestError(f"{where}: bytes {row['bytes']!r} is not a number")
            out.append(ReleasedFile(row["dest"], row["repo"], row["commit"], row["path"], int(row["bytes"]),
                                    row["sha256"]))
    dests = [f.dest for f in out]
    dup = sorted({d for d in dests if dests.count(d) > 1})
    if dup:
        raise ManifestError(f"{path}: destination(s) listed twice: {', '.join(dup)}")
    return out


def fetch_released(root: str | os.PathLike[str] | None = None, manifest: str | os.PathLike[str] = RELEASED_MANIFEST,
                   host: str = RAW_HOST, only: list[str] | None = None, progress: bool = False,
                   timeout: float = 60.0) -> Path:
    """Download (if needed) and verify every file of ``manifest`` into ``root``.

    Each file goes to ``root/<dest>`` through pooch (kept when its SHA-256 already matches),
    then its size is checked. The manifest is copied to ``root/MANIFEST.tsv`` last, only when
    every entry is there and verified, so :func:`defian.paths.released_root` never finds half a folder.

    Args:
        root: Target folder (default ``$DEFIAN_RELEASED``, else :data:`defian.paths.RELEASED_CACHE`).
        manifest: The manifest to fetch (default the one shipped in the package).
        host: Replaces ``https://raw.githubusercontent.com`` (a mirror, a local server).
        only: Fetch only these destinations (then no manifest is written).
        progress: Show a progress bar.
        timeout: Seconds a connection may stay silent.

    Returns:
        The root.

    Raises:
        ManifestError: a bad manifest, or a name of ``only`` it does not list.
        ReleasedFileError: a file that cannot be fetched, or whose size or SHA-256 differs (removed).
    """
    import pooch
    import requests

    if root in (None, ""):
        named = os.environ.get(paths.ENV_RELEASED, "")
        # "none" (paths.RELEASED_ABSENT) is "as if absent", not a folder to fill: the cache then
        root = paths.RELEASED_CACHE if named.strip().lower() in ("", paths.RELEASED_ABSENT) else Path(named)
    root = Path(root)
    entries = read_manifest(manifest)
    if only:
        unknown = [d for d in only if d not in {e.dest for e in entries}]
        if unknown:
            raise ManifestError(f"{manifest}: no entry {', '.join(map(repr, unknown))}")
        entries = [e for e in entries if e.dest in only]
    downloader = pooch.HTTPDownloader(progressbar=progress, timeout=timeout)
    for e in entries:
        target = root / e.dest
        try:
            pooch.retrieve(e.url(host), f"sha256:{e.sha256}", fname=target.name, path=target.parent,
                           downloader=downloader, progressbar=progress)
        except ValueError as err:  # pooch: hash mismatch (the download is discarded)
            raise ReleasedFileError(f"{e.dest} from {e.url(host)}: {err}") from None
        except (requests.RequestException, OSError) as err:
            raise ReleasedFileError(f"{e.dest}: cannot fetch {e.url(host)}: {err}") from None
        if target.stat().st_size != e.size:
            got = target.stat().st_size
            target.unlink()
            raise ReleasedFileError(f"{e.dest}: {got} bytes, the manifest says {e.size}; removed")
    if not only:
        from defian.atomic import write_atomic

        write_atomic(root / "MANIFEST.tsv", Path(manifest).read_bytes())
    return root


def _check_layout(what: str, root: Path) -> str:
    if what == "div2k":
        from defian.data.trainset import find_training_images

        return find_training_images(root)[1]
    from defian.data.testsets import find

    return ", ".join(f"{k} ({len(v)})" for k, v in find(root).items())


def main(argv: list[str] | None = None) -> int:
    """Entry point of ``defian data``; returns the exit status."""
    parser = argparse.ArgumentParser(prog="defian data", description="Download and verify the paper's data "
                                     "(DIV2K, benchmark sets) and the released artifacts of the compared methods.")
    sub = parser.add_subparsers(dest="command", required=True)
    dl = sub.add_parser("download", help="download and verify DIV2K, the benchmark sets or the released artifacts")
    dl.add_argument("what", choices=sorted([*ARCHIVES, "released"]), help="which archives or files")
    dl.add_argument("--root", type=Path, default=None,
                    help="folder to put them in (created if missing); required for div2k and benchmark; for "
                         f"released the default is ${paths.ENV_RELEASED}, else {paths.RELEASED_CACHE}")
    dl.add_argument("--mirror", default="", help="base URL replacing the official host and folder")
    dl.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    if args.what == "released":
        return _main_released(args)
    if args.root is None:
        parser.error(f"--root is required for {args.what}")
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


def _main_released(args: argparse.Namespace) -> int:
    entries = read_manifest(RELEASED_MANIFEST)
    host = args.mirror or RAW_HOST
    if args.quiet:  # pooch logs one line per file at INFO
        import pooch

        pooch.get_logger().setLevel("WARNING")
    print(f"released: {len(entries)} files, {sum(e.size for e in entries) / 1e6:.1f} MB from {host}")
    try:
        root = fetch_released(args.root, manifest=RELEASED_MANIFEST, host=host, progress=not args.quiet)
    except ReleasedFileError as err:
        print(f"defian data: {err}", file=sys.stderr)
        return 1
    print(f"  verified size and SHA-256 of every file; manifest written to {root / 'MANIFEST.tsv'}")
    try:
        found = paths.released_root()
    except FileNotFoundError:  # $DEFIAN_RELEASED names no folder
        found = None
    if found != root.resolve():
        print(f"  the book looks elsewhere first: set {paths.ENV_RELEASED}={root}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
