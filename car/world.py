"""Which world a chapter, a test or the demo runs in: real CLIP, real CLIP with random weights, or the toy world.

* **real CLIP**: the OpenAI ViT-B/16 and ViT-L/14 weights are cached or downloadable (Colab, the published build);
* **random weights** (``CAR_RANDOM_WEIGHTS=1``): the same open_clip architectures, randomly initialised, so that
  every real-CLIP code path runs offline (CI). Numbers and figures from it show mechanics only, never results;
* **the toy world**: no weights here; the tiny CLIPs shipped with ``car``.

    >>> world = detect()
    >>> world.real, world.label
    (False, 'toy world')
"""
from __future__ import annotations

import functools
import importlib
import os
from dataclasses import dataclass

#: The environment variable that switches on the random-weights mode (tests only; never on by default).
RANDOM_WEIGHTS_ENV = "CAR_RANDOM_WEIGHTS"
RANDOM_LABEL = "real CLIP, random weights: mechanics only"
#: Modules that register a world's presets, datasets and background-query groups with the core. ``import car``
#: loads none of them; a registry asked for a name it does not hold loads them first (:func:`register_worlds`).
WORLD_MODULES = ("car.toy",)


@functools.cache
def register_worlds() -> None:
    """Import :data:`WORLD_MODULES` once, so that they register what they provide."""
    for name in WORLD_MODULES:
        importlib.import_module(name)


def random_weights() -> bool:
    """True when ``CAR_RANDOM_WEIGHTS`` asks for randomly initialised real architectures."""
    return os.environ.get(RANDOM_WEIGHTS_ENV, "").strip().lower() not in ("", "0", "false", "no")


@dataclass(frozen=True)
class World:
    """Where the models come from.

    Attributes:
        real: the real open_clip architectures are used (with pretrained or, in the random mode, random weights).
        random: the random-weights mode is on (``real`` is then True as well).
        label: what every figure title and table caption says about its source.
    """

    real: bool
    random: bool
    label: str

    def __str__(self) -> str:
        if self.random:
            return (f"World: {self.label} (ViT-B/16 + ViT-L/14 architectures with random weights; "
                    f"{RANDOM_WEIGHTS_ENV}=1)")
        if self.real:
            return "World: real CLIP (ViT-B/16 proposals, ViT-L/14 classifier)"
        return "World: toy world (no CLIP weights here: the tiny CLIPs shipped with car)"


def detect(models: tuple[str, ...] = ("ViT-B-16", "ViT-L-14"), pretrained: str = "openai") -> World:
    """The world this process can run: real when every model's weights are at hand (or random weights are on)."""
    from car.backbones import weights_available

    if random_weights():
        return World(True, True, RANDOM_LABEL)
    if all(weights_available(m, pretrained) for m in models):
        return World(True, False, "real CLIP")
    return World(False, False, "toy world")
