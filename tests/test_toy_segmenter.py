"""The mask-supervised toy segmenter of Table I: training, checkpoint round trip, errors, seen/unseen splits."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from car.toy import segmenter
from car.toy.scenes import Scene, Thing, render
from car.toy.segmenter import SEEN_THINGS, UNSEEN_THINGS, SegTrainConfig, ToySegmenter, train_segmenter
from car.toy.splits import toy_dataset, toy_refer_subset


def test_seen_and_unseen_concepts_partition_the_things() -> None:
    from car.toy.scenes import THINGS

    assert set(SEEN_THINGS) | set(UNSEEN_THINGS) == set(THINGS) and not set(SEEN_THINGS) & set(UNSEEN_THINGS)
    assert len(SEEN_THINGS) == 16 and all(t.split()[0] in segmenter.SEEN_COLOURS for t in SEEN_THINGS)


def test_training_batches_contain_only_seen_things() -> None:
    names = list(SEEN_THINGS) + list(segmenter.STUFF)
    images, labels = segmenter._training_batch(np.random.default_rng(0), 6, {n: i for i, n in enumerate(names)})
    assert images.shape == (6, 64, 64, 3) and labels.shape == (6, 64, 64)
    assert labels.max() < len(names) and (labels < len(SEEN_THINGS)).any()  # some thing pixels


def test_two_training_steps_save_and_reload_the_same_segmenter(tmp_path) -> None:
    path = tmp_path / "seg.pt"
    seg, log = train_segmenter(SegTrainConfig(steps=2, batch_size=2), out=path, progress=False)
    assert log[-1]["step"] == 2 and np.isfinite(log[-1]["loss"])
    again = ToySegmenter.load(path)
    image = render(Scene(64, ("grass",), 1.0, (Thing("red", "circle", "large", 32, 32, 15),))).image
    a, b = seg(image, ["red circle"]), again(image, ["red circle"])
    assert a.masks.shape == (1, 64, 64) and a.labels.shape == (64, 64)
    # the reloaded head is stored in fp16: allow a few boundary pixels to differ
    assert (a.labels == b.labels).mean() > 0.98
    ckpt = torch.load(path, weights_only=True)
    assert ckpt["seen"] == list(SEEN_THINGS) and ckpt["format"] == segmenter.FORMAT


def test_bad_checkpoints_give_one_line_errors(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match="train-seg"):
        ToySegmenter.load(tmp_path / "missing.pt")
    corrupt = tmp_path / "corrupt.pt"
    corrupt.write_bytes(b"not a checkpoint")
    with pytest.raises(ValueError, match="retrain"):
        ToySegmenter.load(corrupt)
    foreign = tmp_path / "foreign.pt"
    torch.save({"format": "car-toy-clip-1"}, foreign)
    with pytest.raises(ValueError, match="not a toy segmenter checkpoint"):
        ToySegmenter.load(foreign)


def test_shipped_segmenter_finds_a_seen_object() -> None:
    seg = ToySegmenter.load()
    scene = Scene(64, ("sand",), 1.0, (Thing("blue", "square", "large", 20, 22, 14),
                                      Thing("red", "circle", "large", 44, 42, 14)))
    r = render(scene)
    for k, query in enumerate(("blue square", "red circle")):
        pred = seg(r.image, [query]).masks[0]
        iou = (pred & r.thing_masks[k]).sum() / (pred | r.thing_masks[k]).sum()
        assert iou > 0.5, (query, iou)


def test_refer_subsets_split_the_referring_split_by_target_concept() -> None:
    full = toy_dataset("toy_refcoco")
    seen, unseen = toy_refer_subset(SEEN_THINGS), toy_refer_subset(UNSEEN_THINGS)
    assert len(seen) + len(unseen) == len(full) and len(seen) and len(unseen)
    assert all(scene.things[k].concept in UNSEEN_THINGS for scene, k, _ in unseen.items)
