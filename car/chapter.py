"""What the chapters call: the world cell, the model and the scene a Part I chapter opens on, and the four
displays of a Part II chapter.

A Part II chapter is one table of the paper, told as prose around four calls::

    ch = TableChapter("3")   # the world, the paper's table (car.paper), the toy analogue (cached toy runs)
    ch.paper_table()         # the paper's numbers as printed
    ch.toy_table()           # the toy analogue, measured by this build's code
    ch.agreement()           # does the toy world agree? (car.experiments.agreement)
    ch.real_rows()           # the command behind every real row, and its committed result if there is one

Each display returns a :class:`car.viz.Table`, so the chapter's cell shows it; the numbers stay reachable as
``ch.paper`` (a :class:`car.paper.PaperTable`) and ``ch.toy`` (the toy table's dict) for the chapter's own figures.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from types import SimpleNamespace
from typing import Sequence

import numpy as np

from car import paper
from car.experiments.agreement import AGREEMENT_NOTE, toy_agreement
from car.experiments.tables import real_rows, toy_table
from car.viz.table import Code, Table
from car.world import World, detect


@dataclass(frozen=True)
class Opening:
    """The image a Part I chapter opens on and its queries.

    Attributes:
        image: uint8 (H, W, 3).
        gt: int64 (H, W) labels (0 = background) of a toy scene; ``None`` for a photo (no ground truth).
        present: the queries the image shows; ``absent``: queries it does not.
        scene: the toy :class:`car.toy.scenes.Scene` (``None`` for a photo); ``index``: its index in the split.
        photo: the :data:`car.photos.PHOTOS` key of a photo (``None`` in the toy world).
    """

    image: np.ndarray
    gt: np.ndarray | None
    present: list[str]
    absent: list[str]
    scene: object = None
    index: int | None = None
    photo: str | None = None

    @property
    def queries(self) -> list[str]:
        """``present + absent``: the queries a chapter segments."""
        return self.present + self.absent


def setup(seed: int = 0, **sizes: tuple[int, int]) -> tuple[World, SimpleNamespace | None, np.random.Generator]:
    """The world cell: seed torch and numpy, detect the world, print it and the chapter's real-CLIP sizes.

    Args:
        seed: for ``torch.manual_seed`` and the returned generator.
        sizes: ``name=(on_cpu, on_gpu)`` pairs of real-CLIP work (:meth:`car.world.World.sizes`).

    Returns:
        ``(world, sizes, rng)``: the :class:`car.world.World`, the picked sizes (``None`` without ``sizes``) and
        ``np.random.default_rng(seed)``.
    """
    import torch

    torch.manual_seed(seed)
    world = detect()
    print(world)
    picked = world.sizes(**sizes) if sizes else None
    if picked is not None:
        print(picked)
    return world, picked, np.random.default_rng(seed)


def main_model(world: World):
    """The world's main CaR, printed with its settings: the ``voc`` preset with real CLIP (ViT-B/16 proposes,
    ViT-L/14 classifies), else the toy world's main preset ``toy_voc`` → a :class:`car.model.CaR`."""
    from car.model import CaR

    model = CaR.from_config("voc" if world.real else "toy_voc")
    cfg = model.config
    print(f"f = {model.proposal.name}, g = {model.classifier.name}, proposals: {cfg.proposer}, "
          f"prompts: {' + '.join(cfg.prompts)}, η, θ, λ = {cfg.eta}, {cfg.theta}, {cfg.lam}")
    return model


def opening_scene(world: World, ds, rng: np.random.Generator, photo: str = "astronaut", absent: int = 2) -> Opening:
    """With real CLIP the photo ``photo`` of :mod:`car.photos` with the queries it shows and those it does not;
    in the toy world the first scene of ``ds`` with two objects, its objects and ``absent`` other toy things drawn
    with ``rng``.

    Args:
        ds: a toy split (:func:`car.toy.splits.toy_dataset`), read only in the toy world.
    """
    if world.real:
        from car.photos import PHOTOS, load_photo

        return Opening(load_photo(photo), None, list(PHOTOS[photo].present), list(PHOTOS[photo].absent_queries),
                       photo=photo)
    from car.toy.scenes import THINGS

    index = next(i for i, s in enumerate(ds.scenes) if len(s.things) == 2)
    sample = ds[index]
    present = [ds.class_names[label - 1] for label in np.unique(sample.gt) if label > 0]
    others = [c for c in rng.permutation(THINGS).tolist() if c not in present][:absent]
    return Opening(sample.image, sample.gt, present, others, ds.scenes[index], index)


def agreement_table(rows: Sequence[dict] | None = None, caption: str | None = None) -> Table:
    """Rows of :func:`car.experiments.agreement.toy_agreement` (default: all) as a table whose caption ends with
    how to read the verdicts."""
    rows = toy_agreement() if rows is None else rows
    fmt = lambda v: "—" if v is None else f"{v:+.1f}"  # noqa: E731
    return Table(["table", "the paper's finding", "paper", "toy", "holds when", "agrees?", "effect measured as"],
                 [[r["table"], r["finding"], fmt(r["paper"]), fmt(r["toy"]), r["holds"], r["verdict"], r["how"]]
                  for r in rows],
                 caption=f"{caption or 'Where the toy world agrees with the paper'} ({AGREEMENT_NOTE})")


class TableChapter:
    """One Part II chapter: a table of the paper, its toy-world analogue, their agreement and the real rows.

    Args:
        key: the paper's table key ("1" … "8", "I", "J"; :func:`car.paper.get_table`).
        world: where the chapter runs (default :func:`car.world.detect`, printed). The toy analogues are toy runs
            in every world.

    Raises:
        KeyError: the paper has no table ``key``.
    """

    def __init__(self, key: str, world: World | None = None):
        self.key = key
        self.paper = paper.get_table(key)
        self.world = world if world is not None else detect()
        print(self.world)

    @cached_property
    def toy(self) -> dict:
        """The toy analogue of this table: ``{"columns", "rows": [{"label", "values"}], "meta"}`` (cached; recomputed
        when the code's results version, the toy presets or the checkpoints change)."""
        return toy_table(self.key)

    def toy_of(self, key: str) -> dict:
        """The toy analogue of another table (e.g. Table I beside Table 7)."""
        return self.toy if key == self.key else toy_table(key)

    def paper_table(self, key: str | None = None) -> Table:
        """The paper's table ``key`` (default this chapter's), numbers as printed, group and label in one column."""
        t = self.paper if key is None else paper.get_table(key)
        return Table(["", *t.columns], [[f"{r.group} · {r.label}" if r.group else r.label, *r.values] for r in t.rows],
                     floatfmt=None, caption=f"Paper, Table {t.key} (numbers as printed)")

    def paper_meta(self, caption: str) -> Table:
        """The paper's descriptive columns of this table (e.g. Table 1's training data), for the rows that have
        them."""
        t = self.paper
        rows = [[r.label, *(r.meta[c] for c in t.meta_columns)] for r in t.rows if r.meta.get(t.meta_columns[0])]
        return Table(["", *t.meta_columns], rows, floatfmt=None, caption=caption)

    def toy_table(self, key: str | None = None) -> Table:
        """The toy analogue of table ``key`` (default this chapter's), with when and from which code it was
        measured."""
        key = key or self.key
        toy = self.toy_of(key)
        meta = toy["meta"]
        return Table(["", *toy["columns"]], [[r["label"], *r["values"]] for r in toy["rows"]], floatfmt=None,
                     caption=f"Toy world analogue of Table {key} (measured by this build's code, not real CLIP; "
                             f"toy runs: {meta['seconds']} s when computed; code fingerprint {meta['fingerprint']})")

    def agreement(self, key: str | None = None) -> Table:
        """Where the toy world agrees with the paper on the findings of table ``key`` (default this chapter's)."""
        key = key or self.key
        return agreement_table([r for r in toy_agreement() if r["table"] == key],
                               caption=f"Table {key}: does the toy world agree?")

    def real_rows(self) -> Table:
        """Every preset behind this table's real rows: the paper's cells, the command, the committed result."""
        rows = real_rows(self.key)
        missing = all(r["result"] is None for r in rows)
        return Table(["preset", "paper cell", "command", "real result"],
                     [[r["preset"], list(r["cells"]), Code(r["command"]),
                       r["result"] if r["result"] is not None else "no real run committed"] for r in rows],
                     floatfmt=None,
                     caption="Reproducing the real rows" + (": no results JSON from a real run is committed yet, so "
                                                           "the real column is empty, not guessed" if missing else ""))
