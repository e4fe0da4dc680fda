"""The mask classifier g (paper §3.3, Eq. 5): prompted images → CLIP → softmax over queries → diagonal.

Official details (``modeling/model/car.py`` ``get_mask_confidence``, ``clip_wrapper.py`` ``forward``): each
prompted image is resized (shortest side) and centre-cropped to the classifier's input size (CLIP's ``_transform``,
:mod:`car.resample`); the image embedding is ``ln_post(CLS after block L−1) @ proj`` — the last block is
skipped, a CLIP-ES wrapper quirk kept as ``skip_last_block=True``; with T templates the score is

    P = softmax_j( Σ_t softmax_j(s · cos(img_i, text_tj)) )          ("official", a double softmax)

and with no templates (the RefCOCO-family and GRES configs: ``semantic_prompt_text`` is the flat list of
canonical strings) the single softmax P = softmax_j(s · cos(img_i, text_j)) (official ``forward_clip``);
the paper describes one softmax of the template-averaged text embedding ("paper"). θ is compared with
the diagonal P_ii.

Shape letters (``car.__doc__``): M prompted images (one per query of the step), T templates, N queries, D embedding.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from car.backbones import (ClipBundle, batch_size_for, blocks, embed_patches, normalise, pool_and_project,
                           run_blocks)
from car.resample import get_resampler


def preprocess(bundle: ClipBundle, images: np.ndarray, crop: str = "center", resample: str = "official"
               ) -> torch.Tensor:
    """uint8 (M, H, W, 3) → normalised float32 (M, 3, S, S), S = the classifier's input size.

    Args:
        crop: "center" = resize the shortest side to S (bicubic) and centre-crop (CLIP's ``preprocess``,
            official); "resize" = squash the whole image to S x S (keeps prompts near the border).
        resample: "official" = CLIP's ``_transform`` (PIL bicubic to uint8, long side ``int(S · long / short)``,
            torchvision's crop offset); "float" = torch bicubic in float, long side ``round(...)``
            (:mod:`car.resample`).
    """
    rule, s = get_resampler(resample), bundle.image_size
    h, w = images.shape[1:3]
    if crop == "center":
        size = rule.short_side_size((h, w), s)
        top, left = rule.crop_offsets(size, s)
        x = rule.resize(images, size, bundle.device)[:, :, top:top + s, left:left + s]
    elif crop == "resize":
        x = rule.resize(images, (s, s), bundle.device)
    else:
        raise ValueError(f"unknown crop {crop!r}; valid: center, resize")
    return normalise(bundle, x)


@torch.no_grad()
def encode_images(bundle: ClipBundle, x: torch.Tensor, skip_last_block: bool = True,
                  batch_size: int | None = None) -> torch.Tensor:
    """L2-normalised image embeddings float (M, D) of preprocessed images float (M, 3, S, S).

    Pooling is the model's own (CLS for OpenAI CLIP, mean of patches for the toy CLIPs). ``batch_size`` images
    per forward; default: a memory budget (:func:`car.backbones.batch_size_for`; one ViT-L/14 image at a time on
    a CPU, dozens of toy images).
    """
    stop = len(blocks(bundle)) - 1 if skip_last_block else None
    if batch_size is None:
        p = bundle.patch_size
        tokens = 1 + (x.shape[-2] // p) * (x.shape[-1] // p)
        batch_size = batch_size_for(bundle, tokens, bundle.visual.conv1.out_channels, blocks(bundle)[0].attn.num_heads)
    out = []
    for chunk in x.split(batch_size):
        tokens, _ = embed_patches(bundle, chunk)
        out.append(pool_and_project(bundle, run_blocks(bundle, tokens, 0, stop)))
    return F.normalize(torch.cat(out).float(), dim=-1)


def mask_scores(images: torch.Tensor, text: torch.Tensor, logit_scale: float, rule: str = "official") -> torch.Tensor:
    """The normalised similarity matrix P of Eq. 5: float (M, N), rows sum to 1.

    Args:
        images: float (M, D) normalised image embeddings.
        text: float (T, N, D) normalised text embeddings, one slice per template.
        logit_scale: s = exp(logit_scale) (100 for OpenAI CLIP).
        rule: "official" (softmax of the sum of per-template softmaxes; one template, T = 1: the single
            softmax, official ``forward_clip``) or "paper" (softmax of the cosine to the renormalised template
            mean). For T = 1 both rules give the same single softmax.
    """
    if rule == "official":
        per_template = torch.softmax(logit_scale * torch.einsum("nd,tqd->tnq", images, text), -1)  # (T, M, N)
        if len(text) == 1:  # official forward_clip: a flat text list (no templates) is one softmax
            return per_template[0]
        return torch.softmax(per_template.sum(0), -1)
    if rule == "paper":
        mean = F.normalize(text.mean(0), dim=-1)  # (N, D)
        return torch.softmax(logit_scale * images @ mean.T, -1)
    raise ValueError(f"unknown classifier score rule {rule!r}; valid: official, paper")


def diagonal_scores(p: torch.Tensor) -> torch.Tensor:
    """P_ii: the score of prompted image i against its own query i, float (M,)."""
    return torch.diagonal(p)
