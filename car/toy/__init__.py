"""The toy world: synthetic scenes, tiny CLIPs trained on them, and validation splits for every benchmark.

Importing it registers with the core the toy presets (:mod:`car.config`), the toy background-query groups (one
per stuff family, Table 6's analogue; :mod:`car.vocab`), the toy splits (:mod:`car.data`) and the tiny CLIPs
(:mod:`car.backbones`). ``import car``
does not import it: the core's registries do, the first time they are asked for a name they lack
(:func:`car.plugins.load_plugins`).
"""
from pathlib import Path

from car.config import register_config_dir
from car.toy.scenes import STUFF, STUFF_FAMILIES, THINGS
from car.vocab import register_background_group

register_config_dir("toy", Path(__file__).parent / "configs")

for _family, _words in STUFF_FAMILIES.items():
    register_background_group(f"toy_{_family}", _words)
register_background_group("toy_stuff", STUFF)

from car.toy import models, splits  # noqa: E402  (register the toy CLIPs and the toy datasets)

__all__ = ["THINGS", "STUFF", "STUFF_FAMILIES", "models", "splits"]
