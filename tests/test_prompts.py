"""Tests of car.prompts: each prompt changes exactly the expected pixels on hand-made masks."""
import cv2
import numpy as np
import pytest

from car import prompts
from car.prompts import PROMPT_KINDS, apply, apply_batch, binarize, combinations

H, W = 64, 80
RED = np.array([255, 0, 0], dtype=np.uint8)


@pytest.fixture
def image():
    rng = np.random.default_rng(0)
    img = rng.integers(10, 200, size=(H, W, 3), dtype=np.uint8)  # never pure red
    return img


@pytest.fixture
def square():
    mask = np.zeros((H, W), dtype=bool)
    mask[10:30, 20:50] = True  # rows 10..29, cols 20..49: centroid (19, 34), bbox 20 x 30
    return mask


def changed(a, b):
    return np.any(a != b, axis=-1)


# ---------------------------------------------------------------- binarize


def test_binarize_is_strict_and_empty_when_sum_small():
    cam = np.array([[0.4, 0.41], [0.9, 0.0]])
    np.testing.assert_array_equal(binarize(cam, 0.4), [[False, True], [True, False]])
    tiny = np.zeros((4, 4))
    tiny[0, 0] = 1.0  # sum == 1 -> official rule: no prompt
    assert not binarize(tiny, 0.4).any()


# ---------------------------------------------------------------- single prompts


def test_mask_zeroes_exactly_the_outside(image, square):
    out = apply(image, square, ("mask",))
    assert out.dtype == np.uint8 and out.shape == image.shape
    np.testing.assert_array_equal(out[square], image[square])
    assert not out[~square].any()


def test_blur_keeps_inside_and_blurs_outside(image, square):
    out = apply(image, square, ("blur",))
    blurred = cv2.GaussianBlur(image, (15, 15), 0)
    np.testing.assert_array_equal(out[square], image[square])
    np.testing.assert_array_equal(out[~square], blurred[~square])
    assert changed(out, image)[~square].any()


def test_blur_sigma_follows_opencv_rule(image, square):
    # sigma 0 with a 15x15 kernel means sigma = 0.3 * ((15 - 1) / 2 - 1) + 0.8 = 2.6
    ref = cv2.GaussianBlur(image, (15, 15), 2.6)
    out = apply(image, square, ("blur",))
    assert np.abs(out[~square].astype(int) - ref[~square].astype(int)).max() <= 1


def test_gray_quirk_swaps_red_and_blue_weights(square):
    red = np.zeros((H, W, 3), dtype=np.uint8)
    red[..., 0] = 255
    quirk = apply(red, square, ("gray",), gray_bgr_quirk=True)
    plain = apply(red, square, ("gray",), gray_bgr_quirk=False)
    # OpenCV fixed point: gray = (4899 R + 9617 G + 1868 B + 8192) >> 14 for RGB2GRAY;
    # the quirk reads R as B: (1868 * 255 + 8192) >> 14 = 29, else (4899 * 255 + 8192) >> 14 = 76.
    assert np.all(quirk[~square] == 29)
    assert np.all(plain[~square] == 76)
    np.testing.assert_array_equal(quirk[square], red[square])
    np.testing.assert_array_equal(plain[square], red[square])


def test_circle_matches_independently_drawn_ellipse(image, square):
    out = apply(image, square, ("circle",))
    expected = np.zeros((H, W), dtype=np.uint8)
    cv2.ellipse(expected, (34, 19), (15, 10), 0, 0, 360, 255, 1)  # hand-computed centre and axes
    drawn = expected > 0
    np.testing.assert_array_equal(changed(out, image), drawn)
    assert np.all(out[drawn] == RED)


def test_circle_thickness_and_color(image, square):
    thin = changed(apply(image, square, ("circle",)), image).sum()
    out = apply(image, square, ("circle",), thickness=3, color=(0, 255, 0))
    diff = changed(out, image)
    assert diff.sum() > thin
    assert np.all(out[diff] == [0, 255, 0])


def test_box_draws_the_centred_rectangle(image, square):
    out = apply(image, square, ("box",))
    # centre (row 19, col 34), half-extents (10, 15) -> rows 9..29, cols 19..49 outline
    expected = np.zeros((H, W), dtype=bool)
    expected[9, 19:50] = expected[29, 19:50] = True
    expected[9:30, 19] = expected[9:30, 49] = True
    np.testing.assert_array_equal(changed(out, image), expected)
    assert np.all(out[expected] == RED)


def test_contour_fills_holes_and_traces_the_outer_border(image, square):
    holed = square.copy()
    holed[15:25, 30:40] = False  # a hole: binary_fill_holes removes it, so no inner contour
    out = apply(image, holed, ("contour",))
    border = square & ~np.pad(square[1:-1, 1:-1] & square[:-2, 1:-1] & square[2:, 1:-1]
                               & square[1:-1, :-2] & square[1:-1, 2:], 1)
    np.testing.assert_array_equal(changed(out, image), border)
    assert np.all(out[border] == RED)


# ---------------------------------------------------------------- combinations and order


def test_order_is_official_whatever_the_caller_lists(image, square):
    np.testing.assert_array_equal(apply(image, square, ("gray", "blur")), apply(image, square, ("blur", "gray")))
    out = apply(image, square, ("blur", "gray"), gray_bgr_quirk=False)
    ref = cv2.cvtColor(cv2.GaussianBlur(image, (15, 15), 0), cv2.COLOR_RGB2GRAY)
    np.testing.assert_array_equal(out[~square], np.repeat(ref[~square][:, None], 3, axis=1))


def test_circle_is_drawn_after_black(image):
    # an L-shaped mask: its centroid ellipse leaves the mask, so those red pixels survive only
    # if the circle is drawn after the outside was blacked out (official order)
    mask = np.zeros((H, W), dtype=bool)
    mask[10:50, 10:20] = True
    mask[40:50, 10:60] = True
    out = apply(image, mask, ("circle", "mask"))
    red_outside = np.all(out == RED, axis=-1) & ~mask
    assert red_outside.any()
    assert not out[~mask & ~red_outside].any()


def test_empty_mask_returns_an_unchanged_copy(image):
    empty = np.zeros((H, W), dtype=bool)
    out = apply(image, empty, ("circle", "blur", "mask"))
    np.testing.assert_array_equal(out, image)
    assert out is not image


def test_unknown_kind_lists_valid_kinds(image, square):
    with pytest.raises(ValueError, match="valid: circle"):
        apply(image, square, ("circle", "sparkle"))
    with pytest.raises(ValueError, match="'mask'"):
        apply(image, square, ("black",))


def test_bad_shapes_raise(image, square):
    with pytest.raises(ValueError, match="uint8"):
        apply(image.astype(np.float32), square)
    with pytest.raises(ValueError, match="resize"):
        apply(image, square[:-1])


@pytest.mark.parametrize("kinds", combinations())
def test_apply_batch_equals_loop(image, square, kinds):
    rng = np.random.default_rng(1)
    masks = np.stack([square, np.zeros_like(square), rng.random((H, W)) > 0.7, np.roll(square, 17, axis=1)])
    batch = apply_batch(image, masks, kinds)
    assert batch.shape == (4, H, W, 3) and batch.dtype == np.uint8
    loop = np.stack([apply(image, m, kinds) for m in masks])
    np.testing.assert_array_equal(batch, loop)
    np.testing.assert_array_equal(batch[1], image)


def test_apply_batch_non_square_and_no_masks():
    img = np.full((7, 13, 3), 100, dtype=np.uint8)
    assert apply_batch(img, np.zeros((0, 7, 13), dtype=bool), ("blur",)).shape == (0, 7, 13, 3)
    m = np.zeros((2, 7, 13), dtype=bool)
    m[0, 2:5, 3:9] = True
    out = apply_batch(img, m, ("mask", "box"))
    assert out.shape == (2, 7, 13, 3)
    assert not out[0][~m[0] & ~np.all(out[0] == RED, axis=-1)].any()


def test_combinations_count_and_content():
    combos = combinations()
    assert len(combos) == 21
    assert combos[:6] == [(k,) for k in PROMPT_KINDS]
    assert ("circle", "blur") in combos and len(set(combos)) == 21
    assert len(combinations(max_size=1)) == 6
    assert prompts.APPLY_ORDER and set(prompts.APPLY_ORDER) == set(PROMPT_KINDS)


def test_fast_geometry_helpers_match_numpy_and_scipy():
    from scipy.ndimage import binary_fill_holes

    rng = np.random.default_rng(3)
    for trial in range(20):
        mask = rng.random((H, W)) > (0.5 if trial % 2 else 0.97)  # noisy (holes, border) and sparse
        mask[0, 0] = True
        rows, cols = np.nonzero(mask)
        centre, height, width = prompts._centre_and_size(mask.view(np.uint8))
        assert centre == (int(np.mean(rows)), int(np.mean(cols)))  # official mask2chw
        assert (height, width) == (rows.max() - rows.min() + 1, cols.max() - cols.min() + 1)
        np.testing.assert_array_equal(prompts._fill_holes(mask.view(np.uint8)).astype(bool), binary_fill_holes(mask))
