"""Benchmark: CaR's "set once, query many" pipeline against the official loop order and the bare floor.

Three ways to run the same fixed two-step recurrence on the same image, queries and (random) weights:

* :func:`car.official.official_order` — the order of work of the official code, re-implemented (every step
  re-runs the CAM backbone, one backward per query, the affinity per query, one classifier pass per template);
* :func:`car_pipeline` — :class:`car.model.CaR` itself (``set_image``, then ``predict`` with the same fixed
  schedule), timed by the clock hook ``CaR`` reports its stages to;
* :func:`floor` — the bare unavoidable work, timed as bare operations: one forward of the CAM backbone, per
  step one backward per query, every distinct text encoded once, one batched classifier forward per step.

Each path reports exclusive seconds per stage (:data:`car.timing.STAGES`) and counts its work
(:data:`car.work.COUNTERS`); the clock, memory probe and progress lines are :mod:`car.timing`, the tables' rows
:mod:`car.experiments.bench_rows`, the plots :func:`car.viz.plot_stages`, :func:`car.viz.plot_sweep` and
:func:`car.viz.plot_growth`. :func:`benchmark` (keyword arguments; ``python -m car bench`` only parses them) runs the
paths side by side, checks that the official order and car agree, and sweeps the number of queries and the image
size. With no flags it times the toy world (about a minute): several images, the paths interleaved in rounds,
medians (:func:`time_paths`), so the ratios hold between runs on a busy machine. ``--world real`` times the real
architectures (random-weight ViT-B/16 + ViT-L/14), each path in its own subprocess for its peak memory — tens of
minutes on a CPU; with ``--device cuda --precision fp16`` beside the paper's 950 ms and 3.6 GB. Progress goes to
stderr, one line per stage (:class:`Progress`).

The schedule is fixed (:func:`fixed_schedule`: step 1 all queries, step t the first ⌈N / 2^(t−1)⌉), so random
weights never decide when the recurrence stops; the official "all-zero proposals → previous step" fallback is
therefore not exercised by either path.
"""
from __future__ import annotations

import contextlib
import math
import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from car import cam as cam_mod
from car import classifier as cls_mod
from car.backbones import ClipBundle, encode_text, load_clip
from car.image import to_rgb_uint8
from car.config import CaRConfig, load_config
from car.model import CaR
from car.official import official_order
from car.proposers import get_proposer
from car.queries import background_texts, cam_texts
from car.results import write_json_atomic
from car.timing import STAGES, PathRun, PeakMemory, Progress, StageClock, device_sync, finish_path, run_isolated
from car.vocab import TEMPLATE_SETS
from car.work import (CAM_BACKBONE_FORWARDS, CAM_BACKWARDS, CAM_BLOCK_L_FORWARDS, CLASSIFIER_IMAGES,
                      TEXT_ENCODINGS)

#: Default sweeps (number of queries; (H, W) image sizes per world).
SWEEP_QUERIES = {"real": (5, 20, 80, 150), "toy": (5, 10, 20, 40)}
SWEEP_SIZES = {"real": ((188, 250), (375, 500), (750, 1000)), "toy": ((32, 32), (64, 64), (128, 128))}
#: Which parts of car each world's query sweep times ("all" = the whole pipeline, "proposal" = CAM + CAA).
SWEEP_PARTS = {"real": "proposal", "toy": "all"}
#: Paths each world's sweeps time (the official order's cost is linear in the queries and ~15x car's classifier
#: work: at 150 queries it takes minutes on the toy models and about an hour on the real ones, on a 2-core CPU).
SWEEP_PATHS = {"real": ("car",), "toy": ("car", "floor")}
REAL_IMAGE_SIZE = (375, 500)  # (H, W): a typical Pascal VOC image, 500 x 375


# --------------------------------------------------------------------------- the common inputs
def fixed_schedule(num_queries: int, steps: int = 2) -> list[np.ndarray]:
    """The queries each step works on: step t (from 0) takes the first ⌈N / 2^t⌉ queries, int64 arrays."""
    if num_queries < 1 or steps < 1:
        raise ValueError(f"need at least one query and one step; got {num_queries} queries, {steps} steps")
    return [np.arange(max(1, math.ceil(num_queries / 2**t))) for t in range(steps)]


def bench_queries(world: str, num_queries: int) -> list[str]:
    """``num_queries`` queries: the VOC classes (real) or the toy classes, then the same names numbered."""
    if world == "real":
        from car.data.classes import VOC_CLASSES as names
    elif world == "toy":
        from car.data import get_dataset

        names = get_dataset("toy_voc", None).class_names
    else:
        raise ValueError(f"unknown benchmark world {world!r}; valid: real, toy")
    return [names[i % len(names)] + ("" if i < len(names) else f" {i // len(names) + 1}")
            for i in range(num_queries)]


def bench_image(world: str, size: tuple[int, int] | None = None) -> np.ndarray:
    """The benchmark image, uint8 (H, W, 3): a toy scene, at ``size`` (default 375 x 500 real, 64 x 64 toy)."""
    import cv2

    from car.data import get_dataset

    image = get_dataset("toy_voc", None)[0].image
    size = size or (REAL_IMAGE_SIZE if world == "real" else image.shape[:2])
    if tuple(size) != image.shape[:2]:
        image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)
    return np.ascontiguousarray(image)


def bench_images(world: str, num_images: int = 1, size: tuple[int, int] | None = None) -> list[np.ndarray]:
    """``num_images`` distinct benchmark images, uint8 (H, W, 3): toy_voc scenes 0, 1, ... at ``size`` (default as
    :func:`bench_image`); the first is :func:`bench_image`'s."""
    import cv2

    from car.data import get_dataset

    if num_images < 1:
        raise ValueError(f"need at least one image, got num_images={num_images}")
    ds = get_dataset("toy_voc", None)
    if num_images > len(ds):
        raise ValueError(f"num_images={num_images}: the toy_voc split has {len(ds)} scenes")
    images = [ds[i].image for i in range(num_images)]
    size = size or (REAL_IMAGE_SIZE if world == "real" else images[0].shape[:2])
    return [np.ascontiguousarray(im if tuple(size) == im.shape[:2] else
                                 cv2.resize(im, (size[1], size[0]), interpolation=cv2.INTER_CUBIC)) for im in images]


def world_models(world: str, device: str = "cpu") -> tuple[ClipBundle, ClipBundle, CaRConfig]:
    """The world's proposal CLIP, classifier CLIP and config, reproducibly initialised.

    real: random-weight ``ViT-B-16`` (seed 0) and ``ViT-L-14`` (seed 1), the ``voc`` preset. toy: the shipped
    toy CLIPs the ``toy_voc`` preset names (``proposal_model`` / ``classifier_model``), and that preset. Both
    with ``working_size=None``: every path times the image at the size it is given (the sweeps vary it).
    """
    if world == "real":
        torch.manual_seed(0)
        proposal = load_clip("ViT-B-16", pretrained=None, device=device)
        torch.manual_seed(1)
        classifier = load_clip("ViT-L-14", pretrained=None, device=device)
        return proposal, classifier, load_config("voc", working_size=None)
    if world == "toy":
        cfg = load_config("toy_voc", working_size=None)
        proposal = load_clip(cfg.proposal_model, device=device)
        same = cfg.classifier_model == cfg.proposal_model
        return proposal, proposal if same else load_clip(cfg.classifier_model, device=device), cfg
    raise ValueError(f"unknown benchmark world {world!r}; valid: real, toy")


# --------------------------------------------------------------------------- car, fixed schedule
def car_pipeline(model: CaR, image: np.ndarray, queries: Sequence[str], schedule: Sequence[np.ndarray], *,
                 clock: StageClock | None = None, parts: str = "all") -> PathRun:
    """:class:`CaR` itself on ``image`` with a fixed schedule, timed per stage by its own clock hook.

    ``model.set_image(image)`` then ``model.predict(queries, schedule=schedule)``: the stages are the ranges
    ``CaR`` reports to ``model.clock`` (the model's text cache is used as is).

    Args:
        parts: "all", or "proposal": the mask proposal generator f alone (CAM, gradients, CAA; for sweeps),
            ``model.propose`` for each step's queries, with no classifier and no post-processing.
    """
    if parts not in ("all", "proposal"):
        raise ValueError(f"unknown parts {parts!r}; valid: all, proposal")
    clock = clock or StageClock()
    saved, model.clock = model.clock, clock
    start = time.perf_counter()
    try:
        ctx = model.set_image(image)
        if parts == "proposal":
            background = model._background(queries)
            steps = [{"indices": np.asarray(idx), "scores": np.zeros(len(idx), np.float32), "proposals":
                      model.propose(ctx.state, [queries[i] for i in idx], background, t)[1].numpy()}
                     for t, idx in enumerate(schedule)]
            return finish_path("car", clock, start, steps, None, None)
        result = model.predict(queries, schedule=schedule)
    finally:
        model.clock = saved
    steps = [{"indices": s.indices, "proposals": s.proposals, "scores": s.scores} for s in result.steps]
    return finish_path("car", clock, start, steps, result.masks, result.labels)


# --------------------------------------------------------------------------- the floor
def floor(proposal: ClipBundle, classifier: ClipBundle, config: CaRConfig, image: np.ndarray,
          queries: Sequence[str], schedule: Sequence[np.ndarray], *, clock: StageClock | None = None,
          text: bool = True) -> PathRun:
    """The bare unavoidable network work of the schedule, timed as bare operations.

    One forward of the CAM backbone (blocks 1..L−1 without gradients, block L with, attention weights kept for
    CAA); per step, one ``autograd.grad`` per query; every distinct text (CAM texts, background, classifier
    templates) encoded once, one batched call per model (skipped with ``text=False``: a warm vocabulary); per
    step one batched classifier forward of as many images as queries. No CAA, prompts or CRF.
    """
    cfg, clock = config, clock or StageClock()
    if not get_proposer(cfg.proposer).backward_per_query:
        raise ValueError(f"the floor models grad-CAM's work (one backward per query); config {cfg.name!r} proposes "
                         f"with {cfg.proposer!r}: time it with car.experiments.bench.car_pipeline or python -m car bench --peers")
    image = to_rgb_uint8(image)
    templates = TEMPLATE_SETS[cfg.templates]
    cam_strs = list(dict.fromkeys(s for t, idx in enumerate(schedule)
                                   for s in cam_texts(cfg, [queries[i] for i in idx], t)))
    cls_texts = [tpl.format(q) for tpl in templates for q in queries]
    x_cls = cls_mod.preprocess(classifier, image[None], cfg.classifier_crop, cfg.resample)  # (1, 3, S, S), untimed
    start = time.perf_counter()
    with clock("text"):
        if text:
            fg_bg = encode_text(proposal, cam_strs + background_texts(cfg, queries))
            encode_text(classifier, cls_texts)
            clock.count(TEXT_ENCODINGS, len(fg_bg) + len(cls_texts))
        else:  # a warm vocabulary: any normalised embeddings will do for timing
            fg_bg = F.normalize(torch.randn(len(cam_strs) + len(background_texts(cfg, queries)),
                                            proposal.visual.output_dim, device=proposal.device), dim=-1)
    with clock("cam_forward"):
        state = cam_mod.encode_image(proposal, image)
    clock.count(CAM_BACKBONE_FORWARDS)
    clock.count(CAM_BLOCK_L_FORWARDS)
    n_bg = len(fg_bg) - len(cam_strs)
    for t, idx in enumerate(schedule):
        rows = [cam_strs.index(s) for s in cam_texts(cfg, [queries[i] for i in idx], t)]
        with clock("gradients"):
            scores = cam_mod.target_probabilities(state, fg_bg[rows], fg_bg[len(cam_strs):] if n_bg else
                                                  fg_bg[:0], proposal.logit_scale)
            for s in scores:
                torch.autograd.grad(s, state.activation, retain_graph=True)
        clock.count(CAM_BACKWARDS, len(idx))
        with clock("classifier"):
            cls_mod.encode_images(classifier, x_cls.expand(len(idx), -1, -1, -1), cfg.classifier_skip_last_block)
        clock.count(CLASSIFIER_IMAGES, len(idx))
    return finish_path("floor", clock, start, [], None, None)


# --------------------------------------------------------------------------- agreement and gradients
def compare_runs(a: PathRun, b: PathRun) -> dict[str, Any]:
    """How far two runs of the same schedule are apart (official order vs car).

    Returns:
        max |Δ| of proposals and scores per step, the fraction of equal final mask pixels, whether the final
        masks and label maps are identical, and whether both keep the same queries.
    """
    if len(a.steps) != len(b.steps):
        raise ValueError(f"runs have {len(a.steps)} and {len(b.steps)} steps; compare runs of one schedule")
    out: dict[str, Any] = {"proposal_max_abs_diff": [], "score_max_abs_diff": []}
    for sa, sb in zip(a.steps, b.steps):
        if not np.array_equal(sa["indices"], sb["indices"]):
            raise ValueError("runs use different schedules")
        out["proposal_max_abs_diff"].append(float(np.abs(sa["proposals"] - sb["proposals"]).max()))
        out["score_max_abs_diff"].append(float(np.abs(sa["scores"] - sb["scores"]).max()))
    if a.masks is not None and b.masks is not None:
        out["mask_pixel_agreement"] = float((a.masks == b.masks).mean())
        out["masks_equal"] = bool(np.array_equal(a.masks, b.masks))
        out["labels_equal"] = bool(np.array_equal(a.labels, b.labels))
    out["kept_equal"] = bool(np.array_equal(a.steps[-1]["indices"], b.steps[-1]["indices"]))
    return out


def compare_gradients(bundle: ClipBundle, config: CaRConfig, image: np.ndarray, queries: Sequence[str],
                      repeats: int = 1) -> dict[str, Any]:
    """``car.cam.gradcam_from_scores`` with all queries in one batched VJP (``is_grads_batched``) vs a loop of
    ``autograd.grad`` with ``retain_graph`` (``chunk=1``), on the same cached graph: best-of-``repeats`` seconds,
    the max difference of the CAMs and the chunk car picks by default (``car.cam.vjp_chunk``)."""
    state = cam_mod.encode_image(bundle, image)
    text = encode_text(bundle, list(queries))
    bg = encode_text(bundle, background_texts(config, queries))
    out: dict[str, Any] = {"num_queries": len(queries), "default_chunk": cam_mod.vjp_chunk(state)}
    cams = {}
    for name, chunk in (("loop", 1), ("batched", max(2, len(queries)))):
        best = math.inf
        for _ in range(max(1, repeats)):
            scores = cam_mod.target_probabilities(state, text, bg, bundle.logit_scale)
            t0 = time.perf_counter()
            cams[name] = cam_mod.gradcam_from_scores(state, scores, chunk=chunk)
            best = min(best, time.perf_counter() - t0)
        out[f"{name}_s"] = round(best, 4)
    out["max_abs_diff"] = float((cams["loop"] - cams["batched"]).abs().max())
    return out


# --------------------------------------------------------------------------- one world, side by side
class WorldRunner:
    """One world's models and inputs, loaded once, and timed runs of any path on them.

    Args:
        world: "real" or "toy" (:func:`world_models`).
        num_queries, steps: the queries of step 1 and the length of the fixed schedule.
        num_images: distinct benchmark images (:func:`bench_images`); every timing is seconds per image, the
            mean over them.
        device, fp16: where to run, and CUDA autocast to float16.
        image_size: (H, W) of the images (default :func:`bench_image`'s).
    """

    def __init__(self, world: str, num_queries: int, steps: int = 2, num_images: int = 1, *, device: str = "cpu",
                 fp16: bool = False, image_size: tuple[int, int] | None = None):
        torch.set_grad_enabled(True)
        self.world, self.dev, self.fp16 = world, torch.device(device), fp16
        self.proposal, self.classifier, self.cfg = world_models(world, device)
        self.images = bench_images(world, num_images, image_size)
        self.queries = bench_queries(world, num_queries)
        self.schedule = fixed_schedule(num_queries, steps)
        with self.autocast():  # warm-up: allocator and thread pools, one small forward of each model
            encode_text(self.proposal, ["warm up"])
            cls_mod.encode_images(self.classifier, torch.zeros(1, 3, 32, 32, device=self.dev))
            # the official code encodes the background words at construction: untimed
            self.background = encode_text(self.proposal, background_texts(self.cfg, self.queries))
        self._warm_model: CaR | None = None

    def autocast(self):
        return torch.autocast("cuda", dtype=torch.float16) if self.fp16 else contextlib.nullcontext()

    def warm_model(self) -> CaR:
        """The CaR of the first cold car run, its text cache full (one untimed run fills it if none ran yet)."""
        if self._warm_model is None:
            self.run("car", self.images[0])
        return self._warm_model

    def run(self, path: str, image: np.ndarray, warm: bool = False) -> PathRun:
        """One timed run of ``path`` on ``image``; ``warm``: the vocabulary already encoded (car, floor).
        The run's ``cpu_s`` is the process CPU time it used (robust to other processes on a shared CPU)."""
        cpu0 = time.process_time()
        run = self._run(path, image, warm)
        run.cpu_s = time.process_time() - cpu0
        return run

    def _run(self, path: str, image: np.ndarray, warm: bool) -> PathRun:
        clock = StageClock(device_sync(self.dev))
        with self.autocast():
            if path == "official":
                return official_order(self.proposal, self.classifier, self.cfg, image, self.queries, self.schedule,
                                      clock=clock, background=self.background)
            if path == "car":  # cold: a fresh model, empty text cache (a dataset's first image)
                model = self.warm_model() if warm else CaR(self.proposal, self.classifier, self.cfg)
                run = car_pipeline(model, image, self.queries, self.schedule, clock=clock)
                self._warm_model = self._warm_model or model
                return run
            if path == "floor":
                return floor(self.proposal, self.classifier, self.cfg, image, self.queries, self.schedule,
                             clock=clock, text=not warm)
        raise ValueError(f"unknown path {path!r}; valid: official, car, floor")



def _variants(paths: Sequence[str]) -> list[tuple[str, bool]]:
    """(path, warm) pairs timed: every path cold, car and the floor warm too."""
    return [(p, False) for p in paths] + [(p, True) for p in paths if p in ("car", "floor")]


def time_paths(runner: WorldRunner, paths: Sequence[str], repeats: int, progress: Progress | None = None,
               memory: PeakMemory | None = None) -> tuple[dict[str, dict], dict[str, PathRun]]:
    """Time ``paths`` (cold, and warm for car / floor) in ``repeats`` rounds over the runner's images.

    For each image of each round every variant runs once, back to back, in an order rotated by one each time
    (cold variants first at the start), so a change of machine load hits all variants alike and every image
    gives paired measurements. A variant's reported run is its median round (seconds per image, the mean over
    the images); ``memory`` (a fresh :class:`PeakMemory`) measures the very first run.

    Returns:
        ({path: summary with "warm" nested}, {path: its first cold run}); a summary is
        :meth:`PathRun.summary` of the median round plus "repeats_s" (seconds per image of each round),
        "runs_s" / "runs_cpu_s" (wall and CPU seconds of every run, round-major) and "images".
    """
    progress = progress or Progress(False)
    variants = _variants(paths)
    runs: dict[tuple[str, bool], list[PathRun]] = {v: [] for v in variants}
    firsts: dict[str, PathRun] = {}
    k = len(runner.images)
    now = [""]
    for r in range(max(1, repeats)):
        with progress.running(lambda r=r: f"{runner.world} round {r + 1}/{repeats}, {now[0]}"):
            for i, image in enumerate(runner.images):
                shift = (r * k + i) % len(variants)
                for path, warm in variants[shift:] + variants[:shift]:
                    now[0] = f"{path}{' (warm)' if warm else ''} on image {i + 1}/{k}"
                    measure = memory if (memory is not None and not firsts) else None
                    with measure or contextlib.nullcontext():
                        run = runner.run(path, image, warm)
                    runs[(path, warm)].append(run)
                    if not warm:
                        firsts.setdefault(path, run)
        progress(f"{runner.world}: round {r + 1}/{repeats}, s per image over {k} image(s): " + ", ".join(
            f"{p}{' (warm)' if w else ''} {np.mean([x.total_s for x in runs[(p, w)][-k:]]):.3f}" for p, w in variants))
    out: dict[str, dict] = {}
    for (path, warm), rs in runs.items():
        by_round = [rs[j * k:(j + 1) * k] for j in range(len(rs) // k)]
        totals = [float(np.mean([x.total_s for x in rr])) for rr in by_round]
        median = sorted(range(len(totals)), key=lambda j: totals[j])[(len(totals) - 1) // 2]  # lower median
        rr = by_round[median]
        stages = {st: float(np.mean([x.stages[st] for x in rr])) for st in STAGES}
        summary = PathRun(path, totals[median], stages, rr[0].counts,
                          cpu_s=float(np.mean([x.cpu_s for x in rr]))).summary()
        summary.update(repeats_s=[round(t, 4) for t in totals], images=k,
                       runs_s=[round(x.total_s, 4) for x in rs], runs_cpu_s=[round(x.cpu_s, 4) for x in rs])
        if warm:
            out[path]["warm"] = summary
        else:
            out[path] = summary
    return out, firsts


def _run_isolated_path(args: tuple) -> dict[str, Any]:
    """One path in this (fresh) process: its rounds, peak memory of its first run, extras, sweeps; JSON-ready."""
    (world, path, num_queries, steps, repeats, num_images, device, fp16, image_size, sweep, outdir, show,
     started, threads) = args
    progress = Progress(show, start=started)
    if threads:
        torch.set_num_threads(threads)
    runner = WorldRunner(world, num_queries, steps, num_images, device=device, fp16=fp16, image_size=image_size)
    mem = PeakMemory(runner.dev)
    timings, firsts = time_paths(runner, [path], repeats, progress, memory=mem)
    result = timings[path]
    result["peak_mb"], result["maxrss_mb"] = mem.peak_mb, mem.maxrss_mb
    progress(f"{world}/{path}: peak memory of its first round {mem.peak_mb:.0f} MiB above the loaded models")
    first = firsts[path]
    _extras(runner, path, result, sweep, progress)
    if outdir is not None and first.steps:
        arrays = {f"step{t}_{k}": v for t, s in enumerate(first.steps) for k, v in s.items()}
        np.savez(Path(outdir) / f"{path}.npz", masks=first.masks, labels=first.labels, **arrays)
    return result


def _extras(runner: WorldRunner, path: str, result: dict[str, Any], sweep: dict | None,
            progress: Progress) -> None:
    """car: batched vs looped gradients; any path of the sweep: :func:`run_sweeps`."""
    if path == "car":
        with runner.autocast():
            result["gradients"] = compare_gradients(runner.proposal, runner.cfg, runner.images[0],
                                                    [runner.queries[i] for i in runner.schedule[0]])
        progress(f"{runner.world}/car: gradients, batched {result['gradients']['batched_s']:.3f} s vs loop "
                 f"{result['gradients']['loop_s']:.3f} s")
    if sweep:
        with runner.autocast():
            result["sweep"] = run_sweeps(runner.world, path, runner.proposal, runner.classifier, runner.cfg,
                                         progress=progress, **sweep)


def _load_run(path: str, npz: Path) -> PathRun:
    with np.load(npz, allow_pickle=False) as z:
        n = len({k.split("_")[0] for k in z.files if k.startswith("step")})
        steps = [{k: z[f"step{t}_{k}"] for k in ("indices", "proposals", "scores")} for t in range(n)]
        return PathRun(path, 0.0, {}, {}, steps, z["masks"], z["labels"])


def run_world(world: str, num_queries: int = 20, steps: int = 2, repeats: int = 1, *, isolate: bool = True,
              device: str = "cpu", fp16: bool = False, sweep: dict | None = None,
              paths: Sequence[str] = ("official", "car", "floor"), num_images: int = 1,
              image_size: tuple[int, int] | None = None, progress: Progress | None = None,
              threads: int | None = None) -> dict[str, Any]:
    """Time the official order, car and the floor side by side on one world; JSON-ready results.

    Args:
        world: "real" (random-weight ViT-B/16 + ViT-L/14, VOC queries, a 500 x 375 image) or "toy".
        num_queries: N, the queries of step 1 (VOC / toy class names, then numbered repeats).
        steps: length of the fixed schedule (:func:`fixed_schedule`).
        repeats: timed rounds per path; the median round is reported (and per-round ratios' median).
        isolate: run every path in its own subprocess (peak memory per path; rounds are not interleaved across
            paths); False runs in this process, the paths interleaved round by round (:func:`time_paths`; the
            steadiest ratios), and reports no memory.
        device, fp16: "cuda" and half precision (autocast) when a GPU is there.
        sweep: keyword arguments of :func:`run_sweeps` (``queries``, ``sizes``, ``parts``, ``paths``), or None.
        paths: which paths to time.
        num_images: distinct images per round (:func:`bench_images`); timings are seconds per image.
        image_size: (H, W) of the images (default 375 x 500 real, 64 x 64 toy).
        progress: where progress lines go (default: none).
        threads: torch CPU threads for the timings (default: as set; the tiny toy models gain nothing from
            more than one, and a shared CPU punishes oversubscription).

    Returns:
        {"setup", "paths": {name: timings}, "ratios", "ratio_rounds", "agreement", "targets"}.
    """
    progress = progress or Progress(False)
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r}: CUDA is not available here (torch.cuda.is_available() is False); "
                           f"use device='cpu'")
    if fp16 and not device.startswith("cuda"):
        raise ValueError("fp16 timings use CUDA autocast: pass device='cuda' (on CPU, time fp32)")
    threads_before = torch.get_num_threads()
    if threads:
        torch.set_num_threads(threads)
    try:
        return _run_world(world, num_queries, steps, repeats, isolate, device, fp16, sweep, paths, num_images,
                          image_size, progress)
    finally:
        torch.set_num_threads(threads_before)


def _run_world(world: str, num_queries: int, steps: int, repeats: int, isolate: bool, device: str, fp16: bool,
               sweep: dict | None, paths: Sequence[str], num_images: int, image_size: tuple[int, int] | None,
               progress: Progress) -> dict[str, Any]:
    queries = bench_queries(world, num_queries)
    cfg = load_config("voc" if world == "real" else "toy_voc")
    images = bench_images(world, num_images, image_size)
    schedule = fixed_schedule(num_queries, steps)
    out: dict[str, Any] = {"setup": {
        "world": world, "device": device, "precision": "fp16 (autocast)" if fp16 else "fp32",
        "image_hw": list(images[0].shape[:2]), "num_images": len(images), "num_queries": num_queries,
        "queries": queries, "num_background": len(background_texts(cfg, queries)),
        "num_templates": len(TEMPLATE_SETS[cfg.templates]), "schedule": [len(s) for s in schedule],
        "repeats": repeats, "statistic": "median round", "isolated": isolate, "interleaved": not isolate,
        "torch_threads": torch.get_num_threads()},
        "paths": {}}
    progress(f"{world} world: paths {', '.join(paths)}; {num_queries} queries, schedule {out['setup']['schedule']}, "
             f"{len(images)} image(s) of {images[0].shape[1]}x{images[0].shape[0]}, {repeats} round(s), {device} "
             f"{out['setup']['precision']}, {torch.get_num_threads()} torch thread(s), "
             f"{'one subprocess per path' if isolate else 'interleaved in-process'}")
    with tempfile.TemporaryDirectory() as tmp:
        if isolate:
            for path in paths:
                sweep_here = _sweep_for(sweep, path)
                progress(f"{world}/{path}: starting its subprocess")
                args = (world, path, num_queries, steps, repeats, num_images, device, fp16, image_size, sweep_here,
                        tmp, progress.enabled, progress.start, torch.get_num_threads())
                out["paths"][path] = run_isolated(_run_isolated_path, (args,), f"the {world}/{path} benchmark")
            runs = {p: _load_run(p, Path(tmp) / f"{p}.npz") for p in ("official", "car") if p in paths}
        else:
            progress(f"{world}: loading the models")
            runner = WorldRunner(world, num_queries, steps, num_images, device=device, fp16=fp16,
                                 image_size=image_size)
            out["paths"], runs = time_paths(runner, paths, repeats, progress)
            for path in paths:
                out["paths"][path]["peak_mb"] = out["paths"][path]["maxrss_mb"] = None
                _extras(runner, path, out["paths"][path], _sweep_for(sweep, path), progress)
        if {"official", "car"} <= set(paths):
            out["agreement"] = compare_runs(runs["official"], runs["car"])
    out["setup"]["models"] = ([cfg.proposal_model, cfg.classifier_model] if world == "toy" else
                              ["ViT-B-16 (random init)", "ViT-L-14 (random init)"])
    out["setup"]["proposer"] = cfg.proposer
    out["ratios"], out["targets"], out["ratio_rounds"] = _ratios(out["paths"], paired=not isolate)
    progress(f"{world}: ratios " + ", ".join(f"{k} = {v}" for k, v in out["ratios"].items()))
    return out


def _sweep_for(sweep: dict | None, path: str) -> dict | None:
    if sweep and path in sweep.get("paths", ("car",)):
        return {k: v for k, v in sweep.items() if k != "paths"}
    return None


#: Ratios of seconds per image: name -> (numerator (path, warm), denominator (path, warm)).
RATIOS = {"car_over_floor": (("car", False), ("floor", False)),
          "car_warm_over_floor_warm": (("car", True), ("floor", True)),
          "official_over_car": (("official", False), ("car", False)),
          "official_over_car_warm": (("official", False), ("car", True))}


def _ratios(p: dict[str, Any], paired: bool = False) -> tuple[dict[str, float], dict[str, bool], dict[str, list]]:
    """Time ratios (and the memory ratio) with the targets they meet.

    ``paired`` (interleaved runs): the median of the ratios of back-to-back runs on the same image, which
    cancels load that changes over time; else the ratio of the median rounds. ``<name>_cpu``: the same from
    the runs' CPU seconds (what the machine's other processes cannot inflate). Returns (ratios, targets,
    per-pair wall-time ratios)."""
    def entry(name, warm):
        d = p.get(name, {})
        return d.get("warm", {}) if warm else d

    ratios: dict[str, float] = {}
    per_round: dict[str, list] = {}
    for key, (a, b) in RATIOS.items():
        ea, eb = entry(*a), entry(*b)
        if not (ea.get("total_s") and eb.get("total_s")):
            continue
        ra, rb = ea.get("runs_s") or [], eb.get("runs_s") or []
        if paired and len(ra) == len(rb) and ra and all(rb):
            per_round[key] = [round(x / y, 3) for x, y in zip(ra, rb)]
            ratios[key] = round(float(np.median([x / y for x, y in zip(ra, rb)])), 3)
        else:
            ratios[key] = round(ea["total_s"] / eb["total_s"], 3)
        ca, cb = ea.get("runs_cpu_s") or [], eb.get("runs_cpu_s") or []
        if paired and len(ca) == len(cb) and ca and all(cb):
            ratios[key + "_cpu"] = round(float(np.median([x / y for x, y in zip(ca, cb)])), 3)
        elif ea.get("cpu_s") and eb.get("cpu_s"):
            ratios[key + "_cpu"] = round(ea["cpu_s"] / eb["cpu_s"], 3)
    if p.get("official", {}).get("peak_mb") and p.get("car", {}).get("peak_mb") is not None:
        ratios["memory_car_over_official"] = round(p["car"]["peak_mb"] / p["official"]["peak_mb"], 3)
    targets = {}
    if "car_over_floor" in ratios:
        targets["car_within_1.2x_floor"] = ratios["car_over_floor"] <= 1.2
    if "official_over_car" in ratios:
        targets["car_1.5x_faster_than_official"] = ratios["official_over_car"] >= 1.5
    if "memory_car_over_official" in ratios:
        targets["car_memory_not_above_official"] = ratios["memory_car_over_official"] <= 1.0
    return ratios, targets, per_round


# --------------------------------------------------------------------------- sweeps
def run_sweeps(world: str, path: str, proposal: ClipBundle, classifier: ClipBundle, cfg: CaRConfig, *,
               queries: Sequence[int] | None = None, sizes: Sequence[tuple[int, int]] = (),
               size_queries: int = 5, steps: int = 2, parts: str = "all",
               progress: Progress | None = None) -> dict[str, list[dict]]:
    """Seconds per image of ``path`` against the number of queries and the image size (vocabulary warm).

    For car the text cache is filled before timing (a dataset encodes its vocabulary once; the encoding time
    is reported as ``vocabulary_s``); the official order re-encodes as it always does; the floor skips text.
    ``parts="proposal"`` times only car's mask proposal generator (official and floor always run whole).
    ``queries`` defaults to :data:`SWEEP_QUERIES` of the world; ``progress`` gets one line per entry.
    """
    progress = progress or Progress(False)
    queries = SWEEP_QUERIES[world] if queries is None else queries
    out: dict[str, list[dict]] = {"queries": [], "sizes": []}
    for kind, values in (("queries", queries), ("sizes", sizes)):
        for v in values:
            n, size = (v, None) if kind == "queries" else (size_queries, tuple(v))
            image, qs = bench_image(world, size), bench_queries(world, n)
            schedule = fixed_schedule(n, steps)
            entry: dict[str, Any] = {"num_queries": n, "image_hw": list(image.shape[:2])}
            clock = StageClock(device_sync(proposal.device))
            if path == "car":
                model = CaR(proposal, classifier, cfg)
                t0 = time.perf_counter()
                _warm_vocabulary(model, qs, schedule, parts)
                entry["vocabulary_s"] = round(time.perf_counter() - t0, 4)
                run = car_pipeline(model, image, qs, schedule, clock=clock, parts=parts)
                entry["parts"] = parts
            elif path == "official":
                run = official_order(proposal, classifier, cfg, image, qs, schedule, clock=clock)
            else:
                run = floor(proposal, classifier, cfg, image, qs, schedule, clock=clock, text=False)
            entry.update(run.summary())
            out[kind].append(entry)
            progress(f"{world}/{path}: sweep {kind}, {n} queries at {image.shape[1]}x{image.shape[0]}: "
                     f"{run.total_s:.3f} s")
    return out


def _warm_vocabulary(model: CaR, queries: Sequence[str], schedule: Sequence[np.ndarray], parts: str) -> None:
    cfg = model.config
    texts = [s for t, idx in enumerate(schedule) for s in cam_texts(cfg, [queries[i] for i in idx], t)]
    model.text_embeddings(model.proposal, texts + background_texts(cfg, queries))
    if parts == "all":
        model.text_embeddings(model.classifier, [t.format(q) for t in TEMPLATE_SETS[cfg.templates] for q in queries])


# --------------------------------------------------------------------------- report and CLI
def format_report(results: dict[str, Any]) -> str:
    """A plain-text table of one benchmark JSON (what ``python -m car bench`` prints)."""
    meta = results.get("meta", {})
    lines = []
    if meta:
        lines.append(f"machine: {meta.get('processor')}, {meta.get('cpu_count')} CPUs, torch {meta.get('torch')} "
                     f"({meta.get('torch_threads')} threads), {meta.get('device')}"
                     + (f" {meta['gpu']}" if meta.get("gpu") else ""))
    for world, res in results.get("worlds", {}).items():
        s = res["setup"]
        lines.append(f"== {world} world: {', '.join(s['models'])}; {s.get('num_images', 1)} image(s) of "
                     f"{s['image_hw'][1]}x{s['image_hw'][0]}, {s['num_queries']} queries (+{s['num_background']} "
                     f"background), schedule {s['schedule']}, {s['device']} {s['precision']}, "
                     f"{s.get('torch_threads', '?')} torch thread(s); seconds per image, "
                     f"median of {s['repeats']} round(s)" + (", paths interleaved" if s.get("interleaved") else ""))
        rows = [(name, p) for name, p in res["paths"].items()]
        rows += [(f"{name} (warm)", p["warm"]) for name, p in res["paths"].items() if "warm" in p]
        lines.append(f"{'path':<16}{'total s':>9}" + "".join(f"{st:>12}" for st in STAGES) + f"{'peak MiB':>10}")
        for name, p in rows:
            mem = p.get("peak_mb")
            lines.append(f"{name:<16}{p['total_s']:>9.3f}" + "".join(f"{p['stages'][st]:>12.3f}" for st in STAGES)
                         + (f"{mem:>10.0f}" if mem is not None else f"{'-':>10}"))
        lines.append("ratios: " + ", ".join(f"{k} = {v}" for k, v in res["ratios"].items()))
        for k, v in res.get("ratio_rounds", {}).items():
            lines.append(f"  {k}: median of {len(v)} back-to-back pairs, range {min(v)}..{max(v)}")
        lines.append("targets: " + ", ".join(f"{k}: {'met' if v else 'MISSED'}" for k, v in res["targets"].items()))
        if "agreement" in res:
            a = res["agreement"]
            lines.append(f"official vs car: proposals max |diff| {max(a['proposal_max_abs_diff']):.2e}, scores "
                         f"{max(a['score_max_abs_diff']):.2e}, mask pixels equal {a.get('mask_pixel_agreement', 0):.6f}"
                         f", kept equal {a['kept_equal']}")
        g = res["paths"].get("car", {}).get("gradients")
        if g:
            lines.append(f"gradients of {g['num_queries']} queries: batched VJP {g['batched_s']:.3f} s, loop "
                         f"{g['loop_s']:.3f} s (max |diff| {g['max_abs_diff']:.1e})")
        for name, p in res["paths"].items():
            for kind, entries in p.get("sweep", {}).items():
                if entries:
                    lines.append(f"sweep {name} by {kind}: " + ", ".join(
                        f"{e['num_queries'] if kind == 'queries' else 'x'.join(map(str, e['image_hw'][::-1]))}"
                        f" → {e['total_s']:.2f} s" for e in entries))
        paper = results.get("paper") or {}
        car = res["paths"].get("car", {})
        if s["device"].startswith("cuda") and paper and car:
            h, w = paper["image_size"]
            lines.append(f"paper: {paper['ms_per_image']} ms per image, {paper['gpu_memory_gb']} GB on a "
                         f"{paper['gpu']} ({w}x{h}, half precision); here: {1000 * car['total_s']:.0f} ms cold, "
                         f"{1000 * car.get('warm', car)['total_s']:.0f} ms warm, peak "
                         + (f"{car['peak_mb'] / 1024:.2f} GB" if car.get("peak_mb") is not None else "-"))
    return "\n".join(lines)


def _meta(device: str) -> dict[str, Any]:
    import open_clip

    return {"date_utc": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), "python": platform.python_version(),
            "torch": torch.__version__, "open_clip": open_clip.__version__, "platform": platform.platform(),
            "processor": platform.processor() or platform.machine(), "cpu_count": os.cpu_count(),
            "torch_threads": torch.get_num_threads(), "device": device,
            "gpu": torch.cuda.get_device_name(0) if device.startswith("cuda") else None}


#: What ``python -m car bench`` runs per world when a flag is not given. toy: enough work for ratios that hold
#: to a few per cent between runs (3 images, 5 interleaved rounds, medians), in about a minute on a shared 2-core
#: CPU, one torch thread (tiny models); real: the paper's vocabulary size, one round, one subprocess per path
#: (peak memory), torch's own thread count (None) — tens of minutes.
WORLD_DEFAULTS: dict[str, dict[str, Any]] = {
    "toy": {"queries": 8, "repeats": 5, "images": 3, "isolate": False, "threads": 1},
    "real": {"queries": 20, "repeats": 1, "images": 1, "isolate": True, "threads": None},
}


def _world_options(world: str, **given: Any) -> dict[str, Any]:
    """The caller's explicit values (not None) over :data:`WORLD_DEFAULTS`."""
    return {k: (v if given.get(k) is None else given[k]) for k, v in WORLD_DEFAULTS[world].items()}


def _precisions(precision: str | None, device: str) -> list[bool]:
    """fp16 flags to run: fp32 / fp16 / both (default: both on CUDA, fp32 on CPU)."""
    precision = precision or ("both" if device.startswith("cuda") else "fp32")
    if precision not in ("fp32", "fp16", "both"):
        raise ValueError(f"unknown precision {precision!r}; valid: fp32, fp16, both")
    if precision != "fp32" and not device.startswith("cuda"):
        raise ValueError(f"--precision {precision} times CUDA autocast (float16); it needs --device cuda")
    return {"fp32": [False], "fp16": [True], "both": [False, True]}[precision]


def benchmark(world: str = "toy", *, steps: int = 2, out: str | Path | None = None, queries: int | None = None,
              repeats: int | None = None, images: int | None = None, isolate: bool | None = None,
              threads: int | None = None, sweep: bool = True, sweep_queries: Sequence[int] | None = None,
              device: str | None = None, precision: str | None = None, progress: bool = True) -> dict[str, Any]:
    """Time each world (``python -m car bench``) and return the results dict; write it to ``out`` when given.

    Args:
        world: toy | real | both; "real" is the real architectures (ViT-B/16 + ViT-L/14) with random weights,
            whatever weights are at hand (timing does not depend on their values): car.world's "random" kind.
        steps: recurrence steps timed per path.
        out: JSON path written atomically (None: nothing written).
        queries, repeats, images, isolate, threads: per-world settings; None = :data:`WORLD_DEFAULTS`.
        sweep: also run the sweeps (queries, sizes, parts, paths) of the fp32 run.
        sweep_queries: query counts of the query sweep (None: :data:`SWEEP_QUERIES`).
        device: cpu | cuda (None: cuda when available).
        precision: fp32 | fp16 | both (None: both on CUDA, fp32 on the CPU).
        progress: progress lines on stderr.

    Returns:
        ``{"meta", "paper", "worlds": {world or world_fp16: run_world(...)}}``.

    Raises:
        RuntimeError: ``device`` is cuda and CUDA is not available.
    """
    from car.paper import EFFICIENCY

    say = Progress(progress)
    worlds = ("toy", "real") if world == "both" else (world,)
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"--device {device}: CUDA is not available on this machine (torch.cuda.is_available() "
                           f"is False); run with --device cpu, or on a GPU machine")
    precisions = _precisions(precision, device)
    results: dict[str, Any] = {"meta": _meta(device), "paper": dict(EFFICIENCY), "worlds": {}}
    say(f"benchmark on {results['meta']['processor']} ({results['meta']['cpu_count']} CPUs, "
        f"{results['meta']['torch_threads']} torch threads), {device}; worlds: {', '.join(worlds)}"
        + ("" if "real" in worlds else " (the real-architecture run: --world real)"))
    for name in worlds:
        opts = _world_options(name, queries=queries, repeats=repeats, images=images, isolate=isolate,
                              threads=threads)
        plan = None
        if sweep:
            plan = {"queries": tuple(sweep_queries or SWEEP_QUERIES[name]), "sizes": SWEEP_SIZES[name],
                    "parts": SWEEP_PARTS[name], "paths": SWEEP_PATHS[name], "steps": steps}
        for fp16 in precisions:
            key = name + ("_fp16" if fp16 else "")
            size = tuple(EFFICIENCY["image_size"]) if fp16 and name == "real" else None  # the paper's 500 x 500
            results["worlds"][key] = run_world(name, opts["queries"], steps, opts["repeats"],
                                               isolate=opts["isolate"], device=device, fp16=fp16,
                                               sweep=None if fp16 else plan, num_images=opts["images"],
                                               image_size=size, progress=say, threads=opts["threads"])
    if out is not None:
        write_json_atomic(Path(out), results)
    say(f"done in {time.monotonic() - say.start:.0f} s")
    return results
