"""Adapters: a model's result on a dataset's sample -> a prediction in the ground truth's label space, per kind.

``make_predictor(model, dataset)`` is what :func:`car.evaluate.evaluate` calls on each sample: semantic label maps
(with the field's no-background rule, :func:`fill_background`, and synonym files), referring masks (RefCOCO
sentence cleaning, the score-weighted merge), video frames and Ref-DAVIS label maps.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import cv2
import numpy as np

from car.data.refer import process_sentence
from car.metrics import davis_label_map, merge_ref_masks, to_numpy

Predictor = Callable[[Any], Any]
REFCOCO_FAMILY = ("refcoco", "refcocoplus", "refcocog")


def labels_to_gt_space(labels: Any, num_queries: int, has_background: bool, ignore_index: int) -> np.ndarray:
    """Map query indices to the dataset's GT label ids.

    Args:
        labels: int (H, W) in [-1, num_queries): index into ``dataset.class_names``, -1 = no query.
        num_queries: number of queries (``len(dataset.class_names)``).
        has_background: True -> index i becomes label i + 1 and -1 becomes 0 (background);
            False -> index i stays i and -1 becomes ``ignore_index`` (no prediction).
        ignore_index: the dataset's ignore label (outside [0, num_classes)).

    Returns:
        int64 (H, W) label map in GT label space.
    """
    labels = to_numpy(labels).astype(np.int64)
    if labels.size and (labels.min() < -1 or labels.max() >= num_queries):
        raise ValueError(f"labels must lie in [-1, {num_queries}); got [{labels.min()}, {labels.max()}]")
    if has_background:
        return labels + 1
    return np.where(labels < 0, ignore_index, labels)


def fill_background(labels: Any, maps: Any, candidates: Any = None) -> np.ndarray:
    """The field's rule on the sets without a background class: a background pixel takes the best candidate query.

    SCLIP, NACLIP and their successors score VOC-20, PC-59, COCO-Stuff, Cityscapes and ADE-150 with no background
    class at all: every pixel gets the class whose map is highest there. For a method that may leave a pixel to the
    background (CaR: the CRF's background channel), this keeps every pixel it labels and gives each background pixel
    the candidate with the highest map (ties: the lowest index).

    Args:
        labels: int (H, W) in [-1, N), -1 = background.
        maps: float (N, h, w) per-query score maps (CaR: ``Result.proposals``, the final proposals y_T at the
            working size); bilinearly resized to (H, W) when their size differs.
        candidates: bool (N,), the queries a background pixel may take (CaR: those the recurrence kept,
            ``Result.scores > 0``); None, or none True, = every query.

    Returns:
        int64 (H, W) in [0, N).
    """
    labels = to_numpy(labels).astype(np.int64)
    maps = to_numpy(maps).astype(np.float32, copy=False)
    if maps.ndim != 3 or len(maps) == 0:
        raise ValueError(f"maps must be (N, h, w) with N >= 1 per-query score maps, got shape {maps.shape}")
    allowed = np.ones(len(maps), bool) if candidates is None else to_numpy(candidates).astype(bool).reshape(-1)
    if allowed.shape != (len(maps),):
        raise ValueError(f"candidates must be (N,) = ({len(maps)},), got {allowed.shape}")
    if not allowed.any():
        allowed[:] = True
    background = labels < 0
    if not background.any():
        return labels
    h, w = labels.shape
    best = np.full((h, w), -np.inf, np.float32)
    winner = np.zeros((h, w), np.int64)
    for i in np.flatnonzero(allowed):
        m = maps[i] if maps.shape[1:] == (h, w) else cv2.resize(maps[i], (w, h), interpolation=cv2.INTER_LINEAR)
        better = m > best
        best[better], winner[better] = m[better], i
    return np.where(background, winner, labels)


def make_predictor(model: Callable[..., Any], dataset: Any, *, clean_sentences: bool | None = None,
                   predict_background: bool = True, names: Sequence[Sequence[str]] | None = None) -> Predictor:
    """Adapt a CaR model (or a single-pass peer, :class:`car.peers.PeerSegmenter`) to ``predictor(sample) ->
    prediction`` for ``dataset``.

    The model is called as ``model(image, queries, stuff=None)`` and returns an object with
    ``.labels`` int (H, W) in [-1, N), ``.masks`` (N, H, W) bool and ``.scores`` (N,) float.

    * semantic: ``model(sample.image, dataset.class_names, stuff=dataset.stuff).labels`` mapped by
      :func:`labels_to_gt_space`; with ``predict_background=False`` (the field's rule, config
      ``predict_background``) the background pixels first take the best kept query by
      :func:`fill_background` over ``.proposals`` (N, h, w) (any method whose result carries per-query maps);
      with ``names`` (one list of synonyms per class, :func:`car.queries.load_names`)
      every name is a query and a pixel's class is its winning name's (:func:`car.queries.names_to_classes`);
    * refer: ``model(sample.image, sentences)`` then :func:`car.metrics.merge_ref_masks` to the GT
      size; sentences are cleaned with :func:`car.data.process_sentence` for the RefCOCO family
      (official), kept raw otherwise (``clean_sentences`` overrides);
    * video: every frame with ``[sample.expression]``, merged the same way;
    * video_set (Ref-DAVIS, the unsupervised protocol): every frame with each object's expression, the masks
      merged into a label map by :func:`car.metrics.davis_label_map`.
    """
    kind = dataset.kind
    if kind == "semantic":
        from car.queries import expand_names, names_to_classes

        classes = list(dataset.class_names)
        if names is not None and len(names) != len(classes):
            raise ValueError(f"the class-name file has {len(names)} classes, dataset {dataset.name!r} {len(classes)}: "
                             f"use the file written for this dataset (car.queries.list_name_files())")
        queries, owner = expand_names(names) if names is not None else (classes, np.arange(len(classes)))
        stuff = None if dataset.stuff is None else [bool(dataset.stuff[c]) for c in owner]

        def predict_semantic(sample: Any) -> np.ndarray:
            res = model(sample.image, queries, stuff=stuff)
            labels = to_numpy(res.labels)
            if not predict_background:  # CaR: its final proposals, kept queries only; a peer: its probabilities
                maps = getattr(res, "proposals", None)
                kept = None if maps is None else np.asarray(res.scores) > 0
                maps = getattr(res, "probs", None) if maps is None else maps
                if maps is None:
                    raise ValueError("predict_background=False needs the method's per-query maps: its result has "
                                     "no .proposals or .probs (N, h, w); use predict_background=True for this "
                                     "method")
                labels = fill_background(labels, maps, kept)
            labels = names_to_classes(labels, owner)
            return labels_to_gt_space(labels, len(classes), dataset.has_background, dataset.ignore_index)

        return predict_semantic
    if kind == "refer":
        clean = dataset.name in REFCOCO_FAMILY if clean_sentences is None else clean_sentences

        def predict_refer(sample: Any) -> np.ndarray:
            sentences = [process_sentence(s) for s in sample.sentences] if clean else list(sample.sentences)
            res = model(sample.image, sentences)
            return merge_ref_masks(res.masks, res.scores, sample.gt.shape)

        return predict_refer
    if kind == "video":

        def predict_video(sample: Any) -> list[np.ndarray]:
            out = []
            for frame in sample.frames:
                res = model(frame, [sample.expression])
                out.append(merge_ref_masks(res.masks, res.scores, frame.shape[:2]))
            return out

        return predict_video
    if kind == "video_set":

        def predict_video_set(sample: Any) -> list[np.ndarray]:
            """Every object's expression on every frame, merged into one label map per frame (ReferFormer)."""
            out = []
            for frame in sample.frames:
                per_object = [merge_ref_masks((r := model(frame, [e])).masks, r.scores, frame.shape[:2])
                              for e in sample.expressions]
                out.append(davis_label_map(np.stack(per_object)))
            return out

        return predict_video_set
    raise ValueError(f"dataset {dataset.name!r} has kind {kind!r}; valid: semantic, refer, video, video_set")
