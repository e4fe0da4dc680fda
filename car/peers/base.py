"""The harness every single-pass peer shares: the last block's heads, the protocol's resize and sliding window,
dense logits, PAMR, and the per-pixel decision.

A peer changes CLIP's last block (or, SC-CLIP, a few blocks) and reads the patch tokens after ``ln_post`` and
``proj``; everything else is common (the SCLIP harness, wangf3014/SCLIP:clip_segmentor.py, inherited by NACLIP,
SC-CLIP and the others):

1. resize the image so that its shorter side is ``short_side`` px (mmseg ``Resize(scale=(2048, S),
   keep_ratio=True)``, :func:`protocol_image`);
2. cut it into ``slide_crop`` windows every ``slide_stride`` px, run the peer on each window, up-sample each
   window's patch–text cosines to its pixels and average where windows overlap (``forward_slide``,
   :func:`window_features`, :func:`window_logits`);
3. up-sample the logits to the image's own size (the ground truth is never resized), optionally refine them
   with PAMR (:func:`pamr`);
4. softmax at ``dense_logit_scale`` over every query and background word, a class's probability the max over its
   names, background where a background word wins or the best probability is under ``prob_thd``
   (``postprocess_result``, :func:`decide`).

A peer never edits CLIP: it reads the block's own modules (``ln_1``, the attention's projections, ``ln_2``,
``mlp``) and computes with them (:func:`split_heads`, :func:`merge_heads`); the model object is unchanged after
use (``tests/test_peers.py`` checks its ``state_dict`` and its blocks).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from car.backbones import ClipBundle, blocks, embed_patches, encode_text, image_tensor, run_blocks
from car.vocab import CAM_TEMPLATE, background_queries

#: The longer side mmseg's ``Resize(scale=(2048, S), keep_ratio=True)`` never exceeds.
MAX_LONG_SIDE = 2048

#: A peer's dense features: ``features(bundle, x float (1, 3, h*p, w*p)) -> (float (n, D) normalised, (h, w))``.
PeerFeatures = Callable[[ClipBundle, torch.Tensor], tuple[torch.Tensor, tuple[int, int]]]


# --------------------------------------------------------------------------- the last block's pieces
def split_heads(attn: torch.nn.MultiheadAttention, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """q, k, v of ``attn`` on tokens x float (B, L, E) (``ln_1`` applied), each float (B, heads, L, E / heads)."""
    b, n, width = x.shape
    heads = attn.num_heads
    qkv = F.linear(x, attn.in_proj_weight, attn.in_proj_bias)  # (B, L, 3E)
    return tuple(t.reshape(b, n, heads, width // heads).transpose(1, 2) for t in qkv.chunk(3, dim=-1))


def head_scale(attn: torch.nn.MultiheadAttention) -> float:
    """s = d_head^(-1/2), the attention's logit scale."""
    return (attn.embed_dim // attn.num_heads) ** -0.5


def merge_heads(attn: torch.nn.MultiheadAttention, weights: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """``out_proj(A v)``: attention weights float (B, heads, L, L) (or broadcastable) and values float
    (B, heads, L, d) → float (B, L, E)."""
    out = (weights @ v).transpose(1, 2)  # (B, L, heads, d)
    return attn.out_proj(out.reshape(out.shape[0], out.shape[1], -1))


def last_block_input(bundle: ClipBundle, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """Blocks 1..L−1 of the visual tower on an image tensor: tokens float (B, 1 + n, E) and the grid (h, w)."""
    tokens, grid = embed_patches(bundle, x)
    return run_blocks(bundle, tokens, 0, len(blocks(bundle)) - 1), grid


def project(bundle: ClipBundle, tokens: torch.Tensor) -> torch.Tensor:
    """``ln_post`` then ``proj`` of patch tokens float (..., E), L2-normalised: float (..., D) (CLIP's image space)."""
    visual = bundle.visual
    out = visual.ln_post(tokens)
    out = out @ visual.proj if visual.proj is not None else out
    return F.normalize(out.float(), dim=-1)


# --------------------------------------------------------------------------- protocol: resize and windows
def protocol_image(image: np.ndarray, short_side: int | None, working_size: int | None) -> np.ndarray:
    """The image every pass sees: the shorter side made ``short_side`` px (the longer at most 2048; bilinear, as
    mmseg's ``Resize(scale=(2048, S), keep_ratio=True)``), or, with ``short_side`` None, the longer side shrunk to
    ``working_size`` (:func:`car.image.resize_to_working`). uint8 (H, W, 3) → uint8 (H', W', 3)."""
    import cv2

    from car.image import resize_to_working

    if short_side is None:
        return resize_to_working(image, working_size)
    h, w = image.shape[:2]
    scale = min(short_side / min(h, w), MAX_LONG_SIDE / max(h, w))
    size = (int(h * scale + 0.5), int(w * scale + 0.5))
    if size == (h, w):
        return image
    return cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_LINEAR)


def windows(size: tuple[int, int], crop: int | None, stride: int) -> list[tuple[int, int, int, int]]:
    """The sliding windows (y0, y1, x0, x1) over an image of ``size`` = (H, W): ``crop`` px squares every
    ``stride`` px, the last ones shifted back inside the image, one window when the image is smaller than a crop
    (wangf3014/SCLIP:clip_segmentor.py ``forward_slide``); ``crop`` None: the whole image."""
    h, w = size
    if crop is None:
        return [(0, h, 0, w)]
    if stride < 1 or crop < 1:
        raise ValueError(f"slide_crop and slide_stride must be positive, got {crop} and {stride}")
    out = []
    for i in range(max(h - crop + stride - 1, 0) // stride + 1):
        for j in range(max(w - crop + stride - 1, 0) // stride + 1):
            y1, x1 = min(i * stride + crop, h), min(j * stride + crop, w)
            out.append((max(y1 - crop, 0), y1, max(x1 - crop, 0), x1))
    return out


@dataclass(frozen=True)
class DenseFeatures:
    """A peer's patch features of one image, window by window.

    Attributes:
        windows: (y0, y1, x0, x1) of each window in the image.
        features: per window, float (n, D) normalised, on that window's (h, w) grid (``grids``).
        size: (H, W) of the image.
    """

    windows: tuple[tuple[int, int, int, int], ...]
    features: tuple[torch.Tensor, ...]
    grids: tuple[tuple[int, int], ...]
    size: tuple[int, int]


@torch.no_grad()
def window_features(features: PeerFeatures, bundle: ClipBundle, image: np.ndarray, crop: int | None,
                    stride: int = 112) -> DenseFeatures:
    """Run ``features`` on every window of uint8 (H, W, 3) ``image`` (:func:`windows`)."""
    boxes = windows(image.shape[:2], crop, stride)
    feats, grids = [], []
    for y0, y1, x0, x1 in boxes:
        f, grid = features(bundle, image_tensor(bundle, np.ascontiguousarray(image[y0:y1, x0:x1])))
        feats.append(f)
        grids.append(grid)
    return DenseFeatures(tuple(boxes), tuple(feats), tuple(grids), image.shape[:2])


def window_logits(feats: DenseFeatures, text: torch.Tensor) -> torch.Tensor:
    """Patch–text cosines of every window, up-sampled (bilinear) to the window's pixels and averaged where
    windows overlap: text float (M, D) normalised → float (M, H, W)."""
    h, w = feats.size
    out = text.new_zeros((len(text), h, w), dtype=torch.float32)
    count = text.new_zeros((1, h, w), dtype=torch.float32)
    for (y0, y1, x0, x1), f, grid in zip(feats.windows, feats.features, feats.grids):
        logits = (f.to(text.dtype) @ text.T).T.reshape(len(text), *grid).float()  # (M, h, w) on the grid
        out[:, y0:y1, x0:x1] += upsample(logits, (y1 - y0, x1 - x0))
        count[:, y0:y1, x0:x1] += 1
    return out / count


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of float (M, h, w) to (M, H, W) (half-pixel centres, as mmseg's ``resize``)."""
    if maps.shape[-2:] == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]


# --------------------------------------------------------------------------- PAMR
def _shifted(x: torch.Tensor, dilation: int) -> torch.Tensor:
    """The 8 neighbours at ``dilation`` of every pixel of float (B, C, H, W), edges replicated: (B, C, 8, H, W)."""
    h, w = x.shape[-2:]
    d = dilation
    pad = F.pad(x, [d] * 4, mode="replicate")
    return torch.stack([pad[..., d + dy * d:d + dy * d + h, d + dx * d:d + dx * d + w]
                        for dy in (-1, 0, 1) for dx in (-1, 0, 1) if (dy, dx) != (0, 0)], 2)


def pamr_affinity(image: torch.Tensor, dilations: Sequence[int]) -> torch.Tensor:
    """PAMR's local affinity (Araslanov & Roth, CVPR 2020, Eq. 3–4; visinf/1-stage-wseg models/mods/pamr.py, as
    shipped in sinahmr/NACLIP:pamr.py): for each pixel i and neighbour j at every dilation,
    k_ij = −|I_i − I_j| / (0.1 σ_i) averaged over the colour channels, σ_i the standard deviation of the pixel's
    3×3 neighbourhoods, then a softmax over the neighbours.

    Args:
        image: float (1, 3, H, W) (any per-channel affine scaling gives the same affinity).

    Returns:
        float (1, 1, P, H, W), P = 8 · len(dilations), summing to 1 over P.
    """
    shifted = [_shifted(image, d) for d in dilations]
    diff = torch.cat([(image[:, :, None] - s).abs() for s in shifted], 2)  # (1, 3, P, H, W)
    centre = image[:, :, None]
    values = torch.cat([torch.cat([centre, s], 2) for s in shifted], 2)  # the 3x3 neighbourhoods, centre each time
    std = values.std(2, keepdim=True)  # (1, 3, 1, H, W), unbiased as torch.std
    return torch.softmax((-diff / (1e-8 + 0.1 * std)).mean(1, keepdim=True), 2)


def pamr(image: np.ndarray, logits: torch.Tensor, steps: int = 10, dilations: Sequence[int] = (8, 16),
         chunk: int = 16) -> torch.Tensor:
    """Pixel-adaptive mask refinement: ``steps`` times, every map becomes the affinity-weighted mean of its
    neighbours' values (:func:`pamr_affinity`; NACLIP applies it to the dense logits at the image's size).

    Args:
        image: uint8 (H, W, 3) RGB; logits: float (M, H, W); chunk: maps refined at once (bounds memory).

    Returns:
        float (M, H, W).
    """
    x = torch.from_numpy(np.ascontiguousarray(image)).to(logits.device).permute(2, 0, 1)[None].float() / 255.0
    aff = pamr_affinity(x, dilations)  # (1, 1, P, H, W)
    out = []
    for part in logits.split(chunk):
        m = part[None].float()  # (1, c, H, W)
        for _ in range(steps):
            m = (torch.cat([_shifted(m, d) for d in dilations], 2) * aff).sum(2)
        out.append(m[0])
    return torch.cat(out) if out else logits


# --------------------------------------------------------------------------- the decision
@dataclass(frozen=True)
class DenseResult:
    """A single-pass segmenter's output.

    Attributes:
        queries: the queries.
        labels: int64 (H, W), the index of the winning query, -1 where background wins (a background word, or a
            best probability under ``prob_thd``).
        masks: bool (N, H, W), ``labels == i``.
        scores: float (N,), each query's share of the image's pixels (the toy segmenter: its mean probability
            over its mask).
        probs: float (N, H, W) in [0, 1], each query's probability (softmax over queries and background words),
            or None.
    """

    queries: tuple[str, ...]
    labels: np.ndarray
    masks: np.ndarray
    scores: np.ndarray
    probs: np.ndarray | None = field(default=None, repr=False)


def decide(logits: torch.Tensor, num_queries: int, logit_scale: float = 40.0,
           prob_thd: float = 0.0) -> tuple[np.ndarray, torch.Tensor]:
    """The per-pixel decision over [queries; background words].

    Args:
        logits: float (N + K, H, W), the first ``num_queries`` rows the queries.
        logit_scale: the softmax temperature; prob_thd: a winning query below this probability is background.

    Returns:
        labels int64 (H, W) (query index, -1 where a background word wins or the query's probability is under
        ``prob_thd``), and the queries' probabilities float (N, H, W).
    """
    probs = torch.softmax(logit_scale * logits.float(), 0)  # (N + K, H, W)
    winner = logits.argmax(0)  # the softmax keeps the order: argmax of the logits
    best = probs.max(0).values
    labels = torch.where((winner < num_queries) & (best >= prob_thd), winner, -1)
    return labels.cpu().numpy().astype(np.int64), probs[:num_queries]


def dense_result(queries: Sequence[str], labels: np.ndarray, probs: torch.Tensor) -> DenseResult:
    """The :class:`DenseResult` of a label map over ``queries``."""
    masks = np.stack([labels == i for i in range(len(queries))])
    return DenseResult(tuple(queries), labels, masks, masks.mean((1, 2)).astype(np.float32), probs.cpu().numpy())


def dense_labels(logits: torch.Tensor, num_queries: int,
                 size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray, torch.Tensor]:
    """Per-pixel argmax over [queries; background words] at ``size``.

    Args:
        logits: float (N + K, h, w) on the patch grid, the first ``num_queries`` rows the queries.

    Returns:
        labels int64 (H, W) (query index, -1 where a background word wins), masks bool (N, H, W), and the
        logits up-sampled to ``size`` (bilinear) float (N + K, H, W).
    """
    up = upsample(logits, size)
    labels, _ = decide(up, num_queries)
    return labels, np.stack([labels == i for i in range(num_queries)]), up


def query_texts(bundle: ClipBundle, queries: Sequence[str], background: Sequence[str],
                template: str = CAM_TEMPLATE) -> torch.Tensor:
    """Normalised embeddings float (N + K, D): the N queries, then the K words of the ``background`` groups
    (words equal to a query dropped), all in ``template``."""
    words = background_queries(background, queries)
    return encode_text(bundle, [template.format(q) for q in list(queries) + words])


def template_embeddings(bundle: ClipBundle, templates: Sequence[str], words: Sequence[str]) -> torch.Tensor:
    """One embedding per word, float (len(words), D): the normalised mean of its normalised template embeddings
    (CLIP's prompt ensembling; one template: that template's embedding)."""
    if len(templates) == 1:
        return encode_text(bundle, [templates[0].format(w) for w in words])
    flat = encode_text(bundle, [t.format(w) for t in templates for w in words])
    return F.normalize(flat.reshape(len(templates), len(words), -1).mean(0), dim=-1)
