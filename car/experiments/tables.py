"""Toy-world analogues of every table of the paper, measured by the current code and cached.

``toy_table(key)`` returns ``{"columns", "rows", "meta"}``. Each row is computed by running the evaluation runner
(:func:`car.evaluate.run_config`) on a toy split with a variant of a toy preset — nothing is typed in.

Each result carries a fingerprint of what its numbers depend on: :data:`RESULTS_VERSION` (bumped by any change of
behaviour that moves a toy number), the table's key, the toy presets and the toy checkpoints. A lookup takes the
first result whose fingerprint is current from the user cache (:func:`car.results.cache_dir`) or from the results
shipped inside the package (``car/results/toy_tables``, read with :mod:`importlib.resources`, so an installed wheel
reads what a checkout reads); otherwise it recomputes and writes the user cache. ``python -m car toy tables
--out car/results/toy_tables`` recomputes the shipped ones.
"""
from __future__ import annotations

import hashlib
import json
import tempfile
import time
from pathlib import Path
from typing import Callable

import yaml

from car import paper, results
from car.config import CaRConfig, load_config
from car.adapters import make_predictor
from car.evaluate import evaluate, run_config
from car.data import get_dataset

PACKAGE = Path(__file__).resolve().parents[1]
#: Bump when a change of behaviour moves toy numbers (the fingerprint then invalidates every cached table).
RESULTS_VERSION = 5
#: Images per split in the table runs (the whole book must build in 15 minutes even without a cache).
LIMITS = {"toy_voc": 60, "toy_voc20": 60, "toy_context": 40, "toy_ade": 30, "toy_refcoco": 60, "toy_video": 8}


#: Preset keys that document a setting without changing a number (editing them keeps the results current).
PROSE_KEYS = ("description", "row", "table")


def fingerprint(key: str = "") -> str:
    """sha256 over what a toy table's numbers depend on: the results version, the key, the toy presets' settings
    (their prose keys excluded) and the toy checkpoints' bytes."""
    h = hashlib.sha256(f"{RESULTS_VERSION}:{key}".encode())
    for p in sorted((PACKAGE / "toy" / "configs").glob("*.yaml")):
        settings = {k: v for k, v in yaml.safe_load(p.read_text(encoding="utf-8")).items() if k not in PROSE_KEYS}
        h.update(f"{p.name}:{json.dumps(settings, sort_keys=True)}".encode())
    for p in sorted((PACKAGE / "toy" / "checkpoints").glob("*.pt")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:16]


def _metrics(cfg: CaRConfig) -> dict:
    """Run the evaluation runner on the config's toy split (first ``LIMITS`` samples) → its metrics dict."""
    with tempfile.TemporaryDirectory() as tmp:
        return run_config(cfg, out=Path(tmp) / "r.json", limit=LIMITS.get(cfg.dataset), progress=False)["metrics"]


def _run(cfg: CaRConfig, metric: str = "mIoU") -> float:
    return round(100 * _metrics(cfg)[metric], 1)


def _run_model(model: Callable, cfg: CaRConfig, ds=None) -> float:
    """mIoU (%) of ``model`` on ``ds`` (default: the config's split), first ``LIMITS`` samples."""
    ds = ds if ds is not None else get_dataset(cfg.dataset, None)
    with tempfile.TemporaryDirectory() as tmp:
        res = evaluate(ds, make_predictor(model, ds), out=Path(tmp) / "r.json", limit=LIMITS.get(cfg.dataset),
                       config=cfg, progress=False)
    return round(100 * res["metrics"]["mIoU"], 1)


def _maskclip(cfg: CaRConfig) -> float:
    """MaskCLIP on the config's split with the config's proposal backbone and background queries."""
    from car.backbones import load_clip
    from car.peers import PeerSegmenter

    protocol = cfg.replace(dense_templates="cam", prob_thd=0.0, dense_background=None)  # the CAM template, argmax
    segmenter = PeerSegmenter("maskclip", load_clip(cfg.proposal_model), protocol)
    return _run_model(segmenter, cfg)


# --------------------------------------------------------------------------- the tables
def table1() -> dict:
    splits = ["toy_voc20", "toy_voc", "toy_context", "toy_ade"]
    cfg = load_config("toy_voc")
    return {"columns": ["VOC-20-like", "VOC-21-like", "Context-like", "ADE-like"],
            "rows": [{"label": f"MaskCLIP ({cfg.proposal_model}, training-free dense)",
                      "values": [_maskclip(load_config(s)) for s in splits]},
                     {"label": f"CaR (toy presets: {cfg.proposal_model} grad-CAM proposals, {cfg.classifier_model} "
                               "classifier)",
                      "values": [_run(load_config(s)) for s in splits]}]}


def table2(proposal_model: str | None = None, classifier_model: str | None = None) -> dict:
    """Table 2's toy analogue; ``proposal_model`` (a toy model name or checkpoint path) replaces the preset's
    proposal CLIP, whose attention CAA uses, and ``classifier_model`` its classifier (the toy-CLIP designs are
    measured this way)."""
    cfg = load_config("toy_voc")  # the toy preset proposes with grad-CAM; the rows set the CAM explicitly
    if proposal_model is not None:
        cfg = cfg.replace(proposal_model=str(proposal_model))
    if classifier_model is not None:
        cfg = cfg.replace(classifier_model=classifier_model)
    rows = [("T = 1, CLIP-ES (CAA)", False, "caa", None), ("recurrent, CLIP-ES (CAA)", True, "caa", None),
            ("recurrent, gradCAM", True, "gradcam", None),
            ("T = 1, gradCAM (extra row: the toy default)", False, "gradcam", None),
            ("one pruned step, gradCAM (extra row: max_steps=1)", True, "gradcam", 1)]
    return {"columns": ["w/ recurrence?", "CAM", "mIoU"],
            "rows": [{"label": label, "values": [rec if steps is None else "pruned once",
                                                 "CLIP-ES" if cam == "caa" else "gradCAM",
                                                 _run(cfg.replace(recurrence=rec, proposer=cam, max_steps=steps))]}
                     for label, rec, cam, steps in rows]}


def table3() -> dict:
    cfg = load_config("toy_voc")
    rows = []
    for f in ("toy-b", "toy-l", cfg.proposal_model):  # the two sizes crossed, then the preset's proposer
        for g in ("toy-b", "toy-l"):
            run = cfg.replace(proposal_model=f, classifier_model=g)
            rows.append({"label": f"f = {f}, g = {g}", "values": [f, g, _run(run)]})
    return {"columns": ["proposal f", "classifier g", "mIoU"], "rows": rows}


def table4() -> dict:
    cfg = load_config("toy_voc")
    rows = []
    for row in paper.get_table("4").rows:
        kinds = tuple(row.meta["Visual Prompts"])
        rows.append({"label": " + ".join(kinds), "values": [_run(cfg.replace(prompts=kinds))]})
    return {"columns": ["mIoU"], "rows": rows}


def table5() -> dict:
    cfg = load_config("toy_voc")
    rows = []
    for row in paper.get_table("5").rows:
        if row.group != "Pascal VOC":
            continue
        eta, theta, lam = row.values[:3]
        rows.append({"label": row.label, "values": [eta, theta, lam, _run(cfg.replace(eta=eta, theta=theta, lam=lam))]})
    return {"columns": ["η", "θ", "λ", "mIoU"], "rows": rows}


#: Paper background group (Table 6 column) → the toy stuff family that plays its role.
TOY_FAMILY = {"Terrestrial": "toy_terrestrial", "Aquatic Atmospheric": "toy_aquatic_atmospheric",
              "Aquatic-Atmospheric": "toy_aquatic_atmospheric", "Man-Made": "toy_man_made"}


def table6() -> dict:
    cfg = load_config("toy_voc")
    rows = []
    for row in paper.get_table("6").rows:
        groups = tuple(TOY_FAMILY[g] for g in row.meta["Background queries"])
        rows.append({"label": row.label, "values": [_run(cfg.replace(background=groups))]})
    return {"columns": ["mIoU"], "rows": rows}


def table7() -> dict:
    m = _metrics(load_config("toy_refcoco"))
    return {"columns": ["mIoU", "cIoU"],
            "rows": [{"label": "CaR (toy-b, referring mode)", "values": [round(100 * m["mIoU"], 1),
                                                                         round(100 * m["cIoU"], 1)]}]}


def tableI() -> dict:
    """Mask-supervised toy segmenter (trained on the seen concepts) vs training-free CaR, on toy referring
    expressions about seen and about unseen concepts (the analogue of OVSeg vs CaR)."""
    from car.model import CaR
    from car.toy.segmenter import SEEN_THINGS, UNSEEN_THINGS, ToySegmenter
    from car.toy.splits import toy_refer_subset

    cfg = load_config("toy_refcoco")
    models = {"mask-supervised toy segmenter (trained on 16 seen concepts)": ToySegmenter.load(),
              "CaR (toy-b, referring mode, no training)": CaR.from_config(cfg)}
    subsets = [toy_refer_subset(SEEN_THINGS, "toy_refcoco_seen"), toy_refer_subset(UNSEEN_THINGS, "toy_refcoco_unseen")]
    return {"columns": ["seen concepts", "unseen concepts"],
            "rows": [{"label": label, "values": [_run_model(m, cfg, ds) for ds in subsets]}
                     for label, m in models.items()]}


def table8() -> dict:
    m = _metrics(load_config("toy_video"))
    return {"columns": ["J&F", "J", "F"],
            "rows": [{"label": "CaR (toy-b, frame by frame)",
                      "values": [round(100 * m["JF"], 1), round(100 * m["J"], 1), round(100 * m["F"], 1)]}]}


def tableJ() -> dict:
    """VOC-20's analogue only: the things + stuff splits label every pixel with a class, so they have no background
    to leave out (a Context-59 analogue would need background pixels the toy scenes do not have)."""
    voc20 = load_config("toy_voc20")
    return {"columns": ["VOC-20-like"],
            "rows": [{"label": f"MaskCLIP ({voc20.proposal_model})", "values": [_maskclip(voc20)]},
                     {"label": "CaR (toy)", "values": [_run(voc20)]}]}


TABLES: dict[str, Callable[[], dict]] = {"1": table1, "2": table2, "3": table3, "4": table4, "5": table5,
                                        "6": table6, "7": table7, "8": table8, "I": tableI,
                                        "J": tableJ}


def toy_table(key: str, recompute: bool = False, cache_dir: Path | None = None) -> dict:
    """The toy analogue of paper table ``key``: a current cached or shipped result, else measured now.

    Args:
        recompute: measure even when a current result exists.
        cache_dir: where to look first and to write (default: the user cache, :func:`car.results.cache_dir`).

    Returns:
        ``{"columns": [...], "rows": [{"label", "values"}], "meta": {"fingerprint", "seconds", "limits", "date"}}``.
    """
    if key not in TABLES:
        raise ValueError(f"no toy analogue for table {key!r}; available: {', '.join(TABLES)}")
    name = f"table{key}.json"
    path = Path(cache_dir) / name if cache_dir is not None else results.cache_dir("toy_tables") / name
    fp = fingerprint(key)
    if not recompute:
        for node in (path, results.shipped("toy_tables", name)):
            if node.is_file() and results.read_json(node).get("meta", {}).get("fingerprint") == fp:
                return results.read_json(node)
    start = time.time()
    result = TABLES[key]()
    result["meta"] = {"fingerprint": fp, "seconds": round(time.time() - start, 1), "limits": LIMITS,
                      "date": time.strftime("%Y-%m-%d %H:%M:%S"), "world": "toy (not real CLIP)"}
    results.write_json_atomic(path, result)
    return result


#: Results JSONs of real runs ship in ``car/results/real/<preset>.json``.
REAL_DIR = "real"


def real_rows(key: str) -> list[dict]:
    """For each preset that reproduces a row of paper table ``key``: the command, and real numbers if a run exists.

    Returns:
        ``[{"preset", "cells", "command", "result"}]`` — ``result`` is the mIoU (or main metric) of a committed real
        results JSON, else None.
    """
    rows = []
    for preset in paper.presets_for_table(key):
        cfg = load_config(preset)
        root = "" if cfg.dataset.startswith("toy") else " --data-root /path/to/data"
        command = f"python -m car evaluate --config {preset}{root} --out car/results/real/{preset}.json"
        node = results.shipped(REAL_DIR, f"{preset}.json")
        result = None
        if node.is_file():
            metrics = results.read_json(node).get("metrics", {})
            value = metrics.get("mIoU", metrics.get("JF"))
            result = None if value is None else round(100 * value, 1)
        rows.append({"preset": preset, "cells": [f"{c.row} | {c.column}" for c in paper.paper_cells(preset)
                                                if c.table == key], "command": command, "result": result})
    return rows
