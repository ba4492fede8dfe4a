"""Detail-fidelity attention module (DeFiAM), Eq. (6), and its ablation wiring.

Implements Eq. (6) of Section III-A:

    y = x + F(x) * S(A(D(H(F(x))), x))

with F the FEM (Eq. 7, :mod:`defian.nn.fem`), H the multi-scale Hessian filtering
(Eqs. 12-18, :mod:`defian.nn.hessian`), D the encoder-decoder (Sec. III-C,
:mod:`defian.nn.diendec`), A the DAC (Eqs. 20-22, :mod:`defian.nn.dac`) and S the
sigmoid. Facts from the released code: the DAC's referenced feature is the
module *input* x (not F(x)); the sigmoid is applied to the DAC output; the
Hessian maps are channel means of each scale's lambda map.

Ablation wiring (Table III, all 8 combinations; Table IV; Table V). The paper
does not say how the attention branch is closed when a part is removed; we
use the simplest wiring that reproduces every #Params of Tables III-IV exactly
(each removed part removes exactly its own parameters, nothing is added):

* MSHF off: H is the identity, i.e. each of the K "Hessian maps" is the
  channel mean of F(x) (the encoder-decoder keeps its K = 3 inputs, as Table
  III's DiEnDec-only #Params requires).
* DiEnDec off (= half depth d = 0 in Table V): D is the parameter-free mean of
  the K maps, v = mean_k lambda_k.
* DAC off: a = S(v), one map broadcast over the C channels.
* all three off: no attention branch, a = 1, y = x + F(x): the RCAN baseline
  (Fig. 10 (a), first column of Table III).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from defian.nn.dac import DAC
from defian.nn.diendec import EncoderDecoder
from defian.nn.fem import FEM
from defian.nn.hessian import MSHF

__all__ = ["DeFiAM", "AttentionSwitches"]


@dataclass(frozen=True)
class AttentionSwitches:
    """Which parts of the attention branch a DeFiAM has (Tables III-V)."""

    mshf: bool = True  # multi-scale Hessian filtering (paper III-B)
    kernel_sizes: tuple[int, ...] = (3, 5, 7)  # Table IV: the Hessian scales
    hessian_variant: str = "paper"  # Eq. (16) with its zero vectors, = the released code (defian.nn.hessian)
    diendec: bool = True  # encoder-decoder fusion (paper III-C)
    endec: str = "diendec"  # Table V: "diendec" | "convendec" | "hgendec" (| their "_skip" variants)
    half_depth: int = 3  # d, paper Fig. 4(a); Table V: 0..4
    dac: bool = True  # distribution alignment cell (paper III-D)
    mshf_mode: str = "frozen"  # the MSHF filters' parameters: :data:`defian.nn.hessian.MSHF_MODES`

    @property
    def any(self) -> bool:
        """True when the module has an attention branch at all."""
        return self.mshf or self.diendec or self.dac


class DeFiAM(nn.Module):
    """One detail-fidelity attention module.

    Args:
        channels (int): C.
        n_blocks (int): M, RCABs in the FEM.
        switches (AttentionSwitches): the attention branch's parts.
        reduction (int): bottleneck ratio of channel attention and DAC (16).
    """

    def __init__(
        self, channels: int, n_blocks: int, switches: AttentionSwitches = AttentionSwitches(), reduction: int = 16
    ) -> None:
        super().__init__()
        self.switches, self.channels = switches, channels
        self.fem = FEM(channels, n_blocks, reduction)
        k = len(switches.kernel_sizes)
        if switches.any and k < 1:
            raise ValueError("kernel_sizes must name at least one Hessian scale")
        self.mshf: nn.Module | None = None
        if switches.mshf:
            self.mshf = MSHF(channels, kernel_sizes=tuple(switches.kernel_sizes), variant=switches.hessian_variant,
                             mode=switches.mshf_mode)
        self.endec: EncoderDecoder | None = None
        if switches.any:
            depth = switches.half_depth if switches.diendec else 0
            self.endec = EncoderDecoder(k, depth, switches.endec)
        self.dac: DAC | None = DAC(channels, reduction) if switches.dac else None

    def hessian_maps(self, f: torch.Tensor) -> torch.Tensor:
        """H(F(x)): (B, C, H, W) -> (B, K, H, W) channel-averaged maps (Eq. 18 input)."""
        if self.mshf is not None:
            return self.mshf(f)
        k = len(self.switches.kernel_sizes)
        return f.mean(dim=1, keepdim=True).expand(-1, k, -1, -1)  # MSHF off: identity "filter"

    def branch(self, x: torch.Tensor, f: torch.Tensor) -> dict[str, torch.Tensor]:
        """Every intermediate of the attention branch (for figures and notebook 03).

        Args:
            x: module input, (B, C, H, W).
            f: F(x), (B, C, H, W).

        Returns:
            ``lambdas`` (B, K, H, W), ``v`` (B, 1, H, W), ``aligned`` (B, C, H, W)
            (= v when the DAC is off), ``a`` (B, C or 1, H, W).
        """
        if self.endec is None:
            raise ValueError("this DeFiAM has no attention branch (mshf, diendec and dac all off)")
        lambdas = self.hessian_maps(f)  # H(F(x))
        v = self.endec(lambdas)  # D(.): (B, 1, H, W)
        aligned = self.dac(v, x) if self.dac is not None else v  # A(., x): (B, C, H, W) | (B, 1, H, W)
        return {"lambdas": lambdas, "v": v, "aligned": aligned, "a": torch.sigmoid(aligned)}

    def attention(self, x: torch.Tensor, f: torch.Tensor) -> torch.Tensor:
        """The attention map ``S(A(D(H(F(x))), x))`` of Eq. (6): (B, C or 1, H, W), in (0, 1)."""
        return self.branch(x, f)["a"]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Implements Eq. (6): (B, C, H, W) -> (B, C, H, W)."""
        f = self.fem(x)  # F(x), Eq. (7)
        if self.endec is None:
            return x + f  # no attention branch: the RCAN baseline, a = 1
        return x + f * self.attention(x, f)
