"""Resumable evaluation runner: any predictor on any ``car.data`` dataset -> a results JSON.

    >>> from car.adapters import make_predictor
    >>> from car.data import get_dataset
    >>> from car.evaluate import evaluate
    >>> ds = get_dataset("voc", "/data/VOCdevkit")                            # doctest: +SKIP
    >>> results = evaluate(ds, make_predictor(model, ds), out="runs/voc.json")  # doctest: +SKIP

Resuming: while it runs, the runner keeps ``<out>.partial.json`` (written atomically, at most every
``save_every_s`` seconds and whenever the loop stops, including on an exception or Ctrl-C) with the
metric state and the names of the finished samples. Running again with the same ``out`` skips
those samples and ends with the same numbers as an uninterrupted run (the metric state is integer
counts or per-sample values, restored exactly). At the end ``out`` is written atomically and the
partial file removed; a second run with the same ``out`` then starts afresh.

Samples that fail to load (``car.data.SampleError``: corrupt image, missing or mismatched label
file; or an ``OSError``) are listed under ``skipped`` with the error message and the run goes on;
they are retried on resume. Errors raised by the predictor stop the run (after saving the state).

Results JSON keys: ``dataset``, ``split``, ``kind``, ``settings`` (metric options), ``metrics``
(semantic: mIoU, pixel / mean accuracy, and with ``ignore_background`` both background rules;
refer: mIoU, cIoU, precision@0.5..0.9; video: J, F, JF), ``per_class`` (label, name, IoU),
``num_planned``, ``num_evaluated``, ``skipped``, ``timing`` / ``load_timing`` (per-sample seconds:
count, total, mean, median, p90, min, max), ``per_sample_s``, ``state`` (the accumulator, for
merging; per-sample entries in dataset order), ``world_size``, ``distributed`` (backend, and per
rank: samples planned / evaluated / evaluated by this invocation, loop wall seconds, samples per
second), ``config``, ``versions`` (python, torch, open_clip, numpy, car), ``git_commit``, ``date``.

The predictors (a model's result in the ground truth's label space) are :mod:`car.adapters`; the process group and
the per-rank partial files, :mod:`car.distributed`.

Scaling out with ``torch.distributed`` (``torchrun --nproc_per_node N -m car evaluate ...``, and
``--nnodes`` / ``--rdzv-endpoint`` for several machines): :func:`car.distributed.init_distributed` joins the process
group torchrun describes in the environment (``env://``; gloo on CPU, nccl on GPU, one GPU per local
rank). :func:`evaluate` then gives rank r the samples r, r + N, r + 2N, ... (of the first ``limit``),
keeps one partial state per rank (``<out>.rank<r>of<N>.partial.json``, so a killed rank — or the
whole job — resumes with the same command), and at the end all-reduces the confusion matrices
(``all_reduce``) and gathers the per-sample referring / video scores, timings and skipped samples
(``gather_object``) to rank 0, which writes the one results JSON (``world_size`` and per-rank
figures under ``distributed``). Per-sample values are put back in dataset order, so N ranks give
exactly the numbers of one process.

Manual sharding (``shard=(k, n)``, no process group) evaluates samples k, k + n, k + 2n, ...; each
shard writes its own results, which :func:`merge_results` combines (confusion matrices are summed,
per-sample referring and video scores concatenated).
"""
from __future__ import annotations

import dataclasses
import datetime
import importlib.metadata
import json
import math
import platform
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from tqdm.auto import tqdm

from car.data.base import SampleError
from car.results import write_json_atomic
from car.adapters import Predictor, make_predictor
from car import distributed
from car.distributed import DistContext
from car.metrics import (
    ConfusionMatrix,
    DavisSetAccumulator,
    RefAccumulator,
    VideoAccumulator,
    accumulator_from_dict,
    to_numpy,
)

STATE_VERSION = 1
#: The per-sample lists of each accumulator state (``to_dict``), aligned with the finished samples.
PER_SAMPLE_KEYS = {"refer": ("intersections", "unions", "gt_empty", "pred_empty"), "video": ("j", "f")}


# ---------------------------------------------------------------------------------------- runner
def evaluate(
    dataset: Any,
    predictor: Predictor,
    *,
    out: str | Path,
    limit: int | None = None,
    config: Any = None,
    progress: bool = True,
    ignore_background: bool | None = None,
    background_mode: str = "official",
    empty_as_one: bool = False,
    skip_first_last: bool = False,
    save_every_s: float = 1.0,
    shard: tuple[int, int] | None = None,
    method: str | None = None,
) -> dict[str, Any]:
    """Run ``predictor`` over ``dataset``, accumulate the metric and write ``out`` (JSON).

    Inside an initialised ``torch.distributed`` process group of N > 1 ranks (see
    :func:`init_distributed`), every rank must call this with the same arguments: each evaluates
    its shard, the accumulators are combined with collectives, rank 0 writes ``out`` and every
    rank returns the same results.

    Args:
        dataset: a ``car.data`` dataset (``kind`` semantic / refer / video).
        predictor: ``predictor(sample)`` -> int64 (H, W) label map in GT label space (semantic),
            bool (H, W) mask (refer), or a list of bool (H, W) masks (video).
        out: results path; ``<out>.partial.json`` (``<out>.rank<r>of<N>.partial.json`` per rank)
            holds the resumable state meanwhile.
        limit: evaluate only the first ``limit`` samples of the dataset (then sharded).
        config: the run's config (a dataclass such as ``CaRConfig``, or a mapping), stored in the
            results; its ``ignore_background`` field is used when the argument is None.
        progress: show a tqdm progress bar (rank 0's shard when distributed).
        ignore_background: semantic only; None -> ``config.ignore_background`` if present, else
            ``dataset.ignore_background`` (the paper's setting for that dataset name).
        background_mode: ``"official"`` (hist[1:, 1:]) or ``"gt_only"``; see
            :class:`car.metrics.ConfusionMatrix`. Both are reported; this one is ``mIoU``.
        empty_as_one: refer only; GRES convention, IoU 1 for an empty prediction on an empty GT.
        skip_first_last: video only; drop the first and last frame of each video.
        save_every_s: minimum seconds between two partial-state writes (0 = after every sample).
        shard: ``(index, count)``: evaluate only samples ``index::count`` and write this shard's
            results (manual sharding, merged by :func:`merge_results`; not inside a process group).
        method: the method's name, stored in the results as ``method`` (e.g. "car", "naclip").

    Returns:
        The results dictionary that was written to ``out``.

    Raises:
        ValueError: a partial state at ``<out>.partial.json`` belongs to another dataset or to a
            run with another number of ranks, ``shard`` is given inside a process group, or a
            prediction has the wrong shape / type. Exceptions of the predictor (and SIGTERM, e.g.
            from torchrun tearing the job down) propagate after the partial state is saved.
    """
    ctx = distributed.current_dist()
    if ctx.world_size > 1:
        if shard is not None:
            raise ValueError(f"shard={shard} given inside a process group of {ctx.world_size} ranks; the ranks "
                             f"shard the samples themselves: drop shard, or run outside torch.distributed")
        shard = (ctx.rank, ctx.world_size)
    out = Path(out)
    partial_path = distributed.partial_path(out, ctx)
    distributed.refuse_foreign_partials(out, ctx)
    indices = _plan(len(dataset), limit, shard)
    settings = _settings(dataset, config, ignore_background, background_mode, empty_as_one, skip_first_last)
    run = _RunState.load_or_new(partial_path, dataset, settings, shard if ctx.world_size > 1 else None)
    wall_s = _run_loop(dataset, predictor, run, indices, partial_path, save_every_s,
                       progress and ctx.is_main, ctx)
    if ctx.world_size > 1:
        return _finish_distributed(dataset, run, settings, config, len(indices), wall_s, out, partial_path, ctx,
                                   method)
    results = _results(dataset, run, settings, config, len(indices),
                       {"world_size": 1, "backend": None, "ranks": [_rank_figures(run, 0, len(indices), wall_s)]},
                       method)
    write_json_atomic(out, results, indent=1)
    partial_path.unlink(missing_ok=True)
    return results


def _run_loop(dataset: Any, predictor: Predictor, run: _RunState, indices: list[int], partial_path: Path,
              save_every_s: float, progress: bool, ctx: DistContext) -> float:
    """Evaluate the unfinished samples of ``indices``; the partial state is saved on every way out.

    Returns the wall seconds of the loop (this invocation only)."""
    planned_names = _planned_names(dataset, indices)
    done_before = sum(n in run.finished_set for n in planned_names) if planned_names else len(run.finished)
    desc = dataset.name if ctx.world_size == 1 else f"{dataset.name} rank {ctx.rank}/{ctx.world_size}"
    bar = tqdm(total=len(indices), initial=done_before, desc=desc, disable=not progress, dynamic_ncols=True)
    start = last_save = time.monotonic()
    run.evaluated_now = 0
    try:
        with _sigterm_as_exit():
            for position, index in enumerate(indices):
                name = planned_names[position] if planned_names else None
                if name is not None and name in run.finished_set:
                    continue
                if run.step(dataset, predictor, index, name):
                    bar.update(1)
                if time.monotonic() - last_save >= save_every_s:
                    run.save(partial_path)
                    last_save = time.monotonic()
                    bar.set_postfix_str(_postfix(run), refresh=False)
    finally:
        bar.close()
        run.save(partial_path)
    return time.monotonic() - start


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """SIGTERM (torchrun tearing a failed job down, a scheduler's pre-emption) raises ``SystemExit`` so the
    runner's ``finally`` saves the partial state; the previous handler is restored on exit."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _rank_figures(run: _RunState, rank: int, num_planned: int, wall_s: float) -> dict[str, Any]:
    """This invocation's throughput of one rank (resumed samples done earlier are not counted)."""
    return {"rank": rank, "num_planned": num_planned, "num_evaluated": len(run.finished),
            "evaluated_now": run.evaluated_now, "wall_s": round(wall_s, 4),
            "samples_per_s": round(run.evaluated_now / wall_s, 4) if wall_s > 0 and run.evaluated_now else None}


def _finish_distributed(dataset: Any, run: _RunState, settings: dict[str, Any], config: Any, num_planned: int,
                        wall_s: float, out: Path, partial_path: Path, ctx: DistContext,
                        method: str | None = None) -> dict[str, Any]:
    """Combine the ranks' states: confusion matrices by ``all_reduce``, the rest by ``gather_object`` to
    rank 0, which writes ``out``; every rank removes its partial file once ``out`` exists and returns the
    results (``broadcast_object_list``)."""
    import torch
    import torch.distributed as dist

    acc = run.accumulator
    if isinstance(acc, ConfusionMatrix):
        device = torch.device("cuda", torch.cuda.current_device()) if ctx.backend == "nccl" else torch.device("cpu")
        for name in ("hist", "missed"):
            t = torch.from_numpy(getattr(acc, name)).to(device)
            dist.all_reduce(t, op=dist.ReduceOp.SUM)
            setattr(acc, name, t.cpu().numpy().astype(np.int64))
    payload = run.payload(include_accumulator=not isinstance(acc, ConfusionMatrix))
    payload["figures"] = _rank_figures(run, ctx.rank, num_planned, wall_s)
    payloads: list[Any] | None = [None] * ctx.world_size if ctx.is_main else None
    dist.gather_object(payload, payloads, dst=0)
    box: list[Any] = [None]
    if ctx.is_main:
        merged = _RunState.from_payloads(run.header, acc, payloads)
        figures = [p["figures"] for p in payloads]
        total_now = sum(f["evaluated_now"] for f in figures)
        slowest = max(f["wall_s"] for f in figures)
        results = _results(dataset, merged, settings, config, sum(f["num_planned"] for f in figures),
                           {"world_size": ctx.world_size, "backend": ctx.backend, "ranks": figures,
                            "samples_per_s": round(total_now / slowest, 4) if slowest > 0 and total_now else None},
                           method)
        write_json_atomic(out, results, indent=1)
        box[0] = results
    dist.broadcast_object_list(box, src=0)  # also the barrier: out is written before partials go
    partial_path.unlink(missing_ok=True)
    return box[0]


def run_config(
    config: Any,
    *,
    data_root: str | Path | None = None,
    out: str | Path | None = None,
    limit: int | None = None,
    split: str | None = None,
    progress: bool = True,
    device: str = "auto",
    model: Callable[..., Any] | None = None,
    method: str = "car",
) -> dict[str, Any]:
    """Evaluate a preset on its dataset: ``python -m car evaluate --config NAME [--method M]`` in one call.

    Under torchrun (``RANK`` / ``WORLD_SIZE`` in the environment) the process joins the job with
    :func:`init_distributed` (gloo on CPU, nccl with ``device="cuda"``, each rank on GPU
    ``LOCAL_RANK``), evaluates its shard, and rank 0 writes ``out``; see :func:`evaluate`.

    Args:
        config: a preset name (``car.config.list_configs``), a YAML path or a ``CaRConfig``.
        data_root: the dataset folder (not needed for registered in-memory datasets, e.g. toy splits).
        out: results JSON (default ``results/<config name>.json``); resumable, see :func:`evaluate`.
        limit: evaluate only the first ``limit`` samples.
        split: overrides ``config.split`` (e.g. ``testA``, ``val_google``).
        progress: show a progress bar.
        device: where the CLIP models are loaded (``"auto"``: CUDA when available, else the CPU; ``"cpu"``,
            ``"cuda"``; under torchrun ``"cuda"`` means this rank's GPU, ``cuda:LOCAL_RANK``).
        model: a ready model with the CaR call signature (default: built for ``method`` from the config's
            backbones with :func:`car.backbones.load_clip`).
        method: "car" (CaR with the config's ``proposer``), or a single-pass peer of :mod:`car.peers`
            ("maskclip", "sclip", "clearclip", "naclip", "scclip") on the config's proposal backbone with the
            config's protocol; stored in the results as ``method``. The config's ``class_names`` file (synonyms)
            applies to every method.

    Returns:
        The results dictionary (also written to ``out``).
    """
    from car.config import CaRConfig, load_config
    from car.data import get_dataset
    from car.devices import resolve_device

    device = resolve_device(device)
    cfg = config if isinstance(config, CaRConfig) else load_config(config)
    if split:
        cfg = cfg.replace(split=split)
    dataset = get_dataset(cfg.dataset, data_root, cfg.split, **cfg.reader_options())
    out = Path(out) if out is not None else Path("results") / f"{cfg.name}.json"
    ctx = distributed.init_distributed(device)
    try:
        if ctx.backend == "nccl" and device == "cuda":
            device = f"cuda:{ctx.local_rank}"
        if model is None:
            model = build_model(cfg, method, device)
        names = None
        if cfg.class_names and dataset.kind == "semantic":
            from car.queries import load_names

            names = load_names(cfg.class_names)
        predictor = make_predictor(model, dataset, predict_background=cfg.predict_background, names=names)
        return evaluate(dataset, predictor, out=out, limit=limit, config=cfg, progress=progress, method=method)
    finally:
        distributed.close_distributed(ctx)


#: The methods ``run_config`` builds: CaR, and the single-pass peers (:func:`car.peers.list_peers`).
METHODS = ("car", "maskclip", "sclip", "clearclip", "naclip", "scclip")


def build_model(config: Any, method: str = "car", device: str = "cpu") -> Callable[..., Any]:
    """The model ``method`` names for ``config``: :class:`car.CaR` (``"car"``, with the config's ``proposer``), or a
    :class:`car.peers.PeerSegmenter` on the config's proposal backbone.

    Raises:
        ValueError: an unknown method (the message lists them).
    """
    if method == "car":
        from car.model import CaR

        return CaR.from_config(config, device=device)
    from car.peers import PeerSegmenter, list_peers

    if method not in list_peers():
        raise ValueError(f"unknown method {method!r}; valid: car, {', '.join(list_peers())} "
                         f"(CaR over a peer's maps: --method car --proposer <peer>)")
    from car.backbones import load_clip

    return PeerSegmenter(method, load_clip(config.proposal_model, config.proposal_pretrained, device=device), config)


def merge_results(paths: Sequence[str | Path], out: str | Path | None = None) -> dict[str, Any]:
    """Combine the results JSONs of several shards of one dataset into one results dictionary.

    Confusion matrices are summed; per-sample referring / video scores and timings concatenated.
    Writes ``out`` (atomically) when given.
    """
    if not paths:
        raise ValueError("merge_results needs at least one results file")
    parts = [json.loads(Path(p).read_text(encoding="utf-8")) for p in paths]
    first = parts[0]
    for p, part in zip(paths, parts):
        if (part["dataset"], part["kind"]) != (first["dataset"], first["kind"]):
            raise ValueError(f"{p} holds {part['dataset']} results, {paths[0]} holds {first['dataset']}")
    acc = accumulator_from_dict(first["state"])
    for part in parts[1:]:
        acc.merge(accumulator_from_dict(part["state"]))
    merged = dict(first)
    merged["metrics"], merged["per_class"] = _metrics(acc, first["settings"], first.get("label_names", []))
    merged["state"] = acc.to_dict()
    merged["per_sample_s"] = {k: v for part in parts for k, v in part["per_sample_s"].items()}
    merged["timing"] = _timing_summary(list(merged["per_sample_s"].values()))
    merged["skipped"] = [s for part in parts for s in part["skipped"]]
    merged["num_planned"] = sum(part["num_planned"] for part in parts)
    merged["num_evaluated"] = sum(part["num_evaluated"] for part in parts)
    merged["merged_from"] = [str(p) for p in paths]
    if out is not None:
        write_json_atomic(Path(out), _jsonable(merged), indent=1)
    return merged


# ------------------------------------------------------------------------------------- internals
class _RunState:
    """Accumulator + finished names (with their dataset index) + timings + skipped samples of one
    (possibly resumed) run. For referring / video runs the accumulator's per-sample lists are
    aligned with ``finished``."""

    def __init__(self, header: dict[str, Any], accumulator: Any) -> None:
        self.header = header
        self.accumulator = accumulator
        self.finished: list[str] = []
        self.finished_set: set[str] = set()
        self.index_of: dict[str, int] = {}
        self.per_sample_s: dict[str, float] = {}
        self.load_s: dict[str, float] = {}
        self.skipped: dict[str, str] = {}
        self.evaluated_now = 0  # samples finished by this invocation (throughput)

    @classmethod
    def load_or_new(cls, path: Path, dataset: Any, settings: dict[str, Any],
                    shard: tuple[int, int] | None = None) -> _RunState:
        header = {"version": STATE_VERSION, "dataset": dataset.name, "split": dataset.split,
                  "kind": dataset.kind, "num_classes": getattr(dataset, "num_classes", None),
                  "settings": settings}
        if shard is not None:
            header["shard"] = list(shard)
        if not path.exists():
            return cls(header, _new_accumulator(dataset, settings))
        try:
            state = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as e:
            raise ValueError(f"cannot read partial state {path} ({e}); delete it to start afresh") from e
        if state.get("header") != json.loads(json.dumps(header)):
            raise ValueError(
                f"partial state {path} belongs to another run ({state.get('header')}); delete it or "
                f"choose another output path"
            )
        run = cls(header, accumulator_from_dict(state["accumulator"]))
        run._restore(state)
        return run

    def _restore(self, state: dict[str, Any]) -> None:
        self.finished = list(state["finished"])
        self.finished_set = set(self.finished)
        self.index_of = {k: int(v) for k, v in state.get("index_of", {}).items()}
        self.per_sample_s = dict(state["per_sample_s"])
        self.load_s = dict(state.get("load_s", {}))
        self.skipped = dict(state.get("skipped", {}))

    def step(self, dataset: Any, predictor: Predictor, index: int, name: str | None) -> bool:
        """Load, predict and accumulate sample ``index`` (or record it as skipped).

        Returns False when the sample turned out to be finished already (datasets without
        ``sample_name``), True otherwise.
        """
        start = time.perf_counter()
        try:
            sample = dataset[index]
        except (SampleError, OSError) as e:
            self.skipped[name if name is not None else f"#{index}"] = f"{type(e).__name__}: {e}"
            return True
        name = sample.name
        if name in self.finished_set:  # datasets without sample_name: found finished after loading
            return False
        loaded = time.perf_counter()
        prediction = predictor(sample)
        predicted = time.perf_counter()
        _accumulate(self.accumulator, dataset.kind, sample, prediction)
        self.finished.append(name)
        self.finished_set.add(name)
        self.index_of[name] = int(index)
        self.per_sample_s[name] = predicted - loaded
        self.load_s[name] = loaded - start
        self.skipped.pop(name, None)
        self.evaluated_now += 1
        return True

    def payload(self, include_accumulator: bool = True) -> dict[str, Any]:
        """The JSON-able state (what the partial file and ``gather_object`` carry)."""
        return {"header": self.header,
                "accumulator": self.accumulator.to_dict() if include_accumulator else None,
                "finished": self.finished, "index_of": self.index_of, "per_sample_s": self.per_sample_s,
                "load_s": self.load_s, "skipped": self.skipped}

    def save(self, path: Path) -> None:
        write_json_atomic(path, self.payload(), indent=None)

    @classmethod
    def from_payloads(cls, header: dict[str, Any], accumulator: Any, payloads: Sequence[dict]) -> _RunState:
        """One state from the ranks' payloads; ``accumulator`` is used as is when the payloads carry none
        (confusion matrices, already all-reduced), else the ranks' per-sample lists are concatenated."""
        merged = cls({k: v for k, v in header.items() if k != "shard"}, accumulator)
        if payloads[0]["accumulator"] is not None:
            merged.accumulator = accumulator_from_dict(payloads[0]["accumulator"])
            for p in payloads[1:]:
                merged.accumulator.merge(accumulator_from_dict(p["accumulator"]))
        for p in payloads:
            part = cls(header, None)
            part._restore(p)
            merged.finished += part.finished
            merged.index_of.update(part.index_of)
            merged.per_sample_s.update(part.per_sample_s)
            merged.load_s.update(part.load_s)
            merged.skipped.update(part.skipped)
        merged.finished_set = set(merged.finished)
        return merged

    def in_dataset_order(self) -> _RunState:
        """A copy with finished samples (and the accumulator's per-sample lists) sorted by dataset index,
        so any sharding or resume order gives the same state; samples without a recorded index (partial
        states of older versions) keep their place after the indexed ones."""
        order = sorted(range(len(self.finished)),
                       key=lambda i: (self.index_of.get(self.finished[i], math.inf), i))
        out = _RunState(self.header, self.accumulator)
        state = self.accumulator.to_dict()
        keys = PER_SAMPLE_KEYS.get(state.get("type"), ())
        if keys and order != list(range(len(order))):
            state = {k: ([v[i] for i in order] if k in keys else v) for k, v in state.items()}
            out.accumulator = accumulator_from_dict(state)
        out.finished = [self.finished[i] for i in order]
        out.finished_set = set(out.finished)
        out.index_of = {n: self.index_of[n] for n in out.finished if n in self.index_of}
        out.per_sample_s = {n: self.per_sample_s[n] for n in out.finished if n in self.per_sample_s}
        out.load_s = {n: self.load_s[n] for n in out.finished if n in self.load_s}
        out.skipped = dict(sorted(self.skipped.items()))
        return out


def _plan(num_samples: int, limit: int | None, shard: tuple[int, int] | None) -> list[int]:
    """The dataset indices to evaluate: the first ``limit`` samples, then every ``count``-th from ``index``."""
    indices = list(range(num_samples))
    if limit is not None:
        if limit < 0:
            raise ValueError(f"limit must be >= 0, got {limit}")
        indices = indices[:limit]
    if shard is not None:
        index, count = shard
        if not (count >= 1 and 0 <= index < count):
            raise ValueError(f"shard must be (index, count) with 0 <= index < count, got {shard}")
        indices = indices[index::count]
    return indices


def _planned_names(dataset: Any, indices: list[int]) -> list[str] | None:
    if not hasattr(dataset, "sample_name"):
        return None
    return [dataset.sample_name(i) for i in indices]


def _settings(dataset: Any, config: Any, ignore_background: bool | None, background_mode: str,
              empty_as_one: bool, skip_first_last: bool) -> dict[str, Any]:
    """Metric settings; part of the partial-state header, so a resume must use the same ones."""
    if dataset.kind == "semantic":
        if ignore_background is None:
            ignore_background = getattr(config, "ignore_background", None)
        if ignore_background is None and isinstance(config, Mapping):
            ignore_background = config.get("ignore_background")
        if ignore_background is None:
            ignore_background = bool(getattr(dataset, "ignore_background", False))
        if background_mode not in ("official", "gt_only"):
            raise ValueError(f"background_mode {background_mode!r}; valid: official, gt_only")
        if ignore_background and not getattr(dataset, "has_background", True):
            raise ValueError(f"ignore_background is set, but dataset {dataset.name!r} has no background label: its "
                             f"label 0 is the class {dataset.label_names[0]!r}, which would be left out of the score; "
                             f"set ignore_background: false")
        return {"ignore_background": bool(ignore_background), "background_mode": background_mode}
    if dataset.kind == "refer":
        return {"empty_as_one": bool(empty_as_one)}
    if dataset.kind == "video":
        return {"skip_first_last": bool(skip_first_last), "bound_th": 0.008}
    if dataset.kind == "video_set":
        return {"bound_th": 0.008}
    raise ValueError(f"dataset {dataset.name!r} has kind {dataset.kind!r}; valid: semantic, refer, video, video_set")


def _new_accumulator(dataset: Any, settings: dict[str, Any]) -> Any:
    if dataset.kind == "semantic":
        return ConfusionMatrix(dataset.num_classes, dataset.ignore_index)
    if dataset.kind == "refer":
        return RefAccumulator(empty_as_one=settings["empty_as_one"])
    if dataset.kind == "video_set":
        return DavisSetAccumulator(bound_th=settings["bound_th"])
    return VideoAccumulator(bound_th=settings["bound_th"], skip_first_last=settings["skip_first_last"])


def _accumulate(acc: Any, kind: str, sample: Any, prediction: Any) -> None:
    if kind == "semantic":
        pred = to_numpy(prediction)
        if pred.shape != sample.gt.shape or not np.issubdtype(pred.dtype, np.integer):
            raise ValueError(f"{sample.name}: semantic prediction must be an integer {sample.gt.shape} "
                             f"label map, got {pred.dtype} {pred.shape}")
        acc.update(pred, sample.gt)
    elif kind == "refer":
        pred = to_numpy(prediction)
        if pred.shape != sample.gt.shape:
            raise ValueError(f"{sample.name}: referring prediction must be a {sample.gt.shape} mask, got {pred.shape}")
        acc.update(pred.astype(bool), sample.gt)
    elif kind == "video_set":
        preds = [to_numpy(p).astype(np.int64) for p in prediction]
        if len(preds) != len(sample.gt_labels) or any(p.shape != g.shape for p, g in zip(preds, sample.gt_labels)):
            raise ValueError(f"{sample.name}: video-set prediction must be {len(sample.gt_labels)} label maps "
                             "of the frame size")
        acc.update(sample.expression_set, preds, sample.gt_labels)
    else:
        preds = [to_numpy(p).astype(bool) for p in prediction]
        if len(preds) != len(sample.masks) or any(p.shape != m.shape for p, m in zip(preds, sample.masks)):
            raise ValueError(f"{sample.name}: video prediction must be {len(sample.masks)} masks of the frame size")
        acc.update(preds, sample.masks)


def _metrics(acc: Any, settings: dict[str, Any], label_names: list[str]) -> tuple[dict[str, Any], list]:
    if isinstance(acc, ConfusionMatrix):
        ib, mode = settings["ignore_background"], settings["background_mode"]
        main = acc.summary(ib, mode)
        metrics = {"mIoU": main["mIoU"], "pixel_accuracy": main["pixel_accuracy"],
                   "mean_accuracy": main["mean_accuracy"], "ignore_background": ib, "background_mode": mode}
        if ib:
            metrics["mIoU_official"] = acc.miou(True, "official")
            metrics["mIoU_gt_only"] = acc.miou(True, "gt_only")
            metrics["mIoU_with_background"] = acc.miou(False)
        names = label_names or [str(k) for k in range(acc.num_classes)]
        per_class = [{"label": k, "name": names[k], "iou": iou}
                     for k, iou in enumerate(main["iou_per_class"]) if not (ib and k == 0)]
        return metrics, per_class
    return acc.summary(), []


def _results(dataset: Any, run: _RunState, settings: dict[str, Any], config: Any, num_planned: int,
             distributed: dict[str, Any], method: str | None = None) -> dict:
    run = run.in_dataset_order()
    label_names = list(getattr(dataset, "label_names", []) or [])
    metrics, per_class = _metrics(run.accumulator, settings, label_names)
    results = {
        "dataset": dataset.name, "split": dataset.split, "kind": dataset.kind, "method": method, "settings": settings,
        "metrics": metrics, "per_class": per_class, "label_names": label_names,
        "num_planned": num_planned, "num_evaluated": len(run.finished),
        "skipped": [{"name": k, "error": v} for k, v in run.skipped.items()],
        "timing": _timing_summary(list(run.per_sample_s.values())),
        "load_timing": _timing_summary(list(run.load_s.values())),
        "per_sample_s": run.per_sample_s,
        "state": run.accumulator.to_dict(),
        "world_size": distributed["world_size"], "distributed": distributed,
        "config": _config_dict(config), "versions": _versions(), "git_commit": _git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    return _jsonable(results)


def _timing_summary(seconds: list[float]) -> dict[str, Any]:
    if not seconds:
        return {"count": 0}
    s = np.asarray(seconds, dtype=np.float64)
    return {"count": int(s.size), "total_s": float(s.sum()), "mean_s": float(s.mean()),
            "median_s": float(np.median(s)), "p90_s": float(np.percentile(s, 90)),
            "min_s": float(s.min()), "max_s": float(s.max())}


def _postfix(run: _RunState) -> str:
    acc = run.accumulator
    if isinstance(acc, ConfusionMatrix):
        s = run.header["settings"]
        return f"mIoU={100 * acc.miou(s['ignore_background'], s['background_mode']):.2f}"
    if isinstance(acc, RefAccumulator):
        return f"mIoU={100 * acc.miou():.2f} cIoU={100 * acc.ciou():.2f}" if len(acc) else ""
    return f"J&F={100 * acc.summary()['JF']:.2f}" if len(acc) else ""


def _config_dict(config: Any) -> Any:
    if config is None:
        return None
    if dataclasses.is_dataclass(config) and not isinstance(config, type):
        return dataclasses.asdict(config)
    if isinstance(config, Mapping):
        return dict(config)
    raise TypeError(f"config must be a dataclass instance or a mapping, got {type(config).__name__}")


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {"python": platform.python_version()}
    for key, dist in (("torch", "torch"), ("open_clip", "open_clip_torch"), ("numpy", "numpy")):
        try:
            versions[key] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[key] = None
    versions["car"] = getattr(sys.modules.get("car"), "__version__", None)
    return versions


def _git_commit() -> str | None:
    try:
        res = subprocess.run(["git", "rev-parse", "HEAD"], cwd=Path(__file__).resolve().parent,
                             capture_output=True, text=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    if res.returncode != 0:
        return None
    return res.stdout.strip() or None


def _jsonable(x: Any) -> Any:
    """Plain-JSON copy: numpy scalars -> Python, NaN / inf -> None, tuples -> lists."""
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.ndarray):
        return _jsonable(x.tolist())
    if isinstance(x, (np.integer,)):
        return int(x)
    if isinstance(x, (float, np.floating)):
        return None if not math.isfinite(float(x)) else float(x)
    if isinstance(x, Path):
        return str(x)
    return x
