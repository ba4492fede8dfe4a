"""Reading comfort of the chapters (issue 23), checked on the notebook sources (jupytext py:percent).

1. Every chapter opens with an "In short" admonition (in the markdown before its first code cell)
   whose number is glued from the page's own computation (``{glue:...}``; a local key must be
   glued somewhere in the notebook) or quoted from the paper with its source (Table/Eq./Fig./Sec.).
2. Every code cell of more than ``LONG_CELL`` lines that draws (``plt.``) or displays
   (``display(``) and neither asserts nor glues carries the ``hide-input`` tag, so the page shows
   its output and keeps the code one click away.
"""

from __future__ import annotations

import re
from pathlib import Path

import jupytext
import pytest

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
LONG_CELL = 15  # lines of code (blank lines not counted) above which a drawing/displaying cell is hidden
BOX_MAX_LINES = 3  # lines of text inside the box, besides its :::{admonition} / :class: / ::: lines
PAPER_SOURCE = re.compile(r"\b(Tables? [IVX]+|Eqs?\. ?\(\d+\)|Figs?\. ?\d+|Sec\. ?[IVX]+)")
GLUE_REF = re.compile(r"\{glue:[a-z]+\}`([^`]+)`")


def _chapters() -> list[Path]:
    return [p for p in sorted(NOTEBOOKS.glob("[0-9][0-9]_*.py"))]


def _box(path: Path) -> list[str] | None:
    """Lines inside the first "In short" admonition of the markdown before the first code cell."""
    nb = jupytext.read(path)
    head = []
    for cell in nb.cells:
        if cell.cell_type == "code":
            break
        if cell.cell_type == "markdown":
            head.extend(cell.source.splitlines())
    starts = [i for i, line in enumerate(head) if re.match(r"^:::+\{admonition\} In short\s*$", line)]
    if not starts:
        return None
    body = head[starts[0] + 1:]
    end = next(i for i, line in enumerate(body) if re.match(r"^:::+\s*$", line))
    return [line for line in body[:end] if not line.startswith(":class:")]


def _glued_keys(source: str) -> list[re.Pattern[str]]:
    """Every key the notebook glues; f-string keys become patterns (``f"{s}_verdict"`` -> ``.+_verdict``)."""
    keys = []
    for quote, key in re.findall(r"glue\(\s*(f?)[\"']([^\"']+)[\"']", source):
        keys.append(re.compile(re.sub(r"\\\{[^}]*\\\}", ".+", re.escape(key)) if quote else re.escape(key)))
    return keys


def test_there_are_chapters() -> None:
    assert len(_chapters()) >= 15


@pytest.mark.parametrize("path", _chapters(), ids=lambda p: p.stem)
def test_chapter_opens_with_in_short_box(path: Path) -> None:
    box = _box(path)
    assert box is not None, f"{path.name}: no ':::{{admonition}} In short' box before the first code cell"
    text = "\n".join(box)
    assert 0 < len([line for line in box if line.strip()]) <= BOX_MAX_LINES, f"{path.name}: box of {len(box)} lines"
    refs = GLUE_REF.findall(text)
    assert refs or PAPER_SOURCE.search(text), f"{path.name}: the box has neither a glued number nor a paper source"
    glued = _glued_keys(path.read_text())
    for ref in refs:
        if "::" in ref:  # another page's key, resolved by the book build
            continue
        key = ref.split(":")[0]
        assert any(p.fullmatch(key) for p in glued), f"{path.name}: the box pastes {key!r}, which no cell glues"


@pytest.mark.parametrize("path", _chapters(), ids=lambda p: p.stem)
def test_long_drawing_cells_are_hidden(path: Path) -> None:
    bad = []
    for i, cell in enumerate(jupytext.read(path).cells):
        if cell.cell_type != "code":
            continue
        src = cell.source
        lines = [line for line in src.splitlines() if line.strip()]
        draws = "plt." in src or "display(" in src
        if len(lines) > LONG_CELL and draws and "assert" not in src and "glue(" not in src:
            if "hide-input" not in cell.metadata.get("tags", []):
                bad.append(f"cell {i} ({len(lines)} lines): {lines[0][:60]}")
    assert not bad, f"{path.name}: long drawing/displaying cells without the hide-input tag: {bad}"
