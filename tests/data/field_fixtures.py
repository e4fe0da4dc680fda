"""Tiny copies of the field's eight benchmarks in their real on-disk layouts (images + label maps, nothing else).

The tests build them in ``tmp_path`` with label values they choose; ``python tests/data/field_fixtures.py OUT``
writes one folder per benchmark under OUT for the command line::

    python -m car evaluate --config car/configs/beyond/cocostuff171.yaml --data-root OUT/coco_stuff164k

=================  ==========================  =============================================================
benchmark          folder under OUT            label files
=================  ==========================  =============================================================
VOC-21 / VOC-20    ``VOCdevkit/VOC2012``       ``SegmentationClass/<id>.png`` (+ ``ImageSets`` split file)
PC-60 / PC-59      ``VOCdevkit/VOC2010``       ``SegmentationClassContext/<id>.png`` (+ split file)
COCO-Object        ``coco_stuff164k``          ``annotations/val2017/<id>_instanceTrainIds.png`` and raw maps
COCO-Stuff-164k    ``coco_stuff164k``          ``annotations/val2017/<id>_labelTrainIds.png`` and raw maps
Cityscapes         ``cityscapes``              ``gtFine/val/<city>/<id>_gtFine_labelIds.png``
ADE-150            ``ADEChallengeData2016``    ``annotations/validation/<id>.png``
=================  ==========================  =============================================================
"""
from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

H, W = 48, 64  # the fixtures' image size (Cityscapes: H x 2H, its 2:1 frames)


def write_image(path: Path, h: int = H, w: int = W, seed: int = 0) -> None:
    """A random RGB image (JPEG, or PNG when ``path`` ends in .png)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path, quality=95)


def write_label(path: Path, label: np.ndarray) -> None:
    """A single-channel 8-bit label PNG holding the given ids."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(label, dtype=np.uint8)).save(path)


def blocks(values: Sequence[int], h: int = H, w: int = W) -> np.ndarray:
    """int64 (h, w): vertical bands of the given values, left to right."""
    out = np.zeros((h, w), np.int64)
    for k, v in enumerate(values):
        out[:, k * w // len(values):(k + 1) * w // len(values)] = v
    return out


def make_voc(root: Path, labels: Sequence[np.ndarray], year: str = "2012", split: str = "val") -> Path:
    """VOCdevkit/VOC<year> with JPEGImages, the label folder (2012: SegmentationClass; 2010:
    SegmentationClassContext) and the split file; returns the VOC<year> folder."""
    base = root / "VOCdevkit" / f"VOC{year}"
    target, sets = ("SegmentationClass", "Segmentation") if year == "2012" else ("SegmentationClassContext",
                                                                                  "SegmentationContext")
    names = [f"2008_{k:06d}" for k in range(len(labels))]
    for k, (name, label) in enumerate(zip(names, labels)):
        write_image(base / "JPEGImages" / f"{name}.jpg", *label.shape, seed=k)
        write_label(base / target / f"{name}.png", label)
    (base / "ImageSets" / sets).mkdir(parents=True, exist_ok=True)
    (base / "ImageSets" / sets / f"{split}.txt").write_text("\n".join(names) + "\n")
    return base


def make_coco(root: Path, raw: Sequence[np.ndarray] | None = None, *, train_ids: Sequence[np.ndarray] | None = None,
              instance_ids: Sequence[np.ndarray] | None = None, split: str = "val") -> Path:
    """coco_stuff164k/{images/<split>2017/<id>.jpg, annotations/<split>2017/<id>.png (raw stuffthingmaps),
    <id>_labelTrainIds.png (COCO-Stuff), <id>_instanceTrainIds.png (COCO-Object)}, each kind only when given."""
    base = root / "coco_stuff164k"
    kinds = {".png": raw, "_labelTrainIds.png": train_ids, "_instanceTrainIds.png": instance_ids}
    n = max(len(v) for v in kinds.values() if v is not None)
    for k in range(n):
        name = f"{139 + k:012d}"
        shape = next(v[k].shape for v in kinds.values() if v is not None)
        write_image(base / "images" / f"{split}2017" / f"{name}.jpg", *shape, seed=k)
        for suffix, maps in kinds.items():
            if maps is not None:
                write_label(base / "annotations" / f"{split}2017" / f"{name}{suffix}", maps[k])
    return base


def make_cityscapes(root: Path, label_ids: Sequence[np.ndarray] | None = None, *,
                    train_ids: Sequence[np.ndarray] | None = None, cities: Sequence[str] = ("frankfurt", "lindau"),
                    split: str = "val") -> Path:
    """cityscapes/{leftImg8bit/<split>/<city>/<id>_leftImg8bit.png, gtFine/<split>/<city>/<id>_gtFine_labelIds.png
    | _gtFine_labelTrainIds.png, plus the download's _gtFine_color.png and _gtFine_polygons.json}; image k lies in
    city ``cities[k % len(cities)]``."""
    base = root / "cityscapes"
    maps = label_ids if label_ids is not None else train_ids
    for k, label in enumerate(maps):
        city = cities[k % len(cities)]
        stem = f"{city}_{k:06d}_000019"
        write_image(base / "leftImg8bit" / split / city / f"{stem}_leftImg8bit.png", *label.shape, seed=k)
        gt = base / "gtFine" / split / city
        if label_ids is not None:
            write_label(gt / f"{stem}_gtFine_labelIds.png", label_ids[k])
        if train_ids is not None:
            write_label(gt / f"{stem}_gtFine_labelTrainIds.png", train_ids[k])
        write_image(gt / f"{stem}_gtFine_color.png", *label.shape, seed=100 + k)
        (gt / f"{stem}_gtFine_polygons.json").write_text('{"objects": []}')
    return base


def make_ade150(root: Path, labels: Sequence[np.ndarray], split: str = "validation") -> Path:
    """ADEChallengeData2016/{images/<split>/<id>.jpg, annotations/<split>/<id>.png}."""
    base = root / "ADEChallengeData2016"
    for k, label in enumerate(labels):
        write_image(base / "images" / split / f"ADE_val_{k + 1:08d}.jpg", *label.shape, seed=k)
        write_label(base / "annotations" / split / f"ADE_val_{k + 1:08d}.png", label)
    return base


def write_all(out: Path, n: int = 2) -> dict[str, Path]:
    """Every benchmark with ``n`` images under ``out``; returns the ``--data-root`` of each preset's dataset."""
    from car.data.cocostuff import train_ids as coco_train_ids

    table = coco_train_ids()
    raw = [blocks([0, 17, 91 + k, 255, 119]) for k in range(n)]  # person, horse, banner.., unlabeled, floor-tile

    def convert(m: np.ndarray, things_only: bool) -> np.ndarray:
        c = np.full(m.shape, 255, np.int64)
        for r, t in table.items():
            c[m == r] = (t + 1 if r < 91 else 0) if things_only else t
        if things_only:
            c[m == 255] = 0  # GroupViT's converter: unlabeled -> background
        return c

    voc = make_voc(out, [blocks([0, 15, 255, 12 + k]) for k in range(n)])
    context = make_voc(out, [blocks([0, 37, 59, 15 + k]) for k in range(n)], year="2010")
    coco = make_coco(out, raw, train_ids=[convert(m, False) for m in raw],
                     instance_ids=[convert(m, True) for m in raw])
    city = make_cityscapes(out, [blocks([7, 23, 26, 0, 24 + k], H, 2 * H) for k in range(n)])
    ade = make_ade150(out, [blocks([0, 1, 3, 13 + k]) for k in range(n)])
    return {"voc": voc.parents[1], "voc20": voc.parents[1], "context": context.parents[1],
            "context59": context.parents[1], "coco": coco, "cocostuff171": coco, "cityscapes": city,
            "ade150": ade}


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # this checkout's car
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: python tests/data/field_fixtures.py OUT [N_IMAGES]")
    roots = write_all(Path(sys.argv[1]), *(int(a) for a in sys.argv[2:]))
    for dataset, folder in roots.items():
        print(f"{dataset:14s} --data-root {folder}")
