"""``defian data download released`` against a loopback HTTP server, and the manifest shipped in the package.

The server serves ``<www>/<repo>/<commit>/<path>`` (the layout of raw.githubusercontent.com)
on 127.0.0.1; every download is bounded by a short connection timeout.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from defian import paths
from defian.data import download
from defian.data.download import ManifestError, ReleasedFileError

COMMIT = "0123456789abcdef0123456789abcdef01234567"
HEADER = "dest\trepo\tcommit\tpath\tbytes\tsha256\n"


def _publish(www: Path, files: dict[str, bytes], repo: str = "someone/method") -> str:
    """Put ``files`` (repo path -> bytes) on the server; return the manifest text (dest = weights/<name>)."""
    rows = []
    for path, data in files.items():
        target = www / repo / COMMIT / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
        dest = f"weights/m/{Path(path).name}"
        rows.append(f"{dest}\t{repo}\t{COMMIT}\t{path}\t{len(data)}\t{hashlib.sha256(data).hexdigest()}\n")
    return HEADER + "".join(rows)


FILES = {"models/a.pth": b"weights of a" * 10, "Model/9-5-5(ImageNet)/x 2.mat": b"\x00\x01matlab" * 7}


def test_every_file_is_fetched_verified_and_the_manifest_written_last(server, tmp_path) -> None:
    url, www = server
    manifest = tmp_path / "MANIFEST.tsv"
    manifest.write_text(_publish(www, FILES))
    root = download.fetch_released(tmp_path / "rel", manifest=manifest, host=url, timeout=5)
    for path, data in FILES.items():
        assert (root / "weights/m" / Path(path).name).read_bytes() == data  # a name with ( ) and a space
    assert (root / "MANIFEST.tsv").read_bytes() == manifest.read_bytes()
    assert paths.released_root(root) == root.resolve()
    # a second run finds the verified files and fetches nothing (the server no longer has them)
    for p in (www / "someone").rglob("*"):
        if p.is_file():
            p.unlink()
    assert download.fetch_released(root, manifest=manifest, host=url, timeout=5) == root


def test_the_url_is_the_raw_file_at_the_pinned_commit() -> None:
    e = download.ReleasedFile("weights/srcnn/x2.mat", "yaBorn/Super-resolution", COMMIT,
                              "mat_SRCNN/Model/SRCNN/9-5-5(ImageNet)/x2.mat", 1, "0" * 64)
    assert e.url() == ("https://raw.githubusercontent.com/yaBorn/Super-resolution/" + COMMIT
                       + "/mat_SRCNN/Model/SRCNN/9-5-5%28ImageNet%29/x2.mat")


def test_a_wrong_sha_or_size_is_a_named_error_and_leaves_no_manifest(server, tmp_path) -> None:
    url, www = server
    good = _publish(www, FILES)
    bad_sha = good.replace(hashlib.sha256(FILES["models/a.pth"]).hexdigest(), "f" * 64)
    (tmp_path / "bad_sha.tsv").write_text(bad_sha)
    with pytest.raises(ReleasedFileError, match=r"weights/m/a.pth from http://127\.0\.0\.1.*(hash|SHA)"):
        download.fetch_released(tmp_path / "r1", manifest=tmp_path / "bad_sha.tsv", host=url, timeout=5)
    assert not (tmp_path / "r1/weights/m/a.pth").exists() and not (tmp_path / "r1/MANIFEST.tsv").exists()
    size = len(FILES["models/a.pth"])
    (tmp_path / "bad_size.tsv").write_text(good.replace(f"\t{size}\t", f"\t{size + 1}\t"))
    with pytest.raises(ReleasedFileError, match=rf"weights/m/a.pth: {size} bytes, the manifest says {size + 1}"):
        download.fetch_released(tmp_path / "r2", manifest=tmp_path / "bad_size.tsv", host=url, timeout=5)
    assert not (tmp_path / "r2/weights/m/a.pth").exists() and not (tmp_path / "r2/MANIFEST.tsv").exists()


def test_a_file_missing_on_the_server_is_a_named_error(server, tmp_path) -> None:
    url, www = server
    manifest = tmp_path / "m.tsv"
    manifest.write_text(_publish(www, FILES))
    (www / "someone/method" / COMMIT / "models/a.pth").unlink()
    with pytest.raises(ReleasedFileError, match=r"weights/m/a.pth: cannot fetch .*models/a.pth.*404"):
        download.fetch_released(tmp_path / "r", manifest=manifest, host=url, timeout=5)
    assert not (tmp_path / "r/MANIFEST.tsv").exists()


def test_only_fetches_named_entries_and_refuses_a_missing_entry(server, tmp_path) -> None:
    url, www = server
    manifest = tmp_path / "m.tsv"
    manifest.write_text(_publish(www, FILES))
    root = download.fetch_released(tmp_path / "r", manifest=manifest, host=url, only=["weights/m/a.pth"], timeout=5)
    assert sorted(p.name for p in (root / "weights/m").iterdir()) == ["a.pth"]
    assert not (root / "MANIFEST.tsv").exists()  # a partial folder is never announced as the released root
    with pytest.raises(ManifestError, match=r"no entry 'weights/m/nothing.pth'"):
        download.fetch_released(root, manifest=manifest, host=url, only=["weights/m/nothing.pth"], timeout=5)


@pytest.mark.parametrize("change, message", [
    (lambda t: t.replace("sha256\n", "sha\n", 1), r"no column\(s\) sha256"),
    (lambda t: t.replace(COMMIT, "abc"), r":2 \('weights/m/a.pth'\): commit 'abc' is not 40 hex digits"),
    (lambda t: t.replace("weights/m/a.pth", "../a.pth"), r"destination must be a relative path inside the root"),
    (lambda t: t.replace("weights/m/x 2.mat", "weights/m/a.pth"), r"listed twice: weights/m/a.pth"),
    (lambda t: t.replace("\t120\t", "\tmany\t"), r"bytes 'many' is not a number"),
])
def test_a_malformed_manifest_is_a_named_error(tmp_path, change, message) -> None:
    text = _publish(tmp_path / "www", FILES)
    (tmp_path / "m.tsv").write_text(change(text))
    with pytest.raises(ManifestError, match=message):
        download.read_manifest(tmp_path / "m.tsv")


def test_the_command_fetches_into_root_and_reports_errors(server, tmp_path, monkeypatch, capsys) -> None:
    url, www = server
    manifest = tmp_path / "m.tsv"
    manifest.write_text(_publish(www, FILES, repo="yulunzhang/RCAN"))
    monkeypatch.setattr(download, "RELEASED_MANIFEST", manifest)
    assert download.main(["download", "released", "--root", str(tmp_path / "r"), "--mirror", url, "--quiet"]) == 0
    assert (tmp_path / "r/MANIFEST.tsv").is_file() and "verified size and SHA-256" in capsys.readouterr().out
    (www / "yulunzhang/RCAN" / COMMIT / "models/a.pth").write_bytes(b"tampered")
    assert download.main(["download", "released", "--root", str(tmp_path / "r2"), "--mirror", url, "--quiet"]) == 1
    assert "weights/m/a.pth" in capsys.readouterr().err
    with pytest.raises(SystemExit):  # div2k and benchmark still need --root
        download.main(["download", "div2k"])


def test_the_package_manifest_is_the_development_copy() -> None:
    shared = paths.ROOT.parent / "shared" / "released" / "MANIFEST.tsv"
    entries = download.read_manifest()
    assert len(entries) > 0  # (read_manifest refuses a repeated destination: test_a_malformed_manifest_is_a_named_error)
    assert {e.dest.split("/")[0] for e in entries} == {"weights", "images"}
    if not shared.is_file():
        pytest.skip(f"{shared} absent (a clone without ../shared)")
    assert download.RELEASED_MANIFEST.read_bytes() == shared.read_bytes()


def test_the_development_copy_holds_every_file_of_the_manifest() -> None:
    """What fetch_released would verify, on ../shared/released: every file there, with its size and SHA-256."""
    shared = paths.ROOT.parent / "shared" / "released"
    if not (shared / "MANIFEST.tsv").is_file():
        pytest.skip(f"{shared} absent (a clone without ../shared)")
    for e in download.read_manifest():
        data = (shared / e.dest).read_bytes()
        assert (len(data), hashlib.sha256(data).hexdigest()) == (e.size, e.sha256), e.dest


def test_the_default_root_follows_the_variable_and_none_means_the_cache(server, tmp_path, monkeypatch) -> None:
    """No --root: $DEFIAN_RELEASED, else the cache; DEFIAN_RELEASED=none (the book's "absent") is not a folder name."""

    url, www = server
    manifest = tmp_path / "m.tsv"
    manifest.write_text(_publish(www, FILES))
    monkeypatch.setattr(paths, "RELEASED_CACHE", tmp_path / "cache")
    monkeypatch.setenv(paths.ENV_RELEASED, str(tmp_path / "named"))
    assert download.fetch_released(manifest=manifest, host=url, timeout=5) == tmp_path / "named"
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(paths.ENV_RELEASED, "None")
    assert download.fetch_released(manifest=manifest, host=url, timeout=5) == tmp_path / "cache"
    assert not (tmp_path / "None").exists()
