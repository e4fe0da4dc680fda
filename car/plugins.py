"""Plug-ins: modules that register presets, datasets, background-query groups and backbones with the core's
registries when imported (the one shipped is the toy world, :mod:`car.toy`).

``import car`` loads none of them; a registry asked for a name it does not hold calls :func:`load_plugins`
first (the preset folders of :mod:`car.config`, :func:`car.data.get_dataset`, the background groups of
:mod:`car.vocab`, :func:`car.backbones.load_clip`). This module imports nothing from ``car``, so every registry can
call it without an import circle.
"""
from __future__ import annotations

import functools
import importlib

#: Modules that register with the core when imported (the toy world: its presets, splits, stuff groups, tiny CLIPs).
PLUGIN_MODULES = ("car.toy",)


@functools.cache
def load_plugins() -> None:
    """Import :data:`PLUGIN_MODULES` once, so that they register what they provide."""
    for name in PLUGIN_MODULES:
        importlib.import_module(name)
