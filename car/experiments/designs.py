"""Designs of the toy CLIP tried for object-aligned attention, each trained briefly and probed.

CAA (Eq. 7–8) only helps when a token's attention stays on its own object through Sinkhorn normalisation;
:func:`car.probe.same_object_mass` measures that. Each :class:`Design` changes one lever of the shipped toy-b
(the token grid, the pooling, the training mix), is trained from scratch for a short, equal number of steps and
probed on ``toy_voc``; the results are what the toy-world chapter shows (``car/results/toy_designs.json``)::

    python -m car toy designs --steps 300 --out car/results/toy_designs.json   # resumes: done designs are kept

A short run ranks the levers; it is not the shipped training (``python -m car toy train``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from car import results

#: The probe's split and images (the CAA chapter's probe).
PROBE_SPLIT, PROBE_LIMIT = "toy_voc", 40
#: The classifier of every design's toy Table 2: toy-b, the toy presets' classifier when the designs were compared
#: (fixed, so that the records stay comparable whatever the presets classify with now).
DESIGN_CLASSIFIER = "toy-b"


@dataclass(frozen=True)
class Design:
    """One variant of the toy-b design.

    Attributes:
        name: short key.
        what: the lever, in words.
        vision: overrides of toy-b's ``vision_cfg`` (open_clip ``CLIPVisionCfg`` fields).
        train: overrides of :class:`car.toy.train.TrainConfig`.
        step_scale: trains ``step_scale`` times the common number of steps (the "longer training" lever).
    """

    name: str
    what: str
    vision: dict[str, Any] = field(default_factory=dict)
    train: dict[str, Any] = field(default_factory=dict)
    step_scale: int = 1


DESIGNS: tuple[Design, ...] = (
    Design("b", "toy-b as shipped: 8-px patches (an 8 x 8 grid at 64 px), 4 blocks, average pooling"),
    Design("cls", "class-token pooling instead of the average of the patch tokens", {"pool_type": "tok"}),
    Design("focus", "70 % highlighted (visual-prompt) pairs per batch instead of 40 %", train={"focus_prob": 0.7}),
    Design("patch4", "4-px patches: a 16 x 16 token grid at 64 px", {"patch_size": 4}),
    Design("sincos", "fixed 2-D sine-cosine position embeddings instead of learned ones (a built-in locality prior)",
           {"pos_embed_type": "sin_cos_2d"}),
    Design("patch4-cls", "4-px patches and class-token pooling: the two levers with the best CAA stages above",
           {"patch_size": 4, "pool_type": "tok"}),
    Design("patch4-long", "4-px patches trained twice as long", {"patch_size": 4}, step_scale=2),
    Design("split", "half the twin pairs drawn with each thing's colour and its pattern on separate halves, the twin "
           "swapping two things' colours: naming them needs both halves of one object", train={"split_prob": 0.5}),
)


def design(name: str) -> Design:
    """The design called ``name``.

    Raises:
        ValueError: unknown name (the message lists the valid ones).
    """
    for d in DESIGNS:
        if d.name == name:
            return d
    raise ValueError(f"unknown toy design {name!r}; valid: {', '.join(d.name for d in DESIGNS)}")


def register(d: Design) -> str:
    """Add ``d``'s architecture to :data:`car.toy.models.TOY_MODEL_CFGS` as size ``design-<name>``; returns it."""
    from car.toy import models

    size = f"design-{d.name}"
    models.TOY_MODEL_CFGS[size] = models.vision_variant("b", **d.vision)
    return size


def run_design(d: Design, steps: int = 300, out_dir: Path | None = None, progress: bool = False) -> dict[str, Any]:
    """Train ``d`` for ``steps`` x ``d.step_scale`` (the schedule spans them), then :func:`probe_design` its
    checkpoint."""
    from car.toy.train import TrainConfig, train

    out_dir = Path(out_dir or results.cache_dir("designs"))
    steps *= d.step_scale
    path, _ = train(TrainConfig(size=register(d), steps=steps, eval_every=max(50, steps // 4), **d.train),
                    out=out_dir / f"design-{d.name}.pt", progress=progress)
    return probe_design(d, path)


def table2_on(checkpoint: str | Path) -> dict[str, float]:
    """Toy Table 2's rows (CAA vs grad-CAM, T = 1 / one pruned step / recurrent; mIoU %) with ``checkpoint``
    proposing and :data:`DESIGN_CLASSIFIER` classifying (:func:`car.experiments.tables.table2`)."""
    from car.experiments.tables import table2

    rows = table2(proposal_model=checkpoint, classifier_model=DESIGN_CLASSIFIER)["rows"]
    return {r["label"]: r["values"][-1] for r in rows}


def probe_shipped(name: str) -> dict[str, Any]:
    """:func:`probe_design`'s record for a shipped toy CLIP (``"toy-b"``, ``"toy-l"``, ``"toy-b4"``), trained its
    full schedule."""
    from car.toy.models import checkpoint_path

    return probe_design(Design(name, f"{name} as shipped"), checkpoint_path(name.removeprefix("toy-")))


def probe_design(d: Design, checkpoint: str | Path) -> dict[str, Any]:
    """Probe a trained design on the first images of ``toy_voc`` (:func:`car.probe.same_object_mass`); a design
    checkpoint's architecture must be registered (:func:`register`, as :func:`run_design` does).

    Returns:
        JSON-ready: the design, its training steps and seconds, the zero-shot accuracy and loss of its last log
        entry, chance, and the same-object mass divided by chance per block and after each CAA stage, with CAA
        averaging every block (``caa_all_blocks``) and the toy preset's 3 (``caa_last_3``); the rank-one share of
        each block's attention (``rank_one``); how much more than chance background tokens attend to objects
        (``background_to_objects``); toy Table 2 with the design proposing (``table2``, :func:`table2_on`).
    """
    from car.backbones import load_clip
    from car.data import get_dataset
    from car.probe import same_object_mass

    bundle, ds = load_clip(str(checkpoint)), get_dataset(PROBE_SPLIT, None)
    last = torch.load(checkpoint, map_location="cpu", weights_only=True)["log"][-1]
    probes = {layers: same_object_mass(bundle, ds, limit=PROBE_LIMIT, layers=layers) for layers in (8, 3)}
    m = probes[8]
    ratio = lambda r: {k: round(v / r.chance, 2) for k, v in r.stages.items()}  # noqa: E731
    return {"name": d.name, "what": d.what, "vision": d.vision, "train": d.train, "steps": last["schedule_steps"],
            "train_s": last["seconds"], "zero_shot_acc": last["zero_shot_acc"], "loss": round(last["loss"], 3),
            "chance": round(m.chance, 3), "blocks": [round(b / m.chance, 2) for b in m.blocks],
            "rank_one": [round(r, 3) for r in m.rank_one],
            "background_to_objects": [round(v, 2) for v in m.background_to_objects],
            "caa_all_blocks": ratio(m), "caa_last_3": ratio(probes[3]), "table2": table2_on(checkpoint)}


def run_designs(names: list[str] | None = None, steps: int = 300, out: str | Path | None = None,
                progress: bool = True) -> dict[str, Any]:
    """Run every design of ``names`` (default: all) not yet in ``out``; the JSON is rewritten after each one. The
    shipped toy CLIPs are probed too (``"shipped"``), for comparison."""
    out = Path(out or results.cache_dir() / "toy_designs.json")
    data = results.read_json(out) if out.is_file() else {"steps": steps, "split": PROBE_SPLIT,
                                                         "images": PROBE_LIMIT, "designs": []}
    if data["steps"] != steps:
        raise ValueError(f"{out} holds {data['steps']}-step runs; use --steps {data['steps']} or another --out")
    done = {r["name"] for r in data["designs"]}
    for d in [design(n) for n in (names or [d.name for d in DESIGNS])]:
        if d.name in done:
            continue
        data["designs"].append(run_design(d, steps, progress=progress))
        order = [x.name for x in DESIGNS]
        data["designs"].sort(key=lambda r: order.index(r["name"]) if r["name"] in order else len(order))
        results.write_json_atomic(out, data)
    if "shipped" not in data:
        from car.toy.models import TOY_MODELS

        data["shipped"] = [probe_shipped(name) for name in TOY_MODELS]
        results.write_json_atomic(out, data)
    return data
