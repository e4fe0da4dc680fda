"""Synthetic scenes of the toy world: textured "stuff" backgrounds and coloured "things", with exact masks.

Every scene is a pure function of a seed: ``render(sample_scene(rng, ...))`` draws the same pixels on any
machine. Things are colour x shape concepts ("red circle"); stuff is one of ten named textures in three
families that mirror the paper's background groups (Supp. D).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import cv2
import numpy as np

COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (220, 30, 30),
    "green": (30, 190, 60),
    "blue": (40, 70, 230),
    "yellow": (245, 215, 30),
    "purple": (150, 50, 200),
    "orange": (250, 135, 20),
}
SHAPES: tuple[str, ...] = ("circle", "square", "triangle", "cross")
#: Each shape's surface pattern (darker bands of the thing's own colour). Object categories in photos carry a
#: characteristic texture in every patch (fur, wheels, leaves); outlines alone are the last thing a tiny ViT learns:
#: trained for 1,100 steps on plain shapes, toy-b named colours perfectly and shapes at chance (25 %).
PATTERNS: dict[str, str] = {"circle": "solid", "square": "horizontal stripes", "triangle": "diagonal stripes",
                            "cross": "checks"}
THINGS: tuple[str, ...] = tuple(f"{c} {s}" for s in SHAPES for c in COLOURS)  # 24 concepts

STUFF_FAMILIES: dict[str, tuple[str, ...]] = {
    "terrestrial": ("grass", "sand", "rock"),
    "aquatic_atmospheric": ("water", "sky", "snow"),
    "man_made": ("wall", "road", "floor", "tiles"),
}
STUFF: tuple[str, ...] = tuple(s for fam in STUFF_FAMILIES.values() for s in fam)  # 10 textures

SIZES: dict[str, tuple[float, float]] = {  # radius as a fraction of the image side
    "small": (0.11, 0.14),
    "medium": (0.16, 0.20),
    "large": (0.22, 0.27),
}


@dataclass(frozen=True)
class Thing:
    """One object: ``concept`` is "colour shape"; centre and radius in pixels of the rendered image."""

    colour: str
    shape: str
    size: str
    cx: float
    cy: float
    radius: float
    shade: tuple[int, int, int] = (0, 0, 0)  # small per-object colour jitter

    @property
    def concept(self) -> str:
        return f"{self.colour} {self.shape}"

    @property
    def rgb(self) -> np.ndarray:
        """The thing's own colour: its concept's colour plus its shade, int (3,) in [0, 255]."""
        return np.clip(np.array(COLOURS[self.colour]) + np.array(self.shade), 0, 255)


@dataclass(frozen=True)
class Scene:
    """A scene description; :func:`render` turns it into pixels and masks.

    ``stuff`` holds one or two texture names; with two, ``split`` is the row (fraction of the height)
    where the upper texture ends.
    """

    size: int
    stuff: tuple[str, ...]
    split: float
    things: tuple[Thing, ...]
    seed: int = 0


@dataclass
class Rendered:
    """Pixels and exact ground truth of a scene.

    Attributes:
        image: uint8 (H, W, 3) RGB.
        thing_masks: bool (K, H, W), the visible pixels of each thing (later things occlude earlier ones).
        stuff_masks: bool (S, H, W), the visible pixels of each stuff texture.
    """

    scene: Scene
    image: np.ndarray
    thing_masks: np.ndarray
    stuff_masks: np.ndarray = field(repr=False)


# --------------------------------------------------------------------------- textures
def _noise(rng: np.random.Generator, size: int, scale: int) -> np.ndarray:
    """Smooth value noise in [0, 1], float32 (size, size); ``scale`` = cells per side."""
    cells = rng.random((scale + 1, scale + 1)).astype(np.float32)
    return cv2.resize(cells, (size, size), interpolation=cv2.INTER_CUBIC).clip(0, 1)


def texture(name: str, size: int, rng: np.random.Generator) -> np.ndarray:
    """A ``size`` x ``size`` uint8 RGB texture of stuff ``name`` (one of :data:`STUFF`)."""
    s = size / 64.0
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    fine = rng.random((size, size)).astype(np.float32)
    if name == "grass":
        img = np.array([60, 140, 45], np.float32) * (0.8 + 0.3 * _noise(rng, size, 4))[..., None]
        for _ in range(int(90 * s * s)):
            x, y = int(rng.integers(0, size)), int(rng.integers(0, size))
            shade = (30, 100 + int(rng.integers(0, 60)), 25)
            cv2.line(img, (x, y), (x + int(rng.integers(-1, 2)), y - max(2, int(4 * s))), shade, 1)
    elif name == "sand":
        img = np.array([215, 190, 135], np.float32) * (0.85 + 0.15 * fine)[..., None]
        img += 12 * np.sin(xx / (3 * s) + 2 * _noise(rng, size, 3))[..., None]
    elif name == "rock":
        base = 0.55 + 0.35 * _noise(rng, size, 6) + 0.1 * fine
        img = np.stack([base * 125, base * 120, base * 115], -1)
        cracks = np.abs(_noise(rng, size, 5) - 0.5) < 0.03
        img[cracks] *= 0.4
    elif name == "water":
        phase = 4 * _noise(rng, size, 3)
        wave = 0.5 + 0.5 * np.sin(yy / (1.6 * s) + phase)
        img = np.stack([30 + 40 * wave, 90 + 50 * wave, 170 + 50 * wave], -1)
    elif name == "sky":
        grad = yy / size
        img = np.stack([110 + 70 * grad, 165 + 45 * grad, 235 + 10 * grad], -1)
        clouds = _noise(rng, size, 3) > 0.68
        img[clouds] = img[clouds] * 0.2 + 0.8 * np.array([250, 250, 250], np.float32)
    elif name == "snow":
        img = np.array([238, 242, 248], np.float32) - 25 * (fine > 0.93)[..., None].astype(np.float32)
        img -= 10 * _noise(rng, size, 4)[..., None]
    elif name == "wall":
        img = np.full((size, size, 3), (205, 200, 190), np.float32)  # mortar
        bh, bw = max(3, int(6 * s)), max(6, int(12 * s))
        for r in range(0, size, bh):
            off = (r // bh % 2) * bw // 2
            for c in range(-bw, size, bw):
                tone = 0.85 + 0.3 * rng.random()
                cv2.rectangle(img, (c + off + 1, r + 1), (c + off + bw - 1, r + bh - 1),
                              (165 * tone, 65 * tone, 45 * tone), -1)
    elif name == "road":
        img = np.array([75, 75, 80], np.float32) * (0.85 + 0.3 * fine)[..., None]
        y = size // 2
        for x in range(0, size, max(6, int(12 * s))):
            cv2.rectangle(img, (x, y - max(1, int(s))), (x + max(3, int(6 * s)), y + max(1, int(s))),
                          (240, 210, 40), -1)
    elif name == "floor":
        pw = max(5, int(10 * s))
        grain = 0.8 + 0.2 * np.sin(xx / (0.8 * s) + 6 * _noise(rng, size, 2))
        plank = (0.85 + 0.3 * rng.random(size // pw + 2))[(xx // pw).astype(int)]
        img = np.stack([150 * grain * plank, 100 * grain * plank, 55 * grain * plank], -1)
        img[:, ::pw] *= 0.5
    elif name == "tiles":
        t = max(4, int(8 * s))
        check = ((xx // t + yy // t) % 2).astype(np.float32)
        img = np.stack([225 - 40 * check, 225 - 40 * check, 230 - 35 * check], -1)
        img[(xx % t == 0) | (yy % t == 0)] = (90, 90, 95)
    else:
        raise ValueError(f"unknown stuff {name!r}; valid: {', '.join(STUFF)}")
    return np.clip(img, 0, 255).astype(np.uint8)


# --------------------------------------------------------------------------- things
def _shape_mask(thing: Thing, size: int) -> np.ndarray:
    """bool (size, size): the pixels of ``thing`` drawn alone."""
    m = np.zeros((size, size), np.uint8)
    cx, cy, r = int(round(thing.cx)), int(round(thing.cy)), max(2, int(round(thing.radius)))
    if thing.shape == "circle":
        cv2.circle(m, (cx, cy), r, 1, -1)
    elif thing.shape == "square":
        h = int(round(r * 0.85))
        cv2.rectangle(m, (cx - h, cy - h), (cx + h, cy + h), 1, -1)
    elif thing.shape == "triangle":
        pts = np.array([[cx, cy - r], [cx - int(r * 0.95), cy + int(r * 0.75)],
                        [cx + int(r * 0.95), cy + int(r * 0.75)]], np.int32)
        cv2.fillPoly(m, [pts], 1)
    elif thing.shape == "cross":
        w = max(1, int(round(r * 0.33)))
        cv2.rectangle(m, (cx - r, cy - w), (cx + r, cy + w), 1, -1)
        cv2.rectangle(m, (cx - w, cy - r), (cx + w, cy + r), 1, -1)
    else:
        raise ValueError(f"unknown shape {thing.shape!r}; valid: {', '.join(SHAPES)}")
    return m.astype(bool)


def pattern(shape: str, size: int) -> np.ndarray:
    """float (size, size) brightness factor of a shape's surface pattern (1 = full colour, 0.55 = band)."""
    period = max(2, round(2 * size / 64))
    y, x = np.mgrid[0:size, 0:size]
    yy, xx = y // period, x // period
    band = {"solid": np.zeros_like(y, bool), "horizontal stripes": yy % 2 == 0,
            "diagonal stripes": ((x + y) // period) % 2 == 0, "checks": (xx % 2 == 0) & (yy % 2 == 0)}[PATTERNS[shape]]
    return np.where(band, 0.55, 1.0)


def render(scene: Scene) -> Rendered:
    """Draw ``scene``: textures, then things in order (later ones on top), with exact masks."""
    rng = np.random.default_rng(scene.seed)
    size = scene.size
    image = np.empty((size, size, 3), np.uint8)
    stuff_masks = np.zeros((len(scene.stuff), size, size), bool)
    cut = int(round(scene.split * size)) if len(scene.stuff) == 2 else size
    for i, name in enumerate(scene.stuff):
        rows = slice(0, cut) if i == 0 else slice(cut, size)
        image[rows] = texture(name, size, rng)[rows]
        stuff_masks[i, rows] = True
    thing_masks = np.zeros((len(scene.things), size, size), bool)
    for k, thing in enumerate(scene.things):
        m = _shape_mask(thing, size)
        colour = thing.rgb
        shading = (0.9 + 0.1 * rng.random((size, size, 1))) * pattern(thing.shape, size)[..., None]
        image[m] = np.clip(colour * shading[m], 0, 255).astype(np.uint8)
        thing_masks[:k, m] = False
        thing_masks[k] = m
        stuff_masks[:, m] = False
    return Rendered(scene, image, thing_masks, stuff_masks)


def sample_scene(
    rng: np.random.Generator,
    size: int = 64,
    num_things: tuple[int, int] = (1, 3),
    num_stuff: tuple[int, int] = (1, 1),
    things: tuple[str, ...] = THINGS,
    stuff: tuple[str, ...] = STUFF,
    distinct: bool = True,
    max_overlap: float = 0.25,
) -> Scene:
    """Sample a scene description.

    Args:
        rng: the random generator (the only source of randomness).
        size: image side in pixels.
        num_things: inclusive range of the number of things.
        num_stuff: inclusive range of the number of stuff textures (1 or 2).
        things: the concepts to draw from ("colour shape").
        stuff: the textures to draw from.
        distinct: no concept twice in one scene (semantic splits); False allows repeats (referring splits).
        max_overlap: largest allowed overlap of two things' bounding discs, as a fraction of the smaller one.
    """
    n_stuff = int(rng.integers(num_stuff[0], num_stuff[1] + 1))
    stuff_names = tuple(rng.choice(stuff, size=n_stuff, replace=False).tolist())
    split = float(rng.uniform(0.35, 0.65))
    n = int(rng.integers(num_things[0], num_things[1] + 1))
    concepts = rng.choice(things, size=n, replace=not distinct).tolist()
    placed: list[Thing] = []
    for concept in concepts:
        colour, shape = concept.split(" ")
        for _ in range(50):  # rejection sampling of a position with little overlap
            size_name = str(rng.choice(list(SIZES)))
            lo, hi = SIZES[size_name]
            r = float(rng.uniform(lo, hi)) * size
            cx, cy = (float(v) for v in rng.uniform(r, size - r, size=2))
            ok = all(np.hypot(cx - t.cx, cy - t.cy) > (r + t.radius) - 2 * max_overlap * min(r, t.radius)
                     for t in placed)
            if ok:
                shade = tuple(int(v) for v in rng.integers(-20, 21, size=3))
                placed.append(Thing(colour, shape, size_name, cx, cy, r, shade))
                break
    return Scene(size, stuff_names, split, tuple(placed), int(rng.integers(0, 2**31 - 1)))
