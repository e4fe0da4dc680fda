"""CAA: Sinkhorn normalisation, the symmetric affinity, box masks and the refinement (Eq. 7–8)."""
from __future__ import annotations

import numpy as np
import torch

from car import affinity


def test_sinkhorn_matches_an_explicit_loop_and_converges_to_doubly_stochastic() -> None:
    g = torch.Generator().manual_seed(0)
    attn = torch.rand(6, 6, generator=g) + 0.01
    d = affinity.sinkhorn(attn, rounds=3)
    ref = attn.clone()
    for _ in range(3):  # explicit loop over elements: column sums, then row sums
        for j in range(6):
            ref[:, j] = ref[:, j] / ref[:, j].sum()
        for i in range(6):
            ref[i, :] = ref[i, :] / ref[i, :].sum()
    assert torch.allclose(d, ref, atol=1e-6)
    assert torch.allclose(d.sum(1), torch.ones(6), atol=1e-6)  # rows exactly
    many = affinity.sinkhorn(attn, rounds=200)
    assert torch.allclose(many.sum(0), torch.ones(6), atol=1e-4)  # columns in the limit
    assert (affinity.sinkhorn(attn, 3).sum(0) - 1).abs().max() > (many.sum(0) - 1).abs().max()


def test_sinkhorn_of_a_doubly_stochastic_matrix_is_itself() -> None:
    perm = torch.eye(4)[[2, 0, 3, 1]]
    m = 0.5 * perm + 0.5 * torch.full((4, 4), 0.25)  # doubly stochastic already
    assert torch.allclose(affinity.sinkhorn(m, 3), m, atol=1e-7)


def test_symmetric_affinity_is_symmetric_and_squared() -> None:
    attn = torch.rand(5, 5) + 0.1
    a = affinity.symmetric_affinity(attn, rounds=3, power=2)
    assert torch.allclose(a, a.T, atol=1e-6)
    d = affinity.sinkhorn(attn, 3)
    s = (d + d.T) / 2
    assert torch.allclose(a, s @ s, atol=1e-6)


def test_box_mask_is_the_official_half_open_union_of_boxes() -> None:
    cam = np.zeros((8, 10), np.float32)
    cam[1:3, 2:5] = 1.0  # box rows 1..2, cols 2..4 → half-open slice [1:3, 2:5]
    cam[5:8, 7:10] = 0.9  # touches the border: clamped to H-1 / W-1, so the last row/col stay out
    m = affinity.box_mask(cam, lam=0.4)
    expected = np.zeros((8, 10), bool)
    expected[1:3, 2:5] = True
    expected[5:7, 7:9] = True
    assert np.array_equal(m, expected)


def test_box_mask_lowers_lambda_until_something_passes() -> None:
    cam = np.full((4, 4), 0.5, np.float32)  # uint8 127 everywhere: nothing is strictly above 0.99*127
    cam[0, 0] = 0.52
    m = affinity.box_mask(cam, lam=1.0)
    assert m.any()


def test_refine_masks_the_source_positions_as_the_official_code() -> None:
    cams = torch.zeros(1, 3, 3)
    cams[0, 0, 0] = 1.0
    cams[0, 1, 1] = 0.5
    aff = torch.rand(9, 9)
    out = affinity.refine_with_affinity(cams, aff, lam=0.4)
    box = torch.from_numpy(affinity.box_mask(cams[0], 0.4)).flatten().float()
    ref = aff @ (cams[0].flatten() * box)
    ref = (ref - ref.min()) / (ref.max() - ref.min() + 1e-7)
    assert torch.allclose(out[0].flatten(), ref, atol=1e-6)
    paper = affinity.refine_with_affinity(cams, aff, lam=0.4, mask_output=True)
    assert paper[0].flatten()[box == 0].max() == 0  # the paper's form zeroes outputs outside the boxes


def test_refine_wrapper_equals_the_explicit_pipeline() -> None:
    cams = torch.rand(2, 4, 5)
    attn = torch.rand(20, 20)
    a = affinity.symmetric_affinity(attn, 3, 2)
    assert torch.allclose(affinity.refine(cams, attn, 0.4), affinity.refine_with_affinity(cams, a, 0.4))
    assert affinity.refine(cams[0], attn, 0.4).shape == (4, 5)
