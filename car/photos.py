"""Real photographs that ship inside scikit-image (``skimage.data``), so that the book and the demo show real photos
offline. Each carries its source and licence as scikit-image states them, open-vocabulary queries in the spirit of
the paper's Figure 1 (absent ones included on purpose, and named: the recurrence should remove them), referring
expressions (one that matches nothing among them), and a hand-drawn ellipse around its main object — a stand-in
mask for the chapters that need no CLIP (visual prompts, dense CRF), never a segmentation. No query names what a
visual prompt draws (a red circle, a blur, a gray or black background), so that real CLIP cannot match a query to
the prompt instead of the object.

    >>> image = load_photo("coffee")          # uint8 (400, 600, 3)
    >>> mask = object_mask("coffee")          # bool (400, 600): the cup, drawn by hand (not a segmentation)
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Photo:
    """A photograph of ``skimage.data``.

    Attributes:
        title: a short name to show.
        queries: open-vocabulary queries, present and absent.
        credit: source and licence as scikit-image's docstring gives them.
        object: the main object's name, and its hand-drawn ellipse ``(cx, cy, ax, ay)`` in pixels.
        absent: the queries and expressions that name nothing in the photo (looked at by hand).
        expressions: referring expressions, each naming one thing of the photo or (those in ``absent``) nothing.
    """

    title: str
    queries: tuple[str, ...]
    credit: str
    object: tuple[str, tuple[int, int, int, int]]
    absent: tuple[str, ...] = ()
    expressions: tuple[str, ...] = ()

    @property
    def present(self) -> tuple[str, ...]:
        """The queries that name something in the photo."""
        return tuple(q for q in self.queries if q not in self.absent)

    @property
    def absent_queries(self) -> tuple[str, ...]:
        """The queries that name nothing in the photo (the recurrence should remove them)."""
        return tuple(q for q in self.queries if q in self.absent)


PHOTOS: dict[str, Photo] = {
    "astronaut": Photo("astronaut (NASA)", ("astronaut", "American flag", "space shuttle", "dog", "Eiffel Tower"),
                       "Eileen Collins, NASA Great Images database; public domain", ("space shuttle", (412, 140, 55, 145)),
                       absent=("dog", "Eiffel Tower", "the dog on the sofa"),
                       expressions=("the woman in the orange spacesuit", "the helmet in the lower right corner",
                                    "the dog on the sofa")),
    "coffee": Photo("coffee", ("coffee cup", "saucer", "spoon", "table", "cat"),
                    "Rachel Michetti, courtesy of Pikolo Espresso Bar; CC0", ("coffee cup", (292, 140, 118, 112)),
                    absent=("cat", "the glass of water"),
                    expressions=("the cup of coffee", "the spoon on the saucer", "the glass of water")),
    "chelsea": Photo("chelsea the cat", ("cat", "dog", "sofa"), "Stefan van der Walt; CC0",
                     ("cat", (225, 160, 150, 140)), absent=("dog", "sofa", "the dog"),
                     expressions=("the cat's eyes", "the cat's nose", "the dog")),
    "rocket": Photo("rocket (SpaceX)", ("rocket", "launch tower", "sky", "airplane", "car"),
                    "DSCOVR on Falcon 9, SpaceX; public domain", ("rocket", (320, 200, 40, 200)),
                    absent=("airplane", "car", "the helicopter in the sky"),
                    expressions=("the rocket on the launch pad", "the tower on the far left",
                                 "the helicopter in the sky")),
}


#: Queries that name nothing in any of the photos (checked by hand): absent things to add to a photo's own queries,
#: so that real CLIP faces a vocabulary in which most queries are absent, as CaR does on a benchmark.
DISTRACTORS: tuple[str, ...] = ("bicycle", "horse", "pizza", "guitar", "umbrella", "banana", "giraffe", "bus",
                                "sheep", "toilet", "laptop")


def vocabulary(key: str, size: int) -> list[str]:
    """The photo's own queries, then :data:`DISTRACTORS`, ``size`` in all (at most all of both).

    Raises:
        ValueError: an unknown key (the valid ones are listed).
    """
    if key not in PHOTOS:
        raise ValueError(f"unknown photo {key!r}; available: {', '.join(PHOTOS)}")
    return list(PHOTOS[key].queries + DISTRACTORS)[:max(size, 0)]


def load_photo(key: str) -> np.ndarray:
    """``skimage.data.<key>()`` as uint8 (H, W, 3) RGB.

    Raises:
        ValueError: an unknown key (the valid ones are listed).
        ImportError: scikit-image is missing (with the install command).
    """
    if key not in PHOTOS:
        raise ValueError(f"unknown photo {key!r}; available: {', '.join(PHOTOS)}")
    try:
        import skimage.data
    except ImportError as e:
        raise ImportError("the bundled photos need scikit-image: pip install scikit-image") from e
    from car.image import to_rgb_uint8

    return to_rgb_uint8(getattr(skimage.data, key)())


def object_mask(key: str) -> np.ndarray:
    """The hand-drawn ellipse around the photo's main object: bool (H, W). A stand-in mask for the mechanisms that
    need no CLIP (prompts, CRF), not a segmentation."""
    image = load_photo(key)
    cx, cy, ax, ay = PHOTOS[key].object[1]
    mask = np.zeros(image.shape[:2], np.uint8)
    cv2.ellipse(mask, (cx, cy), (ax, ay), 0, 0, 360, 1, -1)
    return mask.astype(bool)


def credit_line(key: str) -> str:
    """``skimage.data.<key>(): <source and licence>`` for a figure caption."""
    return f"skimage.data.{key}(): {PHOTOS[key].credit}"
