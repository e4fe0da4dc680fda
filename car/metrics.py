"""Evaluation metrics: semantic mIoU, referring mIoU / cIoU, DAVIS J / F / J&F, and mask merging.

Semantic segmentation follows the official ``semantic_iou`` (``evaluate.py``, copied from CLIP-ES):
one confusion matrix accumulated over the split, pixels whose GT lies outside
``[0, num_classes)`` ignored, IoU_c = TP / (TP + FP + FN), mIoU = nanmean over classes with at
least one GT pixel. Referring metrics follow the official ``evaluate`` (``seg_mode='refer'``). DAVIS
metrics follow ``davis2017-evaluation`` (``db_eval_iou``, ``f_measure``, ``_seg2bmap``).

Shape letters: ``N`` masks, ``H, W`` image size, ``C`` number of labels.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import cv2
import numpy as np

SEMANTIC_MODES = ("official", "gt_only")
PRECISION_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


# ------------------------------------------------------------------------------ semantic: mIoU
class ConfusionMatrix:
    """Pixel confusion matrix over a whole split (rows = GT label, columns = predicted label).

    ``update(pred, gt)`` adds one image. Pixels with ``gt`` outside ``[0, num_classes)`` (255,
    65535, any unknown id) are ignored, as in the official code. Predicted labels outside
    ``[0, num_classes)`` (a "no prediction" value such as 255 on a dataset without background) are
    kept in ``missed``: a false negative of the GT class and a false positive of no class.

    Without background handling both modes are the official metric. With ``ignore_background``:

    * ``mode="official"``: ``hist[1:, 1:]`` exactly as the official code — GT-background pixels
      are dropped **and so are pixels predicted as background** (they never count as false
      negatives; lenient; the official VOC-20 / PC-59 / A-150 / A-847 / PC-459 numbers).
    * ``mode="gt_only"``: only GT-background pixels are dropped (the paper's wording, "foreground
      pixels decided by ground truth"); a foreground pixel predicted as background is a false
      negative of its class.

    Attributes:
        hist: int64 (C, C) counts.
        missed: int64 (C,) GT pixels whose prediction lies outside [0, C).
    """

    def __init__(self, num_classes: int, ignore_index: int = 255) -> None:
        if num_classes <= 0:
            raise ValueError(f"num_classes must be positive, got {num_classes}")
        if 0 <= ignore_index < num_classes:
            raise ValueError(f"ignore_index {ignore_index} lies inside [0, {num_classes}); "
                             "choose a value outside the label range (255, 65535, -1)")
        self.num_classes = int(num_classes)
        self.ignore_index = int(ignore_index)
        self.hist = np.zeros((num_classes, num_classes), dtype=np.int64)
        self.missed = np.zeros(num_classes, dtype=np.int64)

    def update(self, pred: np.ndarray, gt: np.ndarray) -> ConfusionMatrix:
        """Add one image. ``pred``, ``gt``: integer (H, W) label maps of the same shape."""
        pred, gt = np.asarray(pred), np.asarray(gt)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction shape {pred.shape} != ground-truth shape {gt.shape}")
        if not (np.issubdtype(pred.dtype, np.integer) and np.issubdtype(gt.dtype, np.integer)):
            raise ValueError(f"label maps must be integer arrays, got {pred.dtype} and {gt.dtype}")
        n = self.num_classes
        gt = gt.ravel().astype(np.int64)
        pred = pred.ravel().astype(np.int64)
        valid = (gt >= 0) & (gt < n)
        gt, pred = gt[valid], pred[valid]
        in_range = (pred >= 0) & (pred < n)
        self.hist += np.bincount(n * gt[in_range] + pred[in_range], minlength=n * n).reshape(n, n)
        self.missed += np.bincount(gt[~in_range], minlength=n)
        return self

    # -- combining and saving
    def merge(self, other: ConfusionMatrix) -> ConfusionMatrix:
        """Add ``other``'s counts in place (e.g. shards of a split); returns self."""
        if other.num_classes != self.num_classes:
            raise ValueError(f"cannot merge confusion matrices of {self.num_classes} and {other.num_classes} labels")
        self.hist += other.hist
        self.missed += other.missed
        return self

    def __add__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return self.copy().merge(other)

    def __iadd__(self, other: ConfusionMatrix) -> ConfusionMatrix:
        return self.merge(other)

    def copy(self) -> ConfusionMatrix:
        out = ConfusionMatrix(self.num_classes, self.ignore_index)
        out.hist[...] = self.hist
        out.missed[...] = self.missed
        return out

    def to_dict(self) -> dict[str, Any]:
        """JSON-able state (sparse: only non-zero cells)."""
        rows, cols = np.nonzero(self.hist)
        return {
            "type": "confusion_matrix", "num_classes": self.num_classes, "ignore_index": self.ignore_index,
            "rows": rows.tolist(), "cols": cols.tolist(), "counts": self.hist[rows, cols].tolist(),
            "missed": self.missed.tolist(),
        }

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> ConfusionMatrix:
        out = cls(state["num_classes"], state.get("ignore_index", 255))
        out.hist[np.asarray(state["rows"], dtype=np.int64), np.asarray(state["cols"], dtype=np.int64)] = \
            np.asarray(state["counts"], dtype=np.int64)
        out.missed[...] = np.asarray(state.get("missed", np.zeros(out.num_classes)), dtype=np.int64)
        return out

    # -- metrics
    def _counts(self, ignore_background: bool, mode: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(tp, gt_total, pred_total) per label, after the background rule."""
        if mode not in SEMANTIC_MODES:
            raise ValueError(f"unknown mode {mode!r}; valid: {', '.join(SEMANTIC_MODES)}")
        hist, missed = self.hist, self.missed
        if not ignore_background:
            return np.diag(hist), hist.sum(1) + missed, hist.sum(0)
        if mode == "official":
            cut = hist[1:, 1:]
            return np.diag(cut), cut.sum(1) + missed[1:], cut.sum(0)
        rows = hist[1:, :]  # drop GT-background pixels only
        return np.diag(hist)[1:], rows.sum(1) + missed[1:], rows[:, 1:].sum(0)

    def iou_per_class(self, ignore_background: bool = False, mode: str = "official") -> np.ndarray:
        """float64 (C,) IoU per label id; NaN where a label has neither GT nor prediction.

        A label with predictions but no GT pixel gets 0 here and is left out of :meth:`miou`.
        With ``ignore_background`` entry 0 is NaN.
        """
        tp, gt_total, pred_total = self._counts(ignore_background, mode)
        with np.errstate(divide="ignore", invalid="ignore"):
            iou = tp / (gt_total + pred_total - tp)
        return np.concatenate([[np.nan], iou]) if ignore_background else iou

    def miou(self, ignore_background: bool = False, mode: str = "official") -> float:
        """Mean IoU over labels with at least one GT pixel (official ``valid = hist.sum(1) > 0``)."""
        tp, gt_total, pred_total = self._counts(ignore_background, mode)
        valid = gt_total > 0
        if not valid.any():
            return 0.0
        return float(np.mean(tp[valid] / (gt_total[valid] + pred_total[valid] - tp[valid])))

    def pixel_accuracy(self, ignore_background: bool = False, mode: str = "official") -> float:
        """Correct pixels / counted pixels (NaN if none)."""
        tp, gt_total, _ = self._counts(ignore_background, mode)
        total = gt_total.sum()
        return float(tp.sum() / total) if total else math.nan

    def mean_accuracy(self, ignore_background: bool = False, mode: str = "official") -> float:
        """Mean over labels with GT pixels of TP / GT pixels (official ``Mean Accuracy``)."""
        tp, gt_total, _ = self._counts(ignore_background, mode)
        valid = gt_total > 0
        return float(np.mean(tp[valid] / gt_total[valid])) if valid.any() else math.nan

    def summary(self, ignore_background: bool = False, mode: str = "official") -> dict[str, Any]:
        """mIoU, pixel accuracy, mean accuracy and per-label IoU (NaN -> None) as plain floats."""
        return {
            "mIoU": self.miou(ignore_background, mode),
            "pixel_accuracy": _none_if_nan(self.pixel_accuracy(ignore_background, mode)),
            "mean_accuracy": _none_if_nan(self.mean_accuracy(ignore_background, mode)),
            "iou_per_class": [_none_if_nan(v) for v in self.iou_per_class(ignore_background, mode)],
        }


# ------------------------------------------------------------------------ referring: mIoU / cIoU
class RefAccumulator:
    """Referring-segmentation metrics over a split (official ``evaluate(seg_mode='refer')``).

    Per sample: I = |P ∩ G|, U = |P ∪ G|, IoU = I / U, and IoU = 0 when U = 0 (official; a correct
    empty prediction on a GRES no-target sample scores 0). ``empty_as_one=True`` gives GRES's own
    convention (IoU = 1 when both are empty, as in GRES's gIoU).

    Metrics: ``mIoU`` = mean of per-sample IoU (the paper's mIoU), ``cIoU`` = ΣI / ΣU (overall IoU),
    ``precision@t`` = fraction of samples with IoU >= t, and for samples with an empty GT, ``N-acc``
    (empty predicted) / ``T-acc`` (non-empty GT, non-empty prediction).
    """

    def __init__(self, empty_as_one: bool = False) -> None:
        self.empty_as_one = empty_as_one
        self.intersections: list[int] = []
        self.unions: list[int] = []
        self.gt_empty: list[bool] = []
        self.pred_empty: list[bool] = []

    def update(self, pred: np.ndarray, gt: np.ndarray) -> float:
        """Add one sample (bool (H, W) masks); returns its IoU."""
        pred, gt = np.asarray(pred, dtype=bool), np.asarray(gt, dtype=bool)
        if pred.shape != gt.shape:
            raise ValueError(f"prediction shape {pred.shape} != ground-truth shape {gt.shape}")
        self.intersections.append(int(np.count_nonzero(pred & gt)))
        self.unions.append(int(np.count_nonzero(pred | gt)))
        self.gt_empty.append(not gt.any())
        self.pred_empty.append(not pred.any())
        return float(self.ious()[-1])

    def __len__(self) -> int:
        return len(self.unions)

    def ious(self) -> np.ndarray:
        """float64 (num_samples,) per-sample IoU."""
        inter = np.asarray(self.intersections, dtype=np.float64)
        union = np.asarray(self.unions, dtype=np.float64)
        empty_value = 1.0 if self.empty_as_one else 0.0
        with np.errstate(divide="ignore", invalid="ignore"):
            return np.where(union > 0, inter / union, empty_value)

    def miou(self) -> float:
        return float(self.ious().mean()) if len(self) else math.nan

    def ciou(self) -> float:
        total = sum(self.unions)
        return sum(self.intersections) / total if total else 0.0

    def precision_at(self, threshold: float) -> float:
        return float(np.mean(self.ious() >= threshold)) if len(self) else math.nan

    def summary(self) -> dict[str, Any]:
        out: dict[str, Any] = {"mIoU": self.miou(), "cIoU": self.ciou(), "num_samples": len(self)}
        for t in PRECISION_THRESHOLDS:
            out[f"precision@{t}"] = self.precision_at(t)
        gt_empty, pred_empty = np.asarray(self.gt_empty), np.asarray(self.pred_empty)
        if gt_empty.any():
            out["N-acc"] = float(np.mean(pred_empty[gt_empty]))
            out["T-acc"] = float(np.mean(~pred_empty[~gt_empty])) if (~gt_empty).any() else None
        return out

    def merge(self, other: RefAccumulator) -> RefAccumulator:
        """Append ``other``'s samples in place; returns self."""
        for key in ("intersections", "unions", "gt_empty", "pred_empty"):
            getattr(self, key).extend(getattr(other, key))
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"type": "refer", "empty_as_one": self.empty_as_one,
                "intersections": list(self.intersections), "unions": list(self.unions),
                "gt_empty": list(self.gt_empty), "pred_empty": list(self.pred_empty)}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> RefAccumulator:
        out = cls(empty_as_one=state.get("empty_as_one", False))
        for key in ("intersections", "unions", "gt_empty", "pred_empty"):
            getattr(out, key).extend(state[key])
        return out


def merge_ref_masks(masks: np.ndarray, scores: np.ndarray, out_hw: tuple[int, int],
                    threshold: float = 0.5, min_area_frac: float = 0.05) -> np.ndarray:
    """Official ``merge_masks_simple``: one referring mask from the per-sentence masks.

    1. Score-weighted average ``Σ s_k m_k / Σ s_k``; 2. resize to ``out_hw`` with
    ``cv2.resize`` (bilinear) and keep ``>= threshold``; 3. if that covers ``<= min_area_frac`` of the
    image, use instead the union of all masks (``m > 0``), resized as uint8 and kept ``> threshold``.

    Args:
        masks: (N, h, w) bool or float in [0, 1].
        scores: (N,) float classifier scores.
        out_hw: (H, W) of the ground truth.

    Returns:
        bool (H, W). All False when N = 0. A non-positive score sum skips step 1, as the official
        NaN from 0/0 does.
    """
    masks = to_numpy(masks).astype(np.float32)
    scores = to_numpy(scores).astype(np.float32).reshape(-1)
    height, width = int(out_hw[0]), int(out_hw[1])
    if masks.ndim != 3 or masks.shape[0] != scores.shape[0]:
        raise ValueError(f"masks must be (N, h, w) with N = len(scores); got {masks.shape} and {scores.shape}")
    if masks.shape[0] == 0:
        return np.zeros((height, width), dtype=bool)
    total = float(scores.sum())
    merged = np.zeros((height, width), dtype=bool)
    if total > 0:
        weighted = np.tensordot(scores, masks, axes=1) / total  # (h, w)
        merged = cv2.resize(weighted, (width, height)) >= threshold
    if merged.sum() <= min_area_frac * height * width:
        union = np.any(masks > 0, axis=0).astype(np.uint8)
        merged = cv2.resize(union, (width, height)) > threshold
    return merged


# ----------------------------------------------------------------------------- DAVIS J, F, J&F
def davis_j(pred: np.ndarray, gt: np.ndarray, void: np.ndarray | None = None) -> float:
    """Region similarity J (Jaccard) of bool (H, W) masks; 1 when both are empty (``db_eval_iou``).

    ``void``: optional bool (H, W) pixels left out of both masks (DAVIS label 255; the unsupervised protocol).
    """
    pred, gt = np.asarray(pred, dtype=bool), np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} != ground-truth shape {gt.shape}")
    if void is not None:
        keep = ~np.asarray(void, dtype=bool)
        pred, gt = pred & keep, gt & keep
    union = np.count_nonzero(pred | gt)
    return 1.0 if union == 0 else np.count_nonzero(pred & gt) / union


def seg2bmap(seg: np.ndarray) -> np.ndarray:
    """bool (H, W) one-pixel-wide boundary map of a mask (DAVIS ``_seg2bmap``, D. Martin 2003).

    A pixel is a boundary pixel when it differs from its east, south or south-east neighbour;
    boundaries sit half a pixel towards the origin.
    """
    seg = np.asarray(seg, dtype=bool)
    e = np.zeros_like(seg)
    s = np.zeros_like(seg)
    se = np.zeros_like(seg)
    e[:, :-1] = seg[:, 1:]
    s[:-1, :] = seg[1:, :]
    se[:-1, :-1] = seg[1:, 1:]
    b = (seg ^ e) | (seg ^ s) | (seg ^ se)
    b[-1, :] = seg[-1, :] ^ e[-1, :]
    b[:, -1] = seg[:, -1] ^ s[:, -1]
    b[-1, -1] = False
    return b


def _disk(radius: int) -> np.ndarray:
    """uint8 (2r+1, 2r+1) disk ``x² + y² <= r²`` (``skimage.morphology.disk``)."""
    r = int(radius)
    y, x = np.ogrid[-r:r + 1, -r:r + 1]
    return (x * x + y * y <= r * r).astype(np.uint8)


def davis_f(pred: np.ndarray, gt: np.ndarray, bound_th: float = 0.008, void: np.ndarray | None = None) -> float:
    """Contour accuracy F (boundary F-measure) of bool (H, W) masks (DAVIS ``f_measure``).

    Boundaries from :func:`seg2bmap` are matched within a disk of radius
    ``ceil(bound_th * image diagonal)`` pixels (``bound_th >= 1``: that many pixels).
    Both boundaries empty -> 1; exactly one empty -> 0. ``void``: optional bool (H, W) pixels
    removed from both masks before the boundaries are taken (``f_measure(void_pixels=)``).
    """
    pred, gt = np.asarray(pred, dtype=bool), np.asarray(gt, dtype=bool)
    if pred.shape != gt.shape:
        raise ValueError(f"prediction shape {pred.shape} != ground-truth shape {gt.shape}")
    if void is not None:
        keep = ~np.asarray(void, dtype=bool)
        pred, gt = pred & keep, gt & keep
    bound_pix = bound_th if bound_th >= 1 else math.ceil(bound_th * math.hypot(*pred.shape))
    fg_boundary, gt_boundary = seg2bmap(pred), seg2bmap(gt)
    disk = _disk(bound_pix)
    fg_dil = cv2.dilate(fg_boundary.astype(np.uint8), disk).astype(bool)
    gt_dil = cv2.dilate(gt_boundary.astype(np.uint8), disk).astype(bool)
    n_fg, n_gt = np.count_nonzero(fg_boundary), np.count_nonzero(gt_boundary)
    if n_fg == 0 and n_gt == 0:
        precision = recall = 1.0
    elif n_fg == 0:
        precision, recall = 1.0, 0.0
    elif n_gt == 0:
        precision, recall = 0.0, 1.0
    else:
        precision = np.count_nonzero(fg_boundary & gt_dil) / n_fg
        recall = np.count_nonzero(gt_boundary & fg_dil) / n_gt
    return 0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall)


def davis_jf(preds: Sequence[np.ndarray], gts: Sequence[np.ndarray], bound_th: float = 0.008,
             skip_first_last: bool = False) -> dict[str, float]:
    """J, F and J&F = (J + F) / 2 of one video object, each averaged over frames.

    Args:
        preds, gts: T bool (H, W) masks each.
        skip_first_last: drop the first and last frame, as davis2017-evaluation does for the
            semi-supervised task (not for the unsupervised one). Default False.
    """
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predicted masks for {len(gts)} ground-truth frames")
    if skip_first_last:
        preds, gts = preds[1:-1], gts[1:-1]
    if len(gts) == 0:
        raise ValueError("no frames to evaluate")
    j = float(np.mean([davis_j(p, g) for p, g in zip(preds, gts)]))
    f = float(np.mean([davis_f(p, g, bound_th) for p, g in zip(preds, gts)]))
    return {"J": j, "F": f, "JF": (j + f) / 2}


class VideoAccumulator:
    """Ref-DAVIS metrics over a split: per-sample J and F (frame means), then means over samples."""

    def __init__(self, bound_th: float = 0.008, skip_first_last: bool = False) -> None:
        self.bound_th = bound_th
        self.skip_first_last = skip_first_last
        self.j: list[float] = []
        self.f: list[float] = []

    def update(self, preds: Sequence[np.ndarray], gts: Sequence[np.ndarray]) -> dict[str, float]:
        res = davis_jf(preds, gts, self.bound_th, self.skip_first_last)
        self.j.append(res["J"])
        self.f.append(res["F"])
        return res

    def __len__(self) -> int:
        return len(self.j)

    def summary(self) -> dict[str, Any]:
        if not self.j:
            return {"J": math.nan, "F": math.nan, "JF": math.nan, "num_samples": 0}
        j, f = float(np.mean(self.j)), float(np.mean(self.f))
        return {"J": j, "F": f, "JF": (j + f) / 2, "num_samples": len(self)}

    def merge(self, other: VideoAccumulator) -> VideoAccumulator:
        self.j.extend(other.j)
        self.f.extend(other.f)
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"type": "video", "bound_th": self.bound_th, "skip_first_last": self.skip_first_last,
                "j": list(self.j), "f": list(self.f)}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> VideoAccumulator:
        out = cls(state.get("bound_th", 0.008), state.get("skip_first_last", False))
        out.j.extend(state["j"])
        out.f.extend(state["f"])
        return out


# ------------------------------------------------------------- Ref-DAVIS: the unsupervised protocol
#: Ref-DAVIS protocol of the field (ReferFormer @ 9a2d4f65: ``inference_davis.py``, ``eval_davis.py``,
#: ``scripts/dist_test_davis.sh``; davis2017-evaluation ``DAVISEvaluation(task="unsupervised")``).


def davis_label_map(masks: np.ndarray, threshold: float = 0.5, background: float = 0.1) -> np.ndarray:
    """One frame's object masks → a label map, as ReferFormer's ``inference_davis.py`` merges an expression set.

    Scores below ``threshold`` are set to 0, then argmax over [``background``; masks]: 0 = background, k = the k-th
    mask (ties: the lower k). ``masks``: float or bool (N, H, W). Returns int64 (H, W) in [0, N].
    """
    masks = np.asarray(masks, dtype=np.float64)
    if masks.ndim != 3:
        raise ValueError(f"masks must be (N, H, W); got shape {masks.shape}")
    masks = np.where(masks < threshold, 0.0, masks)
    stack = np.concatenate([np.full((1, *masks.shape[1:]), background), masks])
    return stack.argmax(0).astype(np.int64)


def davis_unsupervised(pred_labels: Sequence[np.ndarray], gt_labels: Sequence[np.ndarray], bound_th: float = 0.008,
                       max_proposals: int = 20) -> dict[str, list[float]]:
    """J and F of one sequence under the davis2017 unsupervised task (``DAVISEvaluation._evaluate_unsupervised``).

    GT objects are 1..max label of the *first* GT frame (``get_all_masks``), 255 is void and excluded from every
    J and F; predicted objects are 1..max label over all predicted frames (``Results.read_masks``), zero-padded to
    the GT count. Every (prediction, GT) pair is scored on every frame; predictions are matched to GT objects by
    the Hungarian assignment maximising the frame-mean (J + F) / 2; no frame is skipped.

    Args:
        pred_labels, gt_labels: T int (H, W) label maps each.
        max_proposals: more predicted objects is an error (davis2017: 20).

    Returns:
        {"J": [...], "F": [...]}: per GT object, the frame mean of its matched J and F.

    Raises:
        ValueError: frame counts or sizes differ, or too many predicted objects.
    """
    if len(pred_labels) != len(gt_labels) or not len(gt_labels):
        raise ValueError(f"{len(pred_labels)} predicted label maps for {len(gt_labels)} ground-truth frames")
    from scipy.optimize import linear_sum_assignment

    gt = np.stack([np.asarray(g, np.int64) for g in gt_labels])  # (T, H, W)
    pred = np.stack([np.asarray(p, np.int64) for p in pred_labels])
    if pred.shape != gt.shape:
        raise ValueError(f"predicted label maps {pred.shape[1:]} != ground truth {gt.shape[1:]}")
    void = gt == 255
    gt = np.where(void, 0, gt)
    num_gt, num_pred = int(gt[0].max()), int(pred.max(initial=0))
    if num_pred > max_proposals:
        raise ValueError(f"{num_pred} predicted objects; the unsupervised protocol allows {max_proposals}")
    num_pred = max(num_pred, num_gt)  # zero padding
    j = np.zeros((num_pred, num_gt, len(gt)))
    f = np.zeros_like(j)
    for a in range(num_pred):
        for b in range(num_gt):
            for t in range(len(gt)):
                p, g = pred[t] == a + 1, gt[t] == b + 1
                j[a, b, t] = davis_j(p, g, void[t])
                f[a, b, t] = davis_f(p, g, bound_th, void[t])
    if num_gt == 0:
        return {"J": [], "F": []}
    rows, cols = linear_sum_assignment(-(j.mean(2) + f.mean(2)) / 2)
    order = np.argsort(cols)  # per GT object
    return {"J": j[rows, cols].mean(1)[order].tolist(), "F": f[rows, cols].mean(1)[order].tolist()}


class DavisSetAccumulator:
    """Ref-DAVIS J&F, the unsupervised protocol over expression sets (ReferFormer's practice).

    Each update is one (video, expression set): its predicted label maps (all objects of the set merged with
    :func:`davis_label_map`) against the video's ``Annotations_unsupervised`` label maps, scored by
    :func:`davis_unsupervised`. Per set, J and F are means over all GT objects of all videos; the summary
    reports each set and their mean (``dist_test_davis.sh`` runs ``eval_davis.py`` once per set; the papers
    report the mean of the four).
    """

    def __init__(self, bound_th: float = 0.008) -> None:
        self.bound_th = bound_th
        self.j: dict[str, list[float]] = {}
        self.f: dict[str, list[float]] = {}

    def update(self, expression_set: str, pred_labels: Sequence[np.ndarray], gt_labels: Sequence[np.ndarray]
               ) -> dict[str, float]:
        res = davis_unsupervised(pred_labels, gt_labels, self.bound_th)
        self.j.setdefault(expression_set, []).extend(res["J"])
        self.f.setdefault(expression_set, []).extend(res["F"])
        j = float(np.mean(res["J"])) if res["J"] else math.nan
        f = float(np.mean(res["F"])) if res["F"] else math.nan
        return {"J": j, "F": f, "JF": (j + f) / 2}

    def __len__(self) -> int:
        return sum(len(v) for v in self.j.values())

    def summary(self) -> dict[str, Any]:
        sets = {}
        for name in sorted(self.j):
            j, f = float(np.mean(self.j[name])), float(np.mean(self.f[name]))
            sets[name] = {"J": j, "F": f, "JF": (j + f) / 2, "num_objects": len(self.j[name])}
        if not sets:
            return {"J": math.nan, "F": math.nan, "JF": math.nan, "sets": {}, "num_objects": 0}
        j = float(np.mean([v["J"] for v in sets.values()]))
        f = float(np.mean([v["F"] for v in sets.values()]))
        return {"J": j, "F": f, "JF": float(np.mean([v["JF"] for v in sets.values()])), "sets": sets,
                "num_objects": len(self)}

    def merge(self, other: DavisSetAccumulator) -> DavisSetAccumulator:
        for name in other.j:
            self.j.setdefault(name, []).extend(other.j[name])
            self.f.setdefault(name, []).extend(other.f[name])
        return self

    def to_dict(self) -> dict[str, Any]:
        return {"type": "davis_sets", "bound_th": self.bound_th, "j": {k: list(v) for k, v in self.j.items()},
                "f": {k: list(v) for k, v in self.f.items()}}

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> DavisSetAccumulator:
        out = cls(state.get("bound_th", 0.008))
        out.j = {k: list(v) for k, v in state["j"].items()}
        out.f = {k: list(v) for k, v in state["f"].items()}
        return out


def accumulator_from_dict(state: dict[str, Any]
                          ) -> ConfusionMatrix | RefAccumulator | VideoAccumulator | DavisSetAccumulator:
    """Rebuild any accumulator from its ``to_dict()`` state."""
    kinds = {"confusion_matrix": ConfusionMatrix, "refer": RefAccumulator, "video": VideoAccumulator,
             "davis_sets": DavisSetAccumulator}
    if state.get("type") not in kinds:
        raise ValueError(f"unknown accumulator state type {state.get('type')!r}; valid: {', '.join(kinds)}")
    return kinds[state["type"]].from_dict(state)


# --------------------------------------------------------------------------------------- helpers
def to_numpy(x: Any) -> np.ndarray:
    """A torch tensor (any device) or array-like -> a numpy array."""
    if hasattr(x, "detach"):  # torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _none_if_nan(x: float) -> float | None:
    return None if x is None or (isinstance(x, float) and math.isnan(x)) else float(x)


def average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """Non-interpolated average precision of one class: mean of the precision at each positive, ranked by score.

    Args:
        scores: float (N,); positives: bool (N,). Returns NaN when there is no positive.
    """
    order = np.argsort(-np.asarray(scores, np.float64), kind="stable")
    hits = np.asarray(positives, bool)[order]
    if not hits.any():
        return float("nan")
    precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
    return float(precision[hits].mean())


def mean_average_precision(scores: np.ndarray, positives: np.ndarray) -> float:
    """Multi-label mAP: float (N, C) scores, bool (N, C) labels → mean AP over classes with a positive."""
    aps = [average_precision(scores[:, c], positives[:, c]) for c in range(scores.shape[1])]
    return float(np.nanmean(aps))
