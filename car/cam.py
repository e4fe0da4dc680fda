"""The mask proposal generator's CAM (paper §3.3; official ``clipcam.py`` / ``cam.py``, from CLIP-ES).

"Set once, query many": :func:`encode_image` runs the CAM backbone once per image — blocks 1..L−1 without
gradients, then block L with gradients, keeping the last block's ``ln_1`` output A (the grad-CAM target layer)
and the head-averaged attention of every block (for CAA). Per recurrence step :func:`gradcam` only needs the
text embeddings of the current queries: the gradients of every query's softmax probability with respect to A
come from the cached graph — batched vector–Jacobian products (``torch.autograd.grad(..., is_grads_batched=True)``)
where they fit a memory budget (small models), one ``autograd.grad`` per query otherwise — never a re-run of the
network.

The official code re-runs block L and one backward per query at every step; the maps are the same because the
image-side computation does not depend on the queries.

Shape letters (the package's, ``car.__doc__``): N queries, K background queries, n = h*w patch tokens on the
(h, w) grid, L blocks, E model width, D embedding.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import numpy as np
import torch
import torch.nn.functional as F

from car.backbones import (ClipBundle, activation_bytes, blocks, embed_patches, image_tensor, pool_and_project,
                           run_blocks)

#: Denominator guard of the official min–max normalisation (official cam.py ``scale_cam_image``: 1e-15;
#: upstream pytorch-grad-cam: 1e-7, which rescales weak raw CAMs — raw grad-CAMs peak near 1e-7 on the toy models).
MINMAX_EPS = 1e-15


@contextlib.contextmanager
def capture_attention(modules: list[torch.nn.Module]) -> Iterator[list[torch.Tensor]]:
    """Record the head-averaged attention weights of ``nn.MultiheadAttention`` modules with hooks.

    A forward pre-hook asks each module for its weights (``need_weights=True, average_attn_weights=True``); a
    forward hook stores them. The model's code is untouched and every handle is removed on exit.

    Yields:
        a list that fills with one float (B, 1 + n, 1 + n) tensor per module call, in call order.
    """
    maps: list[torch.Tensor] = []
    handles = []

    def pre(_module, args, kwargs):
        kwargs = dict(kwargs, need_weights=True, average_attn_weights=True)
        return args, kwargs

    def post(_module, _args, output):
        maps.append(output[1].detach())

    for m in modules:
        if not isinstance(m, torch.nn.MultiheadAttention):
            raise TypeError(f"attention capture expects nn.MultiheadAttention, got {type(m).__name__}")
        handles.append(m.register_forward_pre_hook(pre, with_kwargs=True))
        handles.append(m.register_forward_hook(post))
    try:
        yield maps
    finally:
        for h in handles:
            h.remove()


@contextlib.contextmanager
def capture_output(module: torch.nn.Module) -> Iterator[list[torch.Tensor]]:
    """Record the outputs of ``module`` (kept in the autograd graph) with a forward hook."""
    outputs: list[torch.Tensor] = []
    handle = module.register_forward_hook(lambda _m, _a, out: outputs.append(out))
    try:
        yield outputs
    finally:
        handle.remove()


@dataclass
class ImageState:
    """Everything the CAM needs from one image, computed once.

    Attributes:
        activation: float (1, 1 + n, E), the last block's ``ln_1`` output A, inside the autograd graph.
        embedding: float (D,), mean-of-patch-tokens image embedding after block L (graph to ``activation``).
        attention: float (L, n, n), head-averaged attention of every block, CLS row/column dropped.
        grid: (h, w) patch grid; ``size`` (H, W) the original image size.
    """

    activation: torch.Tensor
    embedding: torch.Tensor
    attention: torch.Tensor
    grid: tuple[int, int]
    size: tuple[int, int]


#: The official CAM input rounding (``img_ms_and_flip(patch_size=16)``), whatever the model's patch size.
OFFICIAL_SIZE_MULTIPLE = 16


def encode_image(bundle: ClipBundle, image: np.ndarray, size_multiple: int | None = OFFICIAL_SIZE_MULTIPLE,
                 resample: str = "official") -> ImageState:
    """Run the CAM backbone once on ``image`` (uint8 (H, W, 3)) at its own size rounded up to ``size_multiple``.

    Official order (``clipcam.py`` ``CLIPCAM.__call__``, ``cam.py``): blocks 1..L−1 under ``no_grad``, block L with
    gradients, ``ln_post``, mean of the patch tokens (CLS excluded), ``proj``. ``size_multiple``: 16 as the official
    ``img_ms_and_flip`` for every model (ViT-L/14: a 500 x 375 image becomes 512 x 384 and a 36 x 27 grid, the last
    8 / 6 pixels unseen); None = the model's own patch size (ViT-L/14: 504 x 378, grid 36 x 27 covering every
    pixel). ``resample``: the input resize and positional-embedding rule (:mod:`car.resample`).
    """
    x = image_tensor(bundle, image, multiple=size_multiple, resample=resample)  # (1, 3, >= h*p, >= w*p)
    resblocks = list(blocks(bundle))
    with capture_attention([b.attn for b in resblocks]) as maps:
        with torch.no_grad():
            tokens, grid = embed_patches(bundle, x, resample)
            tokens = run_blocks(bundle, tokens, 0, len(resblocks) - 1)
        tokens = tokens.detach().requires_grad_(True)
        with torch.enable_grad(), capture_output(resblocks[-1].ln_1) as ln1:
            out = resblocks[-1](tokens)
            embedding = pool_and_project(bundle, out, pool="mean")[0]
    attention = torch.stack([m[0, 1:, 1:] for m in maps]).float()  # (L, n, n)
    return ImageState(ln1[0], embedding, attention, grid, image.shape[:2])


def target_probabilities(state: ImageState, text: torch.Tensor, background: torch.Tensor, logit_scale: float,
                         mode: str = "semantic") -> torch.Tensor:
    """The scores whose gradients make the CAMs, float (N,), in the autograd graph.

    Args:
        text: float (N, D) normalised query embeddings; background: float (K, D) (K may be 0).
        logit_scale: exp(logit_scale) (100 for OpenAI CLIP).
        mode: "semantic" — one softmax over [queries; background] (official); "refer" — query q competes only
            with the background: softmax over [q; background] (official refer mode's one CAM call per query).
    """
    image = F.normalize(state.embedding.float(), dim=-1)
    fg = logit_scale * text @ image  # (N,)
    bg = logit_scale * background @ image  # (K,)
    if mode == "semantic":
        return torch.softmax(torch.cat([fg, bg]), 0)[: len(fg)]
    if mode == "refer":
        bg_lse = torch.logsumexp(bg, 0) if len(bg) else fg.new_tensor(-float("inf"))
        return torch.exp(fg - torch.logaddexp(fg, bg_lse))
    raise ValueError(f"unknown CAM mode {mode!r}; valid: semantic, refer")


#: Memory one batched vector–Jacobian product may hold. Batching queries pays on small models (toy: 50 queries
#: 0.018 s batched vs 0.039 s looped) but costs on large ones, where each query's pass holds its own copy of the
#: block's attention gradients (random ViT-B/16 at 500 x 375, 20 queries, 2-core CPU: 4.52 s batched vs 2.12 s
#: looped, and the batched peak above the official order's): above the budget, queries go one backward each.
VJP_BUDGET_BYTES = 64 * 2**20


def vjp_chunk(state: ImageState, budget: int = VJP_BUDGET_BYTES) -> int:
    """Queries per batched VJP for ``state`` under ``budget`` bytes (1 = a plain loop of backwards).

    Per query the backward of block L holds about what a forward of the block does
    (:func:`car.backbones.activation_bytes`, heads = E / 64, OpenAI CLIP's head width).
    """
    tokens, width = state.activation.shape[1:]
    return max(1, budget // activation_bytes(tokens, width, max(1, width // 64)))


def gradcam_from_scores(state: ImageState, scores: torch.Tensor, chunk: int | None = None) -> torch.Tensor:
    """Grad-CAM of each score on the patch grid, min–max normalised: float (N, h, w) in [0, 1].

    α_c = mean over positions of ∂score/∂A_c; CAM = ReLU(Σ_c α_c A_c) (pytorch-grad-cam, as the official code).
    Gradients come from the cached graph (block L is never re-run): ``chunk`` queries per batched
    vector–Jacobian product (``is_grads_batched``), or one ``autograd.grad`` per query when ``chunk`` is 1;
    default :func:`vjp_chunk` (a memory budget). Every ``chunk`` gives the same maps.
    """
    q = len(scores)
    chunk = vjp_chunk(state) if chunk is None else max(1, int(chunk))
    acts = state.activation[0, 1:].detach()  # (n, E)
    alphas = []
    for start in range(0, q, chunk):
        if chunk == 1:
            (grads,) = torch.autograd.grad(scores[start], state.activation, retain_graph=True)
            grads = grads[None]  # (1, 1, 1 + n, E)
        else:
            eye = torch.eye(q, device=scores.device, dtype=scores.dtype)[start:start + chunk]
            (grads,) = torch.autograd.grad(scores, state.activation, grad_outputs=eye, is_grads_batched=True,
                                           retain_graph=True)  # (q_chunk, 1, 1 + n, E)
        alphas.append(grads[:, 0, 1:].mean(1))  # (q_chunk, E)
    alpha = torch.cat(alphas) if alphas else acts.new_zeros(0, acts.shape[1])
    cam = torch.relu(alpha @ acts.T).reshape(q, *state.grid)  # (N, h, w)
    return minmax(cam)


def minmax(maps: torch.Tensor) -> torch.Tensor:
    """Per-map min–max normalisation of float (N, ...) (official ``scale_cam_image``); NaN counts as 0."""
    flat = torch.nan_to_num(maps.reshape(len(maps), -1), nan=0.0)
    flat = flat - flat.min(1, keepdim=True).values
    flat = flat / (flat.max(1, keepdim=True).values + MINMAX_EPS)
    return flat.reshape(maps.shape)


def gradcam(state: ImageState, text: torch.Tensor, background: torch.Tensor, logit_scale: float,
            mode: str = "semantic") -> torch.Tensor:
    """Raw grad-CAMs of the queries: float (N, h, w) in [0, 1].

    Official fallback: a query whose CAM is all zero is recomputed with the foreground queries only (no
    background queries in the softmax).
    """
    cams = gradcam_from_scores(state, target_probabilities(state, text, background, logit_scale, mode))
    empty = cams.flatten(1).amax(1) <= 0
    if empty.any() and len(background):  # only the empty ones are recomputed (the official loop is per query)
        retry = target_probabilities(state, text, background[:0], logit_scale, mode)
        cams[empty] = gradcam_from_scores(state, retry[empty])
    return cams


def upsample(maps: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of float (N, h, w) to (N, H, W) (``cv2.resize`` default: half-pixel centres)."""
    if maps.shape[-2:] == tuple(size):
        return maps
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=False)[:, 0]
