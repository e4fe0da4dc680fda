"""The worlds that plug into the core: modules that register presets, datasets, background-query groups and
backbones with the core's registries when imported.

``import car`` loads none of them; a registry asked for a name it does not hold calls :func:`register_worlds`
first (the preset folders of :mod:`car.config`, :func:`car.data.get_dataset`, the background groups of
:mod:`car.vocab`, :func:`car.backbones.load_clip`). This module imports nothing from ``car``, so every registry can
call it without an import circle.
"""
from __future__ import annotations

import functools
import importlib

#: Modules that register a world with the core (the toy world: its presets, splits, stuff groups and tiny CLIPs).
WORLD_MODULES = ("car.toy",)


@functools.cache
def register_worlds() -> None:
    """Import :data:`WORLD_MODULES` once, so that they register what they provide."""
    for name in WORLD_MODULES:
        importlib.import_module(name)
