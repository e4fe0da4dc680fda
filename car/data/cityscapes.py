"""Cityscapes (fine annotations, 19 evaluated classes) in the layout of the official download.

``leftImg8bit/<split>/<city>/<city>_<seq>_<frame>_leftImg8bit.png`` beside
``gtFine/<split>/<city>/<city>_<seq>_<frame>_gtFine_labelIds.png`` (in ``gtFine_trainvaltest.zip``) or the
``*_gtFine_labelTrainIds.png`` that cityscapesScripts' ``createTrainIdLabelImgs`` (or mmsegmentation's
``tools/dataset_converters/cityscapes.py``) writes beside them. The 19 classes and their ids are the classic table
of cityscapesScripts (mcordts/cityscapesScripts:cityscapesscripts/helpers/labels.py, columns ``id`` and
``trainId``): only those 19 label ids are mapped (some copies of labels.py add lane-line labels with train id 19;
they are not Cityscapes' 19 classes) and every other label id is ignored, as ``ignoreInEval`` says.

Label space (the house convention of ``car/data/__init__.py``): label = train id + 1 (1-19), 255 ignored, label 0
holds no pixel; ``ignore_background=True`` by default (ADE-150's rule for CaR's background pixels; config
``predict_background: false`` is the field's rule). The field scores the 500 ``val`` images at their full
2048 x 1024 resolution (short side 560 for the model: the ``cityscapes`` preset's ``working_size`` 1120).
"""
from __future__ import annotations

from pathlib import Path

from car.data import classes as C
from car.data.base import SemanticDataset
from car.data.folders import FolderLayout, IdMap, first_label_suffix, read_folders

#: label id -> train id of the 19 evaluated classes (road 7 -> 0 ... bicycle 33 -> 18).
LABEL_TO_TRAIN_ID = {7: 0, 8: 1, 11: 2, 12: 3, 13: 4, 17: 5, 19: 6, 20: 7, 21: 8, 22: 9, 23: 10, 24: 11, 25: 12,
                     26: 13, 27: 14, 28: 15, 31: 16, 32: 17, 33: 18}
NUM_LABEL_IDS = 34  # label ids 0-33 of the classic table (license plate, id -1, is never written to a PNG)
IGNORE = 255
SUFFIXES = {"train_ids": "_gtFine_labelTrainIds.png", "label_ids": "_gtFine_labelIds.png"}
LABEL_KINDS = ("auto", *SUFFIXES)

CITYSCAPES = FolderLayout(
    title="Cityscapes", roots=("", "cityscapes", "Cityscapes"), images="leftImg8bit/{split}",
    labels="gtFine/{split}", label_suffix=SUFFIXES["train_ids"], image_tag="_leftImg8bit", nested=True,
    note="<sub> = the city; label ids 0-33, or train ids 0-18 with 255 = ignored",
    source=("cityscapes-dataset.com/downloads (leftImg8bit_trainvaltest.zip and gtFine_trainvaltest.zip, after "
            "registering); *_labelTrainIds.png are optional (cityscapesScripts' createTrainIdLabelImgs)"))


def cityscapes_map(labels: str) -> IdMap:
    """Stored ids -> labels (train id + 1; every other label id -> 255) for ``"train_ids"`` or ``"label_ids"``."""
    if labels == "train_ids":
        return IdMap.from_pairs({**{t: t + 1 for t in range(19)}, IGNORE: IGNORE}, default=None)
    table = {i: LABEL_TO_TRAIN_ID[i] + 1 if i in LABEL_TO_TRAIN_ID else IGNORE for i in range(NUM_LABEL_IDS)}
    return IdMap.from_pairs(table, default=None)


def load_cityscapes(root: str | Path, split: str | None = None, *, labels: str = "auto",
                    ignore_background: bool = True, name: str = "cityscapes") -> SemanticDataset:
    """Cityscapes ``gtFine``, 19 classes: label = train id + 1, every other label id ignored (255).

    Args:
        root: the folder holding ``leftImg8bit`` and ``gtFine`` (or its parent ``cityscapes``).
        split: ``"val"`` (default; 500 images) or ``"train"``.
        labels: ``"label_ids"`` (``*_gtFine_labelIds.png``, the download), ``"train_ids"``
            (``*_gtFine_labelTrainIds.png``) or ``"auto"`` (train ids when the first image has them, else label ids).
        ignore_background: label 0 (no pixel) is left out of the score, as ADE-150's.

    Raises:
        car.data.DatasetNotFoundError: a folder is missing or holds no label file of the chosen kind.
        ValueError: a bad ``labels`` value or an empty split.
    """
    if labels not in LABEL_KINDS:
        raise ValueError(f"Cityscapes: labels={labels!r}; valid: {', '.join(LABEL_KINDS)}")
    split = split or "val"
    if labels == "auto":
        found = first_label_suffix(CITYSCAPES, root, split, (SUFFIXES["train_ids"], SUFFIXES["label_ids"]))
        labels = next(k for k, s in SUFFIXES.items() if s == found)
    return read_folders(
        CITYSCAPES, root, split, label_suffix=SUFFIXES[labels], label_transform=cityscapes_map(labels), name=name,
        class_names=list(C.CITYSCAPES_CLASSES), stuff=C.stuff_flags(19, C.CITYSCAPES_STUFF_CLASS_ID),
        num_classes=20, has_background=True, ignore_index=IGNORE, ignore_background=ignore_background,
        label_names=["unlabeled", *C.CITYSCAPES_CLASSES])
