"""defian.atomic: a failed write leaves the old file and no temporary behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from defian.atomic import atomic_file, write_atomic


def test_write_replaces_the_whole_file(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "table.csv"
    write_atomic(target, "a,b\n1,2\n")
    write_atomic(target, b"a\n")
    assert target.read_bytes() == b"a\n"
    assert [p.name for p in target.parent.iterdir()] == ["table.csv"]


@pytest.mark.parametrize("durable", [False, True])
def test_an_error_mid_write_keeps_the_old_file(tmp_path: Path, durable: bool) -> None:
    target = tmp_path / "last.pt"
    target.write_bytes(b"old checkpoint")
    with pytest.raises(RuntimeError, match="disk full"):
        with atomic_file(target, durable=durable) as fh:
            fh.write(b"half of the new")
            raise RuntimeError("disk full")
    assert target.read_bytes() == b"old checkpoint"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["last.pt"]  # no .tmp left behind
