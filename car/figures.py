"""Extra figures and tables of the book's part I (chapters plot through :mod:`car.viz` and this module).

:mod:`car.viz` draws images, overlays and the recurrence; this module adds the few chart types the method
chapters need once each: a small HTML/Markdown table, a confusion matrix, line curves, grouped bars and the
"query survival" chart of the recurrence. Functions return the matplotlib figure; the caller shows it.
"""
from __future__ import annotations

import html
from typing import Any, Mapping, Sequence

import numpy as np


def fit_suptitle(fig, pad_inches: float = 0.45):
    """Re-run ``tight_layout`` leaving ``pad_inches`` at the top for the figure's suptitle; returns ``fig``.

    ``tight_layout`` ignores suptitles, so panel titles (especially two-line ones) collide with them; use it on
    figures from :func:`car.viz.show_images` that have a ``suptitle``.
    """
    fig.tight_layout(rect=(0, 0, 1, max(0.5, 1 - pad_inches / fig.get_figheight())))
    return fig


class Table:
    """A small table that notebooks render as HTML (and plain text elsewhere).

    Args:
        headers: column names.
        rows: one sequence of cells per row; floats are formatted with ``floatfmt``.
        floatfmt: format spec of float cells, e.g. ``".2f"``.
        caption: optional caption shown above the table (say which world the numbers come from).
    """

    def __init__(self, headers: Sequence[str], rows: Sequence[Sequence], floatfmt: str = ".2f",
                 caption: str | None = None):
        if any(len(r) != len(headers) for r in rows):
            raise ValueError(f"every row needs {len(headers)} cells (one per header); got lengths "
                             f"{sorted({len(r) for r in rows})}")
        self.headers = [str(h) for h in headers]
        self.rows = [[self._fmt(c, floatfmt) for c in r] for r in rows]
        self.caption = caption

    @staticmethod
    def _fmt(cell, floatfmt: str) -> str:
        if isinstance(cell, (float, np.floating)):
            return format(float(cell), floatfmt)
        return str(cell)

    def _repr_html_(self) -> str:
        head = "".join(f"<th>{html.escape(h)}</th>" for h in self.headers)
        body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in self.rows)
        cap = f"<caption>{html.escape(self.caption)}</caption>" if self.caption else ""
        return f"<table>{cap}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"

    def __repr__(self) -> str:
        widths = [max(len(h), *(len(r[i]) for r in self.rows)) if self.rows else len(h)
                  for i, h in enumerate(self.headers)]
        line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths))  # noqa: E731
        out = [self.caption] if self.caption else []
        return "\n".join(out + [line(self.headers)] + [line(r) for r in self.rows])


def plot_matrix(matrix: np.ndarray, row_names: Sequence[str], col_names: Sequence[str], title: str = "",
                xlabel: str = "", ylabel: str = "", annotate: bool = False, vmin: float | None = None,
                vmax: float | None = None, cmap: str = "Blues"):
    """A matrix as a heat map with named rows and columns (``annotate`` writes each value in its cell).

    Args:
        matrix: float (R, C).
        row_names, col_names: R and C labels.
    """
    import matplotlib.pyplot as plt

    m = np.asarray(matrix, dtype=np.float64)
    if m.shape != (len(row_names), len(col_names)):
        raise ValueError(f"matrix must be (len(row_names), len(col_names)) = ({len(row_names)}, {len(col_names)}); "
                         f"got {m.shape}")
    w, h = max(3.5, 0.3 * len(col_names) + 2.5), max(3.0, 0.28 * len(row_names) + 1.5)
    fig, ax = plt.subplots(figsize=(w, h))
    im = ax.imshow(m, cmap=cmap, vmin=vmin, vmax=vmax)
    ax.set_xticks(range(len(col_names)), col_names, rotation=90 if len(col_names) > 6 else 30,
                  ha="center" if len(col_names) > 6 else "right", fontsize=7)
    ax.set_yticks(range(len(row_names)), row_names, fontsize=7)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if annotate:
        hi = np.nanmax(m) if m.size else 1.0
        for (r, c), v in np.ndenumerate(m):
            ax.text(c, r, f"{v:.2f}", ha="center", va="center", fontsize=7, color="white" if v > 0.6 * hi else "black")
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    fig.tight_layout()
    return fig


def plot_confusion(matrix: np.ndarray, names: Sequence[str], title: str = "", normalize: bool = True):
    """A confusion matrix (rows = true class, columns = predicted class) as a heat map with class names.

    Args:
        matrix: int or float (C, C) counts.
        names: C class names.
        normalize: divide each row by its sum (rows then read as "where did class i go").
    """
    m = np.asarray(matrix, dtype=np.float64)
    if m.ndim != 2 or m.shape[0] != m.shape[1] or m.shape[0] != len(names):
        raise ValueError(f"matrix must be (C, C) with C = len(names) = {len(names)}; got {m.shape}")
    if normalize:
        m = m / np.maximum(m.sum(1, keepdims=True), 1e-12)
    return plot_matrix(m, names, names, title, xlabel="predicted", ylabel="true", vmin=0,
                       vmax=1 if normalize else None)


def show_maps(image: np.ndarray, maps: Sequence[np.ndarray], titles: Sequence[str] = (), cols: int | None = None,
              size: float = 2.2, suptitle: str | None = None, colours: Sequence[str] | None = None,
              colorbar: str = "value"):
    """Heat maps (float (H, W) in [0, 1], any resolution) over an image, one panel each, with one colour bar.

    Each map is drawn in the perceptual :data:`car.viz.CAM_CMAP` over a dimmed gray copy of the image
    (:func:`car.viz.draw_heat`), so the image's own colours cannot be read as heat. Maps of another size than the
    image are stretched over it, so patch-grid CAMs can be shown as they are. ``colours`` sets each title's colour
    (e.g. green for queries that are in the image); ``colorbar`` labels the colour bar ("" for none).
    """
    import matplotlib.pyplot as plt

    from car.viz import draw_heat

    n = len(maps)
    cols = cols or min(n, 6)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + (0.8 if colorbar else 0),
                                                  size * rows + (0.45 if suptitle else 0) + 0.25 * rows),
                             squeeze=False, layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    art = None
    for i, m in enumerate(maps):
        ax = axes.flat[i]
        art = draw_heat(ax, image, m)
        if i < len(titles):
            ax.set_title(titles[i], fontsize=8, color=colours[i] if colours is not None else "black")
    if art is not None and colorbar:
        fig.colorbar(art, ax=axes, shrink=min(0.9, 0.5 + 0.15 * rows), label=colorbar)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig


def plot_curves(curves: Mapping[str, tuple[Sequence[float], Sequence[float]]], xlabel: str, ylabel: str,
                title: str = "", ax=None, logy: bool = False, hline: float | None = None):
    """Line curves ``{label: (x, y)}`` on one axis; ``hline`` draws a dashed reference level.

    Returns:
        the figure (a new one unless ``ax`` is given).
    """
    import matplotlib.pyplot as plt

    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(5, 3.2))
    for label, (x, y) in curves.items():
        ax.plot(x, y, marker="o", markersize=3, label=label)
    if hline is not None:
        ax.axhline(hline, color="gray", linestyle="--", linewidth=1)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if len(curves) > 1:
        ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def plot_bars(labels: Sequence[str], series: Mapping[str, Sequence[float]], ylabel: str, title: str = "",
              hline: float | None = None, rotation: int = 60):
    """Grouped bars: one group per label, one bar per series; ``hline`` draws a dashed threshold (e.g. θ)."""
    import matplotlib.pyplot as plt

    n, k = len(labels), len(series)
    width = 0.8 / max(k, 1)
    fig, ax = plt.subplots(figsize=(min(14.0, max(5.0, 0.3 * n * max(k, 1) + 1.5)), 3.6))
    for j, (name, values) in enumerate(series.items()):
        if len(values) != n:
            raise ValueError(f"series {name!r} has {len(values)} values for {n} labels")
        ax.bar(np.arange(n) + (j - (k - 1) / 2) * width, values, width, label=name)
    if hline is not None:
        ax.axhline(hline, color="black", linestyle="--", linewidth=1)
    ax.set_xticks(range(n), labels, rotation=rotation, ha="right" if rotation else "center", fontsize=8)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if k > 1:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def plot_survival(result, theta: float, present: Sequence[bool] | None = None, title: str = ""):
    """The recurrence as a chart: P_ii of every query at every step, θ dashed.

    Each step is a column of markers (one per query that entered it): a dot if the query is kept, a cross if it
    is removed (it does not appear in the next column). ``present`` (bool per initial query, e.g. from the
    ground truth) colours the queries that are really in the image green and names them.

    Args:
        result: a :class:`car.model.Result`.
        theta: θ of Eq. 6.
        present: optional bool (N,) per initial query.
    """
    import matplotlib.pyplot as plt

    present = np.zeros(len(result.queries), bool) if present is None else np.asarray(present, bool)
    fig, ax = plt.subplots(figsize=(max(6.0, 2.6 + 1.8 * len(result.steps)), 3.8))
    rng = np.random.default_rng(0)
    for t, step in enumerate(result.steps, 1):
        jitter = rng.uniform(-0.18, 0.18, len(step.queries))
        for j, (i, s, k) in enumerate(zip(step.indices, step.scores, step.kept)):
            ax.scatter(t + jitter[j], s, marker="o" if k else "x", s=30 if k else 36, zorder=3,
                       color="tab:green" if present[i] else "tab:gray")
        # name the queries that are in the image in a column right of the step, spread so they never overprint
        named = sorted(((float(s), t + jitter[j], result.queries[i]) for j, (i, s) in
                        enumerate(zip(step.indices, step.scores)) if present[i]), reverse=True)
        gap = 0.085
        slots: list[float] = []
        for s, x, name in named:
            y = min(s, slots[-1] - gap) if slots else s
            slots.append(y)
            ax.annotate(name, (x, s), xytext=(t + 0.24, y), textcoords="data", fontsize=7, va="center",
                        color="tab:green", arrowprops=dict(arrowstyle="-", color="tab:green", lw=0.5))
    ax.axhline(theta, color="black", linestyle="--", linewidth=1)
    ax.text(0.52, theta, "θ", va="bottom", fontsize=9)
    ax.set_xticks(range(1, len(result.steps) + 1),
                  [f"step {t}\n{len(s.queries)} quer{'y' if len(s.queries) == 1 else 'ies'}"
                   for t, s in enumerate(result.steps, 1)])
    ax.set_xlim(0.5, len(result.steps) + 0.95)
    ax.set_ylabel("$P_{ii}$ (classifier score)")
    ax.set_title(title, fontsize=10)
    handles = [plt.Line2D([], [], marker="o", linestyle="", color="tab:green", label="in the image"),
               plt.Line2D([], [], marker="o", linestyle="", color="tab:gray", label="absent"),
               plt.Line2D([], [], marker="o", linestyle="", color="black", fillstyle="none", label="kept (P > θ)"),
               plt.Line2D([], [], marker="x", linestyle="", color="black", label="removed")]
    ax.legend(handles=handles, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1))
    ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    return fig


def show_label_maps(image: np.ndarray, label_maps: Sequence[np.ndarray], names: Sequence[str],
                    titles: Sequence[str] = (), size: float = 3.0, suptitle: str | None = None,
                    images: Sequence[np.ndarray] | None = None):
    """Label maps over an image, side by side, with one shared legend of the names that appear.

    Args:
        image: uint8 (H, W, 3), the image under every map (or ``images``, one per map).
        label_maps: int (H, W) maps, index into ``names``, -1 = background (left uncoloured).
        names: the label names. The names that appear get :func:`car.viz.label_colours` (never the hue a
            name says: "blue circle" is not painted blue), the same in every panel of the figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from car.viz import label_colours, overlay

    images = list(images) if images is not None else [image] * len(label_maps)
    used: list[int] = []
    for labels in label_maps:
        used += [int(v) for v in np.unique(labels) if 0 <= v < len(names) and int(v) not in used]
    colours = np.zeros((max(len(names), 1), 3), np.uint8)
    if used:  # colours for the names that appear, chosen away from each name's own hue (car.viz.label_colours)
        colours[sorted(used)] = label_colours([names[i] for i in sorted(used)])
    fig, axes = plt.subplots(1, len(label_maps), figsize=(size * len(label_maps) + 2.2, size + 0.4), squeeze=False)
    for i, (ax, img, labels) in enumerate(zip(axes[0], images, label_maps)):
        ax.imshow(overlay(img, labels, colours=colours), interpolation="nearest")
        ax.axis("off")
        if i < len(titles):
            ax.set_title(titles[i], fontsize=9)
    handles = [Patch(facecolor=colours[i] / 255.0, edgecolor="0.35", linewidth=0.6, label=names[i]) for i in sorted(used)]
    if handles:
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
        return fit_suptitle(fig)
    fig.tight_layout()
    return fig


# --- where the toy world agrees with the paper -------------------------------------------------------------------

#: A toy effect within ±TOY_TIE mIoU points is a tie (verdict "≈": the toy world cannot tell). The toy tables
#: evaluate the first 30–60 images of a split, and the toy-world chapter (§5) prints how far the same difference
#: moves between its first 24 images and the whole split: several points. The paper's effects are read as printed.
TOY_TIE = 2.0
#: "η, θ, λ barely matter": no VOC row of Table 5 more than ROBUST_DROP points below the default.
ROBUST_DROP = 2.0
#: What each rule prints in the agreement tables' "holds when" column.
RULE_TEXT = {"beats": "> 0", "within": f"≥ −{ROBUST_DROP:g}"}
VERDICT = {"holds": "✓", "tie": "≈", "fails": "✗"}
AGREEMENT_NOTE = (f"effects in mIoU points; ✓ the toy world shows the finding, ✗ it shows the opposite, ≈ a toy "
                  f"effect within ±{TOY_TIE:g} points (a tie: the toy world cannot tell); computed from car.paper and "
                  "the toy tables")


def _toy_row(table: dict, label_start: str) -> list:
    rows = [r for r in table["rows"] if r["label"].startswith(label_start)]
    if len(rows) != 1:
        raise KeyError(f"toy table has {len(rows)} rows starting with {label_start!r}; rows: "
                       f"{[r['label'] for r in table['rows']]}")
    return rows[0]["values"]


def finding_state(effect: float, rule: str, world: str) -> str:
    """Whether one world's effect shows a finding: ``"holds"``, ``"tie"`` or ``"fails"``.

    Rules: ``"beats"`` (effect = A − B, the finding "A beats B"): holds when the effect is above the world's tie
    band (0 for the paper, :data:`TOY_TIE` for the toy world), fails below minus the band, a tie in between.
    ``"within"`` (effect = worst row − the default, ≤ 0): holds when no row falls more than :data:`ROBUST_DROP`
    points below the default, fails otherwise.

    Raises:
        ValueError: an unknown rule or world.
    """
    if world not in ("paper", "toy"):
        raise ValueError(f"world must be 'paper' or 'toy', got {world!r}")
    if rule == "beats":
        band = TOY_TIE if world == "toy" else 0.0
        return "holds" if effect > band else "fails" if effect < -band else "tie"
    if rule == "within":
        return "holds" if effect >= -ROBUST_DROP else "fails"
    raise ValueError(f"unknown rule {rule!r}; valid: {', '.join(RULE_TEXT)}")


def agreement_verdict(rule: str, paper_effect: float | None, toy_effect: float | None,
                      asserted: bool = False) -> str:
    """The verdict of one agreement row: ``"✓"``, ``"✗"``, ``"≈"`` (a toy tie) or ``"n/a"`` (a world has no row).

    The paper's effect must show the finding (it is the paper's finding); ``asserted`` marks a finding the paper
    states without a table row (``paper_effect`` None), judged from the toy world alone.

    Raises:
        ValueError: the paper's own effect does not show the finding (the row is defined wrongly).
    """
    if toy_effect is None or (paper_effect is None and not asserted):
        return "n/a"
    if paper_effect is not None and finding_state(paper_effect, rule, "paper") != "holds":
        raise ValueError(f"the paper's effect {paper_effect:+.1f} does not show its own finding under the rule "
                         f"{rule!r} ({RULE_TEXT[rule]}): the agreement row is defined wrongly")
    return VERDICT[finding_state(toy_effect, rule, "toy")]


def toy_agreement(tables: Mapping[str, dict] | None = None) -> list[dict]:
    """Where the toy world agrees with the paper: one row per finding, both effects computed, none typed.

    Paper numbers come from :mod:`car.paper`, toy numbers from :func:`car.experiments.tables.toy_table` (cached, seconds).
    Each row is a dict: ``table`` (the paper's table key), ``finding`` (the paper's claim, in words), ``paper`` and
    ``toy`` (the effect in mIoU points; ``None`` where a world has no such row), ``rule`` (``"beats"``: the effect
    is A − B and > 0 means the finding holds; ``"within"``: the effect is the worst row − the default, and it holds
    down to −:data:`ROBUST_DROP`), ``holds`` (the rule in symbols), ``verdict`` (:func:`agreement_verdict`) and
    ``how`` (which rows were subtracted).

    Args:
        tables: optional ``{key: toy_table(key)}`` to use instead of loading (tests, or after recomputing).
    """
    from car import paper

    def toy(key: str) -> dict:
        if tables is not None and key in tables:
            return tables[key]
        from car.experiments.tables import toy_table

        return toy_table(key)

    P = {k: paper.get_table(k) for k in ("1", "2", "3", "4", "5", "6", "I", "J")}
    rows: list[dict] = []

    def add(table, finding, p, t, how, rule="beats", asserted=False):
        rows.append({"table": table, "finding": finding, "paper": None if p is None else round(p, 1),
                     "toy": None if t is None else round(t, 1), "rule": rule, "holds": RULE_TEXT[rule],
                     "verdict": agreement_verdict(rule, p, t, asserted), "how": how})

    t1 = toy("1")
    mc, cr = _toy_row(t1, "MaskCLIP")[1], _toy_row(t1, "CaR")[1]
    add("1", "CaR beats the training-free MaskCLIP",
        P["1"].value("CaR (Ours, w/o SAM)", "VOC-21") - P["1"].value("MaskCLIP [†] [84]", "VOC-21"), cr - mc,
        "CaR − MaskCLIP, VOC-21 (toy: VOC-21-like)")
    t2 = toy("2")
    p2 = {r.label: r.values[0] for r in P["2"].rows}
    add("2", "the recurrence is vital",
        p2["w/ recurrence, CLIP-ES"] - p2["w/o recurrence, CLIP-ES"],
        _toy_row(t2, "recurrent, gradCAM")[-1] - _toy_row(t2, "T = 1, gradCAM")[-1],
        "recurrent − T = 1 with the classifier idle (paper: CLIP-ES CAM; toy: the toy preset's grad-CAM)")
    add("2", "CAA beats plain grad-CAM",
        p2["w/ recurrence, CLIP-ES"] - p2["w/ recurrence, gradCAM"],
        _toy_row(t2, "recurrent, CLIP-ES")[-1] - _toy_row(t2, "recurrent, gradCAM")[-1],
        "CLIP-ES (CAA) − grad-CAM, both recurrent")
    add("2", "the later steps beat one pruned step (asserted in §1, no table row)", None,
        _toy_row(t2, "recurrent, gradCAM")[-1] - _toy_row(t2, "one pruned step")[-1],
        "full recurrence − one pruned step (max_steps=1); the paper asserts that cleaner query sets give better "
        "masks (§1) and reports no such row", asserted=True)
    t3 = toy("3")
    p3 = {r.label: r.values[0] for r in P["3"].rows}
    g_gain = p3["f=ViT-B/16, g=ViT-L/14"] - p3["f=ViT-B/16, g=ViT-B/16"]
    add("3", "ViT-B/16 is the better proposer f",
        p3["f=ViT-B/16, g=ViT-L/14"] - p3["f=ViT-L/14, g=ViT-L/14"],
        _toy_row(t3, "f = toy-b, g = toy-b")[-1] - _toy_row(t3, "f = toy-l, g = toy-b")[-1],
        "f = B − f = L, VOC, with the world's better classifier (paper: g = L/14; toy: g = toy-b)")
    add("3", "ViT-L/14 is the better classifier g",
        g_gain, _toy_row(t3, "f = toy-b, g = toy-l")[-1] - _toy_row(t3, "f = toy-b, g = toy-b")[-1],
        "g = L − g = B, VOC, f = B (toy: f = toy-b, the size grid)")
    add("3", "ViT-L/14 is the better classifier g, with the presets' proposer",
        g_gain, _toy_row(t3, "f = toy-b4, g = toy-l")[-1] - _toy_row(t3, "f = toy-b4, g = toy-b")[-1],
        "g = L − g = B, VOC (paper: f = B/16; toy: f = toy-b4, the toy presets' proposer)")
    t4 = toy("4")
    p4 = {r.label: r.values[0] for r in P["4"].rows}
    t4v = {r["label"]: r["values"][0] for r in t4["rows"]}
    add("4", "context-keeping prompts beat the black mask",
        max(v for k, v in p4.items() if k != "mask") - p4["mask"],
        max(v for k, v in t4v.items() if k != "mask") - t4v["mask"],
        "best prompt other than mask − mask")
    t5 = toy("5")
    p5 = {r.label: r.values[-1] for r in P["5"].rows if r.group == "Pascal VOC"}
    t5v = {r["label"]: r["values"][-1] for r in t5["rows"]}
    default = "η=0.4, θ=0.6, λ=0.4"
    add("5", "the default η, θ, λ is the best VOC row",
        p5[default] - max(v for k, v in p5.items() if k != default),
        t5v[default] - max(v for k, v in t5v.items() if k != default),
        f"default ({default}) − the best other VOC row")
    add("5", f"no VOC row of η, θ, λ falls more than {ROBUST_DROP:g} points below the default",
        min(p5.values()) - p5[default], min(t5v.values()) - t5v[default],
        "worst VOC row − the default", rule="within")
    t6 = toy("6")
    p6 = [r.values[0] for r in P["6"].rows]
    t6v = [r["values"][0] for r in t6["rows"]]
    add("6", "background queries help", p6[-1] - p6[0], t6v[-1] - t6v[0], "all three groups − None")
    add("6", "all three groups together are best", p6[-1] - max(p6[:-1]), t6v[-1] - max(t6v[:-1]),
        "all three − best other row")
    tI = toy("I")
    seg_unseen, car_unseen = _toy_row(tI, "mask-supervised")[1], _toy_row(tI, "CaR")[1]
    add("I", "CaR beats a mask-supervised model beyond its training vocabulary",
        P["I"].value("CaR(Ours)", "RefCOCO val") - P["I"].value("OVSeg [35]", "RefCOCO val"), car_unseen - seg_unseen,
        "CaR − OVSeg, RefCOCO val (toy: CaR − mask-supervised segmenter, unseen concepts)")
    tJ = toy("J")
    add("J", "CaR beats MaskCLIP without background",
        P["J"].value("CaR (Ours)", "VOC-20") - P["J"].value("MaskCLIP [†] [84]", "VOC-20"),
        _toy_row(tJ, "CaR")[0] - _toy_row(tJ, "MaskCLIP")[0], "CaR − MaskCLIP, VOC-20 (toy: VOC-20-like)")
    return rows


def agreement_table(rows: Sequence[dict] | None = None, caption: str | None = None) -> Table:
    """:func:`toy_agreement` as a :class:`Table`; the caption always ends with how to read the verdicts."""
    rows = toy_agreement() if rows is None else rows
    fmt = lambda v: "—" if v is None else f"{v:+.1f}"  # noqa: E731
    return Table(["table", "the paper's finding", "paper", "toy", "holds when", "agrees?", "effect measured as"],
                 [[r["table"], r["finding"], fmt(r["paper"]), fmt(r["toy"]), r["holds"], r["verdict"], r["how"]]
                  for r in rows],
                 caption=f"{caption or 'Where the toy world agrees with the paper'} ({AGREEMENT_NOTE})")


# --------------------------------------------------------------------------- benchmark plots (car.experiments.bench results)
def plot_stages(world: dict[str, Any], title: str = "", ax=None):
    """Stacked horizontal bars: seconds per stage of each path (cold and warm), from one world's results."""
    import matplotlib.pyplot as plt

    rows = [(name, p) for name, p in world["paths"].items()]
    rows += [(f"{name} (warm)", p["warm"]) for name, p in world["paths"].items() if "warm" in p]
    if ax is None:
        _, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.4))
    from car.timing import STAGES

    colours = plt.get_cmap("tab10").colors
    for i, (name, p) in enumerate(rows):
        left = 0.0
        for j, st in enumerate(STAGES):
            v = p["stages"][st]
            ax.barh(i, v, left=left, color=colours[j], label=st if i == 0 else None)
            left += v
        ax.text(left, i, f" {left:.2f} s", va="center", fontsize=8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r[0] for r in rows], fontsize=9)
    ax.invert_yaxis()
    ax.set_xlabel("seconds per image")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=7, ncol=4, loc="lower right")
    return ax


def plot_sweep(world: dict[str, Any], kind: str = "queries", title: str = "", ax=None):
    """Seconds per image against the number of queries (``kind="queries"``) or image pixels (``"sizes"``)."""
    import matplotlib.pyplot as plt
    import matplotlib.ticker as mticker

    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.4))
    ticks, labels = [], []
    for name, p in world["paths"].items():
        entries = p.get("sweep", {}).get(kind, [])
        if not entries:
            continue
        xs = [e["num_queries"] if kind == "queries" else e["image_hw"][0] * e["image_hw"][1] for e in entries]
        label = name + (" (proposals only)" if entries[0].get("parts") == "proposal" else "")
        ax.plot(xs, [e["total_s"] for e in entries], "o-", label=label)
        ticks, labels = xs, [str(x) if kind == "queries" else f"{e['image_hw'][1]}x{e['image_hw'][0]}"
                             for x, e in zip(xs, entries)]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xticks(ticks, labels)
    ax.xaxis.set_minor_locator(mticker.NullLocator())
    ax.yaxis.set_major_locator(mticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.yaxis.set_major_formatter(mticker.FormatStrFormatter("%g"))
    ax.yaxis.set_minor_locator(mticker.NullLocator())
    ax.set_xlabel("number of queries N" if kind == "queries" else "image size W x H (log of pixels)")
    ax.set_ylabel("seconds per image")
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8)
    return ax
