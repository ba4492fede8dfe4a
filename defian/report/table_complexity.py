"""Every DeFiAN #Params / #FLOPs of Tables I-IV regenerated beside the printed value (Sec. IV-A2).

The counting is :mod:`defian.nn.complexity`; the printed values are
:mod:`defian.report.paper_tables`; this module pairs them (notebook 04).
"""

from __future__ import annotations

from defian.nn.complexity import HR_SIZE, breakdown_preset
from defian.report import paper_tables as pt

__all__ = ["reproduce"]


def reproduce(hr_size: tuple[int, int] = HR_SIZE) -> list[dict]:
    """Regenerate every DeFiAN #Params / #FLOPs of Tables I-IV beside the printed value.

    Each configuration is built on the meta device and counted under the
    "paper" convention. A value "matches" when it rounds to the printed digit
    (|ours - paper| < 0.05 in K or G).

    Returns:
        One dict per printed cell pair: ``table, setting, scale, params_paper,
        params_ours, params_diff, flops_paper, flops_ours, flops_diff,
        params_match, flops_match`` (params in K, FLOPs in G).
    """
    cases = [("I", "DeFiAN_L", r.scale, "defian_l", {}, r) for r in pt.TABLE_I if r.method == "DeFiAN_L"]
    cases += [("II", "DeFiAN_S", r.scale, "defian_s", {}, r) for r in pt.TABLE_II if r.method == "DeFiAN_S"]
    for r in pt.TABLE_III:
        mark = {True: "v", False: "x"}
        label = f"({r.column}) MSHF={mark[r.mshf]} DiEnDec={mark[r.diendec]} DAC={mark[r.dac]}"
        cases.append(("III", label, 3, "defian_l", {"mshf": r.mshf, "diendec": r.diendec, "dac": r.dac}, r))
    for r in pt.TABLE_IV:
        sw = {"kernel_sizes": r.kernels} if r.kernels else {"mshf": False}  # MSHF alone, or nothing
        sw |= {"diendec": False, "dac": False}
        cases.append(("IV", f"ker={r.kernels}" if r.kernels else "w/o HF", 3, "defian_l", sw, r))
    rows = []
    for table, label, scale, name, sw, r in cases:
        c = breakdown_preset(name, scale, hr_size, **sw)
        p, f = c.params / 1e3, c.flops() / 1e9
        rows.append({
            "table": table, "setting": label, "scale": scale,
            "params_paper": r.params_k, "params_ours": round(p, 3), "params_diff": round(p - r.params_k, 3),
            "flops_paper": r.flops_g, "flops_ours": round(f, 4), "flops_diff": round(f - r.flops_g, 4),
            "params_match": abs(p - r.params_k) < 0.05, "flops_match": abs(f - r.flops_g) < 0.05,
        })
    return rows
