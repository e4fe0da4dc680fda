"""MaskCLIP (Zhou, Loy & Dai, ECCV 2022, "Extract Free Dense Labels from CLIP"): the value path of the last block.

The last block's attention is replaced by the identity, so each patch keeps its own value embedding (the
paper's value-embedding path, arXiv 2112.01071; chongzhou96/MaskCLIP:mmseg/models/backbones/vit.py
``TransformerEncoderLayer.forward`` with ``return_qkv``, ``decode_heads/maskclip_head.py`` ``proj``):

    y_i = out_proj(v(ln_1(x_i)))        then   f_i = ln_post(y_i) @ proj

This is the form the later papers' MaskCLIP rows run (their harness, mc-lan/ClearCLIP:open_clip/transformer.py
``custom_attn(model_type='MaskCLIP')`` with ``ignore_residual=True``: no residual, no FFN). The original code keeps
the residual and the FFN after the value path; the book's numbers are this harness form's.
"""
from __future__ import annotations

import torch

from car.backbones import ClipBundle, blocks
from car.peers.base import last_block_input, project


def features(bundle: ClipBundle, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """MaskCLIP's patch embeddings of image tensor x float (1, 3, h*p, w*p): normalised float (n, D), (h, w)."""
    tokens, grid = last_block_input(bundle, x)
    last = blocks(bundle)[-1]
    attn = last.attn
    width = attn.embed_dim
    patches = last.ln_1(tokens)[0, 1:]  # (n, E)
    v = torch.nn.functional.linear(patches, attn.in_proj_weight[2 * width:], attn.in_proj_bias[2 * width:])
    return project(bundle, attn.out_proj(v)), grid  # identity attention: each patch its own value
