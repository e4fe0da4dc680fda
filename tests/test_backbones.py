"""Loading (fast, clear failures offline), image conversion, and the resolution-agnostic ViT forward."""
from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from PIL import Image

from car import WeightsUnavailableError, load_clip
from car.backbones import embed_patches, image_tensor, positional_embedding, weights_available
from car.image import to_rgb_uint8


def test_unknown_model_name_suggests_close_names() -> None:
    with pytest.raises(ValueError, match="Did you mean ViT-B-16"):
        load_clip("ViT-B-61")


def test_unknown_pretrained_tag_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="available: .*openai"):
        load_clip("ViT-B-16", "not-a-tag")


def test_missing_weights_offline_fail_fast_with_one_line(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    start = time.time()
    with pytest.raises(WeightsUnavailableError) as err:
        load_clip("ViT-B-16", "openai", cache_dir=str(tmp_path))
    assert time.time() - start < 5
    msg = str(err.value)
    assert "\n" not in msg and "ViT-B-16/openai" in msg and "toy-b" in msg
    assert not weights_available("ViT-B-16", "openai", cache_dir=str(tmp_path))


def test_missing_weights_file_is_named(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_clip("ViT-B-16", str(tmp_path / "nope.safetensors"))


def test_random_init_real_architecture_builds_offline() -> None:
    bundle = load_clip("ViT-B-32", pretrained=None)
    assert bundle.patch_size == 32 and bundle.image_size == 224 and bundle.pretrained is None
    assert not any(p.requires_grad for p in bundle.model.parameters())


def test_positional_embedding_interpolation_is_exact_at_native_size(clip_tiny) -> None:
    native = positional_embedding(clip_tiny, (4, 4))
    assert native is clip_tiny.visual.positional_embedding  # 32 px / patch 8: no resize
    assert positional_embedding(clip_tiny, (4, 4), "float") is native  # neither rule touches the native grid
    bigger = positional_embedding(clip_tiny, (6, 3), "float")
    assert bigger.shape == (1 + 18, native.shape[1])
    assert torch.equal(bigger[0], native[0])  # the class position is never resized


def test_resized_positional_embedding_is_rounded_to_fp16_by_the_official_rule(clip_tiny) -> None:
    """Official ``upsample_position_embedding`` ends with ``.half()`` (class position included): the official rule is
    the float rule rounded through fp16, so every value is an fp16 number and within half an fp16 ulp of fp32."""
    float_rule = positional_embedding(clip_tiny, (6, 3), "float")
    official = positional_embedding(clip_tiny, (6, 3))
    assert torch.equal(official, float_rule.half().float()) and not torch.equal(official, float_rule)
    assert torch.equal(official[0], clip_tiny.visual.positional_embedding[0].half().float())
    assert (official - float_rule).abs().max() <= float_rule.abs().max() * 2.0 ** -11
    with pytest.raises(ValueError, match="valid: official, float"):
        positional_embedding(clip_tiny, (6, 3), "bicubic")


def test_image_sizes_are_rounded_up_to_the_patch(clip_tiny) -> None:
    x = image_tensor(clip_tiny, np.zeros((17, 30, 3), np.uint8))
    assert x.shape == (1, 3, 24, 32)
    tokens, grid = embed_patches(clip_tiny, x)
    assert grid == (3, 4) and tokens.shape == (1, 13, 32)


def test_native_forward_matches_open_clip_at_training_size(clip_tiny) -> None:
    from car.backbones import pool_and_project, run_blocks

    x = torch.randn(2, 3, 32, 32)
    tokens, _ = embed_patches(clip_tiny, x)
    ours = pool_and_project(clip_tiny, run_blocks(clip_tiny, tokens))
    assert torch.allclose(ours, clip_tiny.model.encode_image(x), atol=1e-5)


@pytest.mark.parametrize("make", [
    lambda: Image.fromarray(np.full((5, 6), 100, np.uint8)),                 # PIL L
    lambda: Image.fromarray(np.full((5, 6, 4), 100, np.uint8), "RGBA"),      # PIL RGBA
    lambda: Image.fromarray(np.full((5, 6), 40000, np.uint16)),              # PIL 16-bit
    lambda: np.full((5, 6, 3), 25700, np.uint16),                           # numpy 16-bit
    lambda: np.ones((5, 6), bool),
])
def test_image_conversion(make) -> None:
    out = to_rgb_uint8(make())
    assert out.shape == (5, 6, 3) and out.dtype == np.uint8


def test_sixteen_bit_scaling_is_exact() -> None:
    assert to_rgb_uint8(np.full((2, 2, 3), 65535, np.uint16)).max() == 255
    assert to_rgb_uint8(np.full((2, 2, 3), 25700, np.uint16)).max() == 100


def test_text_encoding_in_batches_equals_one_batch(clip_tiny) -> None:
    from car.backbones import encode_text

    texts = [f"a photo of a {w}." for w in ("cat", "dog", "red square", "sky", "grass")]
    one = encode_text(clip_tiny, texts, batch_size=len(texts))
    assert torch.allclose(encode_text(clip_tiny, texts, batch_size=2), one, atol=1e-5)
    assert torch.allclose(one.norm(dim=-1), torch.ones(len(texts)), atol=1e-5)
    assert encode_text(clip_tiny, [], batch_size=2).shape[0] == 0


def test_batch_sizes_follow_the_memory_budget(clip_tiny) -> None:
    from car.backbones import activation_bytes, batch_size_for

    assert activation_bytes(10, 64, 2) == 4 * 10 * (12 * 64 + 2 * 2 * 10) == 32320
    assert batch_size_for(clip_tiny, 10, 64, 2, budget=3 * 32320 + 5) == 3
    assert batch_size_for(clip_tiny, 10, 64, 2, budget=1) == 1  # never zero
