"""CaR — CLIP as RNN (CVPR 2024): segment any text query with frozen CLIP models, no training.

    >>> from car import CaR, load_clip
    >>> model = CaR(load_clip("toy-b"), config="toy_voc")
    >>> result = model(image, ["red circle", "blue square"])
    >>> result.labels, result.masks, result.scores, result.steps
"""
from car.backbones import ClipBundle, WeightsUnavailableError, load_clip
from car.config import CaRConfig, list_configs, load_config
from car.image import load_image
from car.model import CaR, Result, Step
from car import results, world  # car.results.shipped(...) and car.world.detect() in every chapter

__version__ = "0.2.0"  # = pyproject.toml (tests check it)
__all__ = ["CaR", "Result", "Step", "load_clip", "ClipBundle", "WeightsUnavailableError", "CaRConfig",
           "load_config", "list_configs", "load_image", "__version__"]
