"""Every number in the chapters' prose is glued, asserted, or quoted with its source (issue 24).

Scans the markdown of ``notebooks/*.py`` and ``book/*.md``. A number in prose passes when it is

* pasted by a glue role, or inside a code span, math, a link target, an HTML tag or a fenced block;
* a reference (Eq./Table/Fig./Sec./Algorithm N, notebook(s) N, issue #N, arXiv id), a year, part of a
  name (Set5, x2, DeFiAN_S, 3x3, T91, 0001-0800 file names), an ordinal (5th), the seeds of a run
  (``seed 0``, ``seeds 0, 1, 2``) or the level of an interval (``95 %``);
* inside double quotes: a quotation, whose source the sentence names;
* in a notebook, a literal of one of that notebook's code cells (where it is computed or asserted);
* or listed in :data:`ALLOWED` with where it comes from.

Anything else is a typed number: the test names its file and context. Glue it, assert it next to the
prose, or (a number quoted from the paper or an external fact) add it to :data:`ALLOWED` with its source.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

ROOT = Path(__file__).resolve().parents[1]
PAGES = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.py")) + sorted((ROOT / "book").glob("*.md"))

#: (page, number as written) -> where it comes from: a fact quoted from the paper, the released code or the
#: machine, or a number asserted elsewhere (named).
ALLOWED: dict[tuple[str, str], str] = {
    ("04_complexity.py", "21"): "asserted in the notebook: 22 rows, exactly one #FLOPs mismatch (DeFiAN_L x4)",
    ("05_data_and_protocol.py", "800"): "the paper, Sec. IV-A1: DIV2K's 800 training images",
    ("05_data_and_protocol.py", "291"): "T91 + BSDS200, ../shared/datasets/README; held against every record "
                                         "in notebook 13",
    ("05_data_and_protocol.py", "90"): "the paper, Sec. IV-A1: rotations by 90 degrees",
    ("06_training.py", "128"): "the released option.py (c8e7b31): 128-pixel HR patches "
                               "(defian/report/deviation_effects.py)",
    ("07_full_schedule.py", "12"): "the paper, Sec. IV-A1: a 12 GB Titan X Pascal",
    ("09_table_3_fig_10.py", "20"): "DeFiAN_L's M = 20, the paper's Sec. IV-B1 (asserted in notebook 13)",
    ("09_table_3_fig_10.py", "291"): "held against every record in notebook 13",
    ("13_cpu_study.py", "800"): "the paper, Sec. IV-A1: DIV2K's 800 training images",
    ("14_deviations.py", "255"): "the byte range of an 8-bit image (the released calc_SSIM's scaling)",
    ("14_deviations.py", "600"): "the paper, Sec. IV-E: beyond about 600 layers",
    ("17_ikm.py", "1380.25"): "tests/ikm/test_ikm_complexity.py enumerates the depths against this interval",
    ("17_ikm.py", "1380.35"): "tests/ikm/test_ikm_complexity.py enumerates the depths against this interval",
    ("cpu_study.md", "16"): "the paper, Sec. IV-A1: batch 16",
    ("cpu_study.md", "0.5"): "asserted in notebook 13 (the other seeds' loss ratios within 0.005)",
    ("cpu_study.md", "1"): "asserted in notebook 13 (the outlier's ratio above 1.01); 1/3: a fraction of three units",
    ("cpu_study.md", "2"): "DIV2K's 2K resolution (its name)",
    ("cpu_study.md", "800"): "the paper, Sec. IV-A1: DIV2K's 800 training images",
    ("cpu_study.md", "3"): "1/3: the live fraction of one of three units (asserted in notebook 13)",
    ("cpu_study.md", "0.1"): "asserted in notebook 13 (third < 0.1)",
    ("intro.md", "2"): "the CI machine's two CPU cores (.ci/run, DEVELOPERS.md)",
}

_STRIP = [
    r"```.*?```", r"\{glue(:[a-z]+)?\}`[^`]*`", r"`[^`]*`", r"\$\$.*?\$\$", r"\$[^$\n]*\$", r"\]\([^)]*\)",
    r"<[^>]+>", r'"[^"]{0,400}"', r"“[^”]{0,400}”", r"^\|\s*\d\d(-\d\d)?\s*\|",
    r"\b(Eqs?|Tables?|Figs?|Figures?|Sec|Sections?|Algorithm|[Nn]otebooks?|[Ii]ssues?|Chapters?)\.?\s*\(?[0-9IVX]+"
    r"[a-z]?\)?(\s*(-|–|and|,|to|or)\s*\(?[0-9IVX]+[a-z]?\)?)*",
    r"\barXiv:\s*[\d.]+", r"\b(19|20)\d\d\b", r"#\d+", r"\b\d+(st|nd|rd|th)\b", r"\b[A-Za-z]+[_-]?\d+[A-Za-z0-9_]*\b",
    r"\b\d+\s*[x×]\s*\d+\b", r"\bx\d\b", r"\b\d{4}-\d{4}\b", r"\bseeds?\s+\d+(\s*(,|and|-|–|to)\s*\d+)*",
    r"\b9[05](\.\d+)?\s*%\s*(Student-t\s+)?(confidence\s+)?interval", r"^#+\s*\d+(\.\d+)*\.?",
]
_NUMBER = re.compile(r"(?<![\w.])[-+]?\d[\d,]*(\.\d+)?")


def _pages() -> list[tuple[str, str, str]]:
    """(page name, its prose, its code) for every chapter and book page."""
    out = []
    for path in PAGES:
        if path.suffix == ".py":
            nb = jupytext.read(path)
            prose = "\n\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
            code = "\n".join(c.source for c in nb.cells if c.cell_type == "code")
        else:
            prose, code = path.read_text(), ""
        out.append((path.name, prose, code))
    return out


def typed_numbers(prose: str, code: str) -> list[tuple[str, str]]:
    """(number, context) for every number of ``prose`` that none of the module docstring's rules covers."""
    text = prose
    for pattern in _STRIP:
        text = re.sub(pattern, " ", text, flags=re.M | re.S)
    literals = {float(x.replace("_", "")) for x in re.findall(r"(?<![\w.])\d[\d_]*(?:\.\d+)?", code)}
    found = []
    for m in _NUMBER.finditer(text):
        value = m.group(0).rstrip(",").lstrip("+-")
        if "," not in value.rstrip(",") or re.fullmatch(r"\d{1,3}(,\d{3})+(\.\d+)?", value):
            if float(value.replace(",", "")) in literals:
                continue
        found.append((m.group(0).rstrip(","), " ".join(text[max(0, m.start() - 50): m.end() + 30].split())))
    return found


@pytest.mark.parametrize("page", _pages(), ids=lambda p: p[0])
def test_every_number_in_prose_has_a_source(page: tuple[str, str, str]) -> None:
    name, prose, code = page
    typed = [(n, ctx) for n, ctx in typed_numbers(prose, code) if (name, n) not in ALLOWED]
    assert not typed, f"{name}: numbers typed in prose (glue, assert or source them):\n" + "\n".join(
        f"  {n!r}: ...{ctx}..." for n, ctx in typed)


def test_the_rules_catch_a_typed_number_and_pass_the_others() -> None:
    prose = ('DeFiAN_S reaches {glue:text}`psnr:.2f` dB on Set5 x2 (Table I, Eq. (12), notebook 05, seeds 0, 1, 2, '
             'the 95 % interval); the paper says "0.51dB". It took 42 minutes.')
    assert [n for n, _ in typed_numbers(prose, code="")] == ["42"]
    assert typed_numbers(prose, code="assert minutes == 42") == []


def test_allowed_entries_are_still_used() -> None:
    """An ALLOWED entry whose number left the page is stale."""
    by_page = {name: {n for n, _ in typed_numbers(prose, code)} for name, prose, code in _pages()}
    stale = [key for key in ALLOWED if key[1] not in by_page.get(key[0], set())]
    assert not stale, stale


def test_a_glue_from_another_page_names_its_format() -> None:
    """myst-nb reads ``{glue:text}`path::key``` without a format as key ``path:`` and format ``key``
    (the strict build then fails): a cross-page glue on a book page always ends in ``:format``."""
    bad = [(p.name, m.group(0)) for p in PAGES if p.suffix == ".md"
           for m in re.finditer(r"\{glue:text\}`[^`]*::[^`:]+`", p.read_text())]
    assert not bad, bad
