"""The mask proposal generator f of CaR (Eq. 3) as a registered component: ``CaR(proposer="naclip")``.

A proposer splits its work the way SAM's predictor does:

* :meth:`Proposer.encode` — the per-image work, once for every step and query set: the backbone pass, and
  whatever the proposer derives from it alone (CAA's affinity, a peer's dense patch features);
* :meth:`Proposer.propose` — the per-step work: one map per surviving query, given those queries' text embeddings
  and the background queries' (the queries removed by the recurrence no longer compete).

Built in (registered here): ``gradcam`` (CLIP-ES's grad-CAM, Table 2's "gradCAM" row) and ``caa`` (grad-CAM refined
by the class-aware affinity, the paper's f), whose bodies are :mod:`car.cam` and :mod:`car.affinity`; and one
``DenseProposer`` per single-pass peer of :mod:`car.peers` (``maskclip``, ``sclip``, ``clearclip``, ``naclip``,
``scclip``): its maps are the peer's softmax over [surviving queries; background] at each pixel, so CaR's
recurrence prunes the queries the classifier rejects and the survivors' maps sharpen.

A new proposer is one subclass and one line: ``register_proposer("mine", Mine)``, then ``CaR(config=...,
proposer="mine")``. :mod:`car.official` and :mod:`car.experiments.bench` read :attr:`Proposer.official` /
:attr:`Proposer.backward_per_query` and refuse a proposer they do not implement.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any, ClassVar, ContextManager, NamedTuple, Protocol, Sequence

import numpy as np
import torch

from car import affinity as caa
from car import cam as cam_mod
from car import peers
from car.backbones import ClipBundle
from car.config import CaRConfig
from car.queries import cam_texts, template_rows
from car.work import CAM_BACKBONE_FORWARDS, CAM_BACKWARDS, CAM_BLOCK_L_FORWARDS


class Host(Protocol):
    """What a proposer reports to and runs under (``CaR`` is one): stage ranges, work counts, autocast."""

    def stage(self, name: str) -> ContextManager: ...

    def count(self, key: str, n: int = 1) -> None: ...

    def autocast(self, bundle: ClipBundle) -> ContextManager: ...


class _Standalone:
    """The host of a proposer used alone: times nothing, counts nothing, runs in fp32."""

    def stage(self, name: str) -> ContextManager:
        return contextlib.nullcontext()

    def count(self, key: str, n: int = 1) -> None:
        pass

    def autocast(self, bundle: ClipBundle) -> ContextManager:
        return contextlib.nullcontext()


class Proposer:
    """Base of every proposal generator f.

    Args:
        bundle: the proposal CLIP (ViT-B/16 in the paper).
        config: the run's settings (the proposer reads what it needs: ``mode``, ``lam``, the peers' protocol, ...).
        host: where stages and counts go (default: nowhere).

    Class attributes:
        name: the registry name.
        official: :mod:`car.official` re-implements the official code's loop order for it (grad-CAM, CAA only).
        backward_per_query: each step costs one backward per query (what :func:`car.experiments.bench.floor` times).
    """

    name: ClassVar[str] = ""
    official: ClassVar[bool] = False
    backward_per_query: ClassVar[bool] = False

    def __init__(self, bundle: ClipBundle, config: CaRConfig, host: Host | None = None):
        self.bundle, self.config, self.host = bundle, config, host or _Standalone()

    def query_texts(self, queries: Sequence[str], step: int) -> list[list[str]]:
        """The query texts at ``step``: T rows of N strings (an embedding is the normalised mean over rows)."""
        return [cam_texts(self.config, queries, step)]

    def background_texts(self, words: Sequence[str]) -> list[list[str]]:
        """The background texts: T rows of K strings."""
        return template_rows([self.config.cam_template], words)

    def encode(self, image: np.ndarray) -> Any:
        """The per-image work on uint8 (H, W, 3) RGB ``image`` (the working size); returns the proposer's state."""
        raise TypeError(f"{type(self).__name__} does not define encode(image)")

    def propose(self, state: Any, text: torch.Tensor, background: torch.Tensor,
                step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """f(x, h) at ``step``: (raw maps float (N, h, w), proposals float (N, H, W) in [0, 1]).

        Args:
            state: what :meth:`encode` returned for the image.
            text: normalised embeddings float (N, D) of the surviving queries; background: float (K, D).
        """
        raise TypeError(f"{type(self).__name__} does not define propose(state, text, background, step)")


class CamState(NamedTuple):
    """The grad-CAM proposers' per-image state: the CAM backbone's pass and CAA's affinity float (n, n) (or None)."""

    image: cam_mod.ImageState
    affinity: torch.Tensor | None


class GradCAM(Proposer):
    """CLIP-ES's grad-CAM on the last block's ``ln_1`` (:func:`car.cam.gradcam`), min–max normalised, bilinearly
    up-sampled: Table 2's "gradCAM" proposals. The backbone runs once per image, the gradients once per step."""

    name = "gradcam"
    official = True
    backward_per_query = True
    uses_affinity: ClassVar[bool] = False

    def encode(self, image: np.ndarray) -> CamState:
        cfg, host = self.config, self.host
        host.count(CAM_BACKBONE_FORWARDS)
        host.count(CAM_BLOCK_L_FORWARDS)
        with host.stage("cam_forward"), host.autocast(self.bundle):
            state = cam_mod.encode_image(self.bundle, image, cfg.proposal_size_multiple, cfg.resample)
        if not self.uses_affinity:
            return CamState(state, None)
        with host.stage("caa"):
            return CamState(state, caa.symmetric_affinity(caa.attention_affinity(state.attention, cfg.attn_layers),
                                                          cfg.sinkhorn_rounds, cfg.affinity_power))

    def propose(self, state: CamState, text: torch.Tensor, background: torch.Tensor,
                step: int) -> tuple[torch.Tensor, torch.Tensor]:
        self.host.count(CAM_BACKWARDS, len(text))
        with self.host.stage("gradients"):
            raw = cam_mod.gradcam(state.image, text, background, self.bundle.logit_scale, self.config.mode).float()
        with self.host.stage("caa"):
            refined = raw if state.affinity is None else caa.refine_with_affinity(raw, state.affinity, self.config.lam)
            return raw, cam_mod.upsample(refined, state.image.size).clamp(0, 1)


class CAA(GradCAM):
    """The paper's f (§3.3, CLIP-ES): grad-CAM refined by the class-aware affinity (Eq. 7–8,
    :func:`car.affinity.refine_with_affinity`), the affinity computed once per image."""

    name = "caa"
    uses_affinity = True


@dataclass(frozen=True)
class DenseState:
    """A dense proposer's per-image state: the peer's patch features (:class:`car.peers.DenseFeatures`) and the
    working image (PAMR refines with its colours)."""

    features: peers.DenseFeatures
    image: np.ndarray


class DenseProposer(Proposer):
    """A single-pass peer's dense maps as CaR's proposals (:mod:`car.peers`).

    encode: the peer's patch features over the config's windows (``slide_crop`` / ``slide_stride``; one pass when
    unset). propose: patch–text cosines of [queries; background] up-sampled to the image, PAMR when ``pamr``, then
    the softmax over them at ``dense_logit_scale`` (each peer's own post-processing); a query's proposal is its
    probability, float (N, H, W) in [0, 1]. Texts: the ``dense_templates`` ("imagenet80": the peers' 80 templates,
    averaged; "cam": the CAM template).
    """

    backward_per_query = False
    peer: ClassVar[str] = ""

    def query_texts(self, queries: Sequence[str], step: int) -> list[list[str]]:
        return template_rows(peers.dense_templates(self.config), queries)

    def background_texts(self, words: Sequence[str]) -> list[list[str]]:
        return template_rows(peers.dense_templates(self.config), words)

    def encode(self, image: np.ndarray) -> DenseState:
        cfg = self.config
        with self.host.stage("cam_forward"), self.host.autocast(self.bundle):
            feats = peers.dense_features(self.peer, self.bundle, image, cfg.slide_crop, cfg.slide_stride)
        self.host.count(CAM_BACKBONE_FORWARDS, len(feats.windows))
        return DenseState(feats, image)

    def propose(self, state: DenseState, text: torch.Tensor, background: torch.Tensor,
                step: int) -> tuple[torch.Tensor, torch.Tensor]:
        cfg = self.config
        with self.host.stage("cam_forward"):
            logits = peers.window_logits(state.features, torch.cat([text, background]))  # (N + K, H, W)
            if cfg.pamr:
                logits = peers.pamr(state.image, logits, cfg.pamr_steps, cfg.pamr_dilations)
            maps = torch.softmax(cfg.dense_logit_scale * logits, 0)[: len(text)].float()  # (N, H, W)
        return maps, maps


_REGISTRY: dict[str, type[Proposer]] = {}


def register_proposer(name: str, cls: type[Proposer], *, overwrite: bool = False) -> None:
    """Register a :class:`Proposer` subclass under ``name`` (the config's ``proposer`` then finds it).

    Raises:
        ValueError: ``name`` is taken and ``overwrite`` is False; TypeError: ``cls`` is not a Proposer.
    """
    if not (isinstance(cls, type) and issubclass(cls, Proposer)):
        raise TypeError(f"register_proposer({name!r}, ...) needs a car.proposers.Proposer subclass, got {cls!r}")
    if name in _REGISTRY and not overwrite:
        raise ValueError(f"proposer {name!r} is already registered; pass overwrite=True to replace it")
    _REGISTRY[name] = cls


def list_proposers() -> list[str]:
    """The registered proposer names, in registration order (the built-ins first)."""
    return list(_REGISTRY)


def get_proposer(name: str) -> type[Proposer]:
    """The proposer class registered under ``name``.

    Raises:
        ValueError: unknown name (the message lists the registered ones).
    """
    if name not in _REGISTRY:
        raise ValueError(f"unknown proposer {name!r}; registered: {', '.join(_REGISTRY)} "
                         f"(car.proposers.register_proposer adds one)")
    return _REGISTRY[name]


def make_proposer(bundle: ClipBundle, config: CaRConfig, host: Host | None = None) -> Proposer:
    """The proposer ``config.proposer`` names, on ``bundle``."""
    return get_proposer(config.proposer)(bundle, config, host)


def _dense(peer: str) -> type[DenseProposer]:
    """The :class:`DenseProposer` of peer ``peer`` (a subclass named after it)."""
    return type(f"{peer.capitalize()}Proposer", (DenseProposer,),
                {"name": peer, "peer": peer,
                 "__doc__": f"{peers.summary(peer)}\n\nAs a proposer: {DenseProposer.__doc__}"})


register_proposer("gradcam", GradCAM)
register_proposer("caa", CAA)
for _peer in peers.list_peers():
    register_proposer(_peer, _dense(_peer))
