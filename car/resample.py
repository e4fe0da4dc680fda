"""Resampling of the two CLIP inputs and of the positional embedding: the official rules, or car's float path.

CaR resamples in three places (the reproduction ledger's rows R1–R3 cite both sides):

* the **CAM input** (f): the image resized up to multiples of 16 (official ``img_ms_and_flip``,
  ``modeling/model/utils.py:46-75``: torchvision ``Resize((h, w), BICUBIC)`` on a PIL image, so PIL's bicubic with
  an output rounded to uint8);
* the **classifier input** (g): shortest side to S, then a centre crop (CLIP's ``_transform``, ``clip/clip.py:79-86``:
  ``Resize(S)`` makes the long side ``int(S · long / short)``, PIL bicubic to uint8; ``CenterCrop(S)`` starts at
  ``int(round((side − S) / 2))``);
* the **positional embedding** resized bilinearly to the CAM grid and rounded to fp16 (official
  ``upsample_position_embedding``, ``modeling/model/clip_wrapper.py:72-102``, ``.half()`` at ``:101``).

A rule set is a :class:`Resampler`, found by name in :data:`RESAMPLERS` (``CaRConfig.resample``): ``"official"``
(the default) and ``"float"`` (torch's antialiased bicubic in float, the long side ``round(S · long / short)``, the
crop offset ``(side − S) // 2``, an fp32 positional embedding). Images that already have the target size are never
resampled, so the toy world's 64-pixel scenes and grids are the same under both.
"""
from __future__ import annotations

from abc import ABC, abstractmethod

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image


class Resampler(ABC):
    """One set of resampling rules. Subclasses implement :meth:`_resize` and may override the size rules."""

    name = ""

    def resize(self, images: np.ndarray, size: tuple[int, int], device: str | torch.device = "cpu") -> torch.Tensor:
        """uint8 (M, H, W, 3) → float32 (M, 3, h, w) in [0, 1] on ``device``, resized to ``size`` = (h, w).

        Images already of size (h, w) are only converted (x / 255), never resampled.
        """
        if tuple(size) == tuple(images.shape[1:3]):
            return _to_float(images, device)
        return self._resize(images, (int(size[0]), int(size[1])), device)

    @abstractmethod
    def _resize(self, images: np.ndarray, size: tuple[int, int], device: str | torch.device) -> torch.Tensor:
        """uint8 (M, H, W, 3) → float32 (M, 3, h, w) in [0, 1], ``size`` = (h, w) differing from (H, W)."""

    def short_side_size(self, shape: tuple[int, int], side: int) -> tuple[int, int]:
        """(h, w) of an (H, W) image whose shortest side is resized to ``side``, before the centre crop."""
        scale = side / min(shape)
        return max(side, round(shape[0] * scale)), max(side, round(shape[1] * scale))

    def crop_offsets(self, shape: tuple[int, int], side: int) -> tuple[int, int]:
        """(top, left) of the ``side`` x ``side`` centre crop of an (h, w) image."""
        return (shape[0] - side) // 2, (shape[1] - side) // 2

    def positional(self, embedding: torch.Tensor) -> torch.Tensor:
        """A resized positional embedding float (1 + n, E) as the model adds it."""
        return embedding


class OfficialResampler(Resampler):
    """The official code's rules: PIL bicubic to uint8, torchvision's ``Resize`` / ``CenterCrop`` arithmetic, and
    the resized positional embedding rounded to fp16."""

    name = "official"

    def _resize(self, images: np.ndarray, size: tuple[int, int], device: str | torch.device) -> torch.Tensor:
        h, w = size
        out = np.stack([np.asarray(Image.fromarray(im).resize((w, h), Image.Resampling.BICUBIC)) for im in images])
        return _to_float(out, device)  # (M, 3, h, w)

    def short_side_size(self, shape: tuple[int, int], side: int) -> tuple[int, int]:
        """torchvision ``Resize(side)``: the short side becomes ``side``, the long side ``int(side · long / short)``
        (truncated: 320 x 213 → 336 x 224)."""
        h, w = shape
        short, long = (w, h) if w <= h else (h, w)
        new_long = int(side * long / short)
        return (new_long, side) if w <= h else (side, new_long)

    def crop_offsets(self, shape: tuple[int, int], side: int) -> tuple[int, int]:
        """torchvision ``CenterCrop(side)``: ``int(round((h − side) / 2))`` (Python's round: half to even)."""
        return int(round((shape[0] - side) / 2.0)), int(round((shape[1] - side) / 2.0))

    def positional(self, embedding: torch.Tensor) -> torch.Tensor:
        """``nn.Parameter(embed.half())`` (``clip_wrapper.py:101``), added in the model's dtype."""
        return embedding.half().to(embedding.dtype)


class FloatResampler(Resampler):
    """car's float path: torch's antialiased bicubic on float images (clamped to [0, 1]); size rules of the base."""

    name = "float"

    def _resize(self, images: np.ndarray, size: tuple[int, int], device: str | torch.device) -> torch.Tensor:
        x = _to_float(images, device)
        return F.interpolate(x, size=size, mode="bicubic", align_corners=False, antialias=True).clamp(0, 1)


#: The rule sets by name (``CaRConfig.resample``).
RESAMPLERS: dict[str, Resampler] = {r.name: r for r in (OfficialResampler(), FloatResampler())}


def get_resampler(name: str) -> Resampler:
    """The :class:`Resampler` called ``name``.

    Raises:
        ValueError: an unknown name (the message lists the valid ones).
    """
    if name not in RESAMPLERS:
        raise ValueError(f"unknown resample {name!r}; valid: {', '.join(RESAMPLERS)}")
    return RESAMPLERS[name]


def _to_float(images: np.ndarray, device: str | torch.device) -> torch.Tensor:
    """uint8 (M, H, W, 3) → float32 (M, 3, H, W) in [0, 1] (torchvision ``ToTensor``: x / 255)."""
    images = np.require(images, requirements=["C", "W"])  # torch wants writable memory (a PIL view is not)
    return torch.from_numpy(images).to(device).permute(0, 3, 1, 2).float() / 255.0
