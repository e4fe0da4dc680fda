"""Issue 13: each place where car could differ from the official code follows the official code by default, with the
paper's reading (or car's earlier behaviour) as a named option. One hand-computable case per item; the ledger
(book/tables/ledger.md) has the matching rows with the official file, line and commit."""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from car import CaR, load_config
from car import official as reference
from car import classifier as cls_mod
from car.backbones import image_tensor
from car.cam import encode_image
from car.model import Step, resolve_precision
from car.vocab import CLIPES_BACKGROUND
from conftest import tiny_clip


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """One torch thread for this module (conftest.one_torch_thread)."""


# ------------------------------------------------------------------ D1: two passes, one CRF each
def _scripted_passes(model, monkeypatch, thing_map, stuff_map):
    """Replace the recurrence: the thing pass returns ``thing_map``, the stuff pass ``stuff_map`` (score 0.9)."""
    maps = iter([thing_map, stuff_map])

    def recur(image, queries, state, affinity, background, kinds=None, schedule=None):
        prop = next(maps)[None].astype(np.float32)
        scores = np.full(1, 0.9, np.float32)
        return [Step(tuple(queries), np.arange(1), scores, np.ones(1, bool), prop, prop)], prop, scores

    monkeypatch.setattr(model, "recur", recur)


def test_two_passes_get_their_own_crf_and_things_are_painted_over_stuff(clip_tiny, rgb, monkeypatch) -> None:
    """Thing 'cat' = 0.8 on the left half, stuff 'sky' = 0.9 everywhere (CRF off: the CRF's argmax rule).

    Official (one CaR call per pass): cat wins its own pass on the left (0.8 > 1 − 0.8), sky wins everywhere in
    its pass (0.9 > 0.1); the masks overlap and the label map paints sky first, cat over it: left cat, right sky.
    Joint CRF (the earlier car): [bg 0.1; cat 0.8; sky 0.9] → sky everywhere, cat nowhere."""
    h, w = rgb.shape[:2]
    cat = np.zeros((h, w)); cat[:, : w // 2] = 0.8
    sky = np.full((h, w), 0.9)
    official = CaR(clip_tiny, clip_tiny, "context", crf=False)
    _scripted_passes(official, monkeypatch, cat, sky)
    res = official(rgb, ["cat", "sky"], stuff=[False, True])
    assert res.masks[0].sum() == h * (w // 2) and res.masks[1].all()  # overlapping masks
    assert (res.labels[:, : w // 2] == 0).all() and (res.labels[:, w // 2:] == 1).all()
    joint = CaR(clip_tiny, clip_tiny, "context", crf=False, two_pass_crf="joint")
    _scripted_passes(joint, monkeypatch, cat, sky)
    res = joint(rgb, ["cat", "sky"], stuff=[False, True])
    assert not res.masks[0].any() and res.masks[1].all() and (res.labels == 1).all()


# ------------------------------------------------------------------ D2: the thing pass keeps all 23 words
def test_thing_pass_keeps_every_background_word_even_a_query(clip_tiny) -> None:
    assert len(CLIPES_BACKGROUND) == 23 and {"sky", "grass", "tree"} <= set(CLIPES_BACKGROUND)
    queries = ["cat", "tree", "sky", "grass"]  # Context: "tree" is a thing query, sky / grass stuff queries
    assert len(CaR(clip_tiny, config="context")._background(queries)) == 23  # official: none dropped
    paper = CaR(clip_tiny, config="context", background_exclude="queries")  # §3.2's literal reading
    assert len(paper._background(queries)) == 23 - 3
    assert reference.official_background_words(load_config("context"), queries) == list(CLIPES_BACKGROUND)


# ------------------------------------------------------------------ D3: one template, one softmax
def test_one_template_is_a_single_softmax() -> None:
    """cos = (1, 0, −1), s = ln 2: one softmax = (2, 1, ½) / 3.5 = (4/7, 2/7, 1/7); with θ = 0.3 only the first
    sentence survives. The double softmax (the earlier car) gives (0.42, 0.31, 0.27) and keeps two; at θ = 0.1
    (RefCOCO+ / RefCOCOg) it could never prune, its minimum is 1 / (1 + 2e) = 0.155."""
    images = torch.tensor([[1.0, 0.0]])
    text = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]]])  # (T = 1, Q = 3, D = 2)
    p = cls_mod.mask_scores(images, text, math.log(2), "official")[0]
    assert torch.allclose(p, torch.tensor([4 / 7, 2 / 7, 1 / 7]), atol=1e-6)
    assert torch.allclose(cls_mod.mask_scores(images, text, math.log(2), "paper")[0], p, atol=1e-6)
    assert (p > 0.3).tolist() == [True, False, False]
    double = torch.softmax(p, -1)
    assert (double > 0.3).tolist() == [True, True, False] and double.min() > 1 / (1 + 2 * math.e) - 1e-6
    two = torch.cat([text, text])  # T = 2: the official sum of softmaxes, then a softmax
    assert torch.allclose(cls_mod.mask_scores(images, two, math.log(2))[0], torch.softmax(2 * p, -1), atol=1e-6)


# ------------------------------------------------------------------ D4: the official refer-mode bug, as a switch
def test_refer_text_bug_indexes_characters_from_step_two(clip_tiny) -> None:
    queries = ["man", "dog", "cat"]  # canonical: "a clean origami man." ...
    fixed = CaR(clip_tiny, config="refcoco")
    bug = CaR(clip_tiny, config="refcoco", refer_text_bug=True)
    active = np.array([0, 2])
    assert fixed.classifier_texts(queries, active, 1) == [["a clean origami man.", "a clean origami cat."]]
    assert bug.classifier_texts(queries, np.arange(3), 0) == [["a clean origami man.", "a clean origami dog.",
                                                               "a clean origami cat."]]  # step 1: proper strings
    # step 2+: 3 "templates" (one per initial sentence), characters 0 and 2 of each: "a", "c"
    assert bug.classifier_texts(queries, active, 1) == [["a", "c"]] * 3
    # the reference applies the official comprehension literally and gets the same lists
    flat = [f"a clean origami {q}." for q in queries]
    _, official = reference.official_filter_texts([0, 2], flat, flat, char_bug=True)
    assert official == [["a", "c"]] * 3
    assert reference.official_filter_texts([0, 2], flat, flat, char_bug=False)[1] == [flat[0], flat[2]]
    assert not load_config("refcoco").refer_text_bug and load_config("refcoco_official").refer_text_bug


# ------------------------------------------------------------------ D5: precision
def test_precision_setting(clip_tiny, rgb) -> None:
    assert resolve_precision("auto", "cuda") is torch.float16  # the paper's half precision, official clip.load
    assert resolve_precision("auto", "cpu") is None  # fp32 on the CPU, as clip.load
    assert resolve_precision("bf16", "cpu") is torch.bfloat16 and resolve_precision("fp32", "cuda") is None
    with pytest.raises(ValueError, match="valid: auto, fp32, fp16, bf16"):
        resolve_precision("fp8", "cpu")
    with pytest.raises(ValueError, match="precision"):
        load_config("voc", precision="half")
    auto = CaR(clip_tiny, clip_tiny, "voc")(rgb, ["cat", "dog"])
    fp32 = CaR(clip_tiny, clip_tiny, "voc", precision="fp32")(rgb, ["cat", "dog"])
    np.testing.assert_array_equal(auto.scores, fp32.scores)  # auto = fp32 on the CPU
    bf16 = CaR(clip_tiny, clip_tiny, "voc", precision="bf16")(rgb, ["cat", "dog"])  # the half-precision code path
    assert bf16.masks.shape == fp32.masks.shape and np.isfinite(bf16.scores).all()
    assert np.abs(bf16.steps[0].scores - fp32.steps[0].scores).max() < 0.05


# ------------------------------------------------------------------ D6: GRES ground truth (see test_data too)
def test_gres_ground_truth_rule_is_a_config_field() -> None:
    assert load_config("gres").gres_targets == "first"  # official GReferDataset: getMaskByRef(ref)[0]
    assert load_config("gres", gres_targets="union").reader_options() == {"targets": "union"}
    first, second = np.zeros((4, 4), bool), np.zeros((4, 4), bool)
    first[0, 0], second[3, 3] = True, True
    np.testing.assert_array_equal(reference.official_gres_target([first, second], (4, 4)), first)
    assert not reference.official_gres_target([], (4, 4)).any()


# ------------------------------------------------------------------ D8: SAM built from the config
def test_sam_generator_is_built_from_the_config(clip_tiny, monkeypatch) -> None:
    import car.postprocess as pp

    seen = {}
    monkeypatch.setattr(pp, "make_sam_generator", lambda ckpt, model_type, **kw: seen.update(
        ckpt=ckpt, model_type=model_type, **kw) or (lambda image: []))
    cfg = load_config("voc_sam", sam_checkpoint="sam_hq_vit_h.pth")
    assert (cfg.sam_model, cfg.sam_hq, cfg.sam_points_per_side) == ("vit_h", True, 64)  # official sam.py / voc.yaml
    model = CaR.from_config(cfg, clip_tiny, clip_tiny)
    assert seen == {"ckpt": "sam_hq_vit_h.pth", "model_type": "vit_h", "points_per_side": 64, "hq": True,
                    "device": None}
    assert model.mask_generator is not None
    with pytest.raises(ValueError, match="sam_checkpoint"):
        CaR.from_config("voc_sam", clip_tiny, clip_tiny)


def test_hq_sam_is_an_optional_extra_with_its_install_command(monkeypatch) -> None:
    import sys

    import car.postprocess as pp

    monkeypatch.setitem(sys.modules, "segment_anything_hq", None)  # not installed
    with pytest.raises(ImportError, match="pip install segment-anything-hq"):
        pp.make_sam_generator("sam_hq_vit_h.pth", hq=True)


def test_sam_with_random_weights_runs_the_real_generator(rgb, monkeypatch) -> None:
    """segment-anything's real Sam and SamAutomaticMaskGenerator with random weights (mechanics only): a one-block,
    32-wide image encoder registered as "tiny" (vit_b would take ~2 minutes on one CPU thread)."""
    import functools
    import importlib

    sam_module = pytest.importorskip("segment_anything")
    import car.postprocess as pp

    build = importlib.import_module("segment_anything.build_sam")._build_sam
    tiny = functools.partial(build, encoder_embed_dim=32, encoder_depth=1, encoder_num_heads=1,
                             encoder_global_attn_indexes=[0])
    monkeypatch.setitem(sam_module.sam_model_registry, "tiny", tiny)
    torch.manual_seed(0)
    generate = pp.make_sam_generator(None, "tiny", points_per_side=2, pred_iou_thresh=0.0,
                                     stability_score_thresh=0.0, random_weights=True)
    records = generate(rgb)
    assert isinstance(records, list)
    for r in records:
        assert r["segmentation"].shape == rgb.shape[:2]
    masks = pp.sam_ensemble(rgb, np.zeros((1, *rgb.shape[:2]), bool), generate)
    assert masks.shape == (1, *rgb.shape[:2])


# ------------------------------------------------------------------ D9: the CAM input rounds to 16
def test_cam_input_rounds_to_16_even_for_a_stride_14_model(rgb) -> None:
    """A ViT with 14-pixel patches (as ViT-L/14) on a 40 x 56 image: official img_ms_and_flip resizes to 48 x 64
    (multiples of 16); the stride-14 convolution then sees 3 x 4 patches = 42 x 56 pixels, the last 6 rows and
    8 columns of the resized image unseen. Rounding to the patch: 42 x 56, the same 3 x 4 grid over every pixel."""
    l14 = tiny_clip(seed=1, image_size=28, patch=14, layers=2)
    assert image_tensor(l14, rgb, multiple=16).shape[-2:] == (48, 64)
    assert image_tensor(l14, rgb).shape[-2:] == (42, 56)
    assert encode_image(l14, rgb).grid == (3, 4) == encode_image(l14, rgb, size_multiple=None).grid
    assert load_config("voc_prop_l14_cls_b16").proposal_size_multiple == 16
    official = encode_image(l14, rgb).embedding
    patch = encode_image(l14, rgb, size_multiple=None).embedding
    assert not torch.allclose(official, patch)  # different pixels under the same grid


# ------------------------------------------------------------------ car and the official-order reference agree
def _toy_case(family: str):
    """(config, sample inputs) of one preset per benchmark family, on the toy world."""
    from car.data import get_dataset

    if family in ("semantic", "semantic_caa"):  # the toy presets propose with plain grad-CAM; "_caa" adds CAA
        ds = get_dataset("toy_voc", None)
        cfg = load_config("toy_voc")
        cfg = cfg.replace(proposer="caa") if family == "semantic_caa" else cfg
        return cfg, ds[0].image, list(ds.class_names), None
    if family == "two_pass":
        ds = get_dataset("toy_context", None)
        return load_config("toy_context"), ds[0].image, list(ds.class_names), list(ds.stuff)
    ds = get_dataset("toy_refcoco", None)
    if family == "refer_bug":  # the official refer-mode classifier bug reproduced (refcoco_official)
        cfg, image, sentences, _ = _toy_case("refer")
        return cfg.replace(refer_text_bug=True), image, sentences, None
    if family == "refer":
        # RefCOCO scores all sentences of a sample jointly; the toy samples hold one each, so take the expressions
        # of every object of one scene as one sample (pruning, the per-sentence CRFs and the merge all exercised)
        first = ds[0]
        sentences = [s.sentences[0] for s in (ds[i] for i in range(12)) if np.array_equal(s.image, first.image)]
        assert len(sentences) > 1
        return load_config("toy_refcoco"), first.image, sentences, None
    if family == "gres":  # the official gres.yaml values on the toy referring scenes: one sentence, θ = 0, circle
        sample = ds[0]
        cfg = load_config("toy_refcoco", theta=0.0, lam=0.3, prompts=("circle",), gres_targets="first")
        return cfg, sample.image, list(sample.sentences[:1]), None
    raise ValueError(family)


@pytest.fixture(scope="module")
def toy_models():
    from car.backbones import load_clip
    from car.toy.models import TOY_MODELS

    return {name: load_clip(name) for name in TOY_MODELS}


@pytest.mark.parametrize("family", ["semantic", "semantic_caa", "two_pass", "refer", "refer_bug", "gres"])
def test_car_and_the_official_order_agree_on_the_toy_world(family, toy_models) -> None:
    """The official loop re-implemented independently (reference.official_order: per-call backbone passes, one backward
    per query, _filter_texts, one CRF per pass, assign_label) and car give the same steps, masks and labels.

    What the cases exercise (the toy presets: toy-b4 proposing and toy-l classifying, toy-b for referring): semantic
    24 queries → 2 kept in 3 steps, with plain grad-CAM as the toy presets and with CAA (semantic_caa: the reference's
    own Sinkhorn, box mask and propagation); two passes 24 things + 10 stuff → 4 kept in 4 steps, thing and stuff masks
    overlapping; refer 3 sentences of one scene, one pruned at step 1, the single
    softmax; refer_bug the same with the character texts from step 2; GRES one sentence, θ = 0."""
    cfg, image, queries, stuff = _toy_case(family)
    bundle = toy_models[cfg.proposal_model]
    ours = CaR(bundle, toy_models[cfg.classifier_model], cfg)(image, queries, stuff=stuff)
    ref = reference.official_order(bundle, toy_models[cfg.classifier_model], cfg, image, queries, stuff=stuff)
    assert [s["indices"].tolist() for s in ref.steps] == [s.indices.tolist() for s in ours.steps]
    for so, sc in zip(ref.steps, ours.steps):
        np.testing.assert_allclose(so["scores"], sc.scores, atol=1e-4)
        np.testing.assert_allclose(so["proposals"], sc.proposals, atol=1e-3)
    assert np.array_equal(ref.masks, ours.masks)
    assert np.array_equal(ref.labels, ours.labels)
    if cfg.mode == "refer":
        from car.metrics import merge_ref_masks

        mine = merge_ref_masks(ours.masks, ours.scores, image.shape[:2])
        theirs = reference.official_refer_prediction(bundle, toy_models[cfg.classifier_model], cfg, image, queries)
        assert np.array_equal(mine, theirs)


def test_car_and_the_official_order_agree_on_a_toy_video(toy_models) -> None:
    """Video (Ref-DAVIS analogue): per-frame referring CaR and merge_masks_simple, as car's evaluation runs it."""
    from car.data import get_dataset
    from car.metrics import merge_ref_masks

    cfg = load_config("toy_video")
    sample = get_dataset("toy_video", None)[0]
    frames = sample.frames[:3]
    model = CaR(toy_models[cfg.proposal_model], toy_models[cfg.classifier_model], cfg)
    ours = []
    for frame in frames:
        res = model(frame, [sample.expression])
        ours.append(merge_ref_masks(res.masks, res.scores, frame.shape[:2]))
    ref = reference.official_video(toy_models[cfg.proposal_model], toy_models[cfg.classifier_model], cfg, frames,
                                sample.expression)
    assert all(np.array_equal(a, b) for a, b in zip(ours, ref))


# ------------------------------------------------------------------ R1–R3: the official resampling, on a VOC-sized image
VOC_SHAPE = (375, 500)  # the usual VOC image: neither side a multiple of 16, the classifier input not square
_VOC_CASES = {  # family: (preset, overrides, queries, stuff) on the VOC-sized photo, tiny random ViT-B/16-shaped CLIPs
    "semantic": ("voc", {"theta": 0.2}, ["cat", "dog", "sofa", "bird", "person"], None),
    "refer": ("refcoco", {}, ["the cat on the left", "a sofa", "the dog"], None),
    "two_pass": ("context", {"theta": 0.15, "thing_background": "added"},
                 ["cat", "sofa", "dog", "wall", "floor", "sky"], [False, False, False, True, True, True]),
}


@pytest.fixture(scope="module")
def voc_image() -> np.ndarray:
    """A bundled photograph (scikit-image's chelsea) resized to 500 x 375, uint8 (375, 500, 3)."""
    from PIL import Image

    from car.photos import load_photo

    return np.asarray(Image.fromarray(load_photo("chelsea")).resize(VOC_SHAPE[::-1], Image.Resampling.LANCZOS))


@pytest.fixture(scope="module")
def b16():
    """(f, g): tiny random CLIPs with ViT-B/16's 16-pixel patches and 224-pixel input."""
    return tiny_clip(seed=0, image_size=224, patch=16), tiny_clip(seed=1, image_size=224, patch=16)


@pytest.fixture(scope="module")
def voc_reference(b16, voc_image):
    """The reference run of each family of :data:`_VOC_CASES`, computed once."""
    runs = {}
    for family, (preset, overrides, queries, stuff) in _VOC_CASES.items():
        cfg = load_config(preset, **overrides)
        runs[family] = cfg, reference.official_order(*b16, cfg, voc_image, queries, stuff=stuff)
    return runs


def test_official_resampling_is_the_released_code_bit_for_bit(b16, voc_image) -> None:
    """The CAM input (img_ms_and_flip), the classifier input (CLIP's _transform) and the resized positional embedding
    (upsample_position_embedding) equal the reference's, written from the official files; the float path does not."""
    from PIL import Image

    from car.backbones import positional_embedding

    f, g = b16
    for image in (voc_image, voc_image.transpose(1, 0, 2).copy(), voc_image[:213, :320]):
        cam_in = image_tensor(f, image, multiple=16)
        assert torch.equal(cam_in, reference.official_img_ms_and_flip(image, 16))
        assert not torch.equal(cam_in, image_tensor(f, image, multiple=16, resample="float"))
        cls_in = cls_mod.preprocess(g, image[None])
        assert torch.equal(cls_in, reference.official_clip_transform(224)(Image.fromarray(image))[None])
        assert not torch.equal(cls_in, cls_mod.preprocess(g, image[None], resample="float"))
        grid = (cam_in.shape[-2] // 16, cam_in.shape[-1] // 16)
        pos = reference.official_upsample_position_embedding(f.visual.positional_embedding, grid)
        assert pos.dtype == torch.float16 and torch.equal(positional_embedding(f, grid), pos.float())
    assert image_tensor(f, voc_image, multiple=16).shape[-2:] == (384, 512)


@pytest.mark.parametrize("family", sorted(_VOC_CASES))
def test_car_and_the_official_order_agree_on_a_voc_sized_image(family, b16, voc_image, voc_reference) -> None:
    """500 x 375, tiny random ViTs (patch 16, 224 px): the CAM input is resized to 512 x 384 (R2), the positional
    embedding to 24 x 32 (R1), the classifier's prompted images to 298 x 224 before the crop (R3).

    Required: equal kept sets, raw CAMs within 1e-5, classifier inputs bit-equal on the same prompted images, label
    maps ≥ 99.9 % equal (fp32 rounding of near-tied random maps can flip a few CRF pixels). car's float path
    (resample: float) must fail: its raw CAMs are > 1e-3 off and its classifier inputs differ."""
    preset, overrides, queries, stuff = _VOC_CASES[family]
    cfg, ref = voc_reference[family]
    ours = CaR(*b16, cfg)(voc_image, queries, stuff=stuff)
    assert [s["indices"].tolist() for s in ref.steps] == [s.indices.tolist() for s in ours.steps]
    for so, sc in zip(ref.steps, ours.steps):
        assert np.abs(so["raw_cams"] - sc.raw_cams).max() <= 1e-5
        np.testing.assert_allclose(so["scores"], sc.scores, atol=1e-4)
        np.testing.assert_allclose(so["proposals"], sc.proposals, atol=1e-3)
        assert torch.equal(cls_mod.preprocess(b16[1], so["prompted"]), so["classifier_inputs"])
    assert (ref.labels == ours.labels).mean() >= 0.999
    floating = CaR(*b16, cfg, resample="float")(voc_image, queries, stuff=stuff)
    assert np.abs(ref.steps[0]["raw_cams"] - floating.steps[0].raw_cams).max() > 1e-3
    step = ref.steps[0]
    assert (cls_mod.preprocess(b16[1], step["prompted"], resample="float") - step["classifier_inputs"]).abs().mean() > 1e-3


def test_the_agreement_test_sees_the_fp16_positional_embedding_alone(b16, voc_image, voc_reference, monkeypatch) -> None:
    """R1 alone: car with the official input resizes but an fp32 positional embedding is more than the agreement's
    1e-5 off in the raw CAMs."""
    import dataclasses

    from car.resample import OfficialResampler

    monkeypatch.setattr(OfficialResampler, "positional", lambda self, embedding: embedding)
    f = dataclasses.replace(b16[0], _pos_cache={})  # the same model, an empty positional-embedding cache
    cfg, ref = voc_reference["semantic"]
    ours = CaR(f, b16[1], cfg)(voc_image, _VOC_CASES["semantic"][2])
    assert np.abs(ref.steps[0]["raw_cams"] - ours.steps[0].raw_cams).max() > 1e-5


def test_thing_background_added_keeps_the_words_and_adds_the_stuff_names() -> None:
    """§4.1 "all 'stuff' categories are added as background queries": the 23 words, then the stuff names that are
    not among them (floor; sky and wall are CLIP-ES words); "stuff" replaces the words; "official" keeps the groups."""
    from car.queries import thing_background_words

    queries, stuff = ["cat", "sky", "floor", "wall"], ["sky", "floor", "wall"]
    added = thing_background_words(load_config("context", thing_background="added"), queries, stuff)
    assert added == [*CLIPES_BACKGROUND, "floor"]
    assert thing_background_words(load_config("context", thing_background="stuff"), queries, stuff) == stuff
    assert thing_background_words(load_config("context"), queries, stuff) is None  # the config's groups


def test_as_released_referring_presets_carry_the_text_bug() -> None:
    """D4: the referring presets run the fix; the *_official ones are the code as released, bug included."""
    for name in ("refcoco", "refcocoplus", "refcocog"):
        fixed, released = load_config(name), load_config(f"{name}_official")
        assert not fixed.refer_text_bug and released.refer_text_bug
    for name in ("refcocoplus", "refcocog"):  # the official refcoco+.yaml / refcocog.yaml values are the presets'
        changed = {k for k, v in vars(load_config(name)).items() if getattr(load_config(f"{name}_official"), k) != v}
        assert changed == {"name", "description", "refer_text_bug"}


# ------------------------------------------------------------------ N1: the official fp16 CAM arithmetic (tools/)
def _fp16_tool():
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
    import official_fp16_cam

    return official_fp16_cam


def test_numpy_fp16_get_cam_underflows_where_fp32_does_not() -> None:
    """Official get_cam in numpy float16: α = 1e-5 (a subnormal), A = 1e-3 → α·A = 1e-8, below half the smallest fp16
    subnormal (2^-25 ≈ 3e-8), so every product is 0 and the CAM is all zero (→ the fallback); in fp32 it is 4e-8 per
    position (4 channels). At ordinary scale (α = 0.01, A = 0.5) fp16 gives 4 x 0.005 = 0.02."""
    tool = _fp16_tool()
    acts, grads = np.full((1, 4, 1, 2), 1e-3), np.full((1, 4, 1, 2), 1e-5)
    assert not tool.official_get_cam(acts.astype(np.float16), grads.astype(np.float16)).any()
    np.testing.assert_allclose(tool.official_get_cam(acts.astype(np.float32), grads.astype(np.float32)), 4e-8,
                               rtol=1e-5)
    ordinary = tool.official_get_cam(np.full((1, 4, 1, 2), 0.5, np.float16), np.full((1, 4, 1, 2), 0.01, np.float16))
    assert ordinary.dtype == np.float32 and np.allclose(ordinary, 0.02, rtol=1e-3)


def test_fp16_tool_official_cam_in_fp32_is_cars_cam(clip_tiny, rgb) -> None:
    """The tool's official CAM (one backward per query, numpy get_cam) with fp32 weights and texts equals car's CAM
    (batched gradients, torch): the tool's formula is right; with an fp16 model only the arithmetic changes."""
    from car.backbones import encode_text
    from car.queries import background_texts

    tool = _fp16_tool()
    cfg, queries = load_config("voc"), ["red square", "blue sky", "grass"]
    ours, _ = tool.car_cams(clip_tiny, cfg.replace(precision="fp32"), rgb, queries)
    fg, bg = encode_text(clip_tiny, queries), encode_text(clip_tiny, background_texts(cfg, queries))
    theirs, zero = tool.official_fp16_cams(clip_tiny, rgb, fg, bg, 16)
    assert theirs.shape == ours.shape == (3, 6, 8) and zero.dtype == bool
    np.testing.assert_allclose(theirs, ours, atol=1e-4)


def test_fp16_tool_writes_its_json_in_cpu_emulation(tmp_path) -> None:
    tool = _fp16_tool()
    with pytest.raises(SystemExit):  # the CPU without --emulate: one line that says to pass --device cuda / --emulate
        tool.main(["--model", "toy-b", "--device", "cpu", "--out", str(tmp_path / "x.json")])
    out = tmp_path / "fp16.json"
    assert tool.main(["--model", "toy-b", "--config", "toy_voc", "--photos", "coffee", "--emulate",
                      "--out", str(out)]) == 0
    import json

    record = json.loads(out.read_text())
    assert record["arithmetic"] == "CPU fp16 (emulation)" and record["num_cams"] == 5
    assert set(record["zero_before_fallback"]) == {"fp32", "autocast", "official"}
    pairs = record["images"][0]["pairs"]
    assert set(pairs) == {"official_vs_fp32", "autocast_vs_fp32", "official_vs_autocast"}
    assert all(0 <= p["max_abs_diff"] <= 1 for p in pairs.values())
