"""NACLIP (Hajimiri, Ben Ayed & Dolz, WACV 2025, "Pay Attention to Your Neighbours"): key–key attention plus a
Gaussian neighbourhood prior in the last block, which keeps only its attention output.

The paper's neighbourhood attention (arXiv 2404.08181), as sinahmr/NACLIP:clip/model.py
``custom_attn(attn_strategy='naclip')``, ``gaussian_window``, ``get_attention_addition``, and ``forward`` with
``arch='reduced'``:

    Ω_ij = exp(−‖p_i − p_j‖² / (2σ²))    (p the patches' grid positions, σ = 5 patches; 0 on the CLS row/column)
    A = softmax(k kᵀ · s + Ω);           x_L = out_proj(A v)      (no residual, no FFN)

The repository builds Ω by convolving each patch's one-hot map with a (2h − 1) × (2w − 1) Gaussian window, so
the kernel reaches every patch of the grid: the closed form above. PAMR (:func:`car.peers.pamr`) is NACLIP's
default post-processing and a separate switch here (config ``pamr``, off unless named): the published "NACLIP"
rows with PAMR and without are different rows.
"""
from __future__ import annotations

import torch

from car.backbones import ClipBundle, blocks
from car.peers.base import head_scale, last_block_input, merge_heads, project, split_heads

#: σ of the neighbourhood kernel, in patches (NACLIP ``gaussian_std``, default 5).
GAUSSIAN_STD = 5.0


def neighbourhood(grid: tuple[int, int], std: float = GAUSSIAN_STD, cls_token: bool = True) -> torch.Tensor:
    """Ω: float (1 + n, 1 + n) (or (n, n) without the CLS token), Ω_ij = exp(−‖p_i − p_j‖² / (2 std²)) over the
    (h, w) grid positions in row-major order, 0 on the CLS row and column."""
    h, w = grid
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32),
                            indexing="ij")
    pos = torch.stack([ys.flatten(), xs.flatten()], 1)  # (n, 2)
    omega = torch.exp(-torch.cdist(pos, pos) ** 2 / (2 * std ** 2))  # (n, n)
    return torch.nn.functional.pad(omega, (1, 0, 1, 0)) if cls_token else omega


def attention(k: torch.Tensor, scale: float, omega: torch.Tensor) -> torch.Tensor:
    """NACLIP's weights softmax(k kᵀ s + Ω); k float (..., L, d), Ω float (L, L) → float (..., L, L)."""
    return torch.softmax(k @ k.transpose(-1, -2) * scale + omega, -1)


def features(bundle: ClipBundle, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """NACLIP's patch embeddings of image tensor x float (1, 3, h*p, w*p): normalised float (n, D), (h, w)."""
    tokens, grid = last_block_input(bundle, x)
    last = blocks(bundle)[-1]
    _, k, v = split_heads(last.attn, last.ln_1(tokens))
    omega = neighbourhood(grid).to(k.device, k.dtype)
    out = merge_heads(last.attn, attention(k, head_scale(last.attn), omega), v)  # arch 'reduced'
    return project(bundle, out[0, 1:]), grid
