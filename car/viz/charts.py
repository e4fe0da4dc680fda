"""Charts of the book: grouped bars, changes from a reference row, matrices, curves, the recurrence's query survival
and the benchmark's stages, sweeps and growth (matplotlib). Each returns the figure (or the axes it drew on); the caller
shows it.
"""
from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np

from car.viz.images import fit_suptitle


def bar_chart(labels: Sequence[str], series: Mapping[str, Sequence[float | None]], ylabel: str = "mIoU",
              title: str = "", *, vertical: bool = False, xlim: tuple[float, float] | None = None,
              hline: float | None = None, rotation: int = 60):
    """Grouped bars: one group per label, one bar per series (e.g. ``{"paper": [...], "toy": [...]}``).

    Horizontal by default — long row labels, each value written at its bar's end, ``xlim`` narrows the value axis
    where differences are small (see also :func:`delta_chart`); ``vertical=True`` stands the bars up for many short
    labels, turned by ``rotation`` degrees. ``ylabel`` names the value axis, ``hline`` draws a dashed threshold at
    that value (e.g. θ), ``None`` values are left empty. The legend sits outside the axes (right), so it covers no
    bar.

    Args:
        labels: N group names.
        series: {name: N values}.

    Raises:
        ValueError: a series has not one value per label.
    """
    import matplotlib.pyplot as plt

    n, k = len(labels), len(series)
    for name, values in series.items():
        if len(values) != n:
            raise ValueError(f"series {name!r} has {len(values)} values for {n} labels")
    step = 0.8 / max(k, 1)
    if vertical:
        fig, ax = plt.subplots(figsize=(min(14.0, max(5.0, 0.3 * n * max(k, 1) + 1.5)), 3.6))
        for j, (name, values) in enumerate(series.items()):
            ax.bar(np.arange(n) + (j - (k - 1) / 2) * step, [0 if v is None else v for v in values], step,
                   label=name)
        if hline is not None:
            ax.axhline(hline, color="black", linestyle="--", linewidth=1)
        ax.set_xticks(range(n), labels, rotation=rotation, ha="right" if rotation else "center", fontsize=8)
        ax.set_ylabel(ylabel)
        ax.grid(axis="y", alpha=0.3)
    else:
        fig, ax = plt.subplots(figsize=(7.5 if k > 1 else 6.5, 0.42 * n * max(1, k) + 1.3))
        top = 0.0
        for j, (name, values) in enumerate(series.items()):
            ys = [i + j * step for i in range(n)]
            ax.barh(ys, [0 if v is None else v for v in values], height=step, label=name)
            for y, v in zip(ys, values):
                if v is not None:
                    ax.text(v, y, f" {v:.1f}", va="center", fontsize=8)
                    top = max(top, float(v))
        if hline is not None:
            ax.axvline(hline, color="black", linestyle="--", linewidth=1)
        ax.set_yticks([i + step * (k - 1) / 2 for i in range(n)])
        ax.set_yticklabels(labels, fontsize=8)
        ax.invert_yaxis()
        ax.set_xlabel(ylabel)
        ax.set_xlim(*(xlim or (0, max(top * 1.12, 1.0))))
        ax.grid(axis="x", alpha=0.3)
    ax.set_title(title, fontsize=10)
    if k > 1:
        ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)
    fig.tight_layout()
    return fig


def delta_chart(labels: Sequence[str], series: dict[str, Sequence[float | None]], reference: int = 0,
                title: str = "", ylabel: str = "mIoU"):
    """Each row's change from a reference row, one panel per series, each panel on its own scale.

    For ablation tables whose effects are small (Table 5's 0.6 points) or whose worlds differ in size (paper vs
    toy): a dot per row at ``value - value[reference]``, a line at 0, the reference row marked. Separate panels
    and scales compare *directions*, not magnitudes. ``None`` values (rows a series lacks) are left out.

    Args:
        labels: N row names.
        series: {name: N values}.
        reference: index of the reference row (e.g. the paper's default setting).
    """
    import matplotlib.pyplot as plt

    n, k = len(labels), len(series)
    fig, axes = plt.subplots(1, k, figsize=(3.3 * k + 2.2, 0.36 * n + 1.4), sharey=True, squeeze=False)
    for ax, (name, values) in zip(axes[0], series.items()):
        ref = values[reference]
        ys = [i for i, v in enumerate(values) if v is not None]
        ds = [float(values[i]) - float(ref) for i in ys]
        ax.axvline(0, color="gray", linewidth=1)
        ax.hlines(ys, 0, ds, color="tab:blue", linewidth=1.5, alpha=0.6)
        ax.scatter(ds, ys, color=["black" if i == reference else ("tab:green" if d > 0 else "tab:red" if d < 0
                                                                     else "tab:gray") for i, d in zip(ys, ds)],
                   zorder=3, s=28)
        span = max([abs(d) for d in ds] + [0.5])
        ax.set_xlim(-1.6 * span, 1.6 * span)
        for y, d in zip(ys, ds):
            ax.annotate(f"{d:+.1f}", (d, y), xytext=(5 if d >= 0 else -5, 0), textcoords="offset points",
                        ha="left" if d >= 0 else "right", va="center", fontsize=8)
        ax.set_title(f"{name}\n(reference {float(ref):.1f})", fontsize=9)
        ax.set_xlabel(f"Δ {ylabel} vs reference row")
        ax.grid(axis="x", alpha=0.3)
    axes[0, 0].set_yticks(range(n), [("▶ " if i == reference else "") + str(l) for i, l in enumerate(labels)],
                          fontsize=8)
    axes[0, 0].invert_yaxis()
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


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


def plot_growth(runs: dict[int, dict[str, Any]], paths: Sequence[tuple[str, str]], title: str = ""):
    """Seconds per image and peak memory growth against the number of queries, one line per path.

    Args:
        runs: query count → one world's benchmark results (``results["worlds"][...]``) run at that count.
        paths: (key of ``run["paths"]``, legend label) of each line.
        title: the figure's title; say which world and hardware.
    """
    import matplotlib.pyplot as plt

    n = sorted(runs)
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.4))
    for key, label in paths:
        axes[0].plot(n, [runs[q]["paths"][key]["total_s"] for q in n], "o-", label=label)
        axes[1].plot(n, [runs[q]["paths"][key]["peak_mb"] for q in n], "o-", label=label)
    axes[0].set(xlabel="queries", ylabel="seconds per image", title="time, whole pipeline")
    axes[1].set(xlabel="queries", ylabel="peak memory growth (MB)", title="peak memory")
    for ax in axes:
        ax.set_xticks(n)
        ax.legend(fontsize=8)
    fig.suptitle(title)
    fit_suptitle(fig)
    return fig
