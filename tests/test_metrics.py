"""Metrics against hand-computed cases and independent formulations."""
from __future__ import annotations

import json
import math

import numpy as np
import pytest

from car.metrics import (
    ConfusionMatrix,
    RefAccumulator,
    VideoAccumulator,
    accumulator_from_dict,
    davis_f,
    davis_j,
    davis_jf,
    merge_ref_masks,
    seg2bmap,
)


# ------------------------------------------------------------------------------ confusion matrix
def test_confusion_matrix_hand_case():
    cm = ConfusionMatrix(3)
    cm.update(np.array([[0, 2], [2, 1]]), np.array([[0, 1], [2, 255]]))  # 255 ignored
    expected = np.zeros((3, 3), dtype=np.int64)
    expected[0, 0] = expected[1, 2] = expected[2, 2] = 1
    np.testing.assert_array_equal(cm.hist, expected)
    np.testing.assert_allclose(cm.iou_per_class(), [1.0, 0.0, 0.5])  # class 2: 1 / (1 + 2 - 1)
    assert cm.miou() == pytest.approx(0.5)
    assert cm.pixel_accuracy() == pytest.approx(2 / 3)
    assert cm.mean_accuracy() == pytest.approx((1 + 0 + 1) / 3)


def test_ignore_background_official_cut_and_gt_only():
    # gt:   1 1 2 0      pred: 1 0 2 2
    cm = ConfusionMatrix(3).update(np.array([1, 0, 2, 2]), np.array([1, 1, 2, 0]))
    # with background: IoU0 = 0/(1+1-0), IoU1 = 1/(2+1-1), IoU2 = 1/(1+2-1)
    assert cm.miou() == pytest.approx((0 + 0.5 + 0.5) / 3)
    # official hist[1:, 1:]: the pixel of class 1 predicted as background disappears, and so does
    # the GT-background pixel predicted as 2 -> both classes perfect
    assert cm.miou(ignore_background=True) == pytest.approx(1.0)
    np.testing.assert_allclose(cm.iou_per_class(ignore_background=True), [np.nan, 1.0, 1.0])
    # paper wording: drop GT-background pixels only -> class 1 has a false negative
    assert cm.miou(ignore_background=True, mode="gt_only") == pytest.approx((0.5 + 1.0) / 2)
    with pytest.raises(ValueError, match="valid: official, gt_only"):
        cm.miou(True, mode="lenient")


def test_classes_without_gt_are_left_out_of_miou():
    cm = ConfusionMatrix(4).update(np.array([1, 1, 3, 3]), np.array([1, 1, 1, 1]))
    iou = cm.iou_per_class()
    assert math.isnan(iou[0]) and iou[1] == pytest.approx(0.5) and math.isnan(iou[2]) and iou[3] == 0.0
    assert cm.miou() == pytest.approx(0.5)  # only class 1 has GT pixels


def test_out_of_range_prediction_is_a_false_negative():
    cm = ConfusionMatrix(2, ignore_index=255).update(np.array([0, 255, 1, 1]), np.array([0, 0, 1, 1]))
    np.testing.assert_array_equal(cm.missed, [1, 0])
    assert cm.iou_per_class()[0] == pytest.approx(0.5) and cm.iou_per_class()[1] == 1.0
    assert cm.pixel_accuracy() == pytest.approx(3 / 4)
    with pytest.raises(ValueError, match="inside"):
        ConfusionMatrix(300, ignore_index=255)


def test_confusion_matrix_matches_bruteforce_and_merges():
    rng = np.random.default_rng(0)
    n = 5
    preds = [rng.integers(0, n, (7, 9)) for _ in range(3)]
    gts = [np.where(rng.random((7, 9)) < 0.1, 255, rng.integers(0, n, (7, 9))) for _ in range(3)]
    a, b, whole = ConfusionMatrix(n), ConfusionMatrix(n), ConfusionMatrix(n)
    a.update(preds[0], gts[0])
    for p, g in zip(preds[1:], gts[1:]):
        b.update(p, g)
    for p, g in zip(preds, gts):
        whole.update(p, g)
    np.testing.assert_array_equal((a + b).hist, whole.hist)
    p, g = np.concatenate([x.ravel() for x in preds]), np.concatenate([x.ravel() for x in gts])
    keep = g != 255
    p, g = p[keep], g[keep]
    ious = [np.sum((p == c) & (g == c)) / np.sum((p == c) | (g == c)) for c in range(n) if (g == c).any()]
    assert whole.miou() == pytest.approx(np.mean(ious))
    restored = ConfusionMatrix.from_dict(json.loads(json.dumps(whole.to_dict())))
    np.testing.assert_array_equal(restored.hist, whole.hist)
    assert isinstance(accumulator_from_dict(whole.to_dict()), ConfusionMatrix)
    a += b
    np.testing.assert_array_equal(a.hist, whole.hist)
    with pytest.raises(ValueError, match="shape"):
        whole.update(np.zeros((2, 2), int), np.zeros((2, 3), int))


# ------------------------------------------------------------------------------------ referring
def _mask(shape, cells):
    m = np.zeros(shape, dtype=bool)
    for r, c in cells:
        m[r, c] = True
    return m


def test_ref_accumulator_hand_case():
    acc = RefAccumulator()
    shape = (3, 3)
    # A: pred {a, b}, gt {a, b, c} -> I = 2, U = 3 ... add one extra pred pixel: U = 4, IoU = 0.5
    assert acc.update(_mask(shape, [(0, 0), (0, 1), (2, 2)]), _mask(shape, [(0, 0), (0, 1), (0, 2)])) == 0.5
    assert acc.update(_mask(shape, [(1, 1)] * 1 + [(1, 2), (2, 1)]), _mask(shape, [(1, 1), (1, 2), (2, 1)])) == 1.0
    assert acc.update(np.zeros(shape, bool), np.zeros(shape, bool)) == 0.0  # official: empty union -> 0
    s = acc.summary()
    assert s["mIoU"] == pytest.approx(0.5) and s["cIoU"] == pytest.approx(5 / 7)
    assert s["precision@0.5"] == pytest.approx(2 / 3) and s["precision@0.6"] == pytest.approx(1 / 3)
    assert s["N-acc"] == 1.0 and s["T-acc"] == 1.0
    gres = RefAccumulator.from_dict({**acc.to_dict(), "empty_as_one": True})
    assert gres.miou() == pytest.approx((0.5 + 1 + 1) / 3) and gres.ciou() == pytest.approx(5 / 7)
    merged = RefAccumulator().merge(acc).merge(acc)
    assert len(merged) == 6 and merged.miou() == pytest.approx(0.5)


def test_merge_ref_masks_weighted_vote_and_fallback():
    left = np.zeros((4, 4), bool)
    left[:, :2] = True
    top = np.zeros((4, 4), bool)
    top[:2, :] = True
    # weights 3:1 -> left-top 1, left-bottom .75, right-top .25, right-bottom 0 -> >= .5 = left half
    np.testing.assert_array_equal(merge_ref_masks(np.stack([left, top]), np.array([3.0, 1.0]), (4, 4)), left)
    # a tiny weighted result (1 px <= 5 % of 100 px) falls back to the union of all masks
    dot, block = np.zeros((10, 10), bool), np.zeros((10, 10), bool)
    dot[0, 0] = True
    block[5:9, 5:10] = True
    merged = merge_ref_masks(np.stack([dot, block]), np.array([1.0, 1e-4]), (10, 10))
    np.testing.assert_array_equal(merged, dot | block)
    # upsampling: a 2x2 checker of one foreground cell -> the matching quadrant of a 4x4 mask
    small = np.array([[[1.0, 0.0], [0.0, 0.0]]])
    up = merge_ref_masks(small, np.array([1.0]), (4, 4))
    assert up.shape == (4, 4) and up[0, 0] and not up[3, 3]
    assert not merge_ref_masks(np.zeros((0, 4, 4)), np.zeros(0), (4, 4)).any()
    np.testing.assert_array_equal(merge_ref_masks(np.stack([left, top]), np.zeros(2), (4, 4)), left | top)


# ---------------------------------------------------------------------------------------- DAVIS
def test_davis_j():
    assert davis_j(np.zeros((3, 3), bool), np.zeros((3, 3), bool)) == 1.0
    assert davis_j(_mask((3, 3), [(0, 0), (0, 1)]), _mask((3, 3), [(0, 1), (1, 1)])) == pytest.approx(1 / 3)


def test_seg2bmap_hand_case():
    seg = np.zeros((4, 5), bool)
    seg[1:3, 1:3] = True
    expected = np.array([[1, 1, 1, 0, 0],  # (0,c) differs from its south-east / south neighbour
                         [1, 0, 1, 0, 0],
                         [1, 1, 1, 0, 0],
                         [0, 0, 0, 0, 0]], dtype=bool)
    np.testing.assert_array_equal(seg2bmap(seg), expected)


def test_davis_f_boundary_tolerance_accepts_or_rejects_a_shift():
    gt = np.zeros((10, 20), bool)
    gt[:, :10] = True  # boundary: column 9 (all rows)
    shifted1 = np.roll(gt, 1, axis=1)  # boundary at column 10
    shifted2 = np.roll(gt, 2, axis=1)
    shifted1[:, 0] = shifted2[:, :2] = True
    assert seg2bmap(gt)[:, 9].all() and seg2bmap(gt).sum() == 10
    assert davis_f(shifted1, gt, bound_th=1) == pytest.approx(1.0)  # 1-pixel tolerance accepts
    assert davis_f(shifted1, gt, bound_th=0) == pytest.approx(0.0)  # zero tolerance rejects
    assert davis_f(shifted2, gt, bound_th=1) == pytest.approx(0.0)
    assert davis_f(shifted2, gt, bound_th=2) == pytest.approx(1.0)
    # fraction of the diagonal: ceil(0.008 * hypot(10, 20)) = 1 pixel
    assert davis_f(shifted1, gt) == pytest.approx(1.0)
    empty = np.zeros_like(gt)
    assert davis_f(empty, empty) == 1.0 and davis_f(empty, gt) == 0.0 and davis_f(gt, empty) == 0.0


def test_davis_f_precision_recall_asymmetric_case():
    """Partial match, checked against a brute-force matcher with the radius-1 disk (a cross)."""
    gt = np.zeros((10, 20), bool)
    gt[:, :10] = True
    pred = gt.copy()
    pred[:5, 10:14] = True  # the top half's edge moves 4 px right, plus a new horizontal edge
    fg, gb = seg2bmap(pred), seg2bmap(gt)
    cross = [(0, 0), (1, 0), (-1, 0), (0, 1), (0, -1)]

    def near(a, r, c):
        return any(0 <= r + dr < 10 and 0 <= c + dc < 20 and a[r + dr, c + dc] for dr, dc in cross)

    precision = sum(near(gb, r, c) for r, c in zip(*np.nonzero(fg))) / fg.sum()
    recall = sum(near(fg, r, c) for r, c in zip(*np.nonzero(gb))) / gb.sum()
    assert 0 < precision < 1 and 0 < recall < 1
    assert davis_f(pred, gt, bound_th=1) == pytest.approx(2 * precision * recall / (precision + recall))


def test_davis_jf_and_video_accumulator():
    gt = [np.ones((4, 4), bool), np.ones((4, 4), bool)]
    half = np.zeros((4, 4), bool)
    half[:2] = True
    res = davis_jf([gt[0], half], gt, bound_th=1)
    assert res["J"] == pytest.approx(0.75)
    assert res["JF"] == pytest.approx((res["J"] + res["F"]) / 2)
    acc = VideoAccumulator(bound_th=1)
    acc.update([gt[0], half], gt)
    acc.update(gt, gt)
    s = acc.summary()
    assert s["J"] == pytest.approx((0.75 + 1) / 2) and s["num_samples"] == 2
    restored = accumulator_from_dict(json.loads(json.dumps(acc.to_dict())))
    assert restored.summary() == s
    assert davis_jf([half, gt[0], half], gt + [gt[0]], skip_first_last=True, bound_th=1)["J"] == 1.0
    with pytest.raises(ValueError, match="frames"):
        davis_jf([half], gt)


# ------------------------------------------------------------- Ref-DAVIS: the unsupervised protocol (issue 13, D7)
def test_void_pixels_are_left_out_of_j_and_f():
    pred = np.array([[1, 1], [0, 0]], bool)
    gt = np.array([[1, 0], [0, 0]], bool)
    void = np.array([[0, 1], [0, 0]], bool)
    assert davis_j(pred, gt) == pytest.approx(0.5)
    assert davis_j(pred, gt, void) == 1.0  # the disputed pixel is void
    assert davis_f(pred, gt, 0, void) == pytest.approx(1.0) and davis_f(pred, gt, 0) < 1.0


def test_referformer_label_map_merge():
    from car.metrics import davis_label_map

    masks = np.array([[[0.6, 0.4, 0.9]], [[0.7, 0.2, 0.3]]])  # 2 objects, a 1 x 3 frame
    # < 0.5 → 0, then argmax over [0.1; masks]: pixel 0 → object 2 (0.7), pixel 1 → background, pixel 2 → object 1
    np.testing.assert_array_equal(davis_label_map(masks), [[2, 0, 1]])
    np.testing.assert_array_equal(davis_label_map(masks.astype(bool)), [[1, 1, 1]])  # binary: ties → lower id


def test_unsupervised_protocol_matches_objects_and_excludes_void():
    """GT (Annotations_unsupervised) objects 1 = left column, 2 = right column, one void pixel; the prediction
    swaps the ids: the Hungarian matching pairs them, so J = F = 1 for both. With only one predicted object the
    other GT object is matched to an empty (zero-padded) prediction: J = F = 0."""
    from car.metrics import DavisSetAccumulator, accumulator_from_dict, davis_unsupervised

    gt = np.array([[1, 2], [1, 2], [1, 255]])  # (3, 2)
    pred = np.array([[2, 1], [2, 1], [2, 0]])  # the void pixel predicted as background: not counted anyway
    res = davis_unsupervised([pred, pred], [gt, gt], bound_th=1)
    assert res == {"J": [1.0, 1.0], "F": [1.0, 1.0]}
    one = np.where(pred == 2, 2, 0)  # only object 2 (= GT object 1) predicted
    res = davis_unsupervised([one, one], [gt, gt], bound_th=1)
    assert res["J"] == [1.0, 0.0] and res["F"] == [1.0, 0.0]
    with pytest.raises(ValueError, match="allows 1"):
        davis_unsupervised([pred], [gt], max_proposals=1)
    acc = DavisSetAccumulator(bound_th=1)
    acc.update("annot1", [pred, pred], [gt, gt])  # J&F 1 over its 2 objects
    acc.update("annot2", [one, one], [gt, gt])  # J&F 0.5
    s = acc.summary()
    assert s["sets"]["annot1"]["JF"] == 1.0 and s["sets"]["annot2"]["JF"] == 0.5
    assert s["JF"] == pytest.approx(0.75) and s["num_objects"] == 4  # the mean of the sets
    again = accumulator_from_dict(json.loads(json.dumps(acc.to_dict())))
    assert again.summary() == s
