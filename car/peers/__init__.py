"""CaR's successors: training-free single-pass segmenters that change CLIP's last block, on one harness.

Each peer is one module with a ``features(bundle, x)`` function — its change to CLIP, written from its paper and
its official repository (cited in the module) — and all of them share :mod:`car.peers.base` (the protocol's
resize, sliding window, dense logits, PAMR, the decision):

=============  ==========================================================================================
``maskclip``   MaskCLIP (ECCV 2022): value path only, attention = identity                    (:mod:`.maskclip`)
``sclip``      SCLIP (ECCV 2024): softmax(q qᵀ) + softmax(k kᵀ), residual and FFN kept           (:mod:`.sclip`)
``clearclip``  ClearCLIP (ECCV 2024): softmax(q qᵀ), no residual, no FFN                     (:mod:`.clearclip`)
``naclip``     NACLIP (WACV 2025): softmax(k kᵀ + Gaussian neighbourhood), no residual, no FFN  (:mod:`.naclip`)
``scclip``     SC-CLIP (arXiv 2024): anomaly repair, similarity aggregation, multi-level fusion (:mod:`.scclip`)
=============  ==========================================================================================

Two ways to use one:

* alone, :class:`PeerSegmenter` (``python -m car evaluate --method naclip``): one pass per window, the softmax
  over every query and background word, ``prob_thd``, optional PAMR;
* as CaR's proposal generator, ``CaR(config=..., proposer="naclip")`` (:mod:`car.proposers`): CaR's recurrence
  prunes the queries its classifier rejects, and the survivors' dense maps are its proposals.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

from car.backbones import ClipBundle
from car.image import to_rgb_uint8
from car.config import CaRConfig
from car.peers import clearclip, maskclip, naclip, sclip, scclip
from car.peers.base import (DenseFeatures, DenseResult, PeerFeatures, decide, dense_labels, dense_result, pamr,
                            protocol_image, query_texts, template_embeddings, upsample, window_logits)
from car.peers.base import window_features as _window_features
from car.queries import check_queries
from car.vocab import TEMPLATE_SETS, background_queries

#: The peers by name: their ``features(bundle, x)`` functions.
PEERS: dict[str, PeerFeatures] = {
    "maskclip": maskclip.features,
    "sclip": sclip.features,
    "clearclip": clearclip.features,
    "naclip": naclip.features,
    "scclip": scclip.features,
}
_MODULES = {"maskclip": maskclip, "sclip": sclip, "clearclip": clearclip, "naclip": naclip, "scclip": scclip}

__all__ = ["PEERS", "PeerSegmenter", "DenseFeatures", "DenseResult", "list_peers", "summary", "dense_features",
           "window_logits", "pamr", "decide", "dense_labels", "query_texts", "protocol_image"]


def list_peers() -> list[str]:
    """The peers' names."""
    return list(PEERS)


def _check(name: str) -> str:
    if name not in PEERS:
        raise ValueError(f"unknown single-pass method {name!r}; valid: {', '.join(PEERS)}")
    return name


def summary(name: str) -> str:
    """The first paragraph of a peer's module docstring (what it changes in CLIP, and where that comes from)."""
    return (_MODULES[_check(name)].__doc__ or "").split("\n\n")[0].strip()


def dense_features(name: str, bundle: ClipBundle, image: np.ndarray, crop: int | None,
                   stride: int = 112) -> DenseFeatures:
    """Peer ``name``'s patch features of uint8 (H, W, 3) ``image``, window by window (:mod:`car.peers.base`)."""
    return _window_features(PEERS[_check(name)], bundle, image, crop, stride)


def dense_templates(config: CaRConfig) -> tuple[str, ...]:
    """The text templates of the config's ``dense_templates`` ("cam": the CAM template alone)."""
    return (config.cam_template,) if config.dense_templates == "cam" else TEMPLATE_SETS[config.dense_templates]


class PeerSegmenter:
    """A single-pass peer with the protocol of ``config`` (its resize, windows, templates, softmax temperature,
    ``prob_thd``, PAMR and background words), called like :class:`car.CaR`.

    Args:
        method: a peer name (:func:`list_peers`).
        bundle: the CLIP (ViT-B/16 in the peers' papers; the same proposal backbone as CaR for a fair comparison).
        config: the protocol (default: :class:`car.CaRConfig`'s, the peers' fields at their defaults).
    """

    def __init__(self, method: str, bundle: ClipBundle, config: CaRConfig | None = None):
        self.method, self.bundle, self.config = _check(method), bundle, config or CaRConfig()
        self._text: dict[tuple[str, ...], torch.Tensor] = {}  # embeddings per word list (a dataset's: once)

    def text(self, words: Sequence[str]) -> torch.Tensor:
        """Embeddings float (len(words), D) of ``words`` in the config's templates, encoded once per word list."""
        key = tuple(words)
        if key not in self._text:
            self._text[key] = template_embeddings(self.bundle, dense_templates(self.config), key)
        return self._text[key]

    def __repr__(self) -> str:
        return f"PeerSegmenter({self.method!r}, {self.bundle!r}, config={self.config.name!r})"

    def words(self, queries: Sequence[str]) -> list[str]:
        """The queries, then the background words of ``dense_background`` (else ``background``), a word equal to
        a query dropped (it never competes with itself)."""
        cfg = self.config
        groups = cfg.background if cfg.dense_background is None else cfg.dense_background
        return list(queries) + background_queries(groups, queries)

    @torch.no_grad()
    def logits(self, image: np.ndarray, queries: Sequence[str]) -> tuple[torch.Tensor, int]:
        """The dense logits of ``queries`` and the background words at the image's size: (float (N + K, H, W),
        N). ``image``: uint8 (H, W, 3)."""
        cfg = self.config
        text = self.text(self.words(queries))  # (N + K, D)
        work = protocol_image(image, cfg.short_side, cfg.working_size)
        feats = dense_features(self.method, self.bundle, work, cfg.slide_crop, cfg.slide_stride)
        logits = upsample(window_logits(feats, text), image.shape[:2])  # the image's own size
        if cfg.pamr:
            logits = pamr(image, logits, cfg.pamr_steps, cfg.pamr_dilations)
        return logits, len(queries)

    def __call__(self, image, queries: Sequence[str], *, stuff: Sequence[bool] | None = None) -> DenseResult:
        """Segment ``image`` (uint8 (H, W, 3) RGB or PIL) with ``queries``: labels at the image's size."""
        image = to_rgb_uint8(image)
        queries = check_queries(queries)
        logits, n = self.logits(image, queries)
        labels, probs = decide(logits, n, self.config.dense_logit_scale, self.config.prob_thd)
        return dense_result(queries, labels, probs)
