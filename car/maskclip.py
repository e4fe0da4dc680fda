"""A training-free single-pass peer: MaskCLIP (Zhou et al., ECCV 2022), the paper's Table 1 baseline.

Dense patch–text similarity from the last block's *value* embeddings: for each patch token,
``ln_post(out_proj(v(ln_1(x_{L-1})))) @ proj`` is compared with every query's text embedding (no residual, no MLP,
no attention mixing), the best query wins, background queries map to background. It runs on the same backbones,
readers, metrics and toy world as CaR, so the book can compare both at equal backbones.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from car.backbones import ClipBundle, blocks, embed_patches, encode_text, image_tensor, run_blocks, to_rgb_uint8
from car.cam import upsample
from car.queries import check_queries
from car.vocab import CAM_TEMPLATE, background_queries


@dataclass(frozen=True)
class DenseResult:
    """MaskCLIP output: ``labels`` int64 (H, W), query index or -1; ``masks`` bool (N, H, W); ``scores`` (N,)."""

    queries: tuple[str, ...]
    labels: np.ndarray
    masks: np.ndarray
    scores: np.ndarray


@torch.no_grad()
def dense_features(bundle: ClipBundle, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int]]:
    """MaskCLIP's patch embeddings: normalised float (n, D) and the grid (h, w)."""
    tokens, grid = embed_patches(bundle, image_tensor(bundle, image))
    last = blocks(bundle)[-1]
    x = last.ln_1(run_blocks(bundle, tokens, 0, len(blocks(bundle)) - 1))[0, 1:]  # (n, C)
    attn = last.attn
    width = x.shape[-1]
    v = F.linear(x, attn.in_proj_weight[2 * width:], attn.in_proj_bias[2 * width:])
    v = attn.out_proj(v)
    feats = bundle.visual.ln_post(v) @ bundle.visual.proj
    return F.normalize(feats.float(), dim=-1), grid


class MaskCLIP:
    """MaskCLIP with background queries.

    Args:
        bundle: the CLIP (the same proposal backbone as CaR for a fair comparison).
        background: background-query groups of :mod:`car.vocab` (their words compete and count as background).
        template: the text template of queries and background words.
    """

    def __init__(self, bundle: ClipBundle, background: Sequence[str] = ("clipes",), template: str = CAM_TEMPLATE):
        self.bundle, self.background, self.template = bundle, tuple(background), template

    def __call__(self, image, queries: Sequence[str], *, stuff: Sequence[bool] | None = None) -> DenseResult:
        image = to_rgb_uint8(image)
        queries = check_queries(queries)
        text = query_texts(self.bundle, queries, self.background, self.template)
        feats, grid = dense_features(self.bundle, image)
        logits = (feats @ text.T).T.reshape(len(text), *grid)  # (N + K, h, w)
        labels, masks, _ = dense_labels(logits, len(queries), image.shape[:2])
        return DenseResult(tuple(queries), labels, masks, masks.mean((1, 2)).astype(np.float32))


def query_texts(bundle: ClipBundle, queries: Sequence[str], background: Sequence[str],
                template: str = CAM_TEMPLATE) -> torch.Tensor:
    """Normalised embeddings float (N + K, D): the N queries, then the K words of the ``background`` groups
    (words equal to a query dropped), all in ``template``."""
    words = background_queries(background, queries)
    return encode_text(bundle, [template.format(q) for q in list(queries) + words])


def dense_labels(logits: torch.Tensor, num_queries: int,
                 size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Per-pixel decision of a dense segmenter over [queries; background words].

    Args:
        logits: float (N + K, h, w) on the patch grid, the first ``num_queries`` rows the queries.

    Returns:
        labels int64 (H, W) (query index, -1 where a background word wins), masks bool (N, H, W), and the
        logits up-sampled to ``size`` (bilinear) float (N + K, H, W).
    """
    up = upsample(logits, size)
    winner = up.argmax(0).numpy()
    labels = np.where(winner < num_queries, winner, -1).astype(np.int64)
    masks = np.stack([labels == i for i in range(num_queries)])
    return labels, masks, up
