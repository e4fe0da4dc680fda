"""CaR among its successors: the measurements behind Part IV of the book, each one command and one JSON.

* :func:`toy_table` — every single-pass peer alone (``python -m car evaluate --config <toy preset> --method
  <peer>``) and CaR with every proposer (``--method car --proposer <name>``) on the toy splits toy_voc,
  toy_context and toy_ade, one evaluation each, the mIoU read from each run's results JSON
  (``python -m car toy peers`` → ``car/results/peers_toy.json``);
* :func:`cost_table` — seconds per image, forward / backward passes and peak memory of every method on the real
  architectures with random weights (ViT-B/16; CaR with a ViT-L/14 classifier), each method in its own process
  (``python -m car bench --peers`` → ``car/results/peers_cost.json``). Timing does not depend on the weights'
  values; the masks of random weights mean nothing and are not scored.

The chapter reads both JSONs (:func:`shipped_toy`, :func:`shipped_cost`); nothing in it is typed.
"""
from __future__ import annotations

import os
import platform
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from car import results
from car.peers import list_peers
from car.proposers import list_proposers
from car.work import CAM_BACKBONE_FORWARDS, CAM_BACKWARDS, CLASSIFIER_IMAGES

#: The toy splits of the table: the analogues of VOC-21, Pascal Context and ADE-150.
TOY_SPLITS = ("toy_voc", "toy_context", "toy_ade")
#: The real-architecture image of the cost table: a VOC-sized 500 x 375 scene (``car.experiments.bench.bench_image``).
COST_PRESET = "field_voc21"
COST_QUERIES = 20


def toy_runs() -> list[tuple[str, str | None]]:
    """(method, proposer) of every row: each peer alone, then CaR with each registered proposer."""
    return [(p, None) for p in list_peers()] + [("car", p) for p in list_proposers()]


#: The field's eight benchmarks (:data:`car.peers.published.BENCHMARKS`): the preset every method runs with
#: (``car/configs/beyond``), a ``--data-root`` in the README's layout, and the toy analogue (None: none).
FIELD_BENCHMARKS = {
    "VOC-21": ("field_voc21", "/data/VOCdevkit", "toy_voc"),
    "PC-60": ("field_context60", "/data/VOCdevkit", "toy_context"),
    "COCO-Object": ("field_coco_object", "/data/coco_stuff164k", None),
    "VOC-20": ("field_voc20", "/data/VOCdevkit", "toy_voc20_field"),
    "PC-59": ("field_context59", "/data/VOCdevkit", None),
    "COCO-Stuff": ("field_cocostuff171", "/data/coco_stuff164k", None),
    "Cityscapes": ("field_cityscapes", "/data/cityscapes", None),
    "ADE-150": ("field_ade150", "/data/ADEChallengeData2016", "toy_ade"),
}


def command(preset: str, method: str, proposer: str | None = None, limit: int | None = None,
            data_root: str | None = None) -> str:
    """The evaluation command of one cell (``--data-root`` for a real dataset)."""
    root = f" --data-root {data_root}" if data_root else ""
    tail = f" --proposer {proposer}" if proposer else ""
    lim = f" --limit {limit}" if limit else ""
    return f"python -m car evaluate --config {preset}{root} --method {method}{tail}{lim}"


#: The methods run here, each with its published row comparable with the harness (variant of
#: :data:`car.peers.published.ROWS`; NACLIP without PAMR), its ``--method``, and its toy-table row.
FIELD_METHODS = {"CaR": ("recurrence, CRF", "car", ("car", "gradcam")),
                 "MaskCLIP": ("harness re-run", "maskclip", ("maskclip", None)),
                 "SCLIP": ("paper", "sclip", ("sclip", None)),
                 "ClearCLIP": ("paper", "clearclip", ("clearclip", None)),
                 "NACLIP": ("no PAMR", "naclip", ("naclip", None)),
                 "SC-CLIP": ("paper", "scclip", ("scclip", None))}


def field_table() -> dict[str, Any]:
    """Method x the field's eight benchmarks: the published mIoU (its source's kind), the toy analogue where the
    toy world has one (the shipped toy table; toy numbers), and the command of every cell.

    Returns:
        {"benchmarks", "rows": [{"method", "published": {benchmark: value | None}, "kind", "source",
        "toy": {benchmark: value}, "commands": {benchmark: str}}]}.
    """
    from car.peers.published import BENCHMARKS, published_rows

    rows = {(r.method, r.variant): r for r in published_rows()}
    toy = {(r["method"], r["proposer"]): r["values"] for r in shipped_toy()["rows"]}
    out = []
    for name, (variant, method, toy_key) in FIELD_METHODS.items():
        pub = rows[(name, variant)]
        toy_values = {b: toy[toy_key][FIELD_BENCHMARKS[b][2]] for b in BENCHMARKS
                      if FIELD_BENCHMARKS[b][2] in toy.get(toy_key, {})}
        out.append({"method": name, "published": {b: pub.values.get(b) for b in BENCHMARKS}, "kind": pub.kind,
                    "source": pub.source, "toy": toy_values,
                    "commands": {b: field_command(b, method) for b in BENCHMARKS}})
    return {"benchmarks": list(BENCHMARKS), "rows": out}


def field_command(benchmark: str, method: str, proposer: str | None = None) -> str:
    """The real-weights command that reproduces ``method`` on one of the field's eight benchmarks.

    Raises:
        ValueError: an unknown benchmark (the valid ones are listed).
    """
    if benchmark not in FIELD_BENCHMARKS:
        raise ValueError(f"unknown benchmark {benchmark!r}; valid: {', '.join(FIELD_BENCHMARKS)}")
    preset, root, _ = FIELD_BENCHMARKS[benchmark]
    return command(preset, method, proposer, data_root=root)


def toy_table(out: str | Path | None = None, splits: Sequence[str] = TOY_SPLITS,
              runs: Sequence[tuple[str, str | None]] | None = None, limits: dict[str, int] | None = None,
              progress: bool = True) -> dict[str, Any]:
    """Evaluate every run on every toy split, one at a time (the evaluation runner, as the command does).

    Args:
        out: where to write the JSON (default: the user cache, ``peers_toy.json``).
        limits: images per split (default: the toy tables' :data:`car.experiments.tables.LIMITS`).

    Returns:
        {"splits", "rows": [{"method", "proposer", "label", "values": {split: mIoU %}, "commands": {split: ...},
        "seconds": {split: s}}], "meta"}.
    """
    from car.config import load_config
    from car.evaluate import run_config
    from car.experiments.tables import LIMITS, fingerprint

    limits = dict(LIMITS if limits is None else limits)
    rows = []
    start = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        for method, proposer in runs or toy_runs():
            row = {"method": method, "proposer": proposer, "label": label(method, proposer), "values": {},
                   "commands": {}, "seconds": {}}
            for split in splits:
                cfg = load_config(split, **({"proposer": proposer} if proposer else {}))
                t0 = time.time()
                res = run_config(cfg, out=Path(tmp) / f"{method}-{proposer}-{split}.json", limit=limits.get(split),
                                 progress=False, device="cpu", method=method)
                row["values"][split] = round(100 * res["metrics"]["mIoU"], 1)
                row["commands"][split] = command(split, method, proposer, limits.get(split))
                row["seconds"][split] = round(time.time() - t0, 1)
                if progress:
                    print(f"{row['label']:32s} {split:12s} mIoU {row['values'][split]:5.1f}  "
                          f"({row['seconds'][split]:.0f} s, {res['num_evaluated']} images)", flush=True)
            rows.append(row)
    data = {"splits": list(splits), "rows": rows,
            "meta": {"world": "toy (not real CLIP)", "limits": {s: limits.get(s) for s in splits},
                     "fingerprint": fingerprint("peers"), "seconds": round(time.time() - start, 1),
                     "date": time.strftime("%Y-%m-%d %H:%M:%S")}}
    results.write_json_atomic(Path(out) if out else results.cache_dir() / "peers_toy.json", data)
    return data


def label(method: str, proposer: str | None) -> str:
    """A row's name: "naclip alone" or "CaR + naclip"."""
    return f"{method} alone" if method != "car" else f"CaR + {proposer}"


# --------------------------------------------------------------------------- the cost table
def _cost_one(method: str, proposer: str | None, repeats: int, device: str) -> dict[str, Any]:
    """One method in this (fresh) process: models loaded and the vocabulary's text embeddings computed (untimed),
    one run on the benchmark image, then ``repeats`` timed runs. Memory: the peak above the loaded models while the
    vocabulary is encoded and the first image segmented (``peak_mb``), and the process's peak resident size, the
    models' weights included (``process_peak_mb``)."""
    import torch

    from car.backbones import load_clip
    from car.experiments.bench import bench_image, bench_queries, car_pipeline, fixed_schedule
    from car.config import load_config
    from car.model import CaR
    from car.peers import PeerSegmenter, base
    from car.timing import PeakMemory, StageClock

    torch.set_grad_enabled(True)
    cfg = load_config(COST_PRESET, **({"proposer": proposer} if proposer else {}))
    image, queries = bench_image("real"), bench_queries("real", COST_QUERIES)
    torch.manual_seed(0)
    proposal = load_clip("ViT-B-16", pretrained=None, device=device)
    passes: dict[str, int] = {}
    if method == "car":
        torch.manual_seed(1)
        model = CaR(proposal, load_clip("ViT-L-14", pretrained=None, device=device), cfg)
        schedule = fixed_schedule(len(queries), 2)
        run = lambda im: car_pipeline(model, im, queries, schedule, clock=StageClock())  # noqa: E731
    else:
        model = PeerSegmenter(method, proposal, cfg)
        run = lambda im: model(im, queries)  # noqa: E731
        work = base.protocol_image(image, cfg.short_side, cfg.working_size)
        passes = {"ViT-B/16 forwards": len(base.windows(work.shape[:2], cfg.slide_crop, cfg.slide_stride))}
    with PeakMemory(device) as mem:  # above the loaded models: the vocabulary's texts and the first image
        if method == "car":
            run(np.ascontiguousarray(image[:64, :64]))  # untimed: the vocabulary's text embeddings (a small image)
        else:
            model.text(model.words(queries))  # untimed: the vocabulary's text embeddings
        run(image)
    peak = mem.peak_mb
    seconds, cpu = [], []
    for _ in range(max(1, repeats)):
        t0, c0 = time.perf_counter(), time.process_time()
        out = run(image)
        seconds.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    if method == "car":
        counts = out.counts
        passes = {"ViT-B/16 forwards": counts.get(CAM_BACKBONE_FORWARDS, 0),
                  "ViT-B/16 backwards": counts.get(CAM_BACKWARDS, 0),
                  "ViT-L/14 image forwards": counts.get(CLASSIFIER_IMAGES, 0),
                  "steps": len(out.steps)}
    return {"method": method, "proposer": proposer, "label": label(method, proposer),
            "seconds_per_image": round(float(np.median(seconds)), 3), "cpu_s": round(float(np.median(cpu)), 3),
            "runs_s": [round(s, 3) for s in seconds], "peak_mb": None if peak is None else round(peak, 1),
            "process_peak_mb": None if mem.maxrss_mb is None else round(mem.maxrss_mb, 1),
            "passes": passes, "image_hw": list(image.shape[:2]), "num_queries": len(queries)}


def cost_runs() -> list[tuple[str, str | None]]:
    """(method, proposer) of the cost table: each peer alone, CaR with the paper's f, CaR over each peer's maps."""
    return [(p, None) for p in list_peers()] + [("car", "caa")] + [("car", p) for p in list_peers()]


def cost_table(out: str | Path | None = None, runs: Sequence[tuple[str, str | None]] | None = None,
               repeats: int = 1, device: str = "cpu", progress: bool = True) -> dict[str, Any]:
    """Time every method on the real architectures (random weights), each in its own process.

    Returns:
        {"rows": [{"method", "proposer", "label", "seconds_per_image", "cpu_s", "runs_s", "peak_mb",
        "process_peak_mb", "passes", ...}], "meta": {"preset", "machine", "torch_threads", "load", "seconds", ...}}.
    """
    import torch

    from car.timing import run_isolated

    rows, start = [], time.time()
    for method, proposer in runs or cost_runs():
        row = run_isolated(_cost_one, (method, proposer, repeats, device), f"the cost run of {method!r}")
        rows.append(row)
        if progress:
            print(f"{row['label']:20s} {row['seconds_per_image']:8.2f} s/image  peak {row['peak_mb']} MiB above "
                  f"the models, {row['process_peak_mb']} MiB in all  {row['passes']}", flush=True)
    data = {"rows": rows, "meta": {
        "preset": COST_PRESET, "models": "ViT-B/16 (peers, CaR's proposals), ViT-L/14 (CaR's classifier), random "
                                         "weights: timings only", "device": device, "repeats": repeats,
        "statistic": "median of the timed runs after one untimed image (vocabulary warm); peak memory above the "
                     "loaded models while the vocabulary is encoded and that image segmented, and the process's "
                     "peak resident size", "processor": platform.processor() or
        platform.machine(), "cpu_count": os.cpu_count(), "torch": torch.__version__,
        "torch_threads": torch.get_num_threads(), "load_average": list(os.getloadavg()),
        "seconds": round(time.time() - start, 1), "date": time.strftime("%Y-%m-%d %H:%M:%S")}}
    results.write_json_atomic(Path(out) if out else results.cache_dir() / "peers_cost.json", data)
    return data


def shipped_toy() -> dict[str, Any]:
    """The committed toy table (``car/results/peers_toy.json``)."""
    return results.read_json(results.shipped("peers_toy.json"))


def shipped_cost() -> dict[str, Any]:
    """The committed cost table (``car/results/peers_cost.json``)."""
    return results.read_json(results.shipped("peers_cost.json"))
