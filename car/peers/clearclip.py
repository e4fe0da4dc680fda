"""ClearCLIP (Lan et al., ECCV 2024, "Decomposing CLIP Representations for Dense Vision-Language Inference"): the
last block's attention output alone, with query–query attention.

The paper's three changes (arXiv 2407.12442): remove the residual connection, use self-self (q–q) attention,
discard the FFN. mc-lan/ClearCLIP:open_clip/transformer.py ``VisionTransformer.forward`` (``ignore_residual=True``) and
``custom_attn(model_type='ClearCLIP')``:

    x_L = out_proj(softmax(q qᵀ · s) v)        (no residual, no FFN; then ln_post and proj)

Trap: the repository's ``configs/base_config.py`` defaults to ``model_type='vanilla'`` (plain CLIP); ClearCLIP's
numbers need ``model_type='ClearCLIP'``.
"""
from __future__ import annotations

import torch

from car.backbones import ClipBundle, blocks
from car.peers.base import head_scale, last_block_input, merge_heads, project, split_heads


def attention(q: torch.Tensor, k: torch.Tensor, scale: float) -> torch.Tensor:
    """Self-self weights softmax(q qᵀ s); q float (..., L, d) (k unused) → float (..., L, L), rows sum to 1."""
    return torch.softmax(q @ q.transpose(-1, -2) * scale, -1)


def features(bundle: ClipBundle, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """ClearCLIP's patch embeddings of image tensor x float (1, 3, h*p, w*p): normalised float (n, D), (h, w)."""
    tokens, grid = last_block_input(bundle, x)
    last = blocks(bundle)[-1]
    q, k, v = split_heads(last.attn, last.ln_1(tokens))
    out = merge_heads(last.attn, attention(q, k, head_scale(last.attn)), v)  # no residual, no FFN
    return project(bundle, out[0, 1:]), grid
