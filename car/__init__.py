"""CaR — CLIP as RNN (CVPR 2024): segment any text query with frozen CLIP models, no training.

    >>> from car import CaR
    >>> model = CaR.from_config("toy_voc")  # the preset's models: toy-b4 proposes (f), toy-l classifies (g)
    >>> result = model(image, ["red circle", "blue square"])
    >>> result.labels, result.masks, result.scores, result.steps

Shape letters, the same in every module's docstrings and shape comments: ``B`` a batch, ``N`` queries (and the
proposals, masks and scores that go with them), ``K`` background queries, ``M`` other masks or images (prompted
images, SAM masks), ``T`` templates, ``L`` blocks, ``n = h * w`` patch tokens on the ``(h, w)`` grid, ``H, W``
image size, ``E`` model width, ``D`` embedding size, ``C`` classes (label values; the CRF's background + ``N``),
``F`` frames of a video.
"""
from car.backbones import ClipBundle, WeightsUnavailableError, load_clip
from car.config import CaRConfig, list_configs, load_config
from car.image import load_image
from car.model import CaR, Result, Step
from car import results, world  # car.results.shipped(...) and car.world.detect() in every chapter

__version__ = "0.2.0"  # = pyproject.toml (tests check it)
__all__ = ["CaR", "Result", "Step", "load_clip", "ClipBundle", "WeightsUnavailableError", "CaRConfig",
           "load_config", "list_configs", "load_image", "__version__"]
