"""Loading CLIP through open_clip, and a resolution-agnostic ViT forward built from the model's own modules.

Three sources, one record (:class:`ClipBundle`):

* an open_clip architecture and pretrained tag, ``load_clip("ViT-B-16", "openai")`` (what Colab readers run);
  ``pretrained=None`` builds the architecture with random weights (tests, benchmarks);
* a local checkpoint file, ``load_clip("ViT-B-16", "/path/to/weights.safetensors")``;
* a registered backbone (:func:`register_backbone`): the toy world registers its tiny CLIPs, ``load_clip("toy-b")``
  / ``"toy-l"`` / ``"toy-b4"``, and its checkpoint files (:func:`register_checkpoint_loader`, ``.pt``) when it is
  first asked for (:func:`car.plugins.load_plugins`); this module never imports the toy world.

With ``CAR_RANDOM_WEIGHTS=1`` (:func:`random_weights`; CI only), a pretrained tag such as ``"openai"`` builds the
same architecture with seeded random weights, so every real-CLIP path runs offline; its ``pretrained`` says so.

Without weights and without network the loader fails within seconds with one line that says what is missing
and how to get it, instead of open_clip's retries.
"""
from __future__ import annotations

import difflib
import functools
import math
import os
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np
import torch
import torch.nn.functional as F

if TYPE_CHECKING:  # open_clip (and torchvision) load with the first model, not with `import car`
    import open_clip

from car.plugins import load_plugins
from car.resample import get_resampler

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
_HUB_HOST = ("huggingface.co", 443)
#: The environment variable that switches on the random-weights mode (tests only; never on by default).
RANDOM_WEIGHTS_ENV = "CAR_RANDOM_WEIGHTS"


def random_weights() -> bool:
    """True when ``CAR_RANDOM_WEIGHTS`` asks for randomly initialised real architectures."""
    return os.environ.get(RANDOM_WEIGHTS_ENV, "").strip().lower() not in ("", "0", "false", "no")


class WeightsUnavailableError(RuntimeError):
    """Pretrained weights are neither cached nor downloadable here."""


@dataclass
class ClipBundle:
    """A CLIP model with everything needed to feed it.

    Attributes:
        model: open_clip ``CLIP`` in eval mode with frozen parameters.
        tokenizer: ``tokenizer(list[str]) -> int64 (B, context_length)``.
        name: architecture name ("ViT-B-16", "toy-b", ...); ``pretrained`` the weights tag or path (None = random).
        mean, std: the image normalisation.
    """

    model: open_clip.CLIP
    tokenizer: Callable[[list[str]], torch.Tensor]
    name: str
    pretrained: str | None
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    _pos_cache: dict = field(default_factory=dict, repr=False)

    @property
    def visual(self) -> torch.nn.Module:
        return self.model.visual

    @property
    def patch_size(self) -> int:
        p = self.model.visual.patch_size
        return int(p[0] if isinstance(p, (tuple, list)) else p)

    @property
    def image_size(self) -> int:
        s = self.model.visual.image_size
        return int(s[0] if isinstance(s, (tuple, list)) else s)

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    @property
    def logit_scale(self) -> float:
        """exp(logit_scale): 100 for OpenAI CLIP (the official code's constant)."""
        return float(self.model.logit_scale.exp())

    @property
    def is_toy(self) -> bool:
        """A registered local backbone (the toy world's tiny CLIPs), not an open_clip architecture."""
        return self.name in _BACKBONES

    @property
    def context_length(self) -> int:
        return int(getattr(self.tokenizer, "context_length", 77))

    def __repr__(self) -> str:
        return f"ClipBundle({self.name!r}, pretrained={self.pretrained!r})"


# --------------------------------------------------------------------------- the backbone registry
#: Loaders of named local backbones, ``loader(device) -> ClipBundle`` (:func:`register_backbone`).
_BACKBONES: dict[str, Callable[[torch.device | str], "ClipBundle"]] = {}
#: Loaders of checkpoint files by suffix, ``loader(path, device) -> ClipBundle`` (:func:`register_checkpoint_loader`).
_CHECKPOINT_LOADERS: dict[str, Callable[[Path, torch.device | str], "ClipBundle"]] = {}


def register_backbone(name: str, loader: Callable[[torch.device | str], ClipBundle]) -> None:
    """Make ``load_clip(name)`` call ``loader(device)`` (the toy world registers ``toy-b``, ``toy-l``, ``toy-b4``)."""
    _BACKBONES[name] = loader


def register_checkpoint_loader(suffix: str, loader: Callable[[Path, torch.device | str], ClipBundle]) -> None:
    """Make ``load_clip(path)`` of an existing file ending in ``suffix`` call ``loader(path, device)``."""
    _CHECKPOINT_LOADERS[suffix] = loader


def list_backbones() -> list[str]:
    """The registered backbone names (the plug-ins' included), sorted; open_clip's are ``open_clip.list_models()``."""
    load_plugins()
    return sorted(_BACKBONES)


def _registered(name: str) -> Callable[[torch.device | str], ClipBundle] | None:
    """The loader of a registered backbone name or checkpoint path, loading the plug-ins on a miss."""
    for _ in range(2):
        if name in _BACKBONES:
            return _BACKBONES[name]
        suffix = Path(name).suffix
        if suffix in _CHECKPOINT_LOADERS and Path(name).is_file():
            return functools.partial(_CHECKPOINT_LOADERS[suffix], Path(name))
        if name.startswith("toy-") or suffix:  # maybe a world's name or file: register the worlds, look again
            load_plugins()
        else:
            return None
    return None


# --------------------------------------------------------------------------- loading
def load_clip(name: str, pretrained: str | None = "openai", *, device: str | torch.device = "auto",
              cache_dir: str | None = None) -> ClipBundle:
    """Load a CLIP model as a :class:`ClipBundle`.

    Args:
        name: an open_clip architecture (``open_clip.list_models()``), a registered backbone
            (:func:`list_backbones`: ``"toy-b"``, ``"toy-l"``, ``"toy-b4"``), or the path of a toy checkpoint.
        pretrained: an open_clip pretrained tag (``"openai"``), a local weights file, or None for random weights.
            Ignored for toy models.
        device: where the model lives; "auto" = CUDA when available, else the CPU (:mod:`car.devices`).
        cache_dir: open_clip / Hugging Face cache folder (default: their defaults).

    Raises:
        ValueError: unknown architecture or tag (the message lists valid ones).
        WeightsUnavailableError: the weights are not cached and cannot be downloaded (offline).
        FileNotFoundError: a weights path that does not exist.
    """
    import open_clip

    from car.devices import resolve_device

    device = resolve_device(device)
    loader = _registered(str(name))
    if loader is not None:
        return loader(device)
    if name not in open_clip.list_models():
        close = difflib.get_close_matches(name, open_clip.list_models() + list_backbones(), n=3)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise ValueError(f"unknown CLIP model {name!r}.{hint} See open_clip.list_models(), or use one of "
                         f"{', '.join(list_backbones())} (car.backbones.list_backbones()).")
    if pretrained is not None and _is_hub_tag(pretrained) and random_weights():
        return _random_stand_in(name, pretrained, str(device))
    kwargs: dict = {}
    if pretrained is not None:
        weights, kwargs = _resolve_weights(name, pretrained, cache_dir)
        pretrained_arg: str | None = weights
    else:
        pretrained_arg = None
    model = open_clip.create_model(name, pretrained=pretrained_arg, device=device, cache_dir=cache_dir, **kwargs)
    model.eval().requires_grad_(False)
    return ClipBundle(model, open_clip.get_tokenizer(name), name, pretrained)


def _is_hub_tag(pretrained: str) -> bool:
    """A pretrained tag such as "openai" (not a local weights file)."""
    return os.path.sep not in pretrained and not pretrained.endswith((".pt", ".pth", ".bin", ".safetensors"))


@functools.lru_cache(maxsize=4)
def _random_stand_in(name: str, pretrained: str, device: str) -> ClipBundle:
    """The random-weights mode (``CAR_RANDOM_WEIGHTS=1``): the tag's architecture, seeded random weights.

    One model per (name, device) per process: a chapter that loads ViT-L/14 twice initialises it once.
    """
    import open_clip
    if pretrained not in open_clip.list_pretrained_tags_by_model(name):
        raise ValueError(f"unknown pretrained tag {pretrained!r} for {name}; "
                         f"available: {', '.join(open_clip.list_pretrained_tags_by_model(name))}")
    cfg = open_clip.get_pretrained_cfg(name, pretrained)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = open_clip.create_model(name, pretrained=None, device=device,
                                       force_quick_gelu=bool(cfg.get("quick_gelu", False)))
    model.eval().requires_grad_(False)
    return ClipBundle(model, open_clip.get_tokenizer(name), name, f"{pretrained} (random weights)")


def weights_available(name: str, pretrained: str = "openai", cache_dir: str | None = None) -> bool:
    """True when ``load_clip(name, pretrained)`` can get its weights here: cached, or the model hub is reachable.

    Chapters use it to choose between real CLIP and the toy world without waiting for a download to fail.
    """
    import open_clip
    if _registered(name) is not None:
        return True
    if random_weights():  # the random-weights mode stands in for every real model
        return name in open_clip.list_models()
    try:
        cfg = open_clip.get_pretrained_cfg(name, pretrained)
    except Exception:
        return False
    if not cfg:
        return False
    if _cached_weights(cfg, cache_dir):
        return True
    return os.environ.get("HF_HUB_OFFLINE", "0") in ("", "0") and _online()


def _resolve_weights(name: str, pretrained: str, cache_dir: str | None) -> tuple[str, dict]:
    """Return a local weights file for (name, pretrained) and create_model kwargs; download only if online."""
    import open_clip
    if os.path.sep in pretrained or pretrained.endswith((".pt", ".pth", ".bin", ".safetensors")):
        if not Path(pretrained).exists():
            raise FileNotFoundError(f"weights file {pretrained} does not exist")
        return pretrained, {}
    tags = open_clip.list_pretrained_tags_by_model(name)
    if pretrained not in tags:
        raise ValueError(f"unknown pretrained tag {pretrained!r} for {name}; available: {', '.join(tags)}")
    cfg = open_clip.get_pretrained_cfg(name, pretrained)
    kwargs = {"force_quick_gelu": bool(cfg.get("quick_gelu", False))}
    cached = _cached_weights(cfg, cache_dir)
    if cached:
        return cached, kwargs
    if os.environ.get("HF_HUB_OFFLINE", "0") not in ("", "0") or not _online():
        raise WeightsUnavailableError(
            f"{name}/{pretrained} weights are not in the local cache and the model hub is unreachable: "
            f"run once with internet (e.g. in Colab) to cache them, or pass a local file as pretrained=..., "
            f"or use the offline toy models load_clip('toy-b')")
    return open_clip.download_pretrained(cfg, cache_dir=cache_dir), kwargs


def _cached_weights(cfg: dict, cache_dir: str | None) -> str | None:
    hub = cfg.get("hf_hub", "")
    if hub:
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hub)  # "org/name/" → ("org/name", ""): open_clip's default file names
        names = [filename] if filename else ["open_clip_model.safetensors", "open_clip_pytorch_model.bin"]
        for fname in names:
            hit = try_to_load_from_cache(repo, fname, cache_dir=cache_dir)
            if isinstance(hit, str) and os.path.isfile(hit):
                return hit
    return None


def _online(timeout: float = 3.0) -> bool:
    try:
        with socket.create_connection(_HUB_HOST, timeout=timeout):
            return True
    except OSError:
        return False




def image_tensor(bundle: ClipBundle, image: np.ndarray, size: tuple[int, int] | None = None,
                 multiple: int | None = None, resample: str = "official") -> torch.Tensor:
    """uint8 (H, W, 3) → normalised float32 (1, 3, h, w) on the bundle's device.

    Args:
        size: (h, w) to resize to (bicubic); default: (H, W) rounded *up* to multiples of ``multiple``.
        multiple: the rounding step; None = the model's patch size. The official CAM model input
            (``img_ms_and_flip``, ``patch_size=16`` hard-wired) uses 16 for every model: with ViT-L/14 the
            stride-14 patch embedding then drops the last ``h mod 14`` rows / columns (:func:`embed_patches`
            does the same, its grid is the convolution's output).
        resample: "official" = PIL bicubic to uint8 (``img_ms_and_flip``), "float" = torch bicubic in float
            (:mod:`car.resample`). An image already of size (h, w) is not resampled.
    """
    if size is None:
        p = bundle.patch_size if multiple is None else int(multiple)
        size = (math.ceil(image.shape[0] / p) * p, math.ceil(image.shape[1] / p) * p)
    return normalise(bundle, get_resampler(resample).resize(image[None], size, bundle.device))


def normalise(bundle: ClipBundle, x: torch.Tensor) -> torch.Tensor:
    """CLIP's normalisation of float (M, 3, h, w) in [0, 1]: (x − mean) / std per channel."""
    mean = torch.tensor(bundle.mean, device=x.device).view(1, 3, 1, 1)
    std = torch.tensor(bundle.std, device=x.device).view(1, 3, 1, 1)
    return (x - mean) / std


# --------------------------------------------------------------------------- ViT forward
def positional_embedding(bundle: ClipBundle, grid: tuple[int, int], resample: str = "official") -> torch.Tensor:
    """The visual positional embedding resized bilinearly to ``grid`` = (h, w): float (1 + h*w, E). Cached.

    At the model's own grid it is the model's embedding. Resized, ``resample="official"`` rounds it (class position
    included) to fp16 as the official ``upsample_position_embedding`` does; "float" keeps it in fp32.
    """
    rule, key = get_resampler(resample), (tuple(grid), resample)
    if key not in bundle._pos_cache:
        pos = bundle.visual.positional_embedding
        n0 = int(round(math.sqrt(pos.shape[0] - 1)))
        if (n0, n0) == tuple(grid):
            bundle._pos_cache[key] = pos
        else:
            patch = pos[1:].reshape(1, n0, n0, -1).permute(0, 3, 1, 2)
            patch = F.interpolate(patch.float(), size=grid, mode="bilinear", align_corners=False)
            patch = patch.permute(0, 2, 3, 1).reshape(grid[0] * grid[1], -1).to(pos.dtype)
            bundle._pos_cache[key] = rule.positional(torch.cat([pos[:1], patch], 0))
    return bundle._pos_cache[key]


def embed_patches(bundle: ClipBundle, x: torch.Tensor, resample: str = "official"
                  ) -> tuple[torch.Tensor, tuple[int, int]]:
    """Patch + class + (interpolated) positional embedding + ``ln_pre``, at any input size.

    Args:
        x: float (B, 3, h*p, w*p), normalised.
        resample: the positional embedding's rule off the model's own grid (:func:`positional_embedding`).

    Returns:
        tokens float (B, 1 + h*w, E) ready for the first block, and the grid (h, w).
    """
    visual = bundle.visual
    if not hasattr(visual, "conv1") or not hasattr(visual, "transformer"):
        raise ValueError(f"{bundle.name} is not a ViT CLIP; CaR's CAM needs a vision transformer")
    x = visual.conv1(x)  # (B, E, h, w)
    grid = (x.shape[2], x.shape[3])
    x = x.flatten(2).transpose(1, 2)  # (B, h*w, E)
    cls = visual.class_embedding.view(1, 1, -1).expand(x.shape[0], -1, -1).to(x.dtype)
    x = torch.cat([cls, x], 1) + positional_embedding(bundle, grid, resample).to(x.dtype)
    return visual.ln_pre(x), grid


def blocks(bundle: ClipBundle) -> torch.nn.ModuleList:
    """The visual residual blocks."""
    return bundle.visual.transformer.resblocks


def run_blocks(bundle: ClipBundle, x: torch.Tensor, start: int = 0, stop: int | None = None) -> torch.Tensor:
    """Run visual blocks ``start:stop`` on tokens float (B, 1 + n, E)."""
    for block in list(blocks(bundle))[start:stop]:
        x = block(x)
    return x


def pool_and_project(bundle: ClipBundle, x: torch.Tensor, pool: str | None = None) -> torch.Tensor:
    """``ln_post`` + pooling + ``proj``: tokens (B, 1 + n, E) → embeddings (B, D), not normalised.

    ``pool``: "cls" (token 0), "mean" (mean of patch tokens, CLS excluded) or None = the model's own pooling
    (``visual.pool_type``: "tok" → cls, "avg" → mean).
    """
    visual = bundle.visual
    if pool is None:
        pool = "mean" if getattr(visual, "pool_type", "tok") == "avg" else "cls"
    x = visual.ln_post(x)
    pooled = x[:, 1:].mean(1) if pool == "mean" else x[:, 0]
    return pooled @ visual.proj if visual.proj is not None else pooled


#: Activation memory one batched forward may hold (CPU; GPUs get :data:`GPU_FORWARD_BUDGET_BYTES`). On a CPU,
#: batching buys large models no speed but multiplies the peak — random ViT-L/14, 2 cores: 5 prompted images
#: 5.16 s in one batch (134 MiB above the start) vs 5.10 s one by one (22 MiB); 75 texts 7.18 s in one batch
#: (261 MiB) vs 6.63 s in batches of 16 (61 MiB) — while tiny models gain from large batches.
FORWARD_BUDGET_BYTES = 32 * 2**20
GPU_FORWARD_BUDGET_BYTES = 2**30


def activation_bytes(tokens: int, width: int, heads: int) -> int:
    """Rough fp32 bytes one sequence holds while a transformer block runs: a dozen (tokens, width) tensors (the
    4x-wide MLP included) and two (heads, tokens, tokens) attention maps. Only used to size batches."""
    return 4 * tokens * (12 * width + 2 * heads * tokens)


def batch_size_for(bundle: ClipBundle, tokens: int, width: int, heads: int, budget: int | None = None) -> int:
    """Sequences per forward within ``budget`` bytes (default: by device), at least 1."""
    if budget is None:
        budget = GPU_FORWARD_BUDGET_BYTES if torch.device(bundle.device).type == "cuda" else FORWARD_BUDGET_BYTES
    return max(1, budget // activation_bytes(tokens, width, heads))


@torch.no_grad()
def encode_text(bundle: ClipBundle, texts: list[str], batch_size: int | None = None) -> torch.Tensor:
    """L2-normalised text embeddings float (len(texts), D), ``batch_size`` texts per forward (default: a memory
    budget, :func:`batch_size_for`)."""
    tokens = bundle.tokenizer(texts).to(bundle.device)
    if batch_size is None:
        tower = bundle.model.transformer
        batch_size = batch_size_for(bundle, tokens.shape[1], tower.width, tower.resblocks[0].attn.num_heads)
    out = [bundle.model.encode_text(chunk).float() for chunk in tokens.split(batch_size)]
    return F.normalize(torch.cat(out), dim=-1)
