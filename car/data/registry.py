"""Dataset registry: ``get_dataset(name, root, split)`` and ``register_dataset(name, factory)``."""
from __future__ import annotations

from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from car.data.base import BaseDataset
from car.data.cityscapes import load_cityscapes
from car.data.cocostuff import load_coco_object, load_coco_stuff
from car.data.refer import load_gres, load_refcoco
from car.data.semantic import load_ade150, load_ade847, load_context, load_pascal459, load_voc
from car.data.video import load_ref_davis

DatasetFactory = Callable[..., BaseDataset]  # factory(root, split=None, **options) -> dataset

_REGISTRY: dict[str, DatasetFactory] = {
    "voc": partial(load_voc, name="voc"),
    "voc20": partial(load_voc, ignore_background=True, name="voc20"),
    "coco": load_coco_object,
    "context": partial(load_context, name="context"),
    "context59": partial(load_context, ignore_background=True, name="context59"),
    "context459": load_pascal459,
    "ade150": load_ade150,
    "ade847": load_ade847,
    "cocostuff171": load_coco_stuff,
    "cityscapes": load_cityscapes,
    "refcoco": partial(load_refcoco, dataset="refcoco"),
    "refcocoplus": partial(load_refcoco, dataset="refcocoplus"),
    "refcocog": partial(load_refcoco, dataset="refcocog"),
    "gres": load_gres,
    "davis": load_ref_davis,
}
_BUILTIN = frozenset(_REGISTRY)
_ALIASES = {"voc21": "voc", "context60": "context", "pc59": "context59", "pc60": "context",
            "pc459": "context459", "refcoco+": "refcocoplus", "ref-davis": "davis", "coco_object": "coco",
            "cocostuff": "cocostuff171", "coco_stuff164k": "cocostuff171", "city": "cityscapes"}


def list_datasets() -> list[str]:
    """Registered dataset names, sorted (the plug-ins' splits included: :func:`car.plugins.load_plugins`)."""
    from car.plugins import load_plugins

    load_plugins()
    return sorted(_REGISTRY)


def register_dataset(name: str, factory: DatasetFactory, *, overwrite: bool = False) -> None:
    """Register ``factory(root, split=None, **options) -> dataset`` under ``name``.

    Raises:
        ValueError: ``name`` is taken and ``overwrite`` is False.
    """
    if not overwrite and (name in _REGISTRY or name in _ALIASES):
        raise ValueError(f"dataset {name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[name] = factory


def get_dataset(name: str, root: str | Path | None, split: str | None = None, **options: Any) -> BaseDataset:
    """Open dataset ``name`` stored under ``root``.

    Args:
        name: one of :func:`list_datasets` (aliases: voc21, context60, pc59, pc60, pc459,
            refcoco+, ref-davis, coco_object, cocostuff, coco_stuff164k, city).
        root: the dataset folder (or a parent holding the standard folder name); registered
            in-memory datasets (toy splits) may accept None.
        split: split name; None = the evaluation split of the paper (val / validation).
        **options: reader options, e.g. ``splitby="google"`` (RefCOCO),
            ``first_target_only=True`` (GRES), ``expressions=("annot1",)`` (Ref-DAVIS),
            ``unlabeled="background"`` (COCO-Object), ``labels="raw"`` (COCO-Object, COCO-Stuff, Cityscapes).

    Raises:
        ValueError: unknown name (lists the valid ones), bad split or empty split.
        car.data.DatasetNotFoundError: a folder / file of the layout is missing (the message
            gives the expected layout and where to obtain the data).
    """
    key = _ALIASES.get(name, name)
    if key not in _REGISTRY:
        from car.plugins import load_plugins

        load_plugins()  # the toy world's splits
    if key not in _REGISTRY:
        raise ValueError(f"unknown dataset {name!r}; available: {', '.join(list_datasets())}")
    if root is None and key in _BUILTIN:
        raise ValueError(f"dataset {name!r} is read from disk: pass root=<the folder holding it> "
                         "(CLI: --data-root)")
    return _REGISTRY[key](root, split, **options)
