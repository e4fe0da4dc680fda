"""Shared fixtures: a tiny randomly initialised open_clip CLIP (the real code path, no weights needed)."""
from __future__ import annotations

import numpy as np
import open_clip
import pytest
import torch

from car.backbones import ClipBundle


def tiny_clip(seed: int = 0, image_size: int = 32, patch: int = 8, layers: int = 3, pool: str = "tok") -> ClipBundle:
    """An open_clip ``CLIP`` with random weights and the real BPE tokenizer."""
    torch.manual_seed(seed)
    model = open_clip.CLIP(
        32,
        dict(image_size=image_size, patch_size=patch, width=32, layers=layers, head_width=16, pool_type=pool),
        dict(context_length=77, width=32, heads=2, layers=1),
    )
    model.eval().requires_grad_(False)
    return ClipBundle(model, open_clip.get_tokenizer("ViT-B-16"), "tiny-random", None)


@pytest.fixture(scope="session")
def clip_tiny() -> ClipBundle:
    return tiny_clip()


@pytest.fixture
def rgb() -> np.ndarray:
    """A 40 x 56 RGB image: a red square on a blue/green background."""
    img = np.zeros((40, 56, 3), np.uint8)
    img[:20] = (40, 80, 200)
    img[20:] = (40, 160, 60)
    img[8:24, 10:26] = (220, 30, 30)
    return img
