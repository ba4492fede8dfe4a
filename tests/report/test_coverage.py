"""defian.report.coverage: every numbered equation, table and figure once; every path it names exists."""

from __future__ import annotations

from collections import Counter

from defian import paths
from defian.report import coverage


def test_each_number_appears_exactly_once() -> None:
    seen = Counter((e.kind, e.number) for e in coverage.ENTRIES)
    want = ({("Eq.", n) for n in coverage.EQUATIONS} | {("Table", n) for n in coverage.TABLES}
            | {("Fig.", n) for n in coverage.FIGURES})
    assert set(seen) == want and set(seen.values()) == {1}
    assert len(coverage.EQUATIONS) == 25 and len(coverage.TABLES) == 5 and len(coverage.FIGURES) == 14


def test_every_path_exists_and_every_fidelity_is_known() -> None:
    for e in coverage.ENTRIES:
        assert e.where, (e.kind, e.number)
        for p in e.where:
            assert (paths.ROOT / p).exists(), f"{e.kind} {e.number}: {p}"
        assert e.fidelity and set(e.fidelity) <= set(coverage.FIDELITIES), (e.kind, e.number, e.fidelity)
        if "not possible" in e.fidelity:
            assert e.note, f"{e.kind} {e.number}: 'not possible' needs the reason"


def test_frame_has_one_row_per_entry_in_order() -> None:
    f = coverage.frame()
    assert len(f) == 25 + 5 + 14 and f["item"].iloc[0] == "Eq. 1" and f["item"].iloc[-1] == "Fig. 14"
