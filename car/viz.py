"""Drawing: label overlays with legends (OpenCV) and the figures of the book (matplotlib).

Every chapter plots through these functions, so a figure style is defined once:

* label colours come from :func:`label_colours`, which reads the colour words in each name ("red circle",
  "grass") and never paints a region in (or near) the hue its own name says — the toy world's concept names
  *are* colours, and a red overlay on a red circle cannot be seen — nor, where the palette allows, in a hue that
  another name of the same figure says; overlays are hatched (:func:`overlay`), so an object keeps its own colour
  between the stripes of its label's;
* heat maps (CAMs, proposals) use the perceptual colormap :data:`CAM_CMAP` over a dimmed gray copy of the
  image, with a colour bar;
* legends sit outside the axes, so they cover no data.
"""
from __future__ import annotations

import colorsys
from typing import Sequence

import cv2
import numpy as np


CAM_CMAP = "viridis"  # perceptual, monotone in lightness, readable in gray print and by colour-blind readers

# Label colours: (name, RGB). Saturated, mutually distinct, each far from at least half the others in hue.
LABEL_COLOURS: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("cyan", (0, 205, 225)),
    ("magenta", (235, 40, 205)),
    ("yellow", (255, 225, 0)),
    ("blue", (45, 95, 255)),
    ("lime", (140, 235, 40)),
    ("orange", (255, 140, 0)),
    ("violet", (150, 70, 230)),
    ("red", (230, 25, 40)),
    ("teal", (0, 140, 130)),
    ("white", (255, 255, 255)),
    ("black", (0, 0, 0)),
)

# Hue (degrees) that a word in a label names: the toy colours, common colour words and the toy stuff whose
# look has a hue. Words without a hue (circle, wall, cat) constrain nothing.
NAMED_HUES: dict[str, float] = {
    "red": 0.0, "orange": 30.0, "yellow": 52.0, "green": 130.0, "blue": 228.0, "purple": 280.0,
    "pink": 330.0, "magenta": 310.0, "cyan": 185.0, "brown": 25.0, "violet": 270.0,
    "grass": 120.0, "sand": 45.0, "water": 210.0, "sky": 205.0, "brick": 10.0,
}

_MIN_HUE_DISTANCE = 90.0  # degrees; a label colour closer than this to a hue its name says is never used
_FIGURE_HUE_DISTANCE = 45.0  # degrees; colours at least this far from every hue named in the figure come first


def _hue(rgb) -> float | None:
    r, g, b = (c / 255.0 for c in rgb)
    h, s, v = colorsys.rgb_to_hsv(r, g, b)
    return None if s < 0.2 else 360.0 * h


def _hue_distance(a: float, b: float) -> float:
    d = abs(a - b) % 360.0
    return min(d, 360.0 - d)


def named_hues(name: str) -> list[float]:
    """The hues (degrees) that the words of ``name`` name, e.g. ``"red circle"`` → ``[0.0]``."""
    words = str(name).lower().replace("-", " ").replace("_", " ").split()
    return [NAMED_HUES[w] for w in words if w in NAMED_HUES]


def _colour_score(rgb, hues: Sequence[float]) -> float:
    """How far ``rgb`` is from every hue in ``hues``: 180 = opposite; hue-less white scores 100."""
    h = _hue(rgb)
    if h is None:
        return 100.0
    return min((_hue_distance(h, x) for x in hues), default=180.0)


def label_colours(names: Sequence[str]) -> np.ndarray:
    """One colour per name, uint8 (N, 3) RGB, that never uses the hue a name's own words say.

    A colour within 90° of a hue that the name itself says is never used (``"red square"`` is not painted red).
    Among the others, colours at least 45° from *every* hue named anywhere in ``names`` come first, so that a figure
    showing a blue and a yellow circle paints neither of them in the other's colour (a swatch "blue circle" drawn in
    yellow next to a "yellow circle" drawn in blue reads as a swapped legend), ordered by their distance from the
    name's own hues; when they run out, the colours least near any named hue. Distances go in 20° bins, so that
    near-ties keep the palette's order. Colours already given to an earlier name of the
    same call are skipped while others remain. The result depends only on the names and their order, so the same
    query list gets the same colours in every figure.
    """
    figure_hues = [h for name in names for h in named_hues(name)]
    out: list[tuple[int, int, int]] = []
    used: set[str] = set()
    for name in names:
        hues = named_hues(name)
        allowed = [c for c in LABEL_COLOURS if _colour_score(c[1], hues) >= _MIN_HUE_DISTANCE] or list(LABEL_COLOURS)
        def rank(c, hues=hues):  # far from every named hue first (by the name's own hues), then the least near
            far = _colour_score(c[1], figure_hues)
            own = -(_colour_score(c[1], hues) // 20)
            return (0, own, 0) if far >= _FIGURE_HUE_DISTANCE else (1, -(far // 20), own)

        ranked = sorted(allowed, key=rank)
        pick = next((c for c in ranked if c[0] not in used), ranked[0])
        used.add(pick[0])
        out.append(pick[1])
    return np.array(out, np.uint8).reshape(len(out), 3)


def palette(n: int, seed: int = 0) -> np.ndarray:
    """``n`` well-separated saturated colours, uint8 (n, 3) RGB (evenly spaced hues, golden-ratio order)."""
    hues = [((seed * 0.1 + i * 0.618033988749895) % 1.0) for i in range(n)]
    return np.array([[int(255 * c) for c in colorsys.hsv_to_rgb(h, 0.85, 0.95)] for h in hues], np.uint8).reshape(n, 3)


def overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.7, colours: np.ndarray | None = None,
            contours: bool = True, names: Sequence[str] | None = None) -> np.ndarray:
    """Draw a label map onto an image so that each labelled object stays visible.

    Each label is a diagonal hatch: every other stripe is tinted with the label's colour (``alpha``), the stripes
    between keep the image's own pixels, so an object's own colour is never hidden by its label (a red circle
    labelled cyan still shows red); ``contours`` outline each region in its colour. The stripes are about 1/32 of
    the shorter side wide (2 pixels on a 64-pixel toy image).

    Args:
        image: uint8 (H, W, 3) RGB.
        labels: int (H, W), query index per pixel, -1 = background (left untouched).
        colours: uint8 (N, 3); default :func:`label_colours` of ``names`` when given, else :func:`palette`.
        names: the label names (optional), used to choose colours that avoid each name's own hue.

    Returns:
        uint8 (H, W, 3).
    """
    n = int(labels.max()) + 1 if labels.size else 0
    if colours is None:
        colours = label_colours(names) if names is not None and len(names) >= n else palette(max(n, 1))
    out = image.astype(np.float32).copy()
    h, w = labels.shape
    period = max(2, min(h, w) // 32)
    rows, cols = np.indices((h, w))
    stripe = ((rows + cols) // period) % 2 == 0
    for i in range(n):
        m = labels == i
        if m.any():
            tint = m & stripe
            out[tint] = (1 - alpha) * out[tint] + alpha * colours[i]
            if contours:
                cs = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]
                cv2.drawContours(out, cs, -1, [float(c) for c in colours[i]], 1)
    return out.clip(0, 255).astype(np.uint8)


def add_legend(image: np.ndarray, names: Sequence[str], colours: np.ndarray | None = None,
               scale: float | None = None) -> np.ndarray:
    """Append a legend column (colour swatch + name per entry) to the right of ``image``: uint8 (H', W', 3).

    ``colours`` defaults to :func:`label_colours` of ``names``.
    """
    colours = label_colours(names) if colours is None else colours
    h = image.shape[0]
    scale = scale or max(0.35, min(1.0, h / 600))
    row = int(28 * scale) + 4
    text_w = max([cv2.getTextSize(n, cv2.FONT_HERSHEY_SIMPLEX, scale, 1)[0][0] for n in names] + [10])
    width = text_w + row + 16
    height = max(h, row * len(names) + 8)
    panel = np.full((height, width, 3), 255, np.uint8)
    for i, name in enumerate(names):
        y = 4 + i * row
        cv2.rectangle(panel, (6, y + 2), (6 + row - 6, y + row - 4), [int(c) for c in colours[i]], -1)
        cv2.rectangle(panel, (6, y + 2), (6 + row - 6, y + row - 4), (90, 90, 90), 1)  # edge: white swatches show
        cv2.putText(panel, name, (row + 6, y + row - 8), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    canvas = np.full((height, image.shape[1], 3), 255, np.uint8)
    canvas[:h] = image
    return np.concatenate([canvas, panel], 1)


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] = (), cols: int | None = None,
                size: float = 2.4, cmap: str | None = None, suptitle: str | None = None):
    """A grid of images (or float maps with ``cmap``) with titles; returns the matplotlib figure."""
    import matplotlib.pyplot as plt

    n = len(images)
    cols = cols or min(n, 6)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols, size * rows + (0.4 if suptitle else 0)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for i, img in enumerate(images):
        ax = axes.flat[i]
        ax.imshow(img, cmap=cmap, vmin=0 if cmap else None, vmax=1 if cmap else None, interpolation="nearest")
        if i < len(titles):
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def draw_heat(ax, image: np.ndarray, heat: np.ndarray, vmin: float = 0.0, vmax: float = 1.0, cmap: str | None = None,
              alpha: float = 0.75):
    """Draw a heat map over a dimmed gray copy of ``image`` on ``ax``; returns the heat map's image artist.

    The image is shown in gray (so its colours cannot be mistaken for heat) and the map in :data:`CAM_CMAP`, so the
    colour bar reads the values directly. Maps of another size than the image are stretched over it.

    Args:
        image: uint8 (H, W, 3) RGB.
        heat: float (h, w), any resolution, in [vmin, vmax].
    """
    h, w = image.shape[:2]
    gray = image.astype(np.float32).mean(-1) / 255.0
    ax.imshow(0.25 + 0.5 * gray, cmap="gray", vmin=0, vmax=1, extent=(0, w, h, 0), interpolation="nearest")
    art = ax.imshow(np.asarray(heat, dtype=np.float32), cmap=cmap or CAM_CMAP, alpha=alpha, vmin=vmin, vmax=vmax,
                    extent=(0, w, h, 0), interpolation="nearest")
    ax.set_xlim(0, w)
    ax.set_ylim(h, 0)
    return art


def _step_order(result, max_queries: int) -> list[int]:
    """Initial query indices to show: the final survivors first, then by best score; at most ``max_queries``."""
    best: dict[int, float] = {}
    for step in result.steps:
        for i, sc in zip(step.indices, step.scores):
            best[int(i)] = max(best.get(int(i), -1.0), float(sc))
    last = result.steps[-1]
    survivors = {int(i) for i, k in zip(last.indices, last.kept) if k}
    order = sorted(best, key=lambda i: (i not in survivors, -best[i], i))
    return order[:max_queries]


def show_steps(image: np.ndarray, result, theta: float | None = None, max_queries: int = 8, cols: int = 4):
    """The recurrence figure: a block of rows per step — each shown query's proposal, its score P_ii, its fate.

    Readable at page width: at most ``cols`` panels per row (default 4), 10 pt titles, one shared colour bar. The
    queries shown are the final survivors first, then the others by their best score, each in the same order at
    every step; a query removed at step t has no panel after it. From step 2 on each title also gives
    Δ, the mean absolute change of the proposal since the previous step (0 = the same map).

    Args:
        image: uint8 (H, W, 3), the segmented image.
        result: a :class:`car.model.Result`.
        theta: θ, drawn into the titles when given.
        max_queries: how many queries to show at most.
        cols: panels per row.
    """
    import matplotlib.pyplot as plt

    shown = _step_order(result, max_queries)
    blocks = []
    for step in result.steps:
        pos = {int(i): j for j, i in enumerate(step.indices)}
        blocks.append([(i, pos[i]) for i in shown if i in pos])
    cols = max(1, min(cols, max(len(b) for b in blocks)))
    nrows = [max(1, -(-len(b) // cols)) for b in blocks]
    fig, axes = plt.subplots(sum(nrows), cols, figsize=(2.35 * cols + 0.9, 2.45 * sum(nrows)), squeeze=False,
                             layout="constrained")
    for ax in axes.flat:
        ax.axis("off")
    previous: dict[int, np.ndarray] = {}
    art, row0 = None, 0
    for t, (step, block) in enumerate(zip(result.steps, blocks)):
        current: dict[int, np.ndarray] = {}
        for n, (i, j) in enumerate(block):
            ax = axes[row0 + n // cols, n % cols]
            p = np.asarray(step.proposals[j], dtype=np.float32)
            current[i] = p
            art = draw_heat(ax, image, p)
            k, sc = bool(step.kept[j]), float(step.scores[j])
            op = "" if theta is None else (" > θ" if k else " ≤ θ")
            delta = f" · Δ={np.abs(p - previous[i]).mean():.2f}" if i in previous else ""
            ax.set_title(f"{result.queries[i]}\nP={sc:.2f}{op} {'kept' if k else 'removed'}{delta}", fontsize=10,
                         color="tab:green" if k else "tab:red")
        lead = axes[row0, 0]
        lead.axis("on")
        lead.set_xticks([])
        lead.set_yticks([])
        for spine in lead.spines.values():
            spine.set_visible(False)
        lead.set_ylabel(f"step {t + 1}\n{len(step.queries)} queries in", fontsize=11)
        previous = current
        row0 += nrows[t]
    if art is not None:
        fig.colorbar(art, ax=axes, shrink=0.6, label="proposal $y_t$ (min–max normalised)")
    return fig


def label_figure(image: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Overlay + legend of the queries that appear in ``labels`` (the CLI's overlay PNG): uint8 (H, W', 3).

    Colours come from :func:`label_colours`, so no query is painted in the hue its name says.
    """
    present = [i for i in range(len(names)) if (labels == i).any()]
    colours = np.zeros((max(len(names), 1), 3), np.uint8)
    if present:
        colours[present] = label_colours([names[i] for i in present])
    return add_legend(overlay(image, labels, colours=colours), [names[i] for i in present], colours[present])


def table_html(columns: Sequence[str], rows: Sequence[tuple[str, Sequence]], title: str = "",
               label_header: str = "") -> str:
    """A small HTML table (rows = (label, values)); floats keep their printed precision, None prints "-"."""
    def cell(v) -> str:
        if v is None:
            return "-"
        if isinstance(v, bool):
            return "✓" if v else "×"
        if isinstance(v, (tuple, list)):
            return ", ".join(str(x) for x in v)
        return str(v)

    head = "".join(f"<th>{c}</th>" for c in [label_header, *columns])
    body = "".join("<tr><td style='text-align:left'>" + str(label) + "</td>"
                   + "".join(f"<td>{cell(v)}</td>" for v in values) + "</tr>" for label, values in rows)
    caption = f"<caption style='caption-side:top;text-align:left'><b>{title}</b></caption>" if title else ""
    return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def bar_chart(labels: Sequence[str], series: dict[str, Sequence[float]], title: str = "", ylabel: str = "mIoU",
              xlim: tuple[float, float] | None = None):
    """Grouped horizontal bars, one group per label and one bar per series (e.g. {"paper": [...], "toy": [...]}).

    The legend sits outside the axes (right), so it covers no bar or value; ``ylabel`` names the value axis
    (it is the horizontal one); ``xlim`` narrows it where differences are small (see also :func:`delta_chart`).
    """
    import matplotlib.pyplot as plt

    n, k = len(labels), len(series)
    fig, ax = plt.subplots(figsize=(7.5 if k > 1 else 6.5, 0.42 * n * max(1, k) + 1.3))
    height = 0.8 / max(k, 1)
    top = 0.0
    for j, (name, values) in enumerate(series.items()):
        ys = [i + j * height for i in range(n)]
        ax.barh(ys, [v if v is not None else 0 for v in values], height=height, label=name)
        for y, v in zip(ys, values):
            if v is not None:
                ax.text(v, y, f" {v:.1f}", va="center", fontsize=8)
                top = max(top, float(v))
    ax.set_yticks([i + height * (k - 1) / 2 for i in range(n)])
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(ylabel)
    ax.set_xlim(*(xlim or (0, max(top * 1.12, 1.0))))
    ax.set_title(title, fontsize=10)
    ax.grid(axis="x", alpha=0.3)
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
