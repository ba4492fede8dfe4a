"""From run records to the book's tables and figures (Sec. IV, Tables I-V, Figs. 1, 10-14).

Modules:
    paper_tables: the paper's printed Tables I-V, parsed (the numbers we compare with).
    inference: super-resolving images with a model (tiled, self-ensemble, peak memory).
    evaluate: scoring a checkpoint or a run on the benchmark sets (``defian evaluate``).
    table_runs: which run records fill each table, and which runs would fill its gaps.
    tables: Tables I-V as measured next to printed.
    figures: Figs. 1, 10, 11, 13 and 14.
    study: the cpu study's runs (``defian study``).
    study_stats: the cpu study's statistics (paired gains, noise, verdicts).
"""

from __future__ import annotations

from defian.report.evaluate import Evaluation as Evaluation
from defian.report.evaluate import load_model as load_model
from defian.report.inference import tiled_forward as tiled_forward
from defian.report.paper_tables import TABLE_I as TABLE_I
from defian.report.paper_tables import TABLE_II as TABLE_II

__all__ = ["Evaluation", "load_model", "tiled_forward", "TABLE_I", "TABLE_II"]
