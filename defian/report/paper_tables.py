"""The paper's numbers (Tables I-V of Huang et al., TIP 2021) as data, typed as printed.

Every cell is kept exactly as the paper prints it (the text form) and parsed
into numbers; nothing here is computed. Other modules and the notebooks compare
their own results with these rows.

API:

* :data:`TABLE_I` (``DeFiAN_L`` vs high-fidelity methods) and :data:`TABLE_II`
  (``DeFiAN_S`` vs lightweight methods): lists of :class:`ComparisonRow`, one
  per (scale, method), with ``params_k``/``flops_g`` (``None`` for "-"),
  ``psnr[set]``/``ssim[set]`` for ``set`` in :data:`SETS`, and ``underlined``
  (the cells the paper underlines, e.g. ``"Set5/psnr"``).
* :func:`row` ``(table, method, scale)`` picks one row; :func:`as_dicts` gives
  flat dicts (``pandas.DataFrame(as_dicts(TABLE_I))``).
* :data:`TABLE_III` (ablation, x3, Set5), :data:`TABLE_IV` (Hessian kernel
  sizes, x3, Set5/Manga109), :data:`TABLE_V` (encoder-decoders, x3, Set5):
  lists of small dataclasses, fields named after the columns.

Known misprint: Table I prints RCAN's x3 #Params as ``15592.4.8``. It is kept
verbatim in ``params_text``; ``params_k`` holds ``15592.4`` (the stray ``.8``
dropped). Note that 15592.4 K is what RCAN's x2 count (15444.7 K) plus one more
x2 upsampling stage (64 -> 256 channels, 3x3 conv: 147.7 K) gives, i.e. the
x4 model's count, while the printed x4 row says 15197.0 K; the paper's own
DeFiAN_L rows differ by exactly the upsampler sizes (x3 - x2 = 184.3 K,
x4 - x2 = 147.4 K). Treat RCAN's x3/x4 #Params with care.

The text and the tables disagree in two places (the tables are kept): Sec.
IV-C1 says DeFiAN_L beats RCAN on Manga109 by 0.34/0.41/0.47 dB (x2/x3/x4),
Table I gives 0.44/0.45/0.49; Sec. IV-C2 says DeFiAN_S beats CARN on Manga109
by 0.51/0.23/0.12 dB, Table II gives 0.60/0.26/0.14.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from defian.data import testsets

__all__ = ["SETS", "ComparisonRow", "AblationRow", "KernelRow", "EnDecRow", "TABLE_I", "TABLE_II", "TABLE_III",
           "TABLE_IV", "TABLE_V", "row", "as_dicts"]

SETS = testsets.SETS  # column order of Tables I/II


@dataclass(frozen=True)
class ComparisonRow:
    """One row of Table I or II."""

    table: str  # "I" or "II"
    scale: int
    method: str  # as printed, without the reference number ("RCAN", "DeFiAN_L")
    ref: str  # the bracketed reference number ("21"), "" for Bicubic and ours
    params_text: str  # #Params (K) as printed ("-" for Bicubic)
    flops_text: str  # #FLOPs (G) as printed
    params_k: float | None  # parsed (see the module docstring for RCAN x3)
    flops_g: float | None
    psnr: dict[str, float] = field(default_factory=dict)  # dB, per set in SETS
    ssim: dict[str, float] = field(default_factory=dict)
    underlined: frozenset[str] = frozenset()  # e.g. {"Set5/psnr"}: the paper's underlined cells


# scale | method [ref] | #Params(K) #FLOPs(G) then PSNR SSIM per set in SETS order; "*" = underlined.
_TABLE_I = """
x2 | Bicubic       |         -         -   33.64  0.9292   30.22  0.8683   29.55  0.8425   26.87  0.8397   30.80  0.9339
x2 | MemNet [16]   |    2905.5     503.5   37.78  0.9597   33.28  0.9142   32.08  0.8978   31.31  0.9195   38.02  0.9755
x2 | EDSR [13]     |   40711.7    1760.0   38.11  0.9600   33.82  0.9189   32.33  0.9011   32.94  0.9351   39.10  0.9773
x2 | D-DBPN [45]   |    5953.5     270.0   38.05  0.9599   33.70  0.9188   32.25  0.9001   32.51  0.9316   38.81  0.9766
x2 | RDN [17]      |    5616.3     243.0   38.16  0.9603   33.88  0.9199   32.31  0.9009   32.89  0.9353   39.09  0.9771
x2 | MSRN [26]     |    5930.1     256.5   37.98  0.9597   33.56  0.9171   32.20  0.8994   32.29  0.9296   38.55  0.9762
x2 | RCAN [21]     |   15444.7     663.5  *38.18  0.9604  *34.00 *0.9203  *32.37 *0.9016  *33.14 *0.9364  *39.34 *0.9777
x2 | CSFM [22]     |   12071.9     519.9   38.17  0.9605   33.94  0.9200   32.34  0.9013   33.08  0.9358   39.30  0.9775
x2 | OISR-RK3 [31] |   44270.0    1812.1   38.13  0.9602   33.81  0.9194   32.34  0.9011   33.00  0.9357   39.13  0.9773
x2 | DeFiAN_L      |   15186.1     651.4   38.33  0.9618   34.28  0.9231   32.43  0.9029   33.39  0.9390   39.78  0.9797
x3 | Bicubic       |         -         -   30.40  0.8686   27.54  0.7741   27.21  0.7389   24.46  0.7349   26.95  0.8565
x3 | MemNet [16]   |    2905.5     503.5   34.12  0.9254   30.03  0.8356   28.98  0.8013   27.60  0.8393   32.79  0.9389
x3 | EDSR [13]     |   43660.8     839.6   34.64  0.9283   30.42  0.8447   29.26  0.8089   28.80  0.8652   34.17  0.9476
x3 | RDN [17]      |    5800.6     111.7   34.67  0.9285   30.46  0.8451   29.24  0.8084   28.80  0.8653   34.09  0.9474
x3 | MSRN [26]     |    6115.0     117.7   34.45  0.9265   30.29  0.8418   29.13  0.8054   28.30  0.8553   33.53  0.9441
x3 | RCAN [21]     | 15592.4.8     290.8  *34.72  0.9289  *30.52  0.8458   29.29  0.8099   29.00  0.8679   34.39  0.9488
x3 | CSFM [22]     |   12256.5     234.8  *34.72  0.9290  *30.52  0.8459   29.29  0.8096   28.97  0.8673  *34.48 *0.9492
x3 | OISR-RK3 [31] |   44877.2     862.7   34.69  0.9287   30.46  0.8454   29.28  0.8096   28.94  0.8674   34.28  0.9483
x3 | DeFiAN_L      |   15370.4     293.2   34.81  0.9305   30.75  0.8493   29.37  0.8120   29.28  0.8733   34.84  0.9515
x4 | Bicubic       |         -         -   28.42  0.8101   25.99  0.7023   25.96  0.6672   23.14  0.6573   24.89  0.7866
x4 | MemNet [16]   |    2905.5     503.5   31.74  0.8900   28.23  0.7731   27.43  0.7291   25.54  0.7666   29.64  0.8968
x4 | EDSR [13]     |   43071.0     542.9   32.46  0.8976   28.71  0.7857   27.72  0.7414   26.64  0.8029   31.02  0.9148
x4 | RDN [17]      |    5763.7      67.4   32.45  0.8979   28.70  0.7849   27.71  0.7410   26.61  0.8020   30.98  0.9141
x4 | D-DBPN [45]   |   10426.4     128.5   32.40  0.8966   28.66  0.7839   27.67  0.7385   26.38  0.7938   30.89  0.9127
x4 | MSRN [26]     |    6077.5      70.7   32.22  0.8947   28.53  0.7811   27.60  0.7371   26.20  0.7898   30.55  0.9093
x4 | RCAN [21]     |   15197.0     168.1  *32.62  0.8992   28.75  0.7862   27.74  0.7424   26.74  0.8058   31.18  0.9160
x4 | CSFM [22]     |   12219.6     136.6   32.57  0.8988  *28.77 *0.7864  *27.75 *0.7424   26.77  0.8057  *31.30 *0.9172
x4 | OISR-RK3 [31] |   44287.1     555.9   32.51  0.8984   28.76  0.7863  *27.75 *0.7423   26.78  0.8065   31.24  0.9160
x4 | DeFiAN_L      |   15333.5     169.5   32.67  0.9009   28.99  0.7906   27.84  0.7448   27.05  0.8134   31.67  0.9211
"""

_TABLE_II = """
x2 | Bicubic       |         -         -   33.64  0.9292   30.22  0.8683   29.55  0.8425   26.87  0.8397   30.80  0.9339
x2 | SRCNN [8]     |       8.0       1.4   36.66  0.9542   32.47  0.9069   31.37  0.8879   29.52  0.8947   35.73  0.9675
x2 | FSRCNN [28]   |      12.5       0.5   36.98  0.9556   32.62  0.9087   31.50  0.8904   29.85  0.9009   36.56  0.9703
x2 | VDSR [9]      |     664.7     115.1   37.53  0.9587   33.05  0.9127   31.90  0.8960   30.77  0.9141   37.37  0.9737
x2 | LapSRN [30]   |     435.3      18.9   37.52  0.9591   32.99  0.9124   31.80  0.8949   30.41  0.9101   37.27  0.9740
x2 | DRRN [11]     |     297.2    1275.5   37.74  0.9591   33.25  0.9137   32.05  0.8973   31.23  0.9188   37.88  0.9750
x2 | IDN [25]      |     715.3      31.0  *37.83 *0.9600   33.30  0.9148   32.08 *0.8985   31.27  0.9196   38.02  0.9749
x2 | CARN [27]     |    1592.4      41.9   37.80  0.9589  *33.44 *0.9161  *32.10  0.8978  *31.93 *0.9256  *38.31 *0.9754
x2 | DeFiAN_S      |    1027.6      44.2   38.03  0.9605   33.63  0.9181   32.20  0.8999   32.20  0.9286   38.91  0.9775
x3 | Bicubic       |         -         -   30.40  0.8686   27.54  0.7741   27.21  0.7389   24.46  0.7349   26.95  0.8565
x3 | SRCNN [8]     |       8.0       1.4   32.75  0.9090   29.29  0.8215   28.41  0.7863   26.24  0.7991   30.56  0.9125
x3 | FSRCNN [28]   |      12.5       0.2   33.16  0.9140   29.42  0.8242   28.52  0.7893   26.41  0.8064   31.12  0.9196
x3 | VDSR [9]      |     664.7     115.1   33.66  0.9213   29.78  0.8318   28.83  0.7976   27.14  0.8279   32.13  0.9348
x3 | LapSRN [30]   |     435.3       8.5   33.82  0.9227   29.79  0.8320   28.82  0.7973   27.07  0.8271   32.21  0.9344
x3 | DRRN [11]     |     297.2    1275.5   34.02  0.9244   29.98  0.8350   28.95  0.8004   27.54  0.8378   32.72  0.9380
x3 | IDN [25]      |     715.3      13.8   34.12  0.9253   29.99  0.8356   28.95  0.8013   27.42  0.8360   32.71  0.9379
x3 | CARN [27]     |    1592.4      22.3  *34.28 *0.9254  *30.19 *0.8397  *29.06 *0.8034  *28.06 *0.8493  *33.46 *0.9429
x3 | DeFiAN_S      |    1073.7      20.6   34.42  0.9273   30.34  0.8410   29.12  0.8053   28.20  0.8528   33.72  0.9447
x4 | Bicubic       |         -         -   28.42  0.8101   25.99  0.7023   25.96  0.6672   23.14  0.6573   24.89  0.7866
x4 | SRCNN [8]     |       8.0       1.4   30.49  0.8629   27.51  0.7519   26.91  0.7104   24.53  0.7230   27.66  0.8566
x4 | FSRCNN [28]   |      12.5       0.1   30.70  0.8657   27.59  0.7535   26.96  0.7128   24.60  0.7258   27.85  0.8557
x4 | VDSR [9]      |     664.7     115.1   31.35  0.8838   28.02  0.7678   27.29  0.7252   25.18  0.7525   28.87  0.8865
x4 | LapSRN [30]   |     435.3       4.8   31.52  0.8854   28.09  0.7687   27.31  0.7255   25.21  0.7545   29.08  0.8883
x4 | DRRN [11]     |     297.2    1275.5   31.67  0.8888   28.22  0.7721   27.38  0.7284   25.45  0.7639   29.44  0.8943
x4 | IDN [25]      |     715.3       7.7   31.81  0.8903   28.25  0.7731   27.41  0.7295   25.41  0.7630   29.42  0.8939
x4 | CARN [27]     |    1592.4      17.1  *32.12 *0.8936  *28.50 *0.7791   27.58 *0.7349  *26.06 *0.7837  *30.45 *0.9073
x4 | DeFiAN_S      |    1064.5      12.8   32.16  0.8942   28.63  0.7810   27.58  0.7363   26.10  0.7862   30.59  0.9084
"""

_MISPRINTS = {("I", 3, "RCAN", "15592.4.8"): 15592.4}  # params_text -> cleaned params_k


def _number(text: str) -> float | None:
    return None if text == "-" else float(text)


def _parse(table: str, text: str) -> list[ComparisonRow]:
    out = []
    for line in text.strip().splitlines():
        scale, name, cells = (part.strip() for part in line.split("|"))
        method, _, ref = name.partition(" [")
        params, flops, *scores = cells.split()
        under = frozenset(f"{SETS[k // 2]}/{('psnr', 'ssim')[k % 2]}" for k, c in enumerate(scores) if c[0] == "*")
        vals = [float(c.lstrip("*")) for c in scores]
        key = (table, int(scale[1:]), method, params)
        params_k = _MISPRINTS[key] if key in _MISPRINTS else _number(params)
        out.append(ComparisonRow(table, int(scale[1:]), method, ref.rstrip("]"), params, flops, params_k,
                                 _number(flops), dict(zip(SETS, vals[0::2])), dict(zip(SETS, vals[1::2])), under))
    return out


#: Table I: DeFiAN_L and the high-fidelity methods, x2/x3/x4 (Bicubic row included).
TABLE_I: list[ComparisonRow] = _parse("I", _TABLE_I)
#: Table II: DeFiAN_S and the lightweight methods, x2/x3/x4 (Bicubic row included).
TABLE_II: list[ComparisonRow] = _parse("II", _TABLE_II)


@dataclass(frozen=True)
class AblationRow:
    """Table III: ablation of DeFiAN_L's modules (N=10, M=20, C=64), x3, PSNR on Set5, 5e4 updates."""

    column: str  # (a)..(h), the subfigure letters of Fig. 10
    mshf: bool
    diendec: bool
    dac: bool
    params_k: float
    flops_g: float
    psnr_set5: float


# Table III as printed: rows MSHF / DiEnDec / DAC (check marks), #Params(K), #FLOPs(G), PSNR.
# The extracted text carries an extra unlabelled first row identical to the MSHF row
# (x, v, x, x, v, v, x, v); it is a header artefact and not kept.
_T3_MSHF = "x v x x v v x v"
_T3_DIENDEC = "x x v x v x v v"
_T3_DAC = "x x x v x v v v"
_T3_PARAMS = "15233.8 15291.4 15302.5 15244.1 15360.1 15301.7 15312.8 15370.4"
_T3_FLOPS = "290.8 291.9 292.1 290.8 293.2 291.9 292.1 293.2"
_T3_PSNR = "33.91 34.12 34.09 33.96 34.17 34.15 34.13 34.22"

TABLE_III: list[AblationRow] = [
    AblationRow(col, m == "v", d == "v", a == "v", float(p), float(f), float(q))
    for col, m, d, a, p, f, q in zip("abcdefgh", _T3_MSHF.split(), _T3_DIENDEC.split(), _T3_DAC.split(),
                                     _T3_PARAMS.split(), _T3_FLOPS.split(), _T3_PSNR.split(), strict=True)
]


@dataclass(frozen=True)
class KernelRow:
    """Table IV: Hessian kernel sizes of MSHF, x3, average PSNR (5e4 updates)."""

    kernels: tuple[int, ...]  # () = "w/o HF"
    params_k: float
    flops_g: float
    psnr_set5: float
    psnr_manga109: float


TABLE_IV: list[KernelRow] = [
    KernelRow((), 15233.8, 290.8, 33.91, 32.69),  # "w/o HF"
    KernelRow((3,), 15253.0, 291.1, 34.06, 32.89),
    KernelRow((5,), 15253.0, 291.1, 34.05, 32.85),
    KernelRow((7,), 15253.0, 291.1, 33.80, 32.28),
    KernelRow((3, 5), 15272.2, 291.5, 34.09, 32.94),
    KernelRow((3, 7), 15272.2, 291.5, 34.09, 32.91),
    KernelRow((5, 7), 15272.2, 291.5, 34.04, 32.91),
    KernelRow((3, 5, 7), 15291.4, 291.9, 34.12, 33.01),
]


@dataclass(frozen=True)
class EnDecRow:
    """Table V: encoder-decoder types, x3, average PSNR on Set5 (5e4 updates).

    ``psnr[d]`` is the PSNR at half depth ``d`` (with MSHF); ``None`` where the
    paper prints "-" (for d = 0, 1 the three types coincide, paper Sec. IV-D4).
    ``psnr_d0_without_mshf`` is the "w/o MSHF" column of d = 0 (the vanilla baseline).
    """

    endec: str  # "HGenDec", "ConvEnDec", "DiEnDec"
    full_resolution: bool  # column (1) of the paper
    growing_receptive_field: bool  # column (2)
    psnr_d0_without_mshf: float | None
    psnr: dict[int, float | None]


TABLE_V: list[EnDecRow] = [
    EnDecRow("HGenDec", False, True, None, {0: None, 1: None, 2: 34.15, 3: 34.17, 4: 34.11}),
    EnDecRow("ConvEnDec", True, False, None, {0: None, 1: None, 2: 34.15, 3: 34.11, 4: 34.11}),
    EnDecRow("DiEnDec", True, True, 33.96, {0: 34.15, 1: 34.13, 2: 34.19, 3: 34.22, 4: 34.13}),
]


def row(table: list[ComparisonRow], method: str, scale: int) -> ComparisonRow:
    """The row of ``method`` (e.g. ``"Bicubic"``, ``"DeFiAN_L"``) at ``scale`` in Table I or II."""
    for r in table:
        if r.method == method and r.scale == scale:
            return r
    names = sorted({r.method for r in table if r.scale == scale})
    raise KeyError(f"no row {method!r} at x{scale}; methods: {', '.join(names)}")


def as_dicts(table: list[ComparisonRow]) -> list[dict]:
    """Flat dicts, one per row: ``table, scale, method, params_k, flops_g, <set>_psnr, <set>_ssim``."""
    out = []
    for r in table:
        rec = {"table": r.table, "scale": r.scale, "method": r.method, "params_k": r.params_k, "flops_g": r.flops_g}
        for s in SETS:
            rec[f"{s}_psnr"], rec[f"{s}_ssim"] = r.psnr[s], r.ssim[s]
        out.append(rec)
    return out
