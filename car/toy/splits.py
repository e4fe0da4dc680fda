"""Fixed validation splits of the toy world, one per benchmark family of the paper.

Each split is a dataset of :mod:`car.data` (registered as ``toy_voc``, ``toy_voc20``, ``toy_context``,
``toy_ade``, ``toy_refcoco``, ``toy_video``), generated from fixed seeds on the fly — nothing to download:

=============  ==============================================  ==========================================
split          paper analogue                                  content
=============  ==============================================  ==========================================
toy_voc        Pascal VOC-21 (things + background)             1–3 things on one texture; 24 queries
toy_voc20      VOC-20 / Table J (background ignored)           same images, evaluated without background
toy_context    Pascal Context (things + stuff, two passes)     1–3 things on two textures; 34 queries
toy_ade        ADE-150 (cluttered, every pixel labelled)       3–5 things on two textures; 34 queries
toy_refcoco    RefCOCO (one expression per object)             2–3 things, repeats allowed
toy_video      Ref-DAVIS 2017 (moving objects, one expression) 8 frames, 2–3 things moving in lines
=============  ==============================================  ==========================================
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

import numpy as np

from car.data.base import BaseDataset, RefSample, SegSample, VideoSample
from car.data.registry import list_datasets, register_dataset
from car.toy.scenes import STUFF, THINGS, Scene, render, sample_scene
from car.toy.text import referring_expression

TOY_ROOT = Path("<toy world>")
DEFAULT_SIZES = {"toy_voc": 120, "toy_voc20": 120, "toy_context": 80, "toy_ade": 80, "toy_refcoco": 120,
                 "toy_video": 16}
_SEEDS = {"toy_voc": 1001, "toy_voc20": 1001, "toy_context": 2002, "toy_ade": 3003, "toy_refcoco": 4004,
          "toy_video": 5005}


#: Scenes of the referring split (toy_refcoco and its Table I subsets): repeated concepts allowed.
REFER_SCENES = dict(num_things=(2, 3), num_stuff=(1, 2), distinct=False)


def _scenes(seed: int, n: int, **kw) -> list[Scene]:
    rng = np.random.default_rng(seed)
    return [sample_scene(rng, **kw) for _ in range(n)]


class ToySemantic(BaseDataset):
    """Semantic toy split. With ``with_stuff`` every pixel is a thing or a stuff class (class i ↔ label i);
    otherwise stuff is background (label 0) and thing i is label i + 1 (the VOC convention)."""

    kind = "semantic"

    def __init__(self, name: str, scenes: list[Scene], with_stuff: bool, ignore_background: bool = False):
        classes = list(THINGS) + (list(STUFF) if with_stuff else [])
        super().__init__(
            name=name, split="val", root=TOY_ROOT, num_samples=len(scenes), class_names=classes,
            stuff=[False] * len(THINGS) + [True] * len(STUFF) if with_stuff else None,
            num_classes=len(classes) + (0 if with_stuff else 1), has_background=not with_stuff,
            ignore_background=ignore_background,
            label_names=classes if with_stuff else ["background"] + classes)
        self.scenes = scenes
        self.with_stuff = with_stuff

    def sample_name(self, index: int) -> str:
        return f"{self.name}_{self._index(index):04d}"

    def __getitem__(self, index: int) -> SegSample:
        i = self._index(index)
        r = render(self.scenes[i])
        offset = 0 if self.with_stuff else 1
        gt = np.zeros(r.image.shape[:2], np.int64)
        if self.with_stuff:
            for name, m in zip(self.scenes[i].stuff, r.stuff_masks):
                gt[m] = STUFF.index(name) + len(THINGS)
        for thing, m in zip(self.scenes[i].things, r.thing_masks):
            gt[m] = THINGS.index(thing.concept) + offset
        return SegSample(r.image, gt, self.sample_name(i))


def present_things(gt: np.ndarray) -> list[str]:
    """The thing concepts in a VOC-like toy ground truth, int64 (H, W) with label i + 1 = ``THINGS[i]``."""
    return [THINGS[label - 1] for label in np.unique(gt) if 0 < label <= len(THINGS)]


def labels_over_things(labels: np.ndarray, queries: Sequence[str]) -> np.ndarray:
    """A label map over ``queries`` (int64 (H, W), -1 = background) as one over ``THINGS``, the toy ground
    truth's order minus one, so that both can be drawn with the same colours; -1 stays -1."""
    ids = np.array([THINGS.index(q) for q in queries])
    return np.where(labels >= 0, ids[np.maximum(labels, 0)], -1)


class ToyRefer(BaseDataset):
    """Referring toy split: one sample per uniquely describable thing, one expression each."""

    kind = "refer"

    def __init__(self, name: str, scenes: list[Scene], concepts: Sequence[str] | None = None):
        items = [(s, k, e) for s in scenes for k in range(len(s.things)) if (e := referring_expression(s, k))
                 and (concepts is None or s.things[k].concept in concepts)]
        super().__init__(name=name, split="val", root=TOY_ROOT, num_samples=len(items))
        self.items = items

    def sample_name(self, index: int) -> str:
        return f"{self.name}_{self._index(index):04d}"

    def __getitem__(self, index: int) -> RefSample:
        i = self._index(index)
        scene, k, expression = self.items[i]
        r = render(scene)
        return RefSample(r.image, r.thing_masks[k], [expression], self.sample_name(i))


class ToyVideo(BaseDataset):
    """Toy videos: things move along straight lines; the expression names one of them."""

    kind = "video"

    def __init__(self, name: str, scenes: list[Scene], num_frames: int = 8, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.items = []
        for s in scenes:
            velocity = rng.uniform(-2.0, 2.0, size=(len(s.things), 2)) * s.size / 64
            k = int(rng.integers(len(s.things)))
            expression = referring_expression(s, k)
            if expression:
                self.items.append((s, velocity, k, expression))
        super().__init__(name=name, split="val", root=TOY_ROOT, num_samples=len(self.items))
        self.num_frames = num_frames

    def sample_name(self, index: int) -> str:
        return f"{self.name}_{self._index(index):04d}"

    def __getitem__(self, index: int) -> VideoSample:
        scene, velocity, k, expression = self.items[self._index(index)]
        frames, masks = [], []
        for t in range(self.num_frames):
            things = tuple(replace(th, cx=float(np.clip(th.cx + t * v[0], th.radius, scene.size - th.radius)),
                                   cy=float(np.clip(th.cy + t * v[1], th.radius, scene.size - th.radius)))
                           for th, v in zip(scene.things, velocity))
            r = render(replace(scene, things=things))
            frames.append(r.image)
            masks.append(r.thing_masks[k])
        return VideoSample(frames, masks, expression, self.sample_name(index))


def toy_dataset(name: str, num_samples: int | None = None, size: int = 64) -> BaseDataset:
    """Build toy split ``name`` with ``num_samples`` scenes (default :data:`DEFAULT_SIZES`)."""
    if name not in DEFAULT_SIZES:
        raise ValueError(f"unknown toy split {name!r}; valid: {', '.join(DEFAULT_SIZES)}")
    n, seed = num_samples or DEFAULT_SIZES[name], _SEEDS[name]
    if name in ("toy_voc", "toy_voc20"):
        return ToySemantic(name, _scenes(seed, n, size=size, num_things=(1, 3)), False, name == "toy_voc20")
    if name == "toy_context":
        return ToySemantic(name, _scenes(seed, n, size=size, num_things=(1, 3), num_stuff=(2, 2)), True)
    if name == "toy_ade":
        return ToySemantic(name, _scenes(seed, n, size=size, num_things=(3, 5), num_stuff=(2, 2)), True)
    if name == "toy_refcoco":
        return ToyRefer(name, _scenes(seed, n, size=size, **REFER_SCENES))
    return ToyVideo(name, _scenes(seed, n, size=size, num_things=(2, 3), num_stuff=(1, 1)), seed=seed)


def toy_refer_subset(concepts: Sequence[str], name: str = "toy_refcoco_subset") -> BaseDataset:
    """The toy_refcoco split restricted to expressions whose target is one of ``concepts`` (Table I: seen vs
    unseen concepts of the mask-supervised toy segmenter)."""
    seed, n = _SEEDS["toy_refcoco"], DEFAULT_SIZES["toy_refcoco"]
    return ToyRefer(name, _scenes(seed, n, **REFER_SCENES), concepts)


def register_toy_splits() -> None:
    """Register every toy split with :func:`car.data.get_dataset` (``root`` is ignored; ``limit=`` sets size)."""
    for name in DEFAULT_SIZES:
        if name not in list_datasets():
            register_dataset(name, lambda root=None, split=None, _n=name, **kw: toy_dataset(_n, kw.get("limit")))


register_toy_splits()
