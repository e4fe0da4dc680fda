"""Images in the book's figures: label overlays with legends (OpenCV), grids of images and of heat maps, the
recurrence figure and label maps side by side (matplotlib).

Overlays are hatched (:func:`overlay`), so an object keeps its own colour between the stripes of its label's; heat
maps (CAMs, proposals) use :data:`car.viz.colours.CAM_CMAP` over a dimmed gray copy of the image, with a colour
bar; legends sit outside the axes, so they cover no data. Figure functions return the matplotlib figure; the caller
shows it.
"""
from __future__ import annotations

from typing import Sequence

import cv2
import numpy as np

from car.viz.colours import CAM_CMAP, label_colours, palette


def fit_suptitle(fig, pad_inches: float = 0.45):
    """Re-run ``tight_layout`` leaving ``pad_inches`` at the top for the figure's suptitle; returns ``fig``.

    ``tight_layout`` ignores suptitles, so panel titles (especially two-line ones) collide with them; use it on
    figures from :func:`show_images` that have a ``suptitle``.
    """
    fig.tight_layout(rect=(0, 0, 1, max(0.5, 1 - pad_inches / fig.get_figheight())))
    return fig


def _panels(n: int, cols: int | None, size: float, extra_w: float = 0.0, extra_h: float = 0.0,
            row_h: float = 0.0, layout: str | None = None):
    """A grid of ``n`` panels, ``cols`` per row (default up to 6), each ``size`` inches, axes off → (fig, axes)."""
    import matplotlib.pyplot as plt

    cols = cols or min(n, 6)
    rows = (n + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(size * cols + extra_w, (size + row_h) * rows + extra_h),
                             squeeze=False, layout=layout)
    for ax in axes.flat:
        ax.axis("off")
    return fig, axes


def show_images(images: Sequence[np.ndarray], titles: Sequence[str] = (), cols: int | None = None,
                size: float = 2.4, cmap: str | None = None, suptitle: str | None = None):
    """A grid of images (uint8 (H, W, 3), or float (H, W) maps in [0, 1] with ``cmap``) with titles → the figure.

    For heat maps over one image use :func:`show_maps`.
    """
    fig, axes = _panels(len(images), cols, size, extra_h=0.4 if suptitle else 0.0)
    for i, img in enumerate(images):
        ax = axes.flat[i]
        ax.imshow(img, cmap=cmap, vmin=0 if cmap else None, vmax=1 if cmap else None, interpolation="nearest")
        if i < len(titles):
            ax.set_title(titles[i], fontsize=9)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    fig.tight_layout()
    return fig


def show_maps(image: np.ndarray, maps: Sequence[np.ndarray], titles: Sequence[str] = (), cols: int | None = None,
              size: float = 2.2, suptitle: str | None = None, colours: Sequence[str] | None = None,
              colorbar: str = "value"):
    """Heat maps (float (H, W) in [0, 1], any resolution) over one image, a panel each, with one colour bar.

    The same grid as :func:`show_images`; each map is drawn by :func:`draw_heat` (:data:`CAM_CMAP` over a dimmed
    gray copy of the image, so the image's own colours cannot be read as heat). Maps of another size than the
    image are stretched over it, so patch-grid CAMs can be shown as they are. ``colours`` sets each title's colour
    (e.g. green for queries that are in the image); ``colorbar`` labels the colour bar ("" for none).
    """
    fig, axes = _panels(len(maps), cols, size, extra_w=0.8 if colorbar else 0.0,
                        extra_h=0.45 if suptitle else 0.0, row_h=0.25, layout="constrained")
    art = None
    for i, m in enumerate(maps):
        ax = axes.flat[i]
        art = draw_heat(ax, image, m)
        if i < len(titles):
            ax.set_title(titles[i], fontsize=8, color=colours[i] if colours is not None else "black")
    rows = axes.shape[0]
    if art is not None and colorbar:
        fig.colorbar(art, ax=axes, shrink=min(0.9, 0.5 + 0.15 * rows), label=colorbar)
    if suptitle:
        fig.suptitle(suptitle, fontsize=11)
    return fig


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


def label_figure(image: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Overlay + legend of the queries that appear in ``labels`` (the CLI's overlay PNG): uint8 (H, W', 3).

    Colours come from :func:`label_colours`, so no query is painted in the hue its name says.
    """
    present = [i for i in range(len(names)) if (labels == i).any()]
    colours = np.zeros((max(len(names), 1), 3), np.uint8)
    if present:
        colours[present] = label_colours([names[i] for i in present])
    return add_legend(overlay(image, labels, colours=colours), [names[i] for i in present], colours[present])


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


def show_label_maps(image: np.ndarray, label_maps: Sequence[np.ndarray], names: Sequence[str],
                    titles: Sequence[str] = (), size: float = 3.0, suptitle: str | None = None,
                    images: Sequence[np.ndarray] | None = None):
    """Label maps over an image, side by side, with one shared legend of the names that appear.

    Args:
        image: uint8 (H, W, 3), the image under every map (or ``images``, one per map).
        label_maps: int (H, W) maps, index into ``names``, -1 = background (left uncoloured).
        names: the label names. The names that appear get :func:`car.viz.colours.label_colours` (never the hue a
            name says: "blue circle" is not painted blue), the same in every panel of the figure.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    images = list(images) if images is not None else [image] * len(label_maps)
    used: list[int] = []
    for labels in label_maps:
        used += [int(v) for v in np.unique(labels) if 0 <= v < len(names) and int(v) not in used]
    colours = np.zeros((max(len(names), 1), 3), np.uint8)
    if used:  # colours for the names that appear, chosen away from each name's own hue (label_colours)
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
