"""Tests of car.postprocess: CRF, label map, IoM / IoU and the SAM matching, on hand-made masks."""
import sys
import types

import numpy as np
import pytest

from car import postprocess as pp
from car.postprocess import crf_masks, dense_crf, iom, iou, label_map, match_sam, sam_ensemble

H, W = 32, 48


@pytest.fixture
def halves():
    """Image black on the left, white on the right; ground truth 0 left / 1 right."""
    image = np.zeros((H, W, 3), dtype=np.uint8)
    image[:, W // 2:] = 255
    gt = np.zeros((H, W), dtype=np.int64)
    gt[:, W // 2:] = 1
    return image, gt


def noisy_probs(gt, flip_rate=0.15, seed=0):
    rng = np.random.default_rng(seed)
    p1 = np.where(gt == 1, 0.7, 0.3).astype(np.float32)
    flip = rng.random(gt.shape) < flip_rate
    p1[flip] = 1 - p1[flip]
    return np.stack([1 - p1, p1])  # (2, H, W)


# ---------------------------------------------------------------- dense CRF


@pytest.mark.parametrize("quirk", [True, False])
def test_crf_cleans_a_noisy_two_region_mask(halves, quirk):
    image, gt = halves
    probs = noisy_probs(gt)
    assert (probs.argmax(0) != gt).sum() > 100  # the input really is noisy
    q = dense_crf(image, probs, official_image_quirk=quirk)
    assert q.shape == (2, H, W) and q.dtype == np.float32
    np.testing.assert_allclose(q.sum(0), 1.0, atol=1e-5)
    np.testing.assert_array_equal(q.argmax(0), gt)


def test_official_crf_image_wraps_without_clipping():
    image = np.array([[[0, 0, 0], [255, 255, 255], [10, 200, 120]]], dtype=np.uint8)
    out = pp.official_crf_image(image)
    assert out.dtype == np.uint8 and out.flags["C_CONTIGUOUS"]
    # BGR - (104.008, 116.669, 122.675), truncated toward zero, modulo 256
    np.testing.assert_array_equal(out[0, 0], [256 - 104, 256 - 116, 256 - 122])
    np.testing.assert_array_equal(out[0, 1], [150, 138, 132])
    np.testing.assert_array_equal(out[0, 2], [15, 83, 256 - 112])  # 15.992, 83.331, -112.675


def test_dense_crf_matches_the_official_call_sequence():
    """Independent formulation: the official DenseCRF / PostProcess code, on an image whose
    mean-subtracted values stay positive (so the platform-dependent uint8 cast is exact)."""
    import pydensecrf.densecrf as dcrf
    from pydensecrf.utils import unary_from_softmax

    rng = np.random.default_rng(5)
    image = rng.integers(125, 256, size=(H, W, 3), dtype=np.uint8)
    cams = rng.random((3, H, W)).astype(np.float32)
    probs = np.concatenate([1 - cams.max(0, keepdims=True), cams])
    bgr = (image.astype(np.float32)[:, :, ::-1] - (104.008, 116.669, 122.675)).astype(np.float32)
    rgbim = np.ascontiguousarray(bgr.transpose(2, 0, 1).astype(np.uint8).transpose(1, 2, 0))
    d = dcrf.DenseCRF2D(W, H, 4)
    d.setUnaryEnergy(np.ascontiguousarray(unary_from_softmax(probs)))
    d.addPairwiseGaussian(sxy=1, compat=3)
    d.addPairwiseBilateral(sxy=67, srgb=3, rgbim=rgbim, compat=4)
    ref = np.array(d.inference(10)).reshape(4, H, W)
    np.testing.assert_allclose(dense_crf(image, probs), ref, atol=1e-6)
    assert not np.allclose(dense_crf(image, probs, official_image_quirk=False), ref, atol=1e-3)


def test_dense_crf_checks_shapes(halves):
    image, gt = halves
    with pytest.raises(ValueError, match="probs"):
        dense_crf(image, noisy_probs(gt)[:, :-1])


# ---------------------------------------------------------------- crf_masks


def painted(cams):
    """An image whose regions follow the CAMs (as in a real photo the bilateral term needs edges)."""
    image = np.full((H, W, 3), 128, dtype=np.uint8)
    colors = [(220, 40, 40), (40, 40, 220), (40, 220, 40)]
    for cam, color in zip(cams, colors):
        image[cam > 0] = color
    return image


def square_cams(n=3):
    cams = np.zeros((n, H, W), dtype=np.float32)
    cams[0, 4:14, 4:20] = 0.9
    cams[1, 18:30, 28:44] = 0.9
    return cams  # query 2 (if any) is all zero: it never wins


def test_crf_masks_returns_every_query_even_one_that_never_wins():
    cams = square_cams(3)
    image = painted(cams)
    masks = crf_masks(image, cams)
    assert masks.shape == (3, H, W) and masks.dtype == bool
    np.testing.assert_array_equal(masks[0], cams[0] > 0)
    np.testing.assert_array_equal(masks[1], cams[1] > 0)
    assert not masks[2].any()


def test_crf_masks_all_background_gives_empty_masks():
    image = np.full((H, W, 3), 128, dtype=np.uint8)
    cams = np.full((2, H, W), 0.05, dtype=np.float32)
    masks = crf_masks(image, cams)
    assert masks.shape == (2, H, W) and not masks.any()
    assert crf_masks(image, np.zeros((0, H, W))).shape == (0, H, W)


def test_crf_masks_separate_allows_overlap_joint_does_not():
    cams = np.zeros((2, H, W), dtype=np.float32)
    cams[0, 4:20, 4:30] = 0.9
    cams[1, 10:28, 16:44] = 0.8  # overlaps query 0 on rows 10..19, cols 16..29
    image = painted(cams[:1] + cams[1:])  # one object that both queries describe
    joint = crf_masks(image, cams)
    sep = crf_masks(image, cams, separate=True)
    assert not (joint[0] & joint[1]).any()
    assert (joint[0] | joint[1])[10:20, 16:30].all()  # the overlap goes to one query or the other
    assert sep[0][10:20, 16:30].all() and sep[1][10:20, 16:30].all()
    np.testing.assert_array_equal(sep, cams > 0)  # each 2-class CRF keeps its whole square


def test_crf_masks_bg_factor_shrinks_or_grows_foreground():
    cams = np.zeros((1, H, W), dtype=np.float32)
    cams[0, 8:24, 8:40] = 0.4  # bg = 0.6 wins at bg_factor 1; 0.6 ** 3 = 0.216 loses
    image = painted(cams)
    assert not crf_masks(image, cams).any()
    np.testing.assert_array_equal(crf_masks(image, cams, bg_factor=3.0)[0], cams[0] > 0)


# ---------------------------------------------------------------- label map


def test_label_map_paints_in_ascending_score_order():
    masks = np.zeros((3, 4, 4), dtype=bool)
    masks[0, :2, :] = True  # top half
    masks[1, :, :2] = True  # left half
    masks[2, 3, 3] = True
    labels = label_map(masks, np.array([0.5, 0.9, 0.0]))  # query 2 has score 0: never painted
    expected = np.array([[1, 1, 0, 0], [1, 1, 0, 0], [1, 1, -1, -1], [1, 1, -1, -1]])
    np.testing.assert_array_equal(labels, expected)
    assert labels.dtype == np.int64
    labels = label_map(masks, np.array([0.9, 0.5, 0.1]))  # now the top half wins the overlap
    expected = np.array([[0, 0, 0, 0], [0, 0, 0, 0], [1, 1, -1, -1], [1, 1, -1, 2]])
    np.testing.assert_array_equal(labels, expected)


def test_label_map_paint_first_and_explicit_order():
    masks = np.zeros((2, 2, 2), dtype=bool)
    masks[0] = True  # a "stuff" mask everywhere, high score
    masks[1, 0, 0] = True  # a "thing", low score
    scores = np.array([0.9, 0.2])
    assert (label_map(masks, scores) == 0).all()
    things_win = label_map(masks, scores, paint_first=np.array([True, False]))
    np.testing.assert_array_equal(things_win, [[1, 0], [0, 0]])
    np.testing.assert_array_equal(label_map(masks, scores, order=[0, 1]), [[1, 0], [0, 0]])
    np.testing.assert_array_equal(label_map(masks.astype(np.float32) * 0.6, scores, order=[1, 0]), 0)


# ---------------------------------------------------------------- IoM / IoU


def box(r0, r1, c0, c1, shape=(10, 10)):
    m = np.zeros(shape, dtype=bool)
    m[r0:r1, c0:c1] = True
    return m


def test_iom_and_iou_hand_values():
    p = box(0, 4, 0, 4)  # 16 px
    s = box(0, 2, 0, 10)  # 20 px, intersection 8
    assert iom(p, s) == pytest.approx(0.5)  # max(8/20, 8/16)
    assert iou(p, s) == pytest.approx(8 / 28)
    assert iom(p, box(0, 10, 0, 10)) == pytest.approx(1.0)  # p inside s: I / |p|
    assert iom(box(5, 10, 5, 10), p) == 0.0
    empty = np.zeros((10, 10), dtype=bool)
    assert iom(empty, s) == 0.0 and iom(p, empty) == 0.0 and iou(empty, empty) == 0.0


def test_iom_min_pred_gate():
    p = box(0, 4, 0, 4)  # 16 px
    s = box(0, 1, 0, 1)  # one pixel inside p: r_s = 1, r_p = 1/16 = 0.0625
    assert iom(p, s, min_pred_thresh=0.05) == pytest.approx(1.0)
    assert iom(p, s, min_pred_thresh=0.1) == pytest.approx(0.0625)  # gate sets r_s to 0


# ---------------------------------------------------------------- SAM matching


@pytest.fixture
def sam_case():
    coarse = box(2, 8, 2, 8)  # 36 px CaR mask
    s1 = box(2, 8, 2, 5)  # 18 px, inside: IoM 1
    s2 = box(2, 8, 5, 9)  # 24 px, I = 18: IoM max(0.75, 0.5) = 0.75
    s3 = box(0, 2, 0, 10)  # disjoint: IoM 0
    return coarse, np.stack([s1, s2, s3])


def test_match_sam_union_replaces_a_coarse_mask(sam_case):
    coarse, sam = sam_case
    out = match_sam(coarse, sam, iom_thresh=0.7, iou_thresh=0.7, min_pred_thresh=0.05)
    np.testing.assert_array_equal(out, box(2, 8, 2, 9))  # union s1 | s2, IoU 36/42 = 0.857


def test_match_sam_keeps_the_mask_when_iou_too_low(sam_case):
    coarse, sam = sam_case
    out = match_sam(coarse, sam, iom_thresh=0.7, iou_thresh=0.9, min_pred_thresh=0.05)
    np.testing.assert_array_equal(out, coarse)


def test_match_sam_falls_back_to_the_best_iom(sam_case):
    coarse, sam = sam_case
    # IoM > 1.0 never holds: keep the single best (s1, IoM 1), IoU(s1, coarse) = 18/36 = 0.5
    out = match_sam(coarse, sam, iom_thresh=1.0, iou_thresh=0.4, min_pred_thresh=0.05)
    np.testing.assert_array_equal(out, sam[0])
    np.testing.assert_array_equal(match_sam(coarse, sam[:0]), coarse)


def test_sam_ensemble_with_a_fake_generator(sam_case):
    coarse, sam = sam_case
    image = np.zeros((10, 10, 3), dtype=np.uint8)
    calls = []

    def generator(img):
        calls.append(img.shape)
        return [{"segmentation": s, "area": int(s.sum())} for s in sam]

    masks = np.stack([coarse, np.zeros_like(coarse)])
    out = sam_ensemble(image, masks, generator, iom_thresh=0.7, iou_thresh=0.7, min_pred_thresh=0.05)
    assert calls == [(10, 10, 3)]  # SAM runs once per image
    assert out.shape == (2, 10, 10) and out.dtype == bool
    np.testing.assert_array_equal(out[0], box(2, 8, 2, 9))
    assert not out[1].any()  # empty masks are left alone


def test_sam_ensemble_without_sam_installed_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "segment_anything", None)  # import now raises ImportError
    with pytest.raises(ImportError, match="pip install .*segment-anything"):
        sam_ensemble(np.zeros((4, 4, 3), np.uint8), np.zeros((1, 4, 4), bool))
    with pytest.raises(ImportError, match="optional"):
        pp.make_sam_generator("sam.pth")


def fake_sam_module(log):
    import torch

    class FakeSam(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(2))

    class FakeGenerator:
        def __init__(self, model, **kw):
            log["model"], log["kw"] = model, kw

        def generate(self, image):
            return []

    def build_vit_h(checkpoint=None):
        log["ckpt"] = checkpoint
        return FakeSam()

    mod = types.ModuleType("segment_anything")
    mod.sam_model_registry = {"vit_h": build_vit_h}
    mod.SamAutomaticMaskGenerator = FakeGenerator
    return mod, FakeSam


def test_make_sam_generator_wiring(monkeypatch, tmp_path):
    import torch

    log = {}
    mod, fake_sam = fake_sam_module(log)
    monkeypatch.setitem(sys.modules, "segment_anything", mod)
    with pytest.raises(FileNotFoundError, match="not found"):
        pp.make_sam_generator(tmp_path / "missing.pth")
    with pytest.raises(ValueError, match="valid: vit_h"):
        pp.make_sam_generator(tmp_path / "missing.pth", model_type="vit_x")
    ckpt = tmp_path / "sam.pth"
    state = fake_sam().state_dict()
    state["w"] = torch.tensor([1.0, 2.0])
    torch.save(state, ckpt)
    generate = pp.make_sam_generator(ckpt, points_per_side=64)
    assert log["ckpt"] is None  # we load the weights ourselves (weights_only=True)
    assert torch.equal(log["model"].w.detach(), torch.tensor([1.0, 2.0]))
    assert log["kw"]["points_per_side"] == 64 and log["kw"]["pred_iou_thresh"] == 0.88
    assert log["kw"]["stability_score_thresh"] == 0.95 and log["kw"]["box_nms_thresh"] == 0.7
    assert generate(np.zeros((4, 4, 3), np.uint8)) == []
    # installed SAM but no generator: the error says a checkpoint is needed
    with pytest.raises(ValueError, match="make_sam_generator"):
        sam_ensemble(np.zeros((4, 4, 3), np.uint8), np.zeros((1, 4, 4), bool))
