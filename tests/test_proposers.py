"""The proposer seam: the registry, the built-ins against the pure functions, a dense proposer inside CaR's
recurrence, a proposer added in one line, and the references that refuse what they do not implement."""
from __future__ import annotations

import pytest
import torch

from car import affinity as caa
from car import cam as cam_mod
from car import peers, proposers
from car.backbones import encode_text
from car.experiments.bench import fixed_schedule, floor
from car.config import CaRConfig, load_config
from car.model import CaR
from car.official import official_order
from car.queries import background_texts


def test_every_method_is_a_registered_proposer() -> None:
    assert {"gradcam", "caa", "maskclip", "sclip", "clearclip", "naclip", "scclip"} <= set(proposers.list_proposers())
    assert proposers.get_proposer("caa").official and proposers.get_proposer("gradcam").backward_per_query
    assert not proposers.get_proposer("naclip").official and not proposers.get_proposer("naclip").backward_per_query
    assert "NACLIP" in proposers.get_proposer("naclip").__doc__
    with pytest.raises(ValueError, match="unknown proposer 'nope'; registered: gradcam, caa"):
        proposers.get_proposer("nope")


def test_gradcam_and_caa_are_the_pure_functions(clip_tiny, rgb) -> None:
    cfg = load_config("voc")
    queries = ["cat", "dog"]
    model = CaR(clip_tiny, clip_tiny, cfg)
    state = model.encode_image(rgb)
    bg = model._background(queries)
    raw, maps = model.propose(state, queries, bg, 1)
    image = cam_mod.encode_image(clip_tiny, rgb)
    text = encode_text(clip_tiny, ["a clean origami cat.", "a clean origami dog."])
    want_raw = cam_mod.gradcam(image, text, encode_text(clip_tiny, background_texts(cfg, queries)),
                               clip_tiny.logit_scale)
    aff = caa.symmetric_affinity(caa.attention_affinity(image.attention, cfg.attn_layers), 3, 2)
    want = cam_mod.upsample(caa.refine_with_affinity(want_raw, aff, cfg.lam), rgb.shape[:2]).clamp(0, 1)
    assert torch.allclose(raw, want_raw, atol=1e-5) and torch.allclose(maps, want, atol=1e-5)
    plain = CaR(clip_tiny, clip_tiny, cfg, proposer="gradcam")
    _, plain_maps = plain.propose(plain.encode_image(rgb), queries, bg, 1)
    assert torch.allclose(plain_maps, cam_mod.upsample(want_raw, rgb.shape[:2]).clamp(0, 1), atol=1e-5)


def test_a_dense_proposer_softmaxes_the_surviving_queries_and_the_background(clip_tiny, rgb) -> None:
    cfg = load_config("voc", dense_templates="cam", proposer="clearclip")
    model = CaR(clip_tiny, clip_tiny, cfg)
    state = model.encode_image(rgb)
    bg = model._background(["cat", "dog", "sky"])
    _, three = model.propose(state, ["cat", "dog", "sky"], bg, 0)
    _, one = model.propose(state, ["cat"], bg, 1)
    # independent: the peer's cosines of [query; background] at the image size, softmax at the protocol's scale
    feats = peers.dense_features("clearclip", clip_tiny, rgb, None)
    text = encode_text(clip_tiny, [cfg.cam_template.format(w) for w in ["cat", "dog", "sky"]])
    logits = peers.window_logits(feats, torch.cat([text, bg]))
    want = torch.softmax(cfg.dense_logit_scale * logits, 0)[:3]
    assert torch.allclose(three, want, atol=1e-5)
    assert (three.sum(0) <= 1 + 1e-5).all() and (one[0] >= three[0] - 1e-6).all()  # fewer rivals: larger maps
    result = model(rgb, ["cat", "dog", "sky"])
    assert result.labels.shape == rgb.shape[:2] and len(result.steps) >= 1


def test_a_new_proposer_is_one_class_and_one_line(clip_tiny, rgb) -> None:
    class Left(proposers.Proposer):
        """Every query proposes the left half of the image."""

        def encode(self, image):
            return image.shape[:2]

        def propose(self, state, text, background, step):
            maps = torch.zeros(len(text), *state)
            maps[:, :, : state[1] // 2] = 1.0
            return maps, maps

    proposers.register_proposer("left-half", Left, overwrite=True)
    try:
        result = CaR(clip_tiny, clip_tiny, "voc", proposer="left-half", crf=False)(rgb, ["cat"])
        assert result.steps[0].proposals[0, :, :28].all() and not result.steps[0].proposals[0, :, 28:].any()
        with pytest.raises(ValueError, match="already registered"):
            proposers.register_proposer("left-half", Left)
    finally:
        proposers._REGISTRY.pop("left-half")


def test_the_references_refuse_a_proposer_they_do_not_implement(clip_tiny, rgb) -> None:
    cfg = load_config("voc", proposer="naclip")
    with pytest.raises(ValueError, match="official loop order exists for the grad-CAM proposers only"):
        official_order(clip_tiny, clip_tiny, cfg, rgb, ["cat"])
    with pytest.raises(ValueError, match="the floor models grad-CAM's work"):
        floor(clip_tiny, clip_tiny, cfg, rgb, ["cat"], fixed_schedule(1))


def test_an_unknown_proposer_fails_when_the_model_is_built(clip_tiny) -> None:
    with pytest.raises(ValueError, match="unknown proposer 'gradcm'"):
        CaR(clip_tiny, clip_tiny, CaRConfig(proposer="gradcm"))
