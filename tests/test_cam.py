"""CAM: the cached, batched grad-CAM equals the official per-query re-run + backward; hooks leave no trace."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from car import cam
from car.backbones import blocks, embed_patches, encode_text, image_tensor, pool_and_project, run_blocks


def official_cams(bundle, image, text, background, scale, multiple=16):
    """The official loop: per query, re-run block L with gradients and back-propagate one softmax score.
    ``multiple``: the input rounding (official ``img_ms_and_flip``: 16)."""
    x = image_tensor(bundle, image, multiple=multiple)
    with torch.no_grad():
        tokens, grid = embed_patches(bundle, x)
        tokens = run_blocks(bundle, tokens, 0, len(blocks(bundle)) - 1)
    maps = []
    for q in range(len(text)):
        store = {}
        last = blocks(bundle)[-1]

        def keep(_m, _a, out):
            store["act"] = out
            out.register_hook(lambda g: store.__setitem__("grad", g))

        h = last.ln_1.register_forward_hook(keep)
        inp = tokens.detach().requires_grad_(True)
        emb = F.normalize(pool_and_project(bundle, last(inp), pool="mean"), dim=-1)[0]
        probs = torch.softmax(scale * torch.cat([text, background]) @ emb, 0)
        probs[q].backward()
        h.remove()
        alpha = store["grad"][0, 1:].mean(0)
        m = torch.relu(store["act"][0, 1:].detach() @ alpha).reshape(grid)
        maps.append((m - m.min()) / (m.max() - m.min() + cam.MINMAX_EPS))
    return torch.stack(maps)


def test_batched_cached_gradcam_equals_the_official_per_query_backward(clip_tiny, rgb) -> None:
    text = encode_text(clip_tiny, ["cat", "dog", "red square"])
    bg = encode_text(clip_tiny, ["a clean origami sky.", "a clean origami grass."])
    state = cam.encode_image(clip_tiny, rgb, size_multiple=None)
    ours = cam.gradcam(state, text, bg, 100.0)
    ref = official_cams(clip_tiny, rgb, text, bg, 100.0, multiple=None)
    assert ours.shape == (3, 5, 7)  # 40 x 56 rounded up to patch 8 → 5 x 7 grid
    assert torch.allclose(ours, ref, atol=1e-5)
    again = cam.gradcam(state, text, bg, 100.0)  # the cached graph survives repeated use
    assert torch.equal(ours, again)


def test_refer_mode_is_one_softmax_per_query_against_the_background(clip_tiny, rgb) -> None:
    state = cam.encode_image(clip_tiny, rgb)
    text = encode_text(clip_tiny, ["cat", "dog"])
    bg = encode_text(clip_tiny, ["sky", "grass", "road"])
    p = cam.target_probabilities(state, text, bg, 50.0, mode="refer")
    img = F.normalize(state.embedding, dim=-1)
    for q in range(2):
        single = torch.softmax(50.0 * torch.cat([text[q:q + 1], bg]) @ img, 0)[0]
        assert torch.allclose(p[q], single, atol=1e-6)


def test_attention_capture_matches_a_manual_computation_and_removes_its_hooks(clip_tiny, rgb) -> None:
    x = image_tensor(clip_tiny, rgb)
    first = blocks(clip_tiny)[0]
    with cam.capture_attention([first.attn]) as maps, torch.no_grad():
        tokens, _ = embed_patches(clip_tiny, x)
        first(tokens)
    a = first.ln_1(tokens)[0]
    w, b = first.attn.in_proj_weight, first.attn.in_proj_bias
    q, k, _ = (a @ w.T + b).chunk(3, -1)
    heads = first.attn.num_heads
    qh = q.reshape(len(a), heads, -1).transpose(0, 1)
    kh = k.reshape(len(a), heads, -1).transpose(0, 1)
    manual = torch.softmax(qh @ kh.transpose(1, 2) / qh.shape[-1] ** 0.5, -1).mean(0)
    assert torch.allclose(maps[0][0], manual, atol=1e-5)
    assert not first.attn._forward_hooks and not first.attn._forward_pre_hooks


def test_encode_image_leaves_no_hooks_and_is_deterministic(clip_tiny, rgb) -> None:
    s1 = cam.encode_image(clip_tiny, rgb)
    s2 = cam.encode_image(clip_tiny, rgb)
    assert torch.equal(s1.attention, s2.attention)
    assert s1.attention.shape == (3, 48, 48)  # 40 x 56 rounded up to 48 x 64 (official 16): 6 x 8 tokens
    for block in blocks(clip_tiny):
        assert not block.attn._forward_hooks and not block.ln_1._forward_hooks


def test_non_square_and_resolution_agnostic_forward(clip_tiny) -> None:
    img = (np.random.default_rng(0).random((70, 33, 3)) * 255).astype(np.uint8)
    assert cam.encode_image(clip_tiny, img, size_multiple=None).grid == (9, 5)  # ceil(70/8), ceil(33/8)
    state = cam.encode_image(clip_tiny, img)  # official: rounded up to 16 whatever the patch: 80 x 48
    assert state.grid == (10, 6)
    maps = cam.gradcam(state, encode_text(clip_tiny, ["a"]), encode_text(clip_tiny, ["b"]), 100.0)
    up = cam.upsample(maps, state.size)
    assert up.shape == (1, 70, 33) and float(up.min()) >= 0 and float(up.max()) <= 1 + 1e-6


def test_every_gradient_chunk_gives_the_official_maps(clip_tiny, rgb) -> None:
    text = encode_text(clip_tiny, ["cat", "dog", "red square"])
    bg = encode_text(clip_tiny, ["a clean origami sky."])
    state = cam.encode_image(clip_tiny, rgb)
    ref = official_cams(clip_tiny, rgb, text, bg, 100.0)
    for chunk in (1, 2, 3, None):  # 1 = a loop of backwards; 2 = one batched VJP of 2 then 1; None = the budget
        scores = cam.target_probabilities(state, text, bg, 100.0)
        assert torch.allclose(cam.gradcam_from_scores(state, scores, chunk=chunk), ref, atol=1e-5), chunk


def test_vjp_chunk_batches_small_models_and_loops_large_ones() -> None:
    def state(tokens: int, width: int) -> cam.ImageState:
        return cam.ImageState(torch.zeros(1, tokens, width), torch.zeros(8), torch.zeros(1, 1, 1), (1, 1), (1, 1))

    # per query 4 * (12 * 65 * 128 + 2 * 2 * 65**2) bytes = 466,960 → 143 queries fit in 64 MiB
    assert cam.vjp_chunk(state(65, 128)) == 64 * 2**20 // (4 * (12 * 65 * 128 + 2 * 2 * 65 ** 2)) == 143
    assert cam.vjp_chunk(state(769, 768)) == 1  # ViT-B/16 at 512 x 384: one backward per query
    assert cam.vjp_chunk(state(65, 128), budget=1) == 1


def test_all_zero_cams_are_recomputed_without_background_and_only_those(clip_tiny, rgb, monkeypatch) -> None:
    text = encode_text(clip_tiny, ["cat", "dog", "red square"])
    bg = encode_text(clip_tiny, ["a clean origami sky."])
    state = cam.encode_image(clip_tiny, rgb)
    no_bg = cam.gradcam_from_scores(state, cam.target_probabilities(state, text, bg[:0], 100.0))
    with_bg = cam.gradcam_from_scores(state, cam.target_probabilities(state, text, bg, 100.0))
    real, sizes = cam.gradcam_from_scores, []

    def first_call_loses_dog(state, scores, chunk=None):
        sizes.append(len(scores))
        out = real(state, scores, chunk)
        if len(sizes) == 1:
            out[1] = 0  # as if the dog's CAM were all zero
        return out

    monkeypatch.setattr(cam, "gradcam_from_scores", first_call_loses_dog)
    out = cam.gradcam(state, text, bg, 100.0)
    assert sizes == [3, 1]  # the retry differentiates the empty query only
    assert torch.allclose(out[1], no_bg[1], atol=1e-6)
    assert torch.allclose(out[[0, 2]], with_bg[[0, 2]], atol=1e-6)
