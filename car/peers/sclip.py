"""SCLIP (Wang, Mei & Yuille, ECCV 2024, "Rethinking Self-Attention for Dense Vision-Language Inference"):
correlative self-attention in the last block.

The paper's correlative self-attention (CSA, arXiv 2312.01597), as wangf3014/SCLIP:clip/model.py
``custom_attn(csa=True)`` computes it per head:

    A = softmax(q qᵀ · s) + softmax(k kᵀ · s)        (summed, not renormalised; s = d_head^(-1/2))
    x_L = x + out_proj(A v);   x_L = x_L + mlp(ln_2(x_L))

The released code keeps the block's residual and FFN around the new attention (``VisionTransformer.forward``:
``x = x + self.custom_attn(...)``, then ``x = x + blk.mlp(blk.ln_2(x))``); only the last block changes.
"""
from __future__ import annotations

import torch

from car.backbones import ClipBundle, blocks
from car.peers.base import head_scale, last_block_input, merge_heads, project, split_heads


def attention(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """CSA weights: softmax(q qᵀ s) + softmax(k kᵀ s); q, k float (..., L, d) → float (..., L, L), rows sum to 2."""
    return torch.softmax(q @ q.transpose(-1, -2) * scale, -1) + torch.softmax(k @ k.transpose(-1, -2) * scale, -1)


def features(bundle: ClipBundle, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """SCLIP's patch embeddings of image tensor x float (1, 3, h*p, w*p): normalised float (n, D), (h, w)."""
    tokens, grid = last_block_input(bundle, x)
    last = blocks(bundle)[-1]
    q, k, v = split_heads(last.attn, last.ln_1(tokens))
    out = tokens + last.ls_1(merge_heads(last.attn, attention(q, k, head_scale(last.attn)), v))
    out = out + last.ls_2(last.mlp(last.ln_2(out)))  # residual and FFN kept, as the released code
    return project(bundle, out[0, 1:]), grid
