"""Drawing: label overlays with legends (OpenCV) and the figures of the book (matplotlib).

Every chapter plots through these functions, so a figure style is defined once.
"""
from __future__ import annotations

import colorsys
from typing import Sequence

import cv2
import numpy as np


def palette(n: int, seed: int = 0) -> np.ndarray:
    """``n`` well-separated saturated colours, uint8 (n, 3) RGB (evenly spaced hues, golden-ratio order)."""
    hues = [((seed * 0.1 + i * 0.618033988749895) % 1.0) for i in range(n)]
    return np.array([[int(255 * c) for c in colorsys.hsv_to_rgb(h, 0.85, 0.95)] for h in hues], np.uint8).reshape(n, 3)


def overlay(image: np.ndarray, labels: np.ndarray, alpha: float = 0.55, colours: np.ndarray | None = None,
            contours: bool = True) -> np.ndarray:
    """Blend a label map onto an image.

    Args:
        image: uint8 (H, W, 3) RGB.
        labels: int (H, W), query index per pixel, -1 = background (left untouched).
        colours: uint8 (N, 3); default :func:`palette`.

    Returns:
        uint8 (H, W, 3).
    """
    n = int(labels.max()) + 1 if labels.size else 0
    colours = palette(max(n, 1)) if colours is None else colours
    out = image.astype(np.float32).copy()
    for i in range(n):
        m = labels == i
        if m.any():
            out[m] = (1 - alpha) * out[m] + alpha * colours[i]
            if contours:
                cs = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)[0]
                cv2.drawContours(out, cs, -1, [float(c) for c in colours[i]], 1)
    return out.clip(0, 255).astype(np.uint8)


def add_legend(image: np.ndarray, names: Sequence[str], colours: np.ndarray | None = None,
               scale: float | None = None) -> np.ndarray:
    """Append a legend column (colour swatch + name per entry) to the right of ``image``: uint8 (H', W', 3)."""
    colours = palette(max(len(names), 1)) if colours is None else colours
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


def show_steps(image: np.ndarray, result, theta: float | None = None, max_queries: int = 8):
    """The recurrence figure: one row per step, one column per query — the proposal, its score P_ii, kept or removed.

    Args:
        image: uint8 (H, W, 3), the segmented image.
        result: a :class:`car.model.Result`.
        theta: θ, drawn into the titles when given.
    """
    import matplotlib.pyplot as plt

    steps = result.steps
    cols = min(max(len(s.queries) for s in steps), max_queries) + 1
    fig, axes = plt.subplots(len(steps), cols, figsize=(1.9 * cols, 2.1 * len(steps)), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for t, step in enumerate(steps):
        axes[t, 0].imshow(image)
        axes[t, 0].set_title(f"step {t + 1}: {len(step.queries)} queries", fontsize=9)
        for j, (q, s, k, p) in enumerate(zip(step.queries, step.scores, step.kept, step.proposals)):
            if j + 1 >= cols:
                break
            ax = axes[t, j + 1]
            ax.imshow(image)
            ax.imshow(p, cmap="jet", alpha=0.5, vmin=0, vmax=1)
            verdict = "kept" if k else "removed"
            op = "" if theta is None else (" > θ" if k else " ≤ θ")
            ax.set_title(f"{q}\nP={s:.2f}{op} {verdict}", fontsize=8, color="green" if k else "red")
    fig.tight_layout()
    return fig


def label_figure(image: np.ndarray, labels: np.ndarray, names: Sequence[str]) -> np.ndarray:
    """Overlay + legend of the queries that appear in ``labels`` (the CLI's overlay PNG): uint8 (H, W', 3)."""
    colours = palette(max(len(names), 1))
    present = [i for i in range(len(names)) if (labels == i).any()]
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


def bar_chart(labels: Sequence[str], series: dict[str, Sequence[float]], title: str = "", ylabel: str = "mIoU"):
    """Grouped horizontal bars, one group per label and one bar per series (e.g. {"paper": [...], "toy": [...]})."""
    import matplotlib.pyplot as plt

    n, k = len(labels), len(series)
    fig, ax = plt.subplots(figsize=(7, 0.45 * n * max(1, k) + 1.2))
    height = 0.8 / max(k, 1)
    for j, (name, values) in enumerate(series.items()):
        ys = [i + j * height for i in range(n)]
        ax.barh(ys, [v if v is not None else 0 for v in values], height=height, label=name)
        for y, v in zip(ys, values):
            if v is not None:
                ax.text(v, y, f" {v:.1f}", va="center", fontsize=8)
    ax.set_yticks([i + height * (k - 1) / 2 for i in range(n)])
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    return fig
