"""The resampling rules of :mod:`car.resample` on hand-computable cases (the reproduction ledger's R1–R3; the
positional embedding's fp16 rounding is pinned in test_backbones, the agreement with the official files in
test_fidelity)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from car.backbones import image_tensor
from car.classifier import preprocess
from car.config import load_config
from car.resample import get_resampler
from conftest import tiny_clip

OFFICIAL, FLOAT = get_resampler("official"), get_resampler("float")


@pytest.fixture(scope="module")
def photo_like() -> np.ndarray:
    """uint8 (213, 320, 3) noise: every pixel a different value, so any resampling difference shows."""
    return np.random.default_rng(0).integers(0, 256, (213, 320, 3), dtype=np.uint8)


def test_a_213_row_image_resized_to_224_rows_is_pils_output_exactly(photo_like) -> None:
    """R2: the official CAM input is PIL's bicubic, rounded to uint8; the float path is the same kernel in float
    (a = −0.5, antialiased), within half a uint8 level of it (plus PIL's fixed-point coefficients)."""
    out = OFFICIAL.resize(photo_like[None], (224, 320))
    pil = np.asarray(Image.fromarray(photo_like).resize((320, 224), Image.Resampling.BICUBIC))
    assert out.shape == (1, 3, 224, 320) and out.dtype == torch.float32
    assert torch.equal(out, torch.from_numpy(pil.copy()).permute(2, 0, 1)[None].float() / 255.0)
    floating = FLOAT.resize(photo_like[None], (224, 320))
    assert not torch.equal(floating * 255, (floating * 255).round())  # not on the uint8 grid
    assert (floating - out).abs().max() <= 0.51 / 255


def test_a_320_by_213_image_is_336_pixels_wide_before_the_crop() -> None:
    """R3: CLIP's Resize(224) makes the long side int(224 · 320 / 213) = int(336.53) = 336; round() gives 337."""
    assert OFFICIAL.short_side_size((213, 320), 224) == (224, 336)
    assert FLOAT.short_side_size((213, 320), 224) == (224, 337)
    assert OFFICIAL.short_side_size((320, 213), 224) == (336, 224)  # portrait
    assert OFFICIAL.short_side_size((375, 500), 224) == (224, 298)  # VOC: int(298.67)
    assert OFFICIAL.short_side_size((100, 150), 224) == (224, 336)  # an upscale
    assert OFFICIAL.short_side_size((500, 500), 224) == (224, 224)
    from torchvision.transforms.functional import resize

    for shape in ((213, 320), (320, 213), (375, 500), (100, 150)):  # torchvision's own answer, on a PIL image
        w, h = resize(Image.new("RGB", shape[::-1]), 224).size
        assert OFFICIAL.short_side_size(shape, 224) == (h, w)


def test_centre_crop_offsets_follow_torchvision() -> None:
    """CenterCrop(224) of a 339-pixel side starts at int(round(115 / 2)) = round(57.5) = 58 (half to even); the
    float path's (339 − 224) // 2 = 57. At 337: round(56.5) = 56 = 113 // 2."""
    assert OFFICIAL.crop_offsets((224, 339), 224) == (0, 58) and FLOAT.crop_offsets((224, 339), 224) == (0, 57)
    assert OFFICIAL.crop_offsets((224, 337), 224) == (0, 56) == FLOAT.crop_offsets((224, 337), 224)
    assert OFFICIAL.crop_offsets((298, 224), 224) == (37, 0)


def test_the_classifier_crop_starts_where_clips_does() -> None:
    """A 224 x 339 image whose column j holds j (mod 251): no resize (the short side is 224 already), the crop's
    first column is 58 officially, 57 on the float path."""
    bundle = tiny_clip(image_size=224, patch=16)
    image = np.tile((np.arange(339) % 251).astype(np.uint8)[None, :, None], (224, 1, 3))
    std, mean = torch.tensor(bundle.std).view(3, 1, 1), torch.tensor(bundle.mean).view(3, 1, 1)
    for rule, first in (("official", 58), ("float", 57)):
        x = preprocess(bundle, image[None], resample=rule)[0] * std + mean  # back to [0, 1]
        assert x.shape == (3, 224, 224)
        assert torch.round(x[0, 0, :3] * 255).tolist() == [first, first + 1, first + 2]


def test_images_of_the_target_size_are_never_resampled() -> None:
    """The toy world (64-pixel scenes, 64-pixel classifiers, 64 a multiple of 16) is the same under both rules."""
    bundle = tiny_clip(image_size=64, patch=8)
    image = np.random.default_rng(1).integers(0, 256, (64, 64, 3), dtype=np.uint8)
    plain = torch.from_numpy(image).permute(2, 0, 1)[None].float() / 255.0
    for rule in (OFFICIAL, FLOAT):
        assert torch.equal(rule.resize(image[None], (64, 64)), plain)
    assert torch.equal(image_tensor(bundle, image, multiple=16), image_tensor(bundle, image, multiple=16,
                                                                                resample="float"))
    assert torch.equal(preprocess(bundle, image[None]), preprocess(bundle, image[None], resample="float"))


def test_an_unknown_rule_names_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown resample 'pil'; valid: official, float"):
        get_resampler("pil")
    with pytest.raises(ValueError, match="resample='pil'; valid: official, float"):
        load_config("voc", resample="pil")
    assert load_config("voc").resample == "official" and load_config("toy_voc").resample == "official"
