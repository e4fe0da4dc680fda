"""The same-object affinity probe against hand-computable affinities."""
from __future__ import annotations

import numpy as np
import torch

from car.probe import mass_on_same_object, same_object_mass, token_labels


def test_block_diagonal_affinity_keeps_all_mass_on_the_object() -> None:
    labels = np.array([0, 0, 1, 1, 1, 2])          # background, object 1 (3 tokens), object 2 (1 token)
    same = torch.from_numpy((labels[:, None] == labels[None, :]).astype(np.float32))
    total, n = mass_on_same_object(same * 5.0, labels, labels > 0)   # any scale: rows are normalised
    assert n == 4 and np.isclose(total, 4.0)


def test_uniform_affinity_scores_chance() -> None:
    labels = np.array([0, 0, 1, 1, 1, 2])
    total, n = mass_on_same_object(torch.ones(6, 6), labels, labels > 0)
    assert np.isclose(total / n, (3 * 3 / 6 + 1 / 6) / 4)   # each token's own object share of the grid


def test_token_labels_sample_patch_centres() -> None:
    gt = np.zeros((8, 8), np.int64)
    gt[:4, :4] = 3
    assert token_labels(gt, (2, 2)).tolist() == [3, 0, 0, 0]


def test_probe_runs_on_a_model_and_split(clip_tiny) -> None:
    from car.data import get_dataset

    r = same_object_mass(clip_tiny, get_dataset("toy_voc", None), limit=3)
    assert len(r.blocks) == 3 and 0 < r.chance < 1 and r.num_tokens > 0
    assert all(0 <= v <= 1 for v in [*r.blocks, *r.stages.values()])
    assert len(r.rank_one) == 3 and all(0 < v <= 1 for v in r.rank_one)
    assert len(r.background_to_objects) == 3 and all(v >= 0 for v in r.background_to_objects)


def test_rank_one_share_of_a_repeated_row_is_one_and_of_the_identity_is_one_over_n(monkeypatch) -> None:
    """σ₁²/Σσ² of the attention: 1 for one column profile repeated (query-independent), 1/n for the identity."""
    from car import probe
    gt = np.zeros((16, 16), np.int64)
    gt[:8, :8] = 1
    sample = type("S", (), {"image": np.zeros((16, 16, 3), np.uint8), "gt": gt})()
    profile = torch.softmax(torch.randn(16), 0)
    attention = torch.stack([profile.expand(16, 16), torch.eye(16)])  # block 1: repeated row; block 2: identity

    def fake_encode(bundle, image):
        return type("St", (), {"grid": (4, 4), "attention": attention})()

    monkeypatch.setattr(probe.cam_mod, "encode_image", fake_encode)
    r = same_object_mass(None, [sample], limit=1, layers=2)
    assert np.isclose(r.rank_one[0], 1.0) and np.isclose(r.rank_one[1], 1 / 16)
    assert np.isclose(r.blocks[1], 1.0)  # the identity keeps every token on itself: all on its own object
    # background → objects: the identity keeps the background on itself (0 on objects); the repeated row puts
    # profile[objects] on objects, over their share of the grid 4/16 (tokens 0, 1, 4, 5 of the 4 x 4 grid)
    on = float(profile[[0, 1, 4, 5]].sum())
    assert np.isclose(r.background_to_objects[0], on / 0.25) and np.isclose(r.background_to_objects[1], 0.0)


def test_background_attending_to_objects_scores_above_chance_and_a_uniform_one_chance() -> None:
    from car.probe import background_on_objects

    ground, objects = np.array([True, True, False, False]), np.array([False, False, True, True])
    assert np.isclose(background_on_objects(torch.ones(4, 4), ground, objects), 1.0)  # half the grid, half the mass
    saliency = torch.tensor([[0.0, 0.0, 1.0, 1.0]]).expand(4, 4)  # every token looks only at the objects
    assert np.isclose(background_on_objects(saliency, ground, objects), 2.0)
