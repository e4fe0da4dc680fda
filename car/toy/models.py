"""The tiny CLIPs of the toy world: open_clip's own ``CLIP`` class at two sizes, saved as small checkpoints.

Checkpoints are plain ``torch.save`` dicts of tensors, numbers and strings (``weights_only=True`` loads
them): ``{"format", "size", "model_cfg", "words", "context_length", "state_dict" (fp16), "log"}``.

Importing this module registers the shipped models with :func:`car.backbones.register_backbone`
(``load_clip("toy-b")``, :data:`TOY_MODELS`) and ``.pt`` toy checkpoints with
:func:`car.backbones.register_checkpoint_loader`; open_clip itself loads with the first model.
"""
from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from car.backbones import ClipBundle, register_backbone, register_checkpoint_loader
from car.results import write_json_atomic
from car.toy.text import TOY_WORDS, WordTokenizer

if TYPE_CHECKING:
    import open_clip

CHECKPOINT_FORMAT = "car-toy-clip-1"
CHECKPOINT_DIR = Path(__file__).parent / "checkpoints"

#: Architectures. "b" and "l" mirror the paper's ViT-B/16 and ViT-L/14 roles (Table 3): "l" is wider and
#: deeper (6 x 192 vs 4 x 128 vision blocks), with the same 8-pixel patches on 64-pixel images (an 8 x 8 token grid at training size).
TOY_MODEL_CFGS: dict[str, dict[str, Any]] = {
    "b": dict(
        embed_dim=128,
        vision_cfg=dict(image_size=64, patch_size=8, width=128, layers=4, head_width=32, pool_type="avg"),
        text_cfg=dict(context_length=32, width=128, heads=4, layers=3),
    ),
    "l": dict(
        embed_dim=192,
        vision_cfg=dict(image_size=64, patch_size=8, width=192, layers=6, head_width=32, pool_type="avg"),
        text_cfg=dict(context_length=32, width=192, heads=6, layers=3),
    ),
}


def vision_variant(size: str, **vision: Any) -> dict[str, Any]:
    """A copy of architecture ``size`` with ``vision`` overriding its ``vision_cfg`` (open_clip ``CLIPVisionCfg``
    fields); the other architectures and the toy-CLIP designs are built this way."""
    cfg = copy.deepcopy(TOY_MODEL_CFGS[size])
    cfg["vision_cfg"].update(vision)
    return cfg


#: toy-b with 4-pixel patches (a 16 x 16 grid at 64 px): the proposal model of the toy presets, the "patch4-long"
#: design of car.experiments.designs (the toy-world chapter's section 7 gives the measurements).
TOY_MODEL_CFGS["b4"] = vision_variant("b", patch_size=4)


def build_toy_clip(size: str, words: tuple[str, ...] = TOY_WORDS) -> tuple[open_clip.CLIP, WordTokenizer]:
    """A randomly initialised toy CLIP of ``size`` ("b" or "l") and its tokenizer.

    Raises:
        ValueError: unknown size.
    """
    import open_clip

    if size not in TOY_MODEL_CFGS:
        raise ValueError(f"unknown toy model size {size!r}; valid: {', '.join(TOY_MODEL_CFGS)}")
    cfg = TOY_MODEL_CFGS[size]
    tokenizer = WordTokenizer(words, cfg["text_cfg"]["context_length"])
    text_cfg = dict(cfg["text_cfg"], vocab_size=tokenizer.vocab_size)
    model = open_clip.CLIP(cfg["embed_dim"], cfg["vision_cfg"], text_cfg)
    return model, tokenizer


def checkpoint_path(size: str) -> Path:
    """Where the shipped checkpoint of ``size`` lives."""
    return CHECKPOINT_DIR / f"toy-{size}.pt"


def save_checkpoint(model: open_clip.CLIP, tokenizer: WordTokenizer, size: str, path: str | Path,
                    log: list[dict[str, float]] | None = None) -> Path:
    """Write a fp16 checkpoint atomically (temporary file, then rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().to(torch.float16) if v.is_floating_point() else v
             for k, v in model.state_dict().items()}
    payload = {
        "format": CHECKPOINT_FORMAT,
        "size": size,
        "words": list(tokenizer.words),
        "context_length": tokenizer.context_length,
        "state_dict": state,
        "log": log or [],
    }
    save_payload(payload, path)
    log_path = path.with_suffix(".log.json")  # the training log beside the weights, readable without torch
    write_json_atomic(log_path, {"size": size, "log": log or []})
    return path


def save_payload(payload: dict[str, Any], path: str | Path) -> Path:
    """``torch.save`` a checkpoint dict atomically (a temporary file beside it, then a rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_payload(path: str | Path, fmt: str, what: str, train_command: str) -> dict[str, Any]:
    """``torch.load(weights_only=True)`` of a checkpoint dict whose ``"format"`` is ``fmt``.

    Raises:
        FileNotFoundError: no file (the message names ``train_command``).
        ValueError: corrupt, not a torch file, or another format — one line saying what to do.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"{what} {path} is missing; restore it with `git checkout -- {path}` "
                                f"or train it with `{train_command}`")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated / not a torch file / unsafe pickle
        raise ValueError(f"{what} {path} is corrupt or not a torch checkpoint ({type(e).__name__}); "
                         f"retrain it with `{train_command}`") from e
    if not isinstance(payload, dict) or payload.get("format") != fmt:
        raise ValueError(f"{path} is not a {what} (expected format {fmt!r}); retrain it with `{train_command}`")
    return payload


def load_checkpoint(path: str | Path) -> tuple[open_clip.CLIP, WordTokenizer, dict[str, Any]]:
    """Load a toy checkpoint (``weights_only=True``) into a fresh model in fp32 eval mode.

    Returns:
        (model, tokenizer, payload) — payload holds ``size`` and the training ``log``.

    Raises:
        FileNotFoundError: no file at ``path``.
        ValueError: the file is not a toy checkpoint, is corrupt, or belongs to another architecture.
    """
    path = Path(path)
    payload = load_payload(path, CHECKPOINT_FORMAT, "car toy checkpoint",
                           f"python -m car toy train --size {path.stem.removeprefix('toy-')}")
    model, tokenizer = build_toy_clip(payload["size"], tuple(payload["words"]))
    try:
        model.load_state_dict({k: v.float() if v.is_floating_point() else v
                               for k, v in payload["state_dict"].items()})
    except RuntimeError as e:
        raise ValueError(f"toy checkpoint {path} does not match the toy-{payload['size']} architecture "
                         f"(it was saved from another config): {str(e).splitlines()[0]}") from e
    model.eval().requires_grad_(False)
    return model, tokenizer, payload


#: The shipped toy CLIPs by name (``load_clip(name)``): toy-b, toy-l (Table 3's B and L roles) and toy-b4.
TOY_MODELS: tuple[str, ...] = tuple(f"toy-{size}" for size in TOY_MODEL_CFGS)


def load_toy(path: str | Path, device: str | torch.device = "cpu") -> ClipBundle:
    """A toy checkpoint as a :class:`car.backbones.ClipBundle` named ``toy-<size>`` (what ``load_clip`` returns)."""
    model, tokenizer, payload = load_checkpoint(path)
    return ClipBundle(model.to(device), tokenizer, f"toy-{payload['size']}", str(path))


def _load_shipped(name: str, device: str | torch.device) -> ClipBundle:
    return load_toy(checkpoint_path(name.removeprefix("toy-")), device)


for _name in TOY_MODELS:
    register_backbone(_name, functools.partial(_load_shipped, _name))
register_checkpoint_loader(".pt", load_toy)
