"""``defian data download`` against a local HTTP server (no outside network)."""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from defian.data import download


def _png(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(path)


def _div2k_zip(www: Path, tmp: Path) -> Path:
    _png(tmp / "src/DIV2K_train_HR/0001.png")
    _png(tmp / "src/DIV2K_train_HR/0002.png")
    out = www / "DIV2K_train_HR.zip"
    with zipfile.ZipFile(out, "w") as z:
        for f in sorted((tmp / "src").rglob("*.png")):
            z.write(f, f.relative_to(tmp / "src"))
    return out


def _archive(path: Path, url: str, size: bool = True, algo: str = "sha256") -> download.Archive:
    digest = hashlib.new(algo, path.read_bytes()).hexdigest()
    return download.Archive(f"{url}/{path.name}", f"{algo}:{digest}", path.stat().st_size if size else None, "test")


def test_div2k_is_fetched_verified_and_extracted(server, tmp_path, monkeypatch, capsys) -> None:
    url, www = server
    arc = _archive(_div2k_zip(www, tmp_path), url)
    monkeypatch.setitem(download.ARCHIVES, "div2k", (arc,))
    root = tmp_path / "data"
    assert download.main(["download", "div2k", "--root", str(root), "--quiet"]) == 0
    assert sorted(p.name for p in (root / "DIV2K_train_HR").iterdir()) == ["0001.png", "0002.png"]
    assert (root / "downloads" / "DIV2K_train_HR.zip").read_bytes() == (www / "DIV2K_train_HR.zip").read_bytes()
    out = capsys.readouterr().out
    assert "verified size and hash" in out and "DIV2K train (DIV2K_train_HR, 2 images)" in out


def test_benchmark_tar_with_hash_only_and_a_mirror(server, tmp_path, monkeypatch) -> None:
    url, www = server
    _png(tmp_path / "src/benchmark/Set5/HR/baby.png")
    with tarfile.open(www / "benchmark.tar", "w") as t:
        t.add(tmp_path / "src/benchmark", arcname="benchmark")
    arc = _archive(www / "benchmark.tar", "https://example.invalid/EDSR", size=False, algo="md5")
    monkeypatch.setitem(download.ARCHIVES, "benchmark", (arc,))
    root = tmp_path / "data"
    assert download.main(["download", "benchmark", "--root", str(root), "--mirror", url, "--quiet"]) == 0
    assert (root / "benchmark/Set5/HR/baby.png").is_file()


def test_wrong_hash_and_wrong_size_fail_and_leave_nothing(server, tmp_path, monkeypatch, capsys) -> None:
    url, www = server
    good = _archive(_div2k_zip(www, tmp_path), url)
    bad_hash = download.Archive(good.url, "sha256:" + "0" * 64, good.size, "test")
    monkeypatch.setitem(download.ARCHIVES, "div2k", (bad_hash,))
    root = tmp_path / "data"
    assert download.main(["download", "div2k", "--root", str(root), "--quiet"]) == 1
    assert "DIV2K_train_HR.zip failed" in capsys.readouterr().err
    assert not (root / "DIV2K_train_HR").exists() and not (root / "downloads/DIV2K_train_HR.zip").exists()
    bad_size = download.Archive(good.url, good.known_hash, good.size + 1, "test")
    with pytest.raises(ValueError, match=r"bytes, expected"):
        download.fetch(bad_size, root)
    assert not (root / "downloads/DIV2K_train_HR.zip").exists()


def test_official_archives_are_recorded_with_their_provenance() -> None:
    div2k = {a.filename: a for a in download.ARCHIVES["div2k"]}
    assert div2k["DIV2K_train_HR.zip"].size == 3530603713  # as recorded by TensorFlow Datasets
    assert div2k["DIV2K_valid_HR.zip"].known_hash.startswith("sha256:20dd31fd")
    (bench,) = download.ARCHIVES["benchmark"]
    assert bench.size is None and bench.known_hash == "md5:4ace41d33c2384b97e6b320cd0afd6ba"
