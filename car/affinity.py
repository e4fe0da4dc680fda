"""Class-aware affinity (CAA) of CLIP-ES: Sinkhorn-normalised attention refines the CAMs (paper Eq. 7–8).

Official order (``clipcam.py``): mean attention of the last k blocks (CLS dropped) → ``rounds`` of (column, row)
normalisation → symmetrise → power t → per query, a box mask from the raw CAM selects the *source* positions
(the columns) → refined = Aᵗ · (B ⊙ vec(CAM)) → min–max. The paper writes B ⊙ (Aᵗ · vec(M)); :func:`refine`
follows the code and :func:`refine` with ``mask_output=True`` follows the paper.

The affinity does not depend on the queries, so :class:`car.model.CaR` computes it once per image.
"""
from __future__ import annotations

import cv2
import numpy as np
import torch

from car.cam import minmax

#: λ is lowered by this step until a box appears (official ``scoremap2bbox`` loop; CLIP-ES has no loop).
LAMBDA_STEP = 0.1


def attention_affinity(attention: torch.Tensor, layers: int = 8) -> torch.Tensor:
    """Mean of the last ``layers`` head-averaged attention maps: float (L, n, n) → (n, n)."""
    return attention[-layers:].mean(0).float()


def sinkhorn(attn: torch.Tensor, rounds: int = 3) -> torch.Tensor:
    """Alternate column and row normalisation, ``rounds`` times (column first, as the official code).

    Args:
        attn: float (n, n), non-negative.

    Returns:
        float (n, n): rows sum to 1 exactly; columns approach 1 as rounds grow (doubly stochastic limit).
    """
    d = attn
    for _ in range(rounds):
        d = d / d.sum(0, keepdim=True)
        d = d / d.sum(1, keepdim=True)
    return d


def symmetric_affinity(attn: torch.Tensor, rounds: int = 3, power: int = 2) -> torch.Tensor:
    """Eq. 7: A = (D + Dᵀ)/2 with D = sinkhorn(attn), raised to ``power`` (official: one squaring)."""
    d = sinkhorn(attn, rounds)
    return torch.linalg.matrix_power((d + d.T) / 2, power)


def box_mask(cam: np.ndarray | torch.Tensor, lam: float) -> np.ndarray:
    """Union of the bounding boxes of the CAM's regions above λ·max (official ``scoremap2bbox``).

    The CAM is quantised to uint8, thresholded with OpenCV at ``int(λ · max)`` (strictly above), every contour's
    bounding rectangle ``[x0, y0, min(x0+w, W−1), min(y0+h, H−1)]`` is filled half-open — so, as in the official
    code, the last row and column are never inside a box. If nothing passes, λ is lowered by 0.1 until
    something does or λ ≤ 0.

    Args:
        cam: float (h, w) in [0, 1].

    Returns:
        bool (h, w).
    """
    cam = cam.detach().cpu().numpy() if isinstance(cam, torch.Tensor) else np.asarray(cam)
    h, w = cam.shape
    img = (cam * 255).astype(np.uint8)
    contours: tuple = ()
    while lam > 0:
        _, binary = cv2.threshold(img, int(lam * img.max()), 255, cv2.THRESH_BINARY)
        contours = cv2.findContours(binary, cv2.RETR_TREE, cv2.CHAIN_APPROX_SIMPLE)[0]
        if len(contours):
            break
        lam -= LAMBDA_STEP
    mask = np.zeros((h, w), bool)
    for contour in contours:
        x, y, bw, bh = cv2.boundingRect(contour)
        mask[y:min(y + bh, h - 1), x:min(x + bw, w - 1)] = True
    return mask


def refine_with_affinity(cams: torch.Tensor, affinity: torch.Tensor, lam: float,
                         mask_output: bool = False) -> torch.Tensor:
    """CAA for all queries at once given a precomputed affinity (Eq. 8).

    Args:
        cams: float (N, h, w) in [0, 1], raw grad-CAMs.
        affinity: float (n, n), n = h*w, from :func:`symmetric_affinity`.
        lam: λ, the box threshold.
        mask_output: False = official (box mask on the input CAM's positions); True = the paper's B ⊙ (Aᵗ·M).

    Returns:
        float (N, h, w) in [0, 1].
    """
    N, h, w = cams.shape
    boxes = torch.from_numpy(np.stack([box_mask(c, lam) for c in cams]) if N else np.zeros((0, h, w), bool))
    boxes = boxes.to(cams.device, cams.dtype).reshape(N, h * w)  # (N, n)
    flat = cams.reshape(N, h * w)
    refined = (flat @ affinity.T) * boxes if mask_output else (flat * boxes) @ affinity.T  # (N, n)
    return minmax(refined.reshape(N, h, w))


def refine(cam: torch.Tensor, attn: torch.Tensor, lam: float, power: int = 2, rounds: int = 3) -> torch.Tensor:
    """CAA of CAMs from a raw attention map (convenience form of :func:`refine_with_affinity`).

    Args:
        cam: float (N, h, w) or (h, w) in [0, 1].
        attn: float (n, n) mean attention (CLS dropped), n = h*w.

    Returns:
        float, same shape as ``cam``, in [0, 1].
    """
    single = cam.ndim == 2
    cams = cam[None] if single else cam
    out = refine_with_affinity(cams, symmetric_affinity(attn, rounds, power), lam)
    return out[0] if single else out
