"""Post-processing: dense CRF, final label map, optional SAM ensemble (paper §3.4).

Official code: ``modeling/model/crf.py`` (``DenseCRF``, ``PostProcess``; copied from CLIP-ES),
``evaluate.py`` (``assign_label``), ``utils/metrics.py`` (``IoM``, ``IoU``),
``modeling/post_process/post_process.py`` (``match_masks``) and ``utils/inference_pipeline.py``
(``get_sam_masks``).

Shapes: ``H, W`` image size, ``C`` CRF classes (background + queries), ``N`` queries / masks,
``M`` SAM masks. Images are ``uint8 (H, W, 3)`` RGB numpy arrays; everything here is numpy (the CRF
runs on the CPU).

The CRF needs ``pydensecrf`` (``pip install pydensecrf2==1.1``); SAM is optional
(``segment-anything``) and only imported when used.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

__all__ = [
    "MEAN_BGR",
    "SAM_CHECKPOINT_URL",
    "HQ_SAM_CHECKPOINT_URL",
    "dense_crf",
    "official_crf_image",
    "crf_masks",
    "label_map",
    "iom",
    "iou",
    "match_sam",
    "sam_ensemble",
    "make_sam_generator",
]

MEAN_BGR = (104.008, 116.669, 122.675)  # CLIP-ES / DeepLab mean, subtracted by the official CRF caller
SAM_CHECKPOINT_URL = "https://dl.fbaipublicfiles.com/segment_anything/sam_vit_h_4b8939.pth"
#: The official setting: HQ-SAM ViT-H (SysCV sam-hq, ``sam_hq_vit_h.pth``; the official sam.py loads it).
HQ_SAM_CHECKPOINT_URL = "https://huggingface.co/lkeab/hq-sam/resolve/main/sam_hq_vit_h.pth"

_SAM_INSTALL = (
    "SAM post-processing is optional: install it with `pip install segment-anything` "
    "and download a checkpoint, e.g. {}"
)
_HQ_SAM_INSTALL = (
    "HQ-SAM (the official setting) is optional: install it with `pip install segment-anything-hq` "
    "(module `segment_anything_hq`; SysCV's git repository installs it as `segment_anything`) and download "
    f"{HQ_SAM_CHECKPOINT_URL}; or set sam_hq: false for the original SAM (`pip install segment-anything`)"
)


# --------------------------------------------------------------------------- dense CRF


def dense_crf(
    image: np.ndarray,
    probs: np.ndarray,
    *,
    iters: int = 10,
    gaussian: tuple[float, float] = (1.0, 3.0),
    bilateral: tuple[float, float, float] = (67.0, 3.0, 4.0),
    official_image_quirk: bool = True,
) -> np.ndarray:
    """Fully connected CRF of Krähenbühl & Koltun with the official (DeepLab / CLIP-ES) settings.

    Official ``DenseCRF.__call__``: ``DenseCRF2D(W, H, C)``, unary ``unary_from_softmax(probs)``
    (``-log(clip(probs, 1e-5, 1))``, **no** renormalisation), a Gaussian pairwise term
    ``(sxy, compat)``, a bilateral term ``(sxy, srgb, compat)`` on ``rgbim``, ``iters`` mean-field steps.

    Args:
        image: uint8 (H, W, 3) RGB image.
        probs: float (C, H, W) class scores, e.g. ``[bg; cams]`` from :func:`crf_masks`.
        iters: mean-field iterations (official: 10).
        gaussian: (sxy, compat) of the Gaussian kernel (official: (1, 3)).
        bilateral: (sxy, srgb, compat) of the bilateral kernel (official: (67, 3, 4)).
        official_image_quirk: True reproduces the image the official code passes as ``rgbim``:
            RGB → BGR, minus :data:`MEAN_BGR`, cast to uint8 **without clipping** (negative values
            wrap modulo 256, as the x86 float→uint8 cast does). False passes the plain RGB image.

    Returns:
        float32 (C, H, W) marginals Q (each pixel sums to 1).

    Raises:
        ImportError: pydensecrf is not installed (the message gives the pip command).
        ValueError: shapes of ``image`` and ``probs`` disagree.
    """
    try:
        import pydensecrf.densecrf as dcrf
        from pydensecrf.utils import unary_from_softmax
    except ImportError as e:
        raise ImportError("dense CRF needs pydensecrf: `pip install pydensecrf2==1.1`") from e
    image = np.asarray(image)
    probs = np.asarray(probs, dtype=np.float32)
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise ValueError(f"image must be uint8 (H, W, 3) RGB, got {image.dtype} {image.shape}")
    if probs.ndim != 3 or probs.shape[1:] != image.shape[:2]:
        raise ValueError(f"probs must be (C, H, W) with (H, W) = {image.shape[:2]}, got {probs.shape}")
    num_classes, height, width = probs.shape
    rgbim = official_crf_image(image) if official_image_quirk else image
    crf = dcrf.DenseCRF2D(width, height, num_classes)
    crf.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs)))  # (C, H*W) float32
    crf.addPairwiseGaussian(sxy=gaussian[0], compat=gaussian[1])
    crf.addPairwiseBilateral(
        sxy=bilateral[0], srgb=bilateral[1], rgbim=np.ascontiguousarray(rgbim), compat=bilateral[2]
    )
    q = crf.inference(iters)
    return np.asarray(q, dtype=np.float32).reshape(num_classes, height, width)


def official_crf_image(image: np.ndarray) -> np.ndarray:
    """The ``rgbim`` the official CRF sees: BGR minus :data:`MEAN_BGR`, cast to uint8 with wrap-around.

    The official code (inherited from CLIP-ES) does ``float32 BGR - mean`` and then
    ``.astype(np.uint8)``; a float→uint8 cast of a negative value is undefined in C and on x86 it
    truncates toward zero and wraps modulo 256. We do that explicitly so the result does not depend
    on the platform: black (0, 0, 0) becomes (152, 140, 134) while white becomes (150, 138, 132).

    Args:
        image: uint8 (H, W, 3) RGB.

    Returns:
        uint8 (H, W, 3), C-contiguous, channels in BGR order.
    """
    bgr = np.asarray(image, dtype=np.float32)[:, :, ::-1] - np.asarray(MEAN_BGR, dtype=np.float32)
    wrapped = np.trunc(bgr).astype(np.int64) % 256
    return np.ascontiguousarray(wrapped.astype(np.uint8))


def crf_masks(
    image: np.ndarray,
    cams: np.ndarray,
    *,
    bg_factor: float = 1.0,
    separate: bool = False,
    **crf_kw: Any,
) -> np.ndarray:
    """Refine the final proposals with a dense CRF and an argmax (paper §3.4; official ``PostProcess``).

    Unary scores ``[(1 - max_c cam_c) ** bg_factor; cams]`` (no normalisation), CRF, argmax over the
    C = N + 1 channels; query i gets the pixels where channel i + 1 wins.

    Deviation from the official code (``crf.py``): the official ``F.one_hot(argmax)`` builds only
    ``max(label) + 1`` channels, so trailing queries that never win vanish (and the caller's ``zip``
    hands them no mask), and an all-background image crashes. Here every query always gets a mask,
    empty where it never wins, and an all-background image gives N empty masks.

    Args:
        image: uint8 (H, W, 3) RGB image.
        cams: float (N, H, W) in [0, 1], the last step's proposals at image size.
        bg_factor: exponent of the background score (official: 1).
        separate: False (``semantic`` mode): one joint CRF over all queries; True (``refer`` mode):
            an independent 2-class CRF per query, so masks may overlap.
        **crf_kw: forwarded to :func:`dense_crf` (``iters``, ``gaussian``, ``bilateral``,
            ``official_image_quirk``).

    Returns:
        bool (N, H, W) masks.
    """
    cams = np.asarray(cams, dtype=np.float32)
    if cams.ndim != 3:
        raise ValueError(f"cams must be (N, H, W), got shape {cams.shape}")
    if len(cams) == 0:
        return np.zeros(cams.shape, dtype=bool)
    if separate:
        return np.stack([_crf_argmax(image, cam[None], bg_factor, crf_kw)[0] for cam in cams])
    return _crf_argmax(image, cams, bg_factor, crf_kw)


def _crf_argmax(image: np.ndarray, cams: np.ndarray, bg_factor: float, crf_kw: dict) -> np.ndarray:
    """Joint CRF over [bg; cams] → bool (N, H, W), mask i = (argmax == i + 1)."""
    bg = np.power(1.0 - cams.max(axis=0, keepdims=True), bg_factor)  # (1, H, W)
    q = dense_crf(image, np.concatenate([bg, cams], axis=0), **crf_kw)  # (N + 1, H, W)
    labels = q.argmax(axis=0)  # (H, W)
    return labels[None] == np.arange(1, len(cams) + 1)[:, None, None]


# --------------------------------------------------------------------------- label map


def label_map(
    masks: np.ndarray,
    scores: np.ndarray,
    *,
    order: Sequence[int] | None = None,
    paint_first: np.ndarray | None = None,
) -> np.ndarray:
    """Merge per-query masks into one label map (official ``assign_label`` in ``evaluate.py``).

    Starts from -1 (background) and paints mask i with the value i, in ascending score order, so a
    higher score wins an overlap; masks with score ≤ 0 are not painted. (The official map starts at
    0 and paints i + 1; ours is shifted by one so labels index the queries directly.)

    Args:
        masks: bool (N, H, W) masks (float masks are binarised at 0.5, as officially).
        scores: float (N,) classifier scores.
        order: optional explicit painting order (indices; a later one overwrites an earlier one),
            replacing the ascending-score order. Masks with score ≤ 0 are still skipped.
        paint_first: optional bool (N,); masks marked True (e.g. the "stuff" pass of Pascal Context /
            ADE) are painted before the others, so "things" override "stuff" (official ``assign_label``). Within
            each group the order above is kept.

    Returns:
        int64 (H, W) labels: index into the queries, -1 where no mask is painted.
    """
    masks = np.asarray(masks)
    masks = masks if masks.dtype == bool else masks > 0.5
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if masks.ndim != 3 or len(masks) != len(scores):
        raise ValueError(f"masks must be (N, H, W) and scores (N,), got {masks.shape} and {scores.shape}")
    idx = np.argsort(scores, kind="stable") if order is None else np.asarray(order, dtype=np.int64)
    if paint_first is not None:
        first = np.asarray(paint_first, dtype=bool).reshape(-1)
        if len(first) != len(scores):
            raise ValueError(f"paint_first must be (N,) = ({len(scores)},), got {first.shape}")
        idx = np.concatenate([idx[first[idx]], idx[~first[idx]]])
    labels = np.full(masks.shape[1:], -1, dtype=np.int64)  # (H, W)
    for i in idx:
        if scores[i] > 0:
            labels[masks[i]] = i
    return labels


# --------------------------------------------------------------------------- IoM / IoU / SAM


def iom(a: np.ndarray, b: np.ndarray, *, min_pred_thresh: float = 0.0) -> float:
    """Intersection over the Minimum-mask (paper §3.4; official ``utils/metrics.IoM``).

    With I = |a ∩ b|: r_s = I / |b|, r_p = I / |a|; if r_p < ``min_pred_thresh`` then r_s = 0;
    IoM = max(r_s, r_p), i.e. I / min(|a|, |b|) apart from the gate.

    Args:
        a: bool (H, W), the predicted (CaR) mask p.
        b: bool (H, W), the SAM mask s.
        min_pred_thresh: the gate on I / |p| (official ``min_pred_threshold``).

    Returns:
        IoM in [0, 1]; 0 if either mask is empty.
    """
    return float(_iom_many(np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)[None], min_pred_thresh)[0])


def _iom_many(pred: np.ndarray, sam: np.ndarray, min_pred_thresh: float) -> np.ndarray:
    """IoM of one bool (H, W) mask against bool (M, H, W) masks → float64 (M,)."""
    inter = (sam & pred[None]).sum(axis=(1, 2)).astype(np.float64)  # (M,)
    area_sam = sam.sum(axis=(1, 2))  # (M,)
    area_pred = pred.sum()
    r_s = np.divide(inter, area_sam, out=np.zeros_like(inter), where=area_sam > 0)
    r_p = inter / area_pred if area_pred > 0 else np.zeros_like(inter)
    r_s = np.where(r_p < min_pred_thresh, 0.0, r_s)
    return np.maximum(r_s, r_p)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool (H, W) masks; 0 if the union is empty."""
    a, b = np.asarray(a, dtype=bool), np.asarray(b, dtype=bool)
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union > 0 else 0.0


def match_sam(
    mask: np.ndarray,
    sam_masks: np.ndarray,
    *,
    iom_thresh: float = 0.7,
    iou_thresh: float = 0.7,
    min_pred_thresh: float = 0.05,
) -> np.ndarray:
    """Replace one CaR mask by the union of its matching SAM masks (paper §3.4; official
    ``match_masks`` + ``get_sam_masks``).

    SAM masks with IoM > ϕ_iom are kept (if none passes, the one with the largest IoM); their union
    replaces the CaR mask only if IoU(union, mask) > ϕ_iou (the official evaluation path; the
    official demo replaces unconditionally, which ``iou_thresh=-1`` reproduces).

    Args:
        mask: bool (H, W) CaR mask.
        sam_masks: bool (M, H, W) SAM automask proposals.
        iom_thresh: ϕ_iom (paper 0.7; official configs 0.6 VOC / 0.7 COCO / 0.5 Context).
        iou_thresh: ϕ_iou (paper 0.7; official evaluation default 0.9).
        min_pred_thresh: IoM gate on |p ∩ s| / |p| (see :func:`iom`).

    Returns:
        bool (H, W): the union or the unchanged mask. An empty mask or M = 0 returns ``mask``.
    """
    mask = np.asarray(mask, dtype=bool)
    sam_masks = np.asarray(sam_masks, dtype=bool)
    if sam_masks.ndim != 3 or sam_masks.shape[1:] != mask.shape:
        raise ValueError(f"sam_masks must be (M, H, W) with (H, W) = {mask.shape}, got {sam_masks.shape}")
    if len(sam_masks) == 0 or not mask.any():  # official: SAM only for non-empty masks
        return mask
    scores = _iom_many(mask, sam_masks, min_pred_thresh)  # (M,)
    keep = scores > iom_thresh
    if not keep.any():
        keep[np.argmax(scores)] = True
    union = sam_masks[keep].any(axis=0)  # (H, W)
    return union if iou(union, mask) > iou_thresh else mask


def sam_ensemble(
    image: np.ndarray,
    masks: np.ndarray,
    mask_generator: Callable[[np.ndarray], list[dict]] | None = None,
    *,
    iom_thresh: float = 0.7,
    iou_thresh: float = 0.7,
    min_pred_thresh: float = 0.05,
) -> np.ndarray:
    """Optional SAM ensemble of the CRF-refined masks (paper §3.4, Table 1 "CaR+SAM").

    SAM runs once on the image without prompts; each CaR mask is then matched with
    :func:`match_sam`.

    Args:
        image: uint8 (H, W, 3) RGB image.
        masks: bool (N, H, W) CRF-refined masks.
        mask_generator: a callable with the interface of segment-anything's
            ``SamAutomaticMaskGenerator.generate``: image → list of dicts with a bool (H, W)
            ``"segmentation"`` (build one with :func:`make_sam_generator`). Required.
        iom_thresh, iou_thresh, min_pred_thresh: see :func:`match_sam`.

    Returns:
        bool (N, H, W) masks.

    Raises:
        ImportError: no generator given and segment-anything is not installed.
        ValueError: no generator given (SAM needs a checkpoint), or a SAM mask of the wrong size.
    """
    masks = np.asarray(masks, dtype=bool)
    if mask_generator is None:
        _import_sam()
        raise ValueError(
            "sam_ensemble needs a SAM checkpoint: pass "
            "mask_generator=make_sam_generator('path/to/sam_vit_h_4b8939.pth')"
        )
    records = mask_generator(image)
    if not records:
        return masks.copy()
    sam_masks = np.stack([np.asarray(r["segmentation"], dtype=bool) for r in records])  # (M, H, W)
    if sam_masks.shape[1:] != masks.shape[1:]:
        raise ValueError(f"SAM masks are {sam_masks.shape[1:]}, CaR masks {masks.shape[1:]}; use the same image")
    kw = dict(iom_thresh=iom_thresh, iou_thresh=iou_thresh, min_pred_thresh=min_pred_thresh)
    return np.stack([match_sam(m, sam_masks, **kw) for m in masks]) if len(masks) else masks.copy()


def make_sam_generator(
    checkpoint: str | Path | None,
    model_type: str = "vit_h",
    points_per_side: int = 64,
    pred_iou_thresh: float = 0.88,
    stability_score_thresh: float = 0.95,
    box_nms_thresh: float = 0.7,
    device: str | None = None,
    *,
    hq: bool = False,
    random_weights: bool = False,
) -> Callable[[np.ndarray], list[dict]]:
    """Build segment-anything's ``SamAutomaticMaskGenerator`` with the official settings (``sam/sam.py``, ``voc.yaml``).

    The official code uses HQ-SAM ``vit_h`` with ``points_per_side=64`` in its config (the class
    default is 32), ``pred_iou_thresh=0.88``, ``stability_score_thresh=0.95``, ``box_nms_thresh=0.7``,
    ``crop_n_layers=0``. The checkpoint is loaded on the CPU with ``weights_only=True``
    (never a full unpickle). ``CaR.from_config`` calls this with the config's ``sam_*`` fields.

    Args:
        checkpoint: path to a SAM checkpoint (``sam_hq_vit_h.pth``, ``sam_vit_h_4b8939.pth``); None only
            with ``random_weights``.
        model_type: a key of ``sam_model_registry`` (``vit_h``, ``vit_l``, ``vit_b``; HQ-SAM also ``vit_tiny``).
        points_per_side, pred_iou_thresh, stability_score_thresh, box_nms_thresh: generator settings.
        device: where to run SAM (e.g. ``"cuda"``); None keeps it on the CPU.
        hq: HQ-SAM (``segment_anything_hq``, the official model) instead of the original SAM.
        random_weights: keep the registry's random initialisation (tests: mechanics only, masks meaningless).

    Returns:
        The generator's bound ``generate`` method: uint8 (H, W, 3) RGB → list of mask records.

    Raises:
        ImportError: segment-anything is not installed.
        FileNotFoundError: the checkpoint does not exist.
        ValueError: unknown ``model_type``.
    """
    sam_module = _import_sam(hq)
    import torch

    registry = sam_module.sam_model_registry
    if model_type not in registry:
        raise ValueError(f"unknown SAM model_type {model_type!r}; valid: {', '.join(sorted(registry))}")
    sam = registry[model_type](checkpoint=None)
    if not random_weights:
        if checkpoint is None:
            raise ValueError("make_sam_generator needs a checkpoint path (or random_weights=True for tests)")
        path = Path(checkpoint).expanduser()
        if not path.is_file():
            url = HQ_SAM_CHECKPOINT_URL if hq else SAM_CHECKPOINT_URL
            raise FileNotFoundError(f"SAM checkpoint {path} not found; download it, e.g. from {url}")
        sam.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
    sam.eval()
    if device is not None:
        sam.to(device)
    generator = sam_module.SamAutomaticMaskGenerator(
        sam,
        points_per_side=points_per_side,
        pred_iou_thresh=pred_iou_thresh,
        stability_score_thresh=stability_score_thresh,
        box_nms_thresh=box_nms_thresh,
        crop_n_layers=0,
        crop_n_points_downscale_factor=1,
    )
    return generator.generate


def _import_sam(hq: bool = False):
    """The SAM module: ``segment_anything_hq`` (HQ-SAM) or ``segment_anything``, with the install command if absent."""
    import importlib

    name = "segment_anything_hq" if hq else "segment_anything"
    try:
        return importlib.import_module(name)
    except ImportError as e:
        raise ImportError(_HQ_SAM_INSTALL if hq else _SAM_INSTALL.format(SAM_CHECKPOINT_URL)) from e
