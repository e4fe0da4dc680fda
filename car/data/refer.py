"""Referring-segmentation readers: RefCOCO / RefCOCO+ / RefCOCOg (refer API layout) and GRES.

Layout (lichengunc/refer, LAVT, the official ``data/refcoco.py`` and ``data/gres.py``)::

    <root>/refcoco/{refs(unc).p, refs(google).p, instances.json}
    <root>/refcoco+/{refs(unc).p, instances.json}
    <root>/refcocog/{refs(umd).p, refs(google).p, instances.json}
    <root>/grefcoco/{grefs(unc).json, instances.json}
    <root>/images/mscoco/images/train2014/COCO_train2014_*.jpg   (also accepted: <root>/train2014,
                                                                 <root>/images/train2014)

The ``refs(*).p`` files are Python pickles: they are read with :func:`load_restricted_pickle`,
which only rebuilds plain containers, strings and numbers.
"""
from __future__ import annotations

import builtins
import json
import pickle
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from car.data.base import (
    AnnotationError,
    BaseDataset,
    DatasetNotFoundError,
    RefSample,
    SampleError,
    read_image,
    require_file,
)
from car.data.coco_mask import segmentation_to_mask

REFER_SOURCE = ("the refer API annotations (github.com/lichengunc/refer: refcoco.zip, refcoco+.zip, "
                "refcocog.zip) and COCO 2014 train images (cocodataset.org, train2014.zip)")
GRES_SOURCE = ("gRefCOCO (github.com/henghuiding/gRefCOCO: grefs(unc).json + instances.json) and COCO "
               "2014 train images (cocodataset.org, train2014.zip)")
IMAGE_DIRS = ("images/mscoco/images/train2014", "images/train2014", "train2014", "coco/train2014")


# ----------------------------------------------------------------------------- restricted pickles
class _RestrictedUnpickler(pickle.Unpickler):
    """Unpickler that refuses every global except ``set`` / ``frozenset``.

    Plain dicts, lists, tuples, strings, bytes, ints, floats, bools and None need no global, so a
    refs file loads; anything that would import or call code (a class, a function,
    ``os.system`` ...) raises ``pickle.UnpicklingError``.
    """

    _ALLOWED = {("builtins", "set"), ("builtins", "frozenset"),
                ("__builtin__", "set"), ("__builtin__", "frozenset")}

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self._ALLOWED:
            return getattr(builtins, name)
        raise pickle.UnpicklingError(
            f"refusing to load global {module}.{name}: only plain containers and numbers are allowed"
        )


def load_restricted_pickle(path: str | Path) -> Any:
    """Load a pickle holding only plain containers, strings and numbers (e.g. ``refs(unc).p``).

    Python-2 byte strings are decoded as UTF-8.

    Raises:
        AnnotationError: the file holds any other object, is corrupt, or has a bad encoding
            (the message names the file).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            return _RestrictedUnpickler(f, encoding="utf-8").load()
    except UnicodeDecodeError as e:
        raise AnnotationError(f"{path}: text is not valid UTF-8 ({e})") from e
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise AnnotationError(f"cannot load {path} as a plain-data pickle: {e}") from e


def _load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except UnicodeDecodeError as e:
        raise AnnotationError(f"{path}: text is not valid UTF-8 ({e})") from e
    except json.JSONDecodeError as e:
        raise AnnotationError(f"{path}: invalid JSON ({e})") from e


# --------------------------------------------------------------------------------------- dataset
@dataclass(frozen=True)
class RefItem:
    """Everything needed to build one :class:`RefSample` lazily."""

    name: str
    image_path: Path
    height: int
    width: int
    sentences: list[str]
    segmentations: list[Any]  # COCO segmentations of the target object(s); [] = no target


class ReferDataset(BaseDataset):
    """Referring dataset: one :class:`RefSample` per item; ``class_names`` is empty."""

    kind = "refer"

    def __init__(self, *, items: list[RefItem], **attrs: Any) -> None:
        super().__init__(num_samples=len(items), **attrs)
        self.items = items

    def sample_name(self, index: int) -> str:
        return self.items[self._index(index)].name

    def __getitem__(self, index: int) -> RefSample:
        item = self.items[self._index(index)]
        image = read_image(item.image_path)
        if image.shape[:2] != (item.height, item.width):
            raise SampleError(
                f"image {item.image_path} is {image.shape[1]}x{image.shape[0]} but instances.json "
                f"says {item.width}x{item.height} (W x H)"
            )
        gt = np.zeros((item.height, item.width), dtype=bool)
        for segmentation in item.segmentations:
            gt |= segmentation_to_mask(segmentation, item.height, item.width)
        return RefSample(image=image, gt=gt, sentences=list(item.sentences), name=item.name)


def _image_dir(root: Path, layout: str, source: str) -> Path:
    for sub in IMAGE_DIRS:
        if (root / sub).is_dir():
            return root / sub
    raise DatasetNotFoundError(
        f"COCO train2014 images not found under {root} (tried {', '.join(IMAGE_DIRS)}); "
        f"expected layout: {layout}; obtain them from {source}"
    )


def _index_instances(path: Path, ann_ids: set[int], image_ids: set[int]) -> tuple[dict, dict]:
    instances = _load_json(path)
    try:
        anns = {a["id"]: a for a in instances["annotations"] if a["id"] in ann_ids}
        imgs = {i["id"]: i for i in instances["images"] if i["id"] in image_ids}
    except (KeyError, TypeError) as e:
        raise AnnotationError(f"{path}: not a COCO instances file ({e!r} missing)") from e
    return anns, imgs


# ------------------------------------------------------------------------------- RefCOCO family
REFCOCO_DIRS = {"refcoco": ("refcoco", "unc"), "refcocoplus": ("refcoco+", "unc"),
                "refcocog": ("refcocog", "umd")}
REFCOCO_SPLITS = ("train", "val", "test", "testA", "testB", "testC", "testAB", "testBC", "testAC")


def _select_refs(refs: Iterable[dict], split: str) -> list[dict]:
    """The refer API's ``getRefIds(split=...)`` rule."""
    if split in ("testA", "testB", "testC"):
        return [r for r in refs if split[-1] in r["split"]]
    if split in ("testAB", "testBC", "testAC", "train", "val"):
        return [r for r in refs if r["split"] == split]
    if split == "test":
        return [r for r in refs if "test" in r["split"]]
    raise ValueError(f"unknown RefCOCO split {split!r}; valid: {', '.join(REFCOCO_SPLITS)}")


def load_refcoco(root: str | Path, split: str | None = None, *, dataset: str = "refcoco",
                 splitby: str | None = None, name: str | None = None) -> ReferDataset:
    """RefCOCO / RefCOCO+ / RefCOCOg: one sample per referred object with all its sentences.

    Args:
        root: folder holding ``refcoco/``, ``refcoco+/``, ``refcocog/`` and the train2014 images.
        split: ``val`` (default), ``testA``, ``testB``, ``test``, ``train`` ...; a suffix names the
            partition, e.g. ``val_google`` = split ``val`` of ``refs(google).p``.
        dataset: ``refcoco``, ``refcocoplus`` or ``refcocog``.
        splitby: ``unc`` / ``google`` (RefCOCO), ``unc`` (RefCOCO+), ``umd`` / ``google``
            (RefCOCOg); default the split suffix, else the standard one (unc, unc, umd).
        name: registry name (default ``dataset``).

    Sentences are the raw ones (``sentences[k]["raw"]``); the official pipeline lower-cases them
    and strips ``"`` and ``/`` before the model (:func:`car.data.process_sentence`).
    """
    if dataset not in REFCOCO_DIRS:
        raise ValueError(f"unknown RefCOCO variant {dataset!r}; valid: {', '.join(REFCOCO_DIRS)}")
    folder, default_splitby = REFCOCO_DIRS[dataset]
    split = split or "val"
    if "_" in split:  # "val_google" -> split "val" of refs(google).p
        split, suffix = split.rsplit("_", 1)
        if splitby is not None and splitby != suffix:
            raise ValueError(f"split {split}_{suffix} names partition {suffix!r} but splitby={splitby!r}")
        splitby = suffix
    splitby = splitby or default_splitby
    root = Path(root).expanduser()
    layout = (f"<root>/{folder}/{{refs({splitby}).p, instances.json}} + "
              "<root>/images/mscoco/images/train2014/*.jpg")
    refs_path = require_file(root / folder / f"refs({splitby}).p", f"{dataset} refs file", layout, REFER_SOURCE)
    inst_path = require_file(root / folder / "instances.json", f"{dataset} instances.json", layout, REFER_SOURCE)
    image_dir = _image_dir(root, layout, REFER_SOURCE)
    refs = load_restricted_pickle(refs_path)
    try:
        refs = _select_refs(refs, split)
        anns, imgs = _index_instances(inst_path, {r["ann_id"] for r in refs}, {r["image_id"] for r in refs})
        items = [
            RefItem(
                name=f"ref_{r['ref_id']}",
                image_path=image_dir / imgs[r["image_id"]]["file_name"],
                height=int(imgs[r["image_id"]]["height"]),
                width=int(imgs[r["image_id"]]["width"]),
                sentences=[s["raw"] for s in r["sentences"]],
                segmentations=[anns[r["ann_id"]]["segmentation"]],
            )
            for r in refs
        ]
    except (KeyError, TypeError) as e:
        raise AnnotationError(f"{refs_path} / {inst_path}: inconsistent refer annotations ({e!r})") from e
    return ReferDataset(items=items, name=name or dataset, split=split, root=root)


# ------------------------------------------------------------------------------------------ GRES
#: GRES ground-truth rules (config field ``gres_targets``).
GRES_TARGET_RULES = ("first", "union")


def _gres_targets(ref: dict, anns: dict, targets: str) -> list[Any]:
    """The segmentations a GRES expression is scored against: the first target (official) or all of them."""
    ann_ids = ref["ann_id"] if isinstance(ref["ann_id"], list) else [ref["ann_id"]]
    if ann_ids == [-1] or ref.get("no_target", False):
        return []
    segs = [anns[a]["segmentation"] for a in ann_ids if not anns[a].get("iscrowd", 0)]
    return segs[:1] if targets == "first" else segs


def load_gres(root: str | Path, split: str | None = None, *, splitby: str = "unc", targets: str = "first",
              first_target_only: bool | None = None, name: str = "gres") -> ReferDataset:
    """gRefCOCO (GRES): one sample per (object set, sentence); no-target samples have an empty GT.

    Args:
        root: folder holding ``grefcoco/`` and the train2014 images.
        split: ``val`` (default), ``testA``, ``testB`` or ``train``.
        splitby: the refs file suffix (``grefs(unc).json``; a ``.p`` pickle is also read).
        targets: the ground truth of a multi-target expression. "first" (default, official: the official
            ``GReferDataset.__getitem__`` keeps ``getMaskByRef(ref)[0]``, the first target's mask, so the
            official GRES numbers were scored against it); "union": every target (GRES's own definition).
            Config field ``gres_targets`` (``CaRConfig.reader_options()``).
        first_target_only: older spelling; True = "first", False = "union" (overrides ``targets``).
        name: registry name.
    """
    if first_target_only is not None:
        targets = "first" if first_target_only else "union"
    if targets not in GRES_TARGET_RULES:
        raise ValueError(f"unknown GRES targets rule {targets!r}; valid: {', '.join(GRES_TARGET_RULES)}")
    split = split or "val"
    root = Path(root).expanduser()
    layout = f"<root>/grefcoco/{{grefs({splitby}).json, instances.json}} + <root>/images/mscoco/images/train2014"
    folder = root / "grefcoco"
    json_path, pickle_path = folder / f"grefs({splitby}).json", folder / f"grefs({splitby}).p"
    if json_path.is_file():
        refs = _load_json(json_path)
    elif pickle_path.is_file():
        refs = load_restricted_pickle(pickle_path)
    else:
        require_file(json_path, "gRefCOCO refs file", layout, GRES_SOURCE)
    inst_path = require_file(folder / "instances.json", "gRefCOCO instances.json", layout, GRES_SOURCE)
    image_dir = _image_dir(root, layout, GRES_SOURCE)
    available = sorted({r["split"] for r in refs})
    if split not in available:
        raise ValueError(f"unknown GRES split {split!r}; available in the refs file: {', '.join(available)}")
    refs = [r for r in refs if r["split"] == split]
    ann_ids = {a for r in refs for a in (r["ann_id"] if isinstance(r["ann_id"], list) else [r["ann_id"]])}
    anns, imgs = _index_instances(inst_path, ann_ids - {-1}, {r["image_id"] for r in refs})
    items = []
    try:
        for r in refs:
            segs = _gres_targets(r, anns, targets)
            img = imgs[r["image_id"]]
            for k, sent in enumerate(r["sentences"]):
                if len(sent["raw"]) == 0:  # official: empty sentences are skipped
                    continue
                items.append(RefItem(
                    name=f"ref_{r['ref_id']}_sent_{sent.get('sent_id', k)}",
                    image_path=image_dir / img["file_name"], height=int(img["height"]),
                    width=int(img["width"]), sentences=[sent["raw"]], segmentations=segs,
                ))
    except (KeyError, TypeError) as e:
        raise AnnotationError(f"{folder}: inconsistent gRefCOCO annotations ({e!r})") from e
    return ReferDataset(items=items, name=name, split=split, root=root)


def process_sentence(sentence: str) -> str:
    """Official RefCOCO-family text cleaning (``utils.process_sentence``): lower-case, drop ``"`` and ``/``.

    GRES sentences are used as they are.
    """
    return sentence.lower().replace('"', "").replace("/", "")
