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
