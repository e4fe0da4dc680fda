"""Readers of the semantic-segmentation datasets in their standard on-disk layouts.

Every reader returns a :class:`car.data.base.SemanticDataset` whose ``gt`` follows the official
label space (``data/*.py``, ``evaluate.py``): 0 = background / unlabeled, class index i <-> label i + 1, ignore =
``dataset.ignore_index``. Ground truth stays at native resolution.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

from car.data import classes as C
from car.data.base import SemanticDataset, find_root, require_dir, require_file

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")
LARGE_IGNORE = 65535  # ignore label of PC-459 / ADE-847, whose label ids pass 255


def _list_images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


def _read_split_file(path: Path) -> list[str]:
    return [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]


# ------------------------------------------------------------------------------------- Pascal VOC
VOC_LAYOUT = ("VOCdevkit/VOC2012/{JPEGImages/<id>.jpg, SegmentationClass/<id>.png, "
              "ImageSets/Segmentation/<split>.txt}")
VOC_SOURCE = "the PASCAL VOC 2012 site (host.robots.ox.ac.uk/pascal/VOC/voc2012, VOCtrainval_11-May-2012.tar)"


def load_voc(root: str | Path, split: str | None = None, *, ignore_background: bool = False,
             name: str = "voc") -> SemanticDataset:
    """Pascal VOC 2012 segmentation (torchvision ``VOCSegmentation`` layout), 21 labels.

    GT: 0 background, 1-20 classes (``VOC_CLASSES``), 255 border. ``voc20`` is the same data with
    ``ignore_background=True`` (paper Table J / VOC-20).
    """
    split = split or "val"
    base = find_root(root, ["", "VOCdevkit/VOC2012", "VOC2012"], "ImageSets/Segmentation")
    split_file = require_file(base / "ImageSets" / "Segmentation" / f"{split}.txt",
                              f"VOC split file '{split}'", VOC_LAYOUT, VOC_SOURCE)
    images = require_dir(base / "JPEGImages", "VOC JPEGImages", VOC_LAYOUT, VOC_SOURCE)
    labels = require_dir(base / "SegmentationClass", "VOC SegmentationClass", VOC_LAYOUT, VOC_SOURCE)
    items = [(i, images / f"{i}.jpg", labels / f"{i}.png") for i in _read_split_file(split_file)]
    return SemanticDataset(
        items=items, name=name, split=split, root=base, class_names=list(C.VOC_CLASSES), stuff=None,
        num_classes=21, has_background=True, ignore_index=255, ignore_background=ignore_background,
        label_names=["background", *C.VOC_CLASSES_PLAIN],
    )


# ----------------------------------------------------------------------------------- COCO-Object
COCO_LAYOUT = "{images/<split>2017/<id>.jpg, annotations/<split>2017/<id>_instanceTrainIds.png}"
COCO_SOURCE = ("COCO 2017 val images (cocodataset.org) converted to COCO-Object by GroupViT's "
               "convert_dataset/convert_coco_object.py (github.com/NVlabs/GroupViT)")


def load_coco_object(root: str | Path, split: str | None = None, *, ignore_background: bool = False,
                     name: str = "coco") -> SemanticDataset:
    """COCO-Object (GroupViT / TCL conversion): 0 background (all stuff), 1-80 things, 255 ignore."""
    split = split or "val"
    base = find_root(root, ["", "coco", "COCO"], f"images/{split}2017")
    images = require_dir(base / "images" / f"{split}2017", "COCO-Object images", COCO_LAYOUT, COCO_SOURCE)
    labels = require_dir(base / "annotations" / f"{split}2017", "COCO-Object annotations",
                         COCO_LAYOUT, COCO_SOURCE)
    items = [(p.stem, p, labels / f"{p.stem}_instanceTrainIds.png") for p in _list_images(images)]
    return SemanticDataset(
        items=items, name=name, split=split, root=base, class_names=list(C.COCO_OBJECT_CLASSES),
        stuff=None, num_classes=81, has_background=True, ignore_index=255,
        ignore_background=ignore_background, label_names=["background", *C.COCO_OBJECT_CLASSES_PLAIN],
    )


# -------------------------------------------------------------------------------- Pascal Context
CONTEXT_LAYOUT = ("VOCdevkit/VOC2010/{JPEGImages/<id>.jpg, SegmentationClassContext/<id>.png, "
                  "ImageSets/SegmentationContext/<split>.txt}")
CONTEXT_SOURCE = ("VOC2010 trainval (host.robots.ox.ac.uk/pascal/VOC/voc2010) + trainval_merged.json "
                  "(cs.stanford.edu/~roozbeh/pascal-context), converted by mmsegmentation's "
                  "tools/dataset_converters/pascal_context.py")


def load_context(root: str | Path, split: str | None = None, *, ignore_background: bool = False,
                 name: str = "context") -> SemanticDataset:
    """Pascal Context 59/60 (mmseg preparation): 0 background ("other"), 1-59 classes.

    ``context`` is PC-60 (background counted, the official config); ``context59`` is the same data
    with ``ignore_background=True`` (PC-59). Two passes: things, then stuff (``stuff`` flags).
    """
    split = split or "val"
    base = find_root(root, ["", "VOCdevkit/VOC2010", "VOC2010"], "SegmentationClassContext")
    split_file = require_file(base / "ImageSets" / "SegmentationContext" / f"{split}.txt",
                              f"Pascal Context split file '{split}'", CONTEXT_LAYOUT, CONTEXT_SOURCE)
    images = require_dir(base / "JPEGImages", "VOC2010 JPEGImages", CONTEXT_LAYOUT, CONTEXT_SOURCE)
    labels = require_dir(base / "SegmentationClassContext", "SegmentationClassContext",
                         CONTEXT_LAYOUT, CONTEXT_SOURCE)
    items = [(i, images / f"{i}.jpg", labels / f"{i}.png") for i in _read_split_file(split_file)]
    return SemanticDataset(
        items=items, name=name, split=split, root=base, class_names=list(C.PASCAL_CONTEXT_CLASSES),
        stuff=C.stuff_flags(59, C.PASCAL_CONTEXT_STUFF_CLASS_ID), num_classes=60, has_background=True,
        ignore_index=255, ignore_background=ignore_background,
        label_names=["background", *C.PASCAL_CONTEXT_CLASSES],
    )


# -------------------------------------------------------------------------------------- ADE20K-150
ADE150_LAYOUT = "ADEChallengeData2016/{images/<split>/<id>.jpg, annotations/<split>/<id>.png}"
ADE150_SOURCE = "ADEChallengeData2016.zip (sceneparsing.csail.mit.edu)"


def load_ade150(root: str | Path, split: str | None = None, *, ignore_background: bool = True,
                name: str = "ade150") -> SemanticDataset:
    """ADE20K SceneParsing (150 classes): 0 unlabeled, 1-150 classes; evaluated without label 0."""
    split = split or "validation"
    base = find_root(root, ["", "ADEChallengeData2016"], f"images/{split}")
    images = require_dir(base / "images" / split, "ADE-150 images", ADE150_LAYOUT, ADE150_SOURCE)
    labels = require_dir(base / "annotations" / split, "ADE-150 annotations", ADE150_LAYOUT, ADE150_SOURCE)
    items = [(p.stem, p, labels / f"{p.stem}.png") for p in _list_images(images)]
    return SemanticDataset(
        items=items, name=name, split=split, root=base, class_names=list(C.ADE150_CLASSES),
        stuff=C.stuff_flags(150, C.ADE150_STUFF_CLASS_ID), num_classes=151, has_background=True,
        ignore_index=255, ignore_background=ignore_background,
        label_names=["unlabeled", *C.ADE150_CLASSES],
    )


# -------------------------------------------------------------------------------- Pascal Context 459
PC459_LAYOUT = "{images/<split>/<id>.jpg, annotations_ctx459/<split>/<id>.tif (uint16, 65535 = ignore)}"
PC459_SOURCE = ("the FC-CLIP / ODISE preparation of Pascal Context full (github.com/bytedance/fc-clip, "
                "datasets/README.md, prepare_pascal_ctx_full_sem_seg.py)")


def _pc459_labels(raw: np.ndarray) -> np.ndarray:
    # official: tif + 1, so ignore 65535 becomes 65536 and falls outside the range; we keep 65535.
    return np.where(raw == LARGE_IGNORE, LARGE_IGNORE, raw + 1)


def load_pascal459(root: str | Path, split: str | None = None, *, ignore_background: bool = True,
                   name: str = "context459") -> SemanticDataset:
    """Pascal Context 459: GT = tif + 1 (1-459), label 0 unused, 65535 ignore (official ``data/pascal459.py``)."""
    split = split or "validation"
    base = find_root(root, ["", "pascal_ctx_d2"], "annotations_ctx459")
    images = require_dir(base / "images" / split, "PC-459 images", PC459_LAYOUT, PC459_SOURCE)
    labels = require_dir(base / "annotations_ctx459" / split, "PC-459 annotations",
                         PC459_LAYOUT, PC459_SOURCE)
    names = C.load_class_names("pascal459")
    items = [(p.stem, p, labels / f"{p.stem}.tif") for p in _list_images(images)]
    return SemanticDataset(
        items=items, label_transform=_pc459_labels, name=name, split=split, root=base,
        class_names=names, stuff=C.stuff_flags(459, C.PASCAL459_STUFF_CLASS_ID), num_classes=460,
        has_background=True, ignore_index=LARGE_IGNORE, ignore_background=ignore_background,
        label_names=["unlabeled", *names],
    )


# -------------------------------------------------------------------------------------- ADE20K-847
ADE847_LAYOUT = ("ADE20K_2021_17_01/{images_detectron2/<split>/<id>.jpg, "
                 "annotations_detectron2/<split>/<id>.tif (uint16, 65535 = unlabeled)}")
ADE847_SOURCE = ("ADE20K_2021_17_01 (groups.csail.mit.edu/vision/datasets/ADE20K) converted by "
                 "prepare_ade20k_full_sem_seg.py (github.com/bytedance/fc-clip, datasets/README.md)")


def _ade847_labels(raw: np.ndarray) -> np.ndarray:
    # official ade847.py: tif + 1, then values > 847 (the 65535 "unlabeled") -> 0
    gt = raw + 1
    gt[gt > 847] = 0
    return gt


def load_ade847(root: str | Path, split: str | None = None, *, ignore_background: bool = True,
                name: str = "ade847") -> SemanticDataset:
    """ADE20K-full (847 classes): GT = tif + 1 (1-847), 0 = unlabeled; 848 labels.

    The official config uses ``n_class`` 847, which drops label 847 ("adding machine") from the
    confusion matrix (an off-by-one: the ledger's "ADE-847 classes" row); we count all 848 labels.
    """
    split = split or "validation"
    base = find_root(root, ["", "ADE20K_2021_17_01"], "images_detectron2")
    images = require_dir(base / "images_detectron2" / split, "ADE-847 images", ADE847_LAYOUT, ADE847_SOURCE)
    labels = require_dir(base / "annotations_detectron2" / split, "ADE-847 annotations",
                         ADE847_LAYOUT, ADE847_SOURCE)
    names = C.load_class_names("ade847")
    items = [(p.stem, p, labels / f"{p.stem}.tif") for p in _list_images(images)]
    return SemanticDataset(
        items=items, label_transform=_ade847_labels, name=name, split=split, root=base,
        class_names=names, stuff=C.stuff_flags(847, C.ADE847_STUFF_CLASS_ID), num_classes=848,
        has_background=True, ignore_index=LARGE_IGNORE, ignore_background=ignore_background,
        label_names=["unlabeled", *names],
    )
