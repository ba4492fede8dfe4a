"""From run records to the book's tables and figures (Sec. IV, Tables I-V, Figs. 1, 10-14).

Modules:
    paper_tables: the paper's printed Tables I-V, parsed (the numbers we compare with).
    inference: super-resolving images with a model (tiled, self-ensemble, peak memory).
    evaluate: scoring a checkpoint or a run on the benchmark sets (``defian evaluate``).
    upscale: super-resolving a user's own images, tiled (``defian upscale``).
    table_runs: which run records fill each table, and which runs would fill its gaps.
    tables: what every table shares (scores of runs, the Table object, where tables go).
    table_comparison: Tables I-II; table_ablation: Tables III-V.
    figures: Figs. 1, 10, 11, 13 and 14.
    study: the cpu study's runs (``defian study``).
    study_stats: the cpu study's statistics (paired gains, noise, verdicts).
    modulation: attention as kernel modulation, Eqs. (1)-(5), location by location.
    gradients: Eq. (25) tested: MSHF's gradient, deep stacks at initialisation.
    deviations: the paper / released code / book table (notebook 14).
    deviation_effects: what each deviation changes, measured.
    coverage: every numbered equation, table and figure, where and how faithfully (notebook 15).
    table_complexity: #Params / #FLOPs of Tables I-IV regenerated beside the printed cells.
    folders: scoring a folder of SR images against HR (``defian evaluate --images``).
    matlab_scores: the RCAN authors' MATLAB scores, the external check of :mod:`defian.data.metrics`.
    y_convention: released outputs under rounded/float Y next to the printed rows; the margins on one Y.
"""

from __future__ import annotations

from defian.report.evaluate import Evaluation as Evaluation
from defian.report.evaluate import load_model as load_model
from defian.report.inference import tiled_forward as tiled_forward
from defian.report.paper_tables import TABLE_I as TABLE_I
from defian.report.paper_tables import TABLE_II as TABLE_II

__all__ = ["Evaluation", "load_model", "tiled_forward", "TABLE_I", "TABLE_II"]
