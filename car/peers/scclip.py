"""SC-CLIP (Bai et al., arXiv 2411.15869, "Self-Calibrated CLIP for Training-Free Open-Vocabulary
Segmentation"): repair anomaly tokens, aggregate features with mid-layer similarity, and fuse several levels.

As SuleBai/SC-CLIP:clip/model.py computes it (``VisionTransformer.forward``, ``lof_pytorch``,
``mean_interpolation``, ``adaptively_aggregate``, ``custom_attn``; defaults in ``configs/base_config.py``),
with F_b the tokens after block b of a 12-block ViT:

1. **anomaly tokens** — the patch tokens of F_11 whose local outlier factor (k = 30 neighbours) is in the top
   5 % are replaced by the mean of their non-outlier 3 × 3 neighbours (:func:`outlier_factors`, :func:`repair`);
2. **pre-aggregation** — S = cos(F_9, F_9) of the repaired block-9 patches; X = norm_rows(S ⊙ [S ≥ β]) F_11,
   β = 0.4 (:func:`aggregate`);
3. **last block, attention only** (no residual, no FFN):
   A = ½ [softmax(3 (S − mean S), negatives → −∞) + softmax(k kᵀ s)], X_L = out_proj(A v) + 0.3 · CLS
   (:func:`attention`);
4. **post-aggregation** with the thresholded similarity of the (unrepaired) block-4 patches;
5. **multi-level fusion** — the sum of F_4 … F_10 goes through steps 3–4 too and is added.

A ViT of another depth (the toy CLIPs have 4 or 6 blocks) uses the same blocks scaled to its depth
(:func:`depth_index`); at 12 blocks they are the repository's.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from car.backbones import ClipBundle, blocks, embed_patches
from car.peers.base import head_scale, merge_heads, project, split_heads

#: SC-CLIP's defaults (base_config.py and clip/model.py): the blocks (0-based indices into the outputs of blocks
#: 1..L-1 of a 12-block ViT), β, the CLS residual, the LOF neighbours and contamination, the similarity temperature.
PRE_ADJUST, POST_ADJUST, MULTI = 8, 3, (3, 10)
BETA, RES_CLS, NEIGHBOURS, CONTAMINATION, TEMPERATURE = 0.4, 0.3, 30, 0.05, 3.0


def depth_index(index: int, num_blocks: int, reference_blocks: int = 12) -> int:
    """An index into the outputs of blocks 1..L−1 of a ``reference_blocks``-deep ViT, scaled to ``num_blocks``
    (unchanged at the reference depth)."""
    if num_blocks == reference_blocks:
        return index
    return int(round(index * (num_blocks - 2) / (reference_blocks - 2)))


def outlier_factors(x: torch.Tensor, neighbours: int = NEIGHBOURS) -> torch.Tensor:
    """The local outlier factor of each row of x float (n, E), as ``lof_pytorch`` computes it.

    With squared Euclidean distances, d_k(i) the distance of i to its k-th nearest neighbour and N_k(i) those
    neighbours, the repository's reachability distance max(d(i, j), d_k(i)) is d_k(i) itself, so
    lrd(i) = 1 / d_k(i) and LOF(i) = mean_{j ∈ N_k(i)} lrd(j) / lrd(i) = d_k(i) · mean_j 1 / d_k(j) (Breunig et
    al.'s LOF takes d_k(j) in the reachability distance instead). k is at most n − 1.

    Returns:
        float (n,).
    """
    k = min(neighbours, len(x) - 1)
    dist = torch.cdist(x.float(), x.float()) ** 2  # (n, n)
    knn, idx = dist.topk(k + 1, largest=False)  # self first
    kdist = knn[:, -1].clamp_min(1e-12)  # (n,)
    return kdist * (1 / kdist[idx[:, 1:]]).mean(1)


def outliers(x: torch.Tensor, neighbours: int = NEIGHBOURS, contamination: float = CONTAMINATION) -> torch.Tensor:
    """Indices of the rows of x float (n, E) whose LOF is above its (1 − contamination) quantile: int64 (m,)."""
    lof = outlier_factors(x, neighbours)
    return torch.nonzero(lof > torch.quantile(lof, 1 - contamination)).flatten()


def repair(x: torch.Tensor, grid: tuple[int, int], bad: torch.Tensor) -> torch.Tensor:
    """Replace the tokens ``bad`` of x float (n, E) on the (h, w) grid by the mean of their 3 × 3 neighbours that
    are not bad (``mean_interpolation``); a token without such a neighbour stays. Returns float (n, E)."""
    h, w = grid
    keep = torch.ones(h * w, dtype=x.dtype, device=x.device)
    keep[bad] = 0
    fmap = (x * keep[:, None]).T.reshape(1, -1, h, w)  # (1, E, h, w), bad tokens zeroed
    ring = torch.ones(1, 1, 3, 3, dtype=x.dtype, device=x.device)
    ring[0, 0, 1, 1] = 0
    total = F.conv2d(fmap.reshape(-1, 1, h, w), ring, padding=1).reshape(-1, h * w).T  # (n, E)
    count = F.conv2d(keep.reshape(1, 1, h, w), ring, padding=1).flatten()  # (n,)
    fix = (keep == 0) & (count > 0)
    out = x.clone()
    out[fix] = total[fix] / count[fix, None]
    return out


def similarity(x: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of the rows of x float (n, E): float (n, n)."""
    x = F.normalize(x.float(), dim=-1)
    return x @ x.T


def aggregate(x: torch.Tensor, sim: torch.Tensor, beta: float = BETA) -> torch.Tensor:
    """Each token becomes the mean of the tokens it is similar to: norm_rows(S ⊙ [S ≥ β]) x (``adaptively_aggregate``,
    rows normalised with a 1e-6 guard). x float (n, E), sim float (n, n) → float (n, E)."""
    weights = torch.where(sim < beta, torch.zeros_like(sim), sim)
    return (weights / (weights.sum(-1, keepdim=True) + 1e-6)).to(x.dtype) @ x


def attention(sim: torch.Tensor, k: torch.Tensor, scale: float, temperature: float = TEMPERATURE) -> torch.Tensor:
    """SC-CLIP's last-block weights ½ [softmax(T (S − mean S)) with negatives → −∞, + softmax(k kᵀ s)].

    Args:
        sim: float (n, n), the unthresholded mid-layer similarity S; k: float (..., n, d).

    Returns:
        float (..., n, n), rows sum to 1.
    """
    logits = (sim - sim.mean()) * temperature
    logits = logits.masked_fill(logits < 0, float("-inf"))
    return (torch.softmax(logits, -1).to(k.dtype) + torch.softmax(k @ k.transpose(-1, -2) * scale, -1)) / 2


def _last_block(last: torch.nn.Module, x: torch.Tensor, sim: torch.Tensor, cls: torch.Tensor) -> torch.Tensor:
    """Step 3 on patch tokens x float (n, E): out_proj(A v) + RES_CLS · cls (no residual, no FFN)."""
    _, k, v = split_heads(last.attn, last.ln_1(x)[None])
    return merge_heads(last.attn, attention(sim, k, head_scale(last.attn)), v)[0] + RES_CLS * cls


def features(bundle: ClipBundle, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """SC-CLIP's patch embeddings of image tensor x float (1, 3, h*p, w*p): normalised float (n, D), (h, w)."""
    resblocks = list(blocks(bundle))
    tokens, grid = embed_patches(bundle, x)
    outs = []  # F_1 .. F_{L-1}, each float (1 + n, E)
    for blk in resblocks[:-1]:
        tokens = blk(tokens)
        outs.append(tokens[0])
    depth = len(resblocks)
    pre, post = depth_index(PRE_ADJUST, depth), depth_index(POST_ADJUST, depth)
    multi = range(depth_index(MULTI[0], depth), depth_index(MULTI[1], depth))
    cls = outs[-1][:1]  # (1, E), the penultimate block's CLS token
    bad = outliers(outs[-1][1:])
    x_tok = repair(outs[-1][1:], grid, bad)  # (n, E)
    mid = similarity(repair(outs[pre][1:], grid, bad))  # S, (n, n)
    x_tok = aggregate(x_tok, mid)
    low = similarity(outs[post][1:])
    last = resblocks[-1]
    x_tok = aggregate(_last_block(last, x_tok, mid, cls), low)
    fused = torch.stack([outs[i] for i in multi]).sum(0)  # (1 + n, E)
    x_tok = x_tok + aggregate(_last_block(last, fused[1:], mid, fused[:1]), low)
    return project(bundle, x_tok), grid
