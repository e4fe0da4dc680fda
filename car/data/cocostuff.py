"""COCO-Stuff-164k (171 classes) and COCO-Object (80 things + background), both from the COCO 2017 label maps.

The label tables are computed here, not copied, and agree with the standard ones
(open-mmlab/mmsegmentation:tools/dataset_converters/coco_stuff164k.py ``clsID_to_trID``;
NVlabs/GroupViT:convert_dataset/convert_coco_object.py):

* the raw maps of ``stuffthingmaps_trainval2017.zip`` hold the zero-indexed COCO category id, things 0-90 and
  stuff 91-181, and 255 = unlabeled; eleven thing ids have no category in COCO 2017 (:data:`UNUSED_IDS`);
* the train id of a raw id is its rank among the 171 used ids (:func:`train_ids`: things 0-79, stuff 80-170);
  mmsegmentation's converter writes it to ``<id>_labelTrainIds.png`` (255 stays 255);
* COCO-Object (GroupViT's construction, the paper's "COCO Object") keeps each thing as its train id + 1 (1-80)
  and merges every stuff id into 0 = background.

Label spaces (the house convention of ``car/data/__init__.py``):

* ``cocostuff171``: label = train id + 1 (1-171); label 0 holds no pixel; 255 (unlabeled) is ignored. The default
  ``ignore_background=True`` is ADE-150's rule: CaR's background pixels are dropped from the score (official
  mode) or count as errors (``gt_only``); config ``predict_background: false`` is the field's rule (no
  background at all).
* ``coco``: 0 background, 1-80 things. Unlabeled pixels (255) are read by one of two rules, option ``unlabeled``
  (config ``coco_unlabeled``): ``"ignore"`` (the default, car's reading of the paper's benchmark: 255 is
  ignored) or ``"background"`` (the field's: GroupViT, TCL, SCLIP, NACLIP score them as background). GroupViT's
  converter sends 255 to 0 itself, so ``*_instanceTrainIds.png`` files it wrote hold no 255 and both rules give
  the same numbers on them; they differ on the raw maps (read when no converted file is there, or with
  ``labels="raw"``) and on converted files that kept 255.

Shape letters: ``H, W`` label map size.
"""
from __future__ import annotations

from pathlib import Path

from car.data import classes as C
from car.data.base import SemanticDataset
from car.data.folders import FolderLayout, IdMap, first_label_suffix, read_folders

#: Zero-indexed COCO category ids without a category in COCO 2017 (1-indexed: 12, 26, 29, 30, 45, 66, 68, 69, 71,
#: 83, 91).
UNUSED_IDS = (11, 25, 28, 29, 44, 65, 67, 68, 70, 82, 90)
NUM_RAW_IDS = 182  # raw ids 0-181
FIRST_STUFF_ID = 91  # raw ids 0-90 are things, 91-181 stuff
UNLABELED = 255
LABEL_KINDS = ("auto", "train_ids", "raw")  # which label files to read; "auto": converted when present
UNLABELED_RULES = ("ignore", "background")

COCO_SOURCE = ("COCO 2017 images (images.cocodataset.org/zips/val2017.zip) and stuffthingmaps_trainval2017.zip "
               "(github.com/nightrome/cocostuff), unzipped into annotations/")
COCO_STUFF = FolderLayout(
    title="COCO-Stuff-164k", roots=("", "coco_stuff164k", "coco"), images="images/{split}2017",
    labels="annotations/{split}2017", label_suffix="_labelTrainIds.png",
    note="train ids 0-170, 255 = unlabeled; or the raw <id>.png maps",
    source=f"{COCO_SOURCE}; *_labelTrainIds.png by mmsegmentation's tools/dataset_converters/coco_stuff164k.py "
           "(optional: the raw maps are read too)")
COCO_OBJECT = FolderLayout(
    title="COCO-Object", roots=("", "coco", "COCO", "coco_stuff164k"), images="images/{split}2017",
    labels="annotations/{split}2017", label_suffix="_instanceTrainIds.png",
    note="0 = background, 1-80 things; or the raw COCO-Stuff <id>.png maps",
    source=f"{COCO_SOURCE}; *_instanceTrainIds.png by GroupViT's convert_dataset/convert_coco_object.py "
           "(github.com/NVlabs/GroupViT; optional: the raw maps are read too)")
_SUFFIXES = {"train_ids": None, "raw": ".png"}  # None: the layout's converted files


def train_ids() -> dict[int, int]:
    """The 182 -> 171 table: each used raw COCO-Stuff id (0-181 minus :data:`UNUSED_IDS`) -> its train id 0-170."""
    used = [i for i in range(NUM_RAW_IDS) if i not in UNUSED_IDS]
    return {raw: k for k, raw in enumerate(used)}


def coco_stuff_map(labels: str) -> IdMap:
    """Stored ids -> ``cocostuff171`` labels (train id + 1, 255 kept) for ``"train_ids"`` or ``"raw"`` files."""
    table = ({t: t + 1 for t in train_ids().values()} if labels == "train_ids"
             else {raw: t + 1 for raw, t in train_ids().items()})
    return IdMap.from_pairs({**table, UNLABELED: UNLABELED}, default=None)


def coco_object_map(labels: str, unlabeled: str) -> IdMap:
    """Stored ids -> ``coco`` labels (0 background, 1-80 things) for ``"train_ids"`` (``*_instanceTrainIds.png``)
    or ``"raw"`` files; 255 -> 255 (``unlabeled="ignore"``) or 0 (``"background"``)."""
    if labels == "train_ids":
        table = {k: k for k in range(81)}
    else:
        table = {raw: (t + 1 if raw < FIRST_STUFF_ID else 0) for raw, t in train_ids().items()}
    return IdMap.from_pairs({**table, UNLABELED: UNLABELED if unlabeled == "ignore" else 0}, default=None)


def _label_kind(layout: FolderLayout, root: str | Path, split: str, labels: str) -> str:
    if labels not in LABEL_KINDS:
        raise ValueError(f"{layout.title}: labels={labels!r}; valid: {', '.join(LABEL_KINDS)}")
    if labels != "auto":
        return labels
    return "raw" if first_label_suffix(layout, root, split, (layout.label_suffix, ".png")) == ".png" else "train_ids"


def load_coco_stuff(root: str | Path, split: str | None = None, *, labels: str = "auto",
                    ignore_background: bool = True, name: str = "cocostuff171") -> SemanticDataset:
    """COCO-Stuff-164k, 171 classes (mmsegmentation's layout): label = train id + 1, 255 ignored.

    Args:
        root: the ``coco_stuff164k`` folder (``images/val2017``, ``annotations/val2017``) or its parent.
        split: ``"val"`` (default; 5000 images) or ``"train"``.
        labels: ``"train_ids"`` (``<id>_labelTrainIds.png``), ``"raw"`` (the stuffthingmaps ``<id>.png``) or
            ``"auto"`` (train ids when the first image has them, else raw).
        ignore_background: label 0 (no pixel) is left out of the score, as ADE-150's.

    Raises:
        car.data.DatasetNotFoundError: a folder is missing or holds no label file of the chosen kind.
        ValueError: a bad ``labels`` value or an empty split.
    """
    split = split or "val"
    kind = _label_kind(COCO_STUFF, root, split, labels)
    names = C.load_class_names("cocostuff171")
    return read_folders(
        COCO_STUFF, root, split, label_suffix=_SUFFIXES[kind], label_transform=coco_stuff_map(kind), name=name,
        class_names=names, stuff=C.stuff_flags(171, C.COCO_STUFF_STUFF_CLASS_ID), num_classes=172,
        has_background=True, ignore_index=UNLABELED, ignore_background=ignore_background,
        label_names=["unlabeled", *names])


def load_coco_object(root: str | Path, split: str | None = None, *, labels: str = "auto",
                     unlabeled: str = "ignore", ignore_background: bool = False,
                     name: str = "coco") -> SemanticDataset:
    """COCO-Object (GroupViT's construction): 0 background (all stuff), 1-80 things, 81 labels.

    Args:
        root: the folder holding ``images/val2017`` and ``annotations/val2017`` (or its parent ``coco``).
        split: ``"val"`` (default) or ``"train"``.
        labels: ``"train_ids"`` (``<id>_instanceTrainIds.png``), ``"raw"`` (the COCO-Stuff stuffthingmaps
            ``<id>.png``, converted on the fly) or ``"auto"`` (converted files when present, else raw).
        unlabeled: ``"ignore"`` (255 ignored) or ``"background"`` (255 scored as background, the field's rule).

    Raises:
        car.data.DatasetNotFoundError: a folder is missing or holds no label file of the chosen kind.
        ValueError: a bad ``labels`` / ``unlabeled`` value or an empty split.
    """
    if unlabeled not in UNLABELED_RULES:
        raise ValueError(f"COCO-Object: unlabeled={unlabeled!r}; valid: {', '.join(UNLABELED_RULES)}")
    split = split or "val"
    kind = _label_kind(COCO_OBJECT, root, split, labels)
    return read_folders(
        COCO_OBJECT, root, split, label_suffix=_SUFFIXES[kind], label_transform=coco_object_map(kind, unlabeled),
        name=name, class_names=list(C.COCO_OBJECT_CLASSES), stuff=None, num_classes=81, has_background=True,
        ignore_index=UNLABELED, ignore_background=ignore_background,
        label_names=["background", *C.COCO_OBJECT_CLASSES_PLAIN])
