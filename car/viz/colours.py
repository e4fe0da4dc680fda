"""Colours of the book's figures: the label colours that never paint a name in its own hue, the heat-map colormap.

:func:`label_colours` reads the colour words in each name ("red circle", "grass") and never paints a region in (or
near) the hue its own name says — the toy world's concept names *are* colours, and a red overlay on a red circle
cannot be seen — nor, where the palette allows, in a hue that another name of the same figure says.
"""
from __future__ import annotations

import colorsys
from typing import Sequence

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
