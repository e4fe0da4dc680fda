"""CLIP as RNN: the recurrence of Algorithm 1 with a fixed-weight segmenter shared by every step.

    h_0 = queries
    repeat:  y_t = f(x, h_{t-1})            mask proposals (a proposer: CAM + CAA) Eq. 3
             x'_t = v(x, y_t)               visual prompts                        Eq. 4
             P_t = g(x'_t, h_{t-1})         mask classifier                       Eq. 5
             h_t = σ(P_t)                   drop queries with P_ii below θ        Eq. 6
    until h_t == h_{t-1};  masks = post_process(y_T)

``CaR(proposal, classifier, config)(image, queries) -> Result``, or, the way SAM splits it,
``model.set_image(image)`` once and ``model.predict(queries)`` for every query set. f is a registered proposer
(:mod:`car.proposers`, config ``proposer``: the paper's CAM + CAA, plain grad-CAM, or a single-pass peer's dense
maps); its image-side work (backbone forward, attention affinity) is done once per image and every text embedding
once per vocabulary,
and both are reused at every step; all prompted images of a step go through g as one batch. A caller may fix
the stop schedule (``predict(queries, schedule=...)``, as the benchmark does) and time the stages with a clock
(``model.clock``); every stage is also a ``torch.profiler.record_function`` range named ``car.<stage>``.
"""
from __future__ import annotations

import contextlib
import warnings
from dataclasses import dataclass, field
from typing import Callable, ContextManager, Protocol, Sequence

import numpy as np
import torch

from car import classifier as cls_mod
from car import postprocess, prompts
from car.backbones import ClipBundle, encode_text, load_clip
from car.config import CaRConfig, load_config
from car.image import resize_masks, to_rgb_uint8
from car.peers.base import protocol_image
from car.proposers import Proposer, make_proposer
from car.queries import background_words, check_queries, thing_background_words
from car.vocab import TEMPLATE_SETS
from car.work import CLASSIFIER_IMAGES, TEXT_ENCODINGS


class Clock(Protocol):
    """What :class:`CaR` reports its work to: ``clock(stage)`` wraps a stage of ``car.work.STAGES``,
    ``clock.count(key, n)`` counts work (a key of ``car.work.COUNTERS``)."""

    def __call__(self, stage: str) -> ContextManager: ...

    def count(self, key: str, n: int = 1) -> None: ...


class _NoClock:
    """The default clock: times nothing."""

    def __call__(self, stage: str) -> ContextManager:
        return contextlib.nullcontext()

    def count(self, key: str, n: int = 1) -> None:
        pass


class _Host:
    """What :class:`CaR` gives its proposer (:class:`car.proposers.Host`): its stages, its clock's counts and the
    config's precision, read at call time (a new ``model.clock`` is seen at once)."""

    def __init__(self, model: "CaR"):
        self._model = model

    def stage(self, name: str) -> ContextManager:
        return self._model._stage(name)

    def count(self, key: str, n: int = 1) -> None:
        self._model.clock.count(key, n)

    def autocast(self, bundle: ClipBundle) -> ContextManager:
        return self._model._autocast(bundle)


@dataclass(frozen=True)
class ImageContext:
    """What :meth:`CaR.set_image` keeps for :meth:`CaR.predict`.

    Attributes:
        full_shape: (H, W) of the input; masks and labels come back at this size.
        image: uint8 (h, w, 3) RGB at the working size, the image every CLIP pass and the CRF see.
        state: the proposer's per-image state (:meth:`car.proposers.Proposer.encode`; for grad-CAM and CAA a
            :class:`car.proposers.CamState`: the CAM backbone's pass and CAA's affinity).
    """

    full_shape: tuple[int, int]
    image: np.ndarray = field(repr=False)
    state: object = field(repr=False)


@dataclass(frozen=True)
class Step:
    """One step of the recurrence.

    Attributes:
        queries: the queries that entered the step (h_{t-1}).
        indices: their positions in the initial query list, int (N_t,).
        scores: P_ii of the step, float (N_t,).
        kept: bool (N_t,), which queries survive into h_t.
        proposals: float (N_t, h, w) in [0, 1], the mask proposals y_t at the working size (``working_size``).
        raw_cams: float (N_t, h, w) in [0, 1], the proposer's raw maps (the grad-CAMs before CAA, on the patch
            grid; a dense proposer's maps).
    """

    queries: tuple[str, ...]
    indices: np.ndarray
    scores: np.ndarray
    kept: np.ndarray
    proposals: np.ndarray = field(repr=False)
    raw_cams: np.ndarray = field(repr=False)


@dataclass(frozen=True)
class Result:
    """Output of :class:`CaR`.

    Attributes:
        queries: the initial queries h_0.
        labels: int64 (H, W), the index of the winning query, -1 where none wins (background).
        masks: bool (N, H, W) at the input's size, one per initial query (all False for removed queries).
        scores: float (N,), classifier score of the last step, 0 for removed queries.
        steps: the recurrence, step by step (for a stuff pass, thing steps then stuff steps).
        proposals: float (N, h, w), the final soft proposals y_T at the working size (0 for removed queries).
    """

    queries: tuple[str, ...]
    labels: np.ndarray
    masks: np.ndarray
    scores: np.ndarray
    steps: list[Step]
    proposals: np.ndarray = field(repr=False)

    @property
    def kept(self) -> list[str]:
        """The queries that survived the recurrence."""
        return [q for q, s in zip(self.queries, self.scores) if s > 0]


class CaR:
    """CLIP as RNN.

    Args:
        proposal: the CLIP of the mask proposal generator f (ViT-B/16 in the paper), or a name for :func:`load_clip`.
        classifier: the CLIP of the mask classifier g (ViT-L/14), or a name; default: the proposal model.
        config: a :class:`CaRConfig` or preset name; keyword overrides (``eta=``, ``theta=``, ``lam=``, any field;
            ``proposer="naclip"`` swaps f's proposal generator, :func:`car.proposers.list_proposers`).
        mask_generator: optional SAM automatic mask generator (used when ``config.sam``).
    """

    def __init__(self, proposal: ClipBundle | str = "toy-b", classifier: ClipBundle | str | None = None,
                 config: CaRConfig | str | None = None, *, mask_generator: Callable | None = None, **overrides):
        cfg = config if isinstance(config, CaRConfig) else (load_config(config) if config else CaRConfig())
        self.config = cfg.replace(**overrides) if overrides else cfg
        self.proposal = load_clip(proposal) if isinstance(proposal, str) else proposal
        if classifier is None:
            classifier = self.proposal
        self.classifier = load_clip(classifier) if isinstance(classifier, str) else classifier
        self.mask_generator = mask_generator
        self.clock: Clock = _NoClock()
        self._text_cache: dict[tuple[int, str], torch.Tensor] = {}
        self._context: ImageContext | None = None
        self.proposer: Proposer = make_proposer(self.proposal, self.config, _Host(self))

    @contextlib.contextmanager
    def _stage(self, name: str):
        """One stage of the pipeline: a profiler range ``car.<name>`` and the clock's ``name``."""
        with torch.profiler.record_function(f"car.{name}"), self.clock(name):
            yield

    @classmethod
    def from_config(cls, config: CaRConfig | str, proposal: ClipBundle | str | None = None,
                    classifier: ClipBundle | str | None = None, *, device: str = "auto", **overrides) -> "CaR":
        """Build CaR with a preset's backbones (``proposal_model`` / ``classifier_model``) and values.

        Args:
            config: a preset name, a YAML path or a :class:`CaRConfig`.
            proposal, classifier: ready models that replace the config's (e.g. to share one loaded model).
            device: where the models are loaded; "auto" = CUDA when available, else the CPU (:mod:`car.devices`).
        """
        from car.devices import resolve_device

        device = resolve_device(device)
        cfg = config if isinstance(config, CaRConfig) else load_config(config)
        cfg = cfg.replace(**overrides) if overrides else cfg
        if proposal is None:
            proposal = load_clip(cfg.proposal_model, cfg.proposal_pretrained, device=device)
        if classifier is None:
            same = (cfg.classifier_model, cfg.classifier_pretrained) == (cfg.proposal_model, cfg.proposal_pretrained)
            classifier = proposal if same else load_clip(cfg.classifier_model, cfg.classifier_pretrained, device=device)
        generator = None
        if cfg.sam:
            if cfg.sam_checkpoint is None:
                raise ValueError(f"config {cfg.name!r} has sam: true but no sam_checkpoint; set it, e.g. "
                                 f"load_config({cfg.name!r}, sam_checkpoint='sam_hq_vit_h.pth') (HQ-SAM, the "
                                 "official setting) or sam_hq=False with the original sam_vit_h_4b8939.pth")
            generator = postprocess.make_sam_generator(
                cfg.sam_checkpoint, cfg.sam_model, points_per_side=cfg.sam_points_per_side, hq=cfg.sam_hq,
                device=None if device == "cpu" else device)
        return cls(proposal, classifier, cfg, mask_generator=generator)

    # ------------------------------------------------------------------ text (cached per vocabulary)
    def text_embeddings(self, bundle: ClipBundle, texts: Sequence[str]) -> torch.Tensor:
        """Normalised embeddings float (len(texts), D), each text encoded once per model."""
        missing = [t for t in dict.fromkeys(texts) if (id(bundle), t) not in self._text_cache]
        if missing:
            self._warn_long(bundle, missing)
            self.clock.count(TEXT_ENCODINGS, len(missing))
            with self._stage("text"), self._autocast(bundle):
                encoded = encode_text(bundle, missing).float()
            for t, e in zip(missing, encoded):
                self._text_cache[(id(bundle), t)] = e
        if not texts:
            return torch.zeros(0, bundle.model.text_projection.shape[-1] if hasattr(bundle.model, "text_projection")
                               and bundle.model.text_projection is not None else 1, device=bundle.device)
        return torch.stack([self._text_cache[(id(bundle), t)] for t in texts])

    @staticmethod
    def _warn_long(bundle: ClipBundle, texts: list[str]) -> None:
        tokens = bundle.tokenizer(texts)
        full = (tokens[:, -1] != 0).nonzero().flatten().tolist()
        for i in full:
            warnings.warn(f"query {texts[i]!r} is longer than the text context ({bundle.context_length} tokens) "
                          f"and is truncated", stacklevel=4)

    def _autocast(self, bundle: ClipBundle):
        """The config's ``precision`` for passes through ``bundle``: autocast to fp16 / bf16, or nothing (fp32)."""
        dtype = resolve_precision(self.config.precision, bundle.device)
        if dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(device_type=torch.device(bundle.device).type, dtype=dtype)

    def template_embeddings(self, bundle: ClipBundle, rows: Sequence[Sequence[str]]) -> torch.Tensor:
        """Embeddings float (N, D) of T rows of N texts: one row as is; several rows (templates) averaged and
        normalised again (CLIP's prompt ensembling)."""
        if len(rows) == 1:
            return self.text_embeddings(bundle, rows[0])
        flat = self.text_embeddings(bundle, [t for row in rows for t in row]).reshape(len(rows), len(rows[0]), -1)
        return torch.nn.functional.normalize(flat.mean(0), dim=-1)

    def _background(self, queries: Sequence[str], words: Sequence[str] | None = None) -> torch.Tensor:
        """Background-query embeddings float (K, D) for f: :func:`car.queries.background_words` in the
        proposer's texts."""
        return self.template_embeddings(self.proposal,
                                        self.proposer.background_texts(background_words(self.config, queries, words)))

    # ------------------------------------------------------------------ the segmenter (one step)
    def propose(self, state: object, queries: Sequence[str], background: torch.Tensor,
                step: int) -> tuple[torch.Tensor, torch.Tensor]:
        """f(x, h): the proposer's raw maps float (N, h, w) and proposals float (N, H, W) in [0, 1].

        Args:
            state: :meth:`encode_image`'s result for the image; background: :meth:`background`'s embeddings.
        """
        text = self.template_embeddings(self.proposal, self.proposer.query_texts(queries, step))
        return self.proposer.propose(state, text, background, step)

    def classify(self, image: np.ndarray, proposals: np.ndarray, queries: Sequence[str],
                 kinds: Sequence[str] | None = None, texts: Sequence[Sequence[str]] | None = None) -> np.ndarray:
        """g(v(x, y), h): the diagonal scores P_ii, float (N,).

        Args:
            kinds: the visual prompts (default: the config's).
            texts: the classifier texts, T rows of N strings (default: every template of ``config.templates``
                formatted with ``queries``); see :meth:`classifier_texts`.
        """
        cfg = self.config
        with self._stage("prompts"):
            masks = np.stack([prompts.binarize(p, cfg.eta) for p in proposals])
            prompted = prompts.apply_batch(image, masks, kinds or cfg.prompts, thickness=cfg.prompt_thickness,
                                           blur_kernel=cfg.blur_kernel)
        if texts is None:
            texts = [[t.format(q) for q in queries] for t in TEMPLATE_SETS[cfg.templates]]
        flat = self.text_embeddings(self.classifier, [s for row in texts for s in row])
        text = flat.reshape(len(texts), len(queries), -1)  # (T, N, D): one text call for every template
        self.clock.count(CLASSIFIER_IMAGES, len(queries))
        with self._stage("classifier"):
            x = cls_mod.preprocess(self.classifier, prompted, cfg.classifier_crop, cfg.resample)
            with self._autocast(self.classifier):
                img = cls_mod.encode_images(self.classifier, x, cfg.classifier_skip_last_block)
            p = cls_mod.mask_scores(img, text, self.classifier.logit_scale, cfg.classifier_score)
            return cls_mod.diagonal_scores(p).cpu().numpy()

    def classifier_texts(self, queries: Sequence[str], active: np.ndarray, step: int) -> list[list[str]]:
        """The classifier texts of a step: T rows of N strings for the active queries (indices into ``queries``).

        Default: every template of ``config.templates`` formatted with each active query. With
        ``refer_text_bug`` and a single template, steps 2+ reproduce the official ``_filter_texts`` bug
        (car.py ``[[spt[i] for i in ori_mask_id] for spt in semantic_prompt_text]`` applied to the *flat* list of
        canonical strings): there are then len(queries) "templates", template t holding character ``a_j`` of
        the canonical string of initial query t for active query j (its index a_j in ``queries``), and
        the sum-of-softmaxes rule applies. Every canonical string starts with "a clean origami ", so the
        texts are single characters ("a", " ", "c", ...) that depend on the query's position, not on its words.
        """
        templates = TEMPLATE_SETS[self.config.templates]
        if self.config.refer_text_bug and len(templates) == 1 and step > 0:
            canonical = [templates[0].format(q) for q in queries]
            too_short = [s for s in canonical if len(s) <= int(active.max())]
            if too_short:
                raise ValueError(f"refer_text_bug: the canonical string {too_short[0]!r} has no character "
                                 f"{int(active.max())} (the official code raises IndexError here)")
            return [[s[i] for i in active] for s in canonical]
        return [[t.format(queries[i]) for i in active] for t in templates]

    def prune(self, scores: np.ndarray) -> np.ndarray:
        """σ of Eq. 6: bool (N,) of the queries kept (official: > θ and never empty; paper: ≥ θ)."""
        if self.config.theta_rule == "paper":
            return scores >= self.config.theta
        keep = scores > self.config.theta
        if not keep.any():
            keep[int(np.argmax(scores))] = True
        return keep

    def encode_image(self, image: np.ndarray) -> object:
        """The per-image work of f, done once for every step and query set (:meth:`car.proposers.Proposer.encode`:
        the backbone pass, and CAA's affinity for the paper's f). ``image``: uint8 (H, W, 3) RGB at the working
        size."""
        return self.proposer.encode(image)

    # ------------------------------------------------------------------ the recurrence
    def recur(self, image: np.ndarray, queries: Sequence[str], state: object, background: torch.Tensor,
              prompt_kinds: tuple[str, ...] | None = None,
              schedule: Sequence[Sequence[int]] | None = None) -> tuple[list[Step], np.ndarray, np.ndarray]:
        """Run Algorithm 1 on ``queries``.

        Args:
            schedule: a fixed stop schedule instead of σ's: the indices (into ``queries``) that enter each step,
                each a subset of the one before; the recurrence runs ``len(schedule)`` steps and ends with every
                query of the last step kept. The scores are still computed (for timing and comparison).
        Returns:
            (steps, final proposals float (N, H, W) with zeros for removed queries, final scores float (N,));
            without recurrence (T = 1) every query keeps its step-1 proposal and score.
        """
        cfg = self.config
        n = len(queries)
        active = np.arange(n) if schedule is None else np.asarray(schedule[0], dtype=np.int64)
        steps: list[Step] = []
        previous = None
        min_steps = 2 if cfg.theta_rule == "official" else 1  # official: step 1 compares against 0 kept
        while len(active):
            t = len(steps)
            current = [queries[i] for i in active]
            raw, proposals = self.propose(state, current, background, t)
            proposals = proposals.cpu().numpy()
            if previous is not None and not proposals.any():  # official: fall back to the last proposals
                proposals = previous[np.searchsorted(steps[-1].indices, active)]
            bug = cfg.refer_text_bug and t > 0 and len(TEMPLATE_SETS[cfg.templates]) == 1
            texts = {"texts": self.classifier_texts(queries, active, t)} if bug else {}  # else: classify's default
            scores = self.classify(image, proposals, current, prompt_kinds, **texts)
            if schedule is None:
                keep = self.prune(scores)
                done = (keep.all() and t + 1 >= min_steps) or not cfg.recurrence
                done = done or (cfg.max_steps is not None and t + 1 >= cfg.max_steps)
            else:
                done = t + 1 >= len(schedule)
                keep = np.ones(len(active), bool) if done else np.isin(active, schedule[t + 1])
            steps.append(Step(tuple(current), active.copy(), scores, keep, proposals, raw.cpu().numpy()))
            previous = proposals
            if done:
                break
            active = active[keep]
        final = np.zeros((n, *image.shape[:2]), np.float32)
        final_scores = np.zeros(n, np.float32)
        # the last step's kept queries; T = 1 (Algorithm 1 stopped after one step): post_process(every proposal)
        last = steps[-1]
        kept = last.kept if cfg.recurrence or schedule is not None else np.ones(len(last.indices), bool)
        final[last.indices[kept]] = last.proposals[kept]
        final_scores[last.indices[kept]] = last.scores[kept]
        return steps, final, final_scores

    def set_image(self, image) -> ImageContext:
        """The per-image work, done once for every query set :meth:`predict` is asked (SAM's ``set_image``).

        ``image``: uint8 (H, W, 3) RGB numpy or PIL (gray/RGBA/16-bit converted, EXIF orientation applied). It is
        shrunk to ``config.working_size`` (longer side, never upscaled; :mod:`car.image`) — or, with
        ``config.short_side`` (the peers' protocol), resized to that shorter side — then the proposer's per-image
        work runs (:meth:`encode_image`).
        """
        full = to_rgb_uint8(image)  # the input: EXIF applied, any mode converted
        # every CLIP pass and the CRF run at this size (the peers' protocol: ``short_side``)
        work = protocol_image(full, self.config.short_side, self.config.working_size)
        self._context = ImageContext(full.shape[:2], work, self.encode_image(work))
        return self._context

    def predict(self, queries: Sequence[str], *, stuff: Sequence[bool] | None = None,
                schedule: Sequence[Sequence[int]] | None = None) -> Result:
        """Segment the image of the last :meth:`set_image` with ``queries``.

        ``masks`` / ``labels`` come back at the input's size; ``proposals`` and the steps' maps stay at the
        working size.

        Args:
            stuff: optional bool per query marking "stuff" classes; with a config that has ``stuff_prompts``, things
                and stuff run as two recurrences (Supp. E; official ``eval_semantic``): the stuff pass has the thing
                names as background queries, the thing pass the ``background`` groups (or, with
                ``thing_background: stuff``, the stuff names). With ``two_pass_crf: per_pass`` (official) each pass
                gets its own dense CRF, so a pixel may be claimed by a thing and a stuff mask, and the label map
                paints stuff first and things over it; ``joint`` runs one CRF over both passes' proposals.
            schedule: a fixed stop schedule (see :meth:`recur`), e.g. :func:`car.experiments.bench.fixed_schedule`; one pass only.

        Raises:
            RuntimeError: no image was set.
            ValueError: bad queries, a ``stuff`` of the wrong length, or a schedule with a two-pass split.
        """
        if self._context is None:
            raise RuntimeError("no image set: call model.set_image(image) before model.predict(queries), "
                               "or call model(image, queries)")
        ctx, cfg = self._context, self.config
        image = ctx.image
        queries = check_queries(queries, allow_duplicates=cfg.mode == "refer")
        n = len(queries)
        is_stuff = np.zeros(n, bool) if stuff is None else np.asarray(stuff, bool)
        if is_stuff.shape != (n,):
            raise ValueError(f"stuff must have one bool per query ({n}); got shape {is_stuff.shape}")
        two_pass = bool(cfg.stuff_prompts) and is_stuff.any() and (~is_stuff).any()
        if two_pass and schedule is not None:
            raise ValueError("a fixed schedule runs one pass; drop stuff= or the config's stuff_prompts")
        proposals = np.zeros((n, *image.shape[:2]), np.float32)
        scores = np.zeros(n, np.float32)
        steps: list[Step] = []
        things, stuff_idx = np.flatnonzero(~is_stuff), np.flatnonzero(is_stuff)
        mutual = thing_background_words(cfg, queries, [queries[i] for i in stuff_idx])
        groups = [(things, mutual, cfg.prompts), (stuff_idx, [queries[i] for i in things], cfg.stuff_prompts)] \
            if two_pass else [(np.arange(n), None, cfg.prompts)]
        per_pass = two_pass and cfg.two_pass_crf == "per_pass"
        masks = np.zeros((n, *image.shape[:2]), bool)
        for idx, bg_words, kinds in groups:
            sub = [queries[i] for i in idx]
            background = self._background(queries, words=bg_words)
            sub_steps, sub_prop, sub_scores = self.recur(image, sub, ctx.state, background, kinds, schedule)
            steps += [Step(s.queries, idx[s.indices], s.scores, s.kept, s.proposals, s.raw_cams) for s in sub_steps]
            proposals[idx], scores[idx] = sub_prop, sub_scores
            if per_pass:  # official: each pass is one CaR call with its own CRF; the passes' masks overlap
                masks[idx] = self.post_process(image, sub_prop, sub_scores)
        if not per_pass:
            masks = self.post_process(image, proposals, scores)
        masks = resize_masks(masks, ctx.full_shape)  # back to the input's size (a no-op when it was not resized)
        labels = postprocess.label_map(masks, scores, paint_first=is_stuff if two_pass else None)
        return Result(tuple(queries), labels, masks, scores, steps, proposals)

    def __call__(self, image, queries: Sequence[str], *, stuff: Sequence[bool] | None = None,
                 schedule: Sequence[Sequence[int]] | None = None) -> Result:
        """Segment ``image`` with ``queries``: :meth:`set_image` then :meth:`predict` (see both)."""
        check_queries(queries, allow_duplicates=self.config.mode == "refer")  # fail before the backbone pass
        self.set_image(image)
        return self.predict(queries, stuff=stuff, schedule=schedule)

    def post_process(self, image: np.ndarray, proposals: np.ndarray, scores: np.ndarray) -> np.ndarray:
        """§3.4: dense CRF (joint in semantic mode, per query in refer mode), then optional SAM → bool (N, H, W)."""
        cfg = self.config
        alive = scores > 0
        masks = np.zeros(proposals.shape, bool)
        if not alive.any():
            return masks
        with self._stage("crf"):
            masks[alive] = dense_masks(cfg, image, proposals[alive])
        if cfg.sam:
            masks[alive] = postprocess.sam_ensemble(image, masks[alive], self.mask_generator,
                                                    iom_thresh=cfg.iom_thresh, iou_thresh=cfg.iou_thresh,
                                                    min_pred_thresh=cfg.min_pred_thresh)
        return masks


def resolve_precision(precision: str, device: torch.device | str) -> torch.dtype | None:
    """The autocast dtype of a ``precision`` setting on ``device``, or None for fp32.

    "auto" is the paper's "half-precision floating point for CLIP" (§4.1) where the official code has it: OpenAI
    ``clip.load`` keeps fp16 weights on CUDA and casts to fp32 on the CPU. ``car`` keeps fp32 weights and runs the
    CLIP passes under ``torch.autocast`` (matmuls and the gradients through them in half precision, layer norms
    and softmaxes in fp32) — close to, not bit-identical with, fp16 weights.

    Raises:
        ValueError: an unknown setting.
    """
    kind = torch.device(device).type
    table = {"auto": torch.float16 if kind == "cuda" else None, "fp32": None, "fp16": torch.float16,
             "bf16": torch.bfloat16}
    if precision not in table:
        raise ValueError(f"unknown precision {precision!r}; valid: {', '.join(table)}")
    return table[precision]


def dense_masks(cfg: CaRConfig, image: np.ndarray, proposals: np.ndarray) -> np.ndarray:
    """§3.4's dense CRF with the config's settings (or, with ``crf: false``, its label rule alone):
    ``proposals`` float (N, H, W) in [0, 1] on uint8 (H, W, 3) ``image`` → bool (N, H, W)."""
    if cfg.crf:
        return postprocess.crf_masks(image, proposals, bg_factor=cfg.bg_factor, separate=cfg.mode == "refer",
                                     iters=cfg.crf_iters, gaussian=cfg.crf_gaussian, bilateral=cfg.crf_bilateral)
    return argmax_masks(proposals, cfg.bg_factor, separate=cfg.mode == "refer")


def argmax_masks(proposals: np.ndarray, bg_factor: float = 1.0, separate: bool = False) -> np.ndarray:
    """The CRF's label rule without the CRF: argmax over [(1 − max)^bg_factor; proposals] → bool (N, H, W)."""
    if separate:
        return proposals > (1 - proposals) ** bg_factor
    bg = (1 - proposals.max(0, keepdims=True)) ** bg_factor
    winner = np.concatenate([bg, proposals]).argmax(0)
    return np.stack([winner == i + 1 for i in range(len(proposals))])
