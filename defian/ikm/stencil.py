"""Which stencil an IKM attention turns a 3 x 3 kernel into (IKM paper, Sec. IV-C, Figs. 5-6).

The paper reads the attention A (Eq. 11) of an image as an operator: "an isotropic
Laplace operator" where the image's content sits in its centre (Fig. 5), "a horizontal
Prewitt operator" where it has strong vertical contrasts (Fig. 6). A scales every tap of
the kernel (Eq. 12); its mean only rescales the convolution, so its *shape* is
A - mean(A). :func:`nearest_stencil` names that shape by its cosine similarity to a few
zero-mean 3 x 3 templates (:data:`STENCILS`), the sign saying whether A follows the
template or its negative (e.g. ring over centre).
"""

from __future__ import annotations

import torch

from defian.ikm.operator import IKMError

__all__ = ["STENCILS", "nearest_stencil"]

_ONES = torch.ones(3, 3, dtype=torch.float64)

#: Zero-mean 3 x 3 templates, by name.
STENCILS: dict[str, torch.Tensor] = {
    "centre over ring (isotropic Laplacian-like)": 9 * torch.eye(3, dtype=torch.float64)[1].outer(
        torch.eye(3, dtype=torch.float64)[1]) - _ONES,
    "middle column (vertical line)": torch.tensor([-1.0, 2.0, -1.0], dtype=torch.float64).expand(3, 3).clone(),
    "middle row (horizontal line)": torch.tensor([-1.0, 2.0, -1.0], dtype=torch.float64).expand(3, 3).T.clone(),
    "left to right (horizontal Prewitt-like)": torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64).expand(3, 3).clone(),
    "top to bottom (vertical Prewitt-like)": torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64).expand(3, 3).T.clone(),
}


def nearest_stencil(attention: torch.Tensor, tol: float = 1e-9) -> tuple[str, float]:
    """Name the template of :data:`STENCILS` closest in shape to one attention map.

    Args:
        attention: A of one channel, shape (3, 3), any float dtype.
        tol: below this norm of A - mean(A), A is uniform (a rescaled plain convolution).

    Returns:
        (name, cosine): the template with the largest |cosine| to A - mean(A), and that
        cosine in [-1, 1] (negative: A follows the template's negative); ("uniform", 0.0)
        for a constant A.

    Raises:
        IKMError: ``attention`` is not 3 x 3.
    """
    if attention.shape != (3, 3):
        raise IKMError(f"attention must be one 3 x 3 map, got shape {tuple(attention.shape)}")
    shape = attention.detach().to(torch.float64).cpu()
    shape = shape - shape.mean()
    norm = float(shape.norm())
    if norm < tol:
        return "uniform", 0.0
    cos = {name: float((shape * t).sum()) / (norm * float(t.norm())) for name, t in STENCILS.items()}
    best = max(cos, key=lambda n: abs(cos[n]))
    return best, cos[best]
