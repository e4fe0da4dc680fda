"""Extra figures and tables of the book's part I (chapters plot through :mod:`car.viz` and this module).

:mod:`car.viz` draws images, overlays and the recurrence; this module adds the few chart types the method
chapters need once each: a small HTML/Markdown table, a confusion matrix, line curves, grouped bars and the
"query survival" chart of the recurrence. Functions return the matplotlib figure; the caller shows it.
"""
from __future__ import annotations

import html
from typing import Mapping, Sequence

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
              size: float = 2.2, suptitle: str | None = None, colours: Sequence[str] | None = None):
    """Heat maps (float (H, W) in [0, 1], any resolution) over an image, one panel each.

    Maps of another size than the image are stretched over it (``extent``), so patch-grid CAMs can be shown
    as they are. ``colours`` sets each title's colour (e.g. green for queries that are in the image).
    """
    import matplotlib.pyplot as plt

    n = len(maps)
    cols = cols or min(n, 6)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + (0.4 if suptitle else 0)),
                             squeeze=False)
    h, w = image.shape[:2]
    for ax in axes.flat:
        ax.axis("off")
    for i, m in enumerate(maps):
        ax = axes.flat[i]
        ax.imshow(image, extent=(0, w, h, 0))
        ax.imshow(np.asarray(m, dtype=np.float32), cmap="jet", alpha=0.5, vmin=0, vmax=1, extent=(0, w, h, 0),
                  interpolation="nearest")
        if i < len(titles):
            ax.set_title(titles[i], fontsize=8, color=colours[i] if colours is not None else "black")
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
        return fit_suptitle(fig)
    fig.tight_layout()
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
    fig, ax = plt.subplots(figsize=(max(5.5, 2.4 + 1.4 * len(result.steps)), 3.8))
    rng = np.random.default_rng(0)
    for t, step in enumerate(result.steps, 1):
        jitter = rng.uniform(-0.18, 0.18, len(step.queries))
        for j, (i, s, k) in enumerate(zip(step.indices, step.scores, step.kept)):
            ax.scatter(t + jitter[j], s, marker="o" if k else "x", s=30 if k else 36, zorder=3,
                       color="tab:green" if present[i] else "tab:gray")
            if present[i]:
                ax.annotate(result.queries[i], (t + jitter[j], s), fontsize=7, xytext=(4, 2),
                            textcoords="offset points", color="tab:green")
    ax.axhline(theta, color="black", linestyle="--", linewidth=1)
    ax.text(0.52, theta, "θ", va="bottom", fontsize=9)
    ax.set_xticks(range(1, len(result.steps) + 1),
                  [f"step {t}\n{len(s.queries)} quer{'y' if len(s.queries) == 1 else 'ies'}"
                   for t, s in enumerate(result.steps, 1)])
    ax.set_xlim(0.5, len(result.steps) + 0.6)
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
        names: the label names; colour i is :func:`car.viz.palette` entry i in every panel.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    from car.viz import overlay, palette

    colours = palette(max(len(names), 1))
    images = list(images) if images is not None else [image] * len(label_maps)
    fig, axes = plt.subplots(1, len(label_maps), figsize=(size * len(label_maps) + 2.2, size + 0.4), squeeze=False)
    used: list[int] = []
    for i, (ax, img, labels) in enumerate(zip(axes[0], images, label_maps)):
        ax.imshow(overlay(img, labels, colours=colours), interpolation="nearest")
        ax.axis("off")
        if i < len(titles):
            ax.set_title(titles[i], fontsize=9)
        used += [int(v) for v in np.unique(labels) if v >= 0 and int(v) not in used]
    handles = [Patch(color=colours[i] / 255.0, label=names[i]) for i in sorted(used)]
    if handles:
        fig.legend(handles=handles, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8, frameon=False)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
        return fit_suptitle(fig)
    fig.tight_layout()
    return fig
