"""The toy world: deterministic scenes with consistent masks and captions, the trainer, the shipped checkpoints."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from car import CaR, load_clip, load_config
from car.data import get_dataset
from car.toy import scenes, text
from car.toy.models import build_toy_clip, checkpoint_path, load_checkpoint, save_checkpoint
from car.toy.train import TrainConfig, make_twins, train


def test_scenes_are_deterministic_from_the_seed() -> None:
    a = scenes.render(scenes.sample_scene(np.random.default_rng(7), num_things=(2, 4), num_stuff=(2, 2)))
    b = scenes.render(scenes.sample_scene(np.random.default_rng(7), num_things=(2, 4), num_stuff=(2, 2)))
    assert np.array_equal(a.image, b.image) and np.array_equal(a.thing_masks, b.thing_masks)


def test_masks_partition_the_image_and_match_the_colours() -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        r = scenes.render(scenes.sample_scene(rng, num_things=(1, 4), num_stuff=(1, 2)))
        cover = r.thing_masks.sum(0) + r.stuff_masks.sum(0)
        assert (cover == 1).all()  # every pixel is exactly one thing or one stuff
        for thing, m in zip(r.scene.things, r.thing_masks):
            if m.sum() > 20:
                mean = r.image[m].mean(0)
                target = np.array(scenes.COLOURS[thing.colour], float)
                # the pixels under the mask have the thing's colour (its chromaticity: patterns only darken it)
                assert np.abs(mean / mean.max() - target / target.max()).max() < 0.25


def test_vocabulary_sizes() -> None:
    assert len(scenes.THINGS) >= 24 and len(scenes.STUFF) >= 8 and len(scenes.STUFF_FAMILIES) >= 3


def test_captions_name_exactly_the_things_of_the_scene() -> None:
    rng = np.random.default_rng(5)
    for _ in range(20):
        scene = scenes.sample_scene(rng, num_things=(1, 4))
        cap = text.caption(scene, rng)
        for t in scene.things:
            assert t.colour in cap and t.shape in cap
        named = {w for w in cap.replace(",", " ").replace(".", " ").split()}
        assert named & set(scenes.SHAPES) == {t.shape for t in scene.things}  # no shape that is not drawn


def test_referring_expression_is_unique() -> None:
    a = scenes.Thing("red", "circle", "large", 10, 30, 8)
    b = scenes.Thing("red", "circle", "small", 50, 30, 5)
    scene = scenes.Scene(64, ("grass",), 0.5, (a, b))
    assert text.referring_expression(scene, 0) == "the large red circle"
    c = scenes.Thing("red", "circle", "large", 50, 30, 8)
    scene = scenes.Scene(64, ("grass",), 0.5, (a, c))
    assert text.referring_expression(scene, 0) == "the red circle on the left"


def test_tokenizer_is_open_clip_compatible() -> None:
    tok = text.WordTokenizer()
    ids = tok(["a clean origami red circle.", "Space Needle"])
    assert ids.shape == (2, 32) and ids.dtype == torch.long
    assert int(ids.argmax(1)[0]) == 7  # <eot> has the largest id and ends the text (open_clip's argmax pooling)
    assert tok.unknown_words("Space Needle") == ["space", "needle"]


def test_twins_differ_in_one_concept_only() -> None:
    (img1, cap1), (img2, cap2) = make_twins(np.random.default_rng(0), focus_prob=0.0)
    diff = [(a, b) for a, b in zip(cap1.split(), cap2.split()) if a != b]
    assert len(diff) == 1 and (img1 != img2).any()


def test_trainer_runs_two_steps_and_saves_a_loadable_checkpoint(tmp_path) -> None:
    path, log = train(TrainConfig(size="b", steps=2, batch_size=8, eval_every=1, warmup=1), tmp_path / "t.pt",
                      progress=False)
    assert len(log) == 2 and np.isfinite(log[-1]["loss"])
    model, tok, payload = load_checkpoint(path)
    assert payload["size"] == "b" and tok.vocab_size == model.vocab_size


def test_bad_checkpoints_give_clear_errors(tmp_path) -> None:
    with pytest.raises(ValueError, match="unknown toy model size"):
        build_toy_clip("xl")
    bad = tmp_path / "corrupt.pt"
    bad.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="corrupt"):
        load_checkpoint(bad)
    with pytest.raises(FileNotFoundError, match="python -m car toy train"):
        load_checkpoint(tmp_path / "toy-b.pt")
    model, tok = build_toy_clip("b")
    path = save_checkpoint(model, tok, "l", tmp_path / "mislabelled.pt")  # b weights claiming to be l
    with pytest.raises(ValueError, match="another config"):
        load_checkpoint(path)


@pytest.mark.parametrize("size", ["b", "l", "b4"])
def test_shipped_checkpoints_load_and_are_small(size) -> None:
    path = checkpoint_path(size)
    assert path.stat().st_size <= 12 * 2**20
    bundle = load_clip(f"toy-{size}")
    assert bundle.name == f"toy-{size}" and bundle.is_toy


@pytest.mark.parametrize("size", ["b", "l", "b4"])
def test_shipped_models_score_clearly_above_chance(size) -> None:
    from car.backbones import encode_text
    from car.classifier import encode_images, preprocess

    bundle = load_clip(f"toy-{size}")
    rng = np.random.default_rng(99)
    concepts = scenes.THINGS[::3]  # 8 concepts
    images = [scenes.render(scenes.sample_scene(rng, num_things=(1, 1), things=(c,))).image
              for c in concepts for _ in range(3)]
    labels = np.repeat(np.arange(len(concepts)), 3)
    img = encode_images(bundle, preprocess(bundle, np.stack(images)), skip_last_block=False)
    txt = encode_text(bundle, [f"a photo of a {c}." for c in concepts])
    acc = float(((img @ txt.T).argmax(1).numpy() == labels).mean())
    assert acc > 2 / len(concepts)  # chance is 1/8


def test_car_on_the_toy_model_removes_an_absent_query() -> None:
    ds = get_dataset("toy_voc", None)
    model = CaR.from_config("toy_voc")
    sample = ds[0]
    present = {ds.class_names[i - 1] for i in np.unique(sample.gt) if i > 0}
    absent = [c for c in ds.class_names if c not in present][:6]
    result = model(sample.image, sorted(present) + absent)
    removed = [q for q in absent if q not in result.kept]
    assert removed, "CaR kept every absent query"


def test_toy_presets_load() -> None:
    from car.config import list_configs

    names = list_configs(toy=True)
    assert {"toy_voc", "toy_voc20", "toy_context", "toy_ade", "toy_refcoco", "toy_video"} <= set(names)
    for n in names:
        assert load_config(n).dataset.startswith("toy")


def test_split_attributes_puts_the_colour_left_and_the_grey_pattern_right_of_each_centre() -> None:
    from car.toy.scenes import COLOURS, Scene, Thing, pattern, render
    from car.toy.train import SPLIT_GREY, split_attributes

    thing = Thing("red", "square", "large", 32.0, 32.0, 16.0)
    rendered = render(Scene(64, ("snow",), 0.5, (thing,), seed=1))
    image, mask = split_attributes(rendered), rendered.thing_masks[0]
    left, right = mask & (np.arange(64)[None] < 32), mask & (np.arange(64)[None] >= 32)
    assert (image[left] == COLOURS["red"]).all()
    grey = (SPLIT_GREY * pattern("square", 64)).astype(np.uint8)
    assert (image[right] == grey[right][:, None]).all() and len(np.unique(image[right])) == 2  # stripes, no colour
    assert (image[~mask] == rendered.image[~mask]).all()


def test_split_twins_swap_two_colours_so_only_binding_tells_them_apart() -> None:
    from collections import Counter

    from car.toy import train as toy_train

    swaps = 0
    for seed in range(40):
        rng = np.random.default_rng(seed)
        scene = toy_train.sample_scene(rng, num_things=(2, 4))
        twin = toy_train._swap_colours(scene, 0, rng)
        if twin is None:
            continue
        swaps += 1
        a, b = scene.things, twin.things
        assert Counter(t.colour for t in a) == Counter(t.colour for t in b)
        assert [t.shape for t in a] == [t.shape for t in b] and {t.concept for t in a} != {t.concept for t in b}
        assert sum(x.colour != y.colour for x, y in zip(a, b)) == 2
    assert swaps > 10
