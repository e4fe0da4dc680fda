"""Dense per-pixel decisions shared by MaskCLIP and the toy segmenter."""
from __future__ import annotations

import numpy as np
import torch

from car.peers import dense_labels


def test_dense_labels_pick_the_best_row_and_map_background_words_to_minus_one() -> None:
    # 2 queries + 1 background word on a 1 x 3 grid: query 1 wins, background wins, query 0 wins
    logits = torch.tensor([[[0.0, 0.0, 5.0]], [[3.0, 0.0, 0.0]], [[1.0, 4.0, 1.0]]])
    labels, masks, up = dense_labels(logits, num_queries=2, size=(1, 3))
    assert labels.tolist() == [[1, -1, 0]]
    assert masks.shape == (2, 1, 3) and masks[0].tolist() == [[False, False, True]]
    assert torch.equal(up, logits)  # same size: no resampling
    labels, masks, up = dense_labels(logits, 2, (2, 6))
    assert up.shape == (3, 2, 6) and labels.shape == (2, 6) and set(np.unique(labels)) == {-1, 0, 1}
