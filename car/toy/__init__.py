"""The toy world: synthetic scenes, tiny CLIPs trained on them, and validation splits for every benchmark.

Importing it registers the toy background-query groups (one per stuff family, Table 6's analogue) with
:mod:`car.vocab` and the toy splits with :mod:`car.data`.
"""
from car.toy.scenes import STUFF, STUFF_FAMILIES, THINGS
from car.vocab import register_background_group

for _family, _words in STUFF_FAMILIES.items():
    register_background_group(f"toy_{_family}", _words)
register_background_group("toy_stuff", STUFF)

from car.toy import splits  # noqa: E402  (registers the toy datasets)

__all__ = ["THINGS", "STUFF", "STUFF_FAMILIES", "splits"]
