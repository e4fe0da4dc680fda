"""Contrastive training of the tiny CLIPs on toy captions (``python -m car toy train --size b|l``).

Each batch mixes two kinds of image–text pairs, both drawn fresh from the scene generator:

* whole scenes with a caption naming every thing (and usually the stuff), wrapped in one of the official
  classifier templates, so "a clean origami red circle." is an in-distribution sentence;
* every pair comes with a *twin* that differs in one thing's shape or colour only (a hard negative), so
  the loss cannot be solved from colours and textures alone;
* *highlighted* scenes: one thing or stuff region marked with a visual prompt drawn uniformly from all six
  kinds (circle, contour, blur, gray, mask, box) and captioned with that region alone. This stands in for
  the web prior that lets real CLIP read red circles and blurred backgrounds (Shtedritski et al., the
  paper's [56]); no prompt kind is favoured, so Table 4's toy analogue is not tilted by training.

Training is seeded and step-based: the same command gives the same weights on the same software stack.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import open_clip
import torch
from tqdm.auto import tqdm

from car import prompts
from car.config import PROMPT_KINDS
from car.toy.models import build_toy_clip, checkpoint_path, save_checkpoint
from dataclasses import replace

from car.toy.scenes import COLOURS, SHAPES, THINGS, Rendered, Scene, pattern, render, sample_scene
from car.toy.text import WordTokenizer, caption, phrase, wrap

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

#: Blur kernel of highlighted training images: the official 15 px kernel on ~500 px photos, scaled to 64 px.
TOY_BLUR_KERNEL = 3


#: Steps of the shipped checkpoints (their training time is the last ``seconds`` of ``toy-<size>.log.json``; "b" and
#: "l" were trained at once, one thread each, on 2 CPU cores; "b4", the "patch4-long" design of car.experiments.designs,
#: alone on both).
DEFAULT_STEPS = {"b": 1200, "l": 600, "b4": 600}


@dataclass(frozen=True)
class TrainConfig:
    size: str = "b"
    steps: int = 900  # DEFAULT_STEPS[size] from the command line
    batch_size: int = 128
    lr: float = 1e-3
    weight_decay: float = 0.1
    warmup: int = 100
    focus_prob: float = 0.4  # share of highlighted pairs per batch
    split_prob: float = 0.0  # share of twin pairs drawn with split attributes (split_attributes; a design lever)
    seed: int = 0
    eval_every: int = 100  # one "epoch" of the log; a checkpoint is saved at every epoch
    stop_at: int | None = None  # end early at this step (the schedule still spans ``steps``)


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (B, H, W, 3) RGB → float32 (B, 3, H, W) normalised with CLIP's mean and std."""
    x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 255.0
    mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD).view(1, 3, 1, 1)
    return (x - mean) / std


#: Grey of the pattern half of a thing drawn by :func:`split_attributes`.
SPLIT_GREY = 170


def split_attributes(rendered: Rendered) -> np.ndarray:
    """The scene with each thing's two attributes on separate halves: left of its centre its colour, plain;
    right of it its shape's pattern, in grey. Only patches on the centre line show a whole concept, so telling
    "red square and blue circle" from "blue square and red circle" needs both halves of one object together.

    Returns:
        uint8 (H, W, 3) RGB.
    """
    image = rendered.image.copy()
    size = image.shape[0]
    columns = np.arange(size)[None, :]
    for thing, mask in zip(rendered.scene.things, rendered.thing_masks):
        left = mask & (columns < thing.cx)
        image[left] = thing.rgb
        grey = (SPLIT_GREY * pattern(thing.shape, size)).astype(np.uint8)
        image[mask & ~left] = grey[mask & ~left][:, None]
    return image


def make_pair(rng: np.random.Generator, focus_prob: float, scene: Scene | None = None,
              focus: bool | None = None, target: int | None = None, split: bool = False) -> tuple[np.ndarray, str]:
    """One (image uint8 (64, 64, 3), caption) training pair; ``scene``/``focus``/``target`` fix the choices;
    ``split`` draws the things with :func:`split_attributes`."""
    scene = scene or sample_scene(rng, num_things=(1, 4), num_stuff=(1, 2))
    rendered = render(scene)
    if split:
        rendered = Rendered(scene, split_attributes(rendered), rendered.thing_masks, rendered.stuff_masks)
    focus = rng.random() < focus_prob if focus is None else focus
    if not focus:
        return rendered.image, caption(scene, rng)
    kind = str(rng.choice(PROMPT_KINDS))
    if target is not None or rng.random() < 0.8:
        k = int(rng.integers(len(scene.things))) if target is None else target
        mask, words = rendered.thing_masks[k], phrase(scene.things[k], rng, side_prob=0.15)
    else:
        k = int(rng.integers(len(scene.stuff)))
        mask, words = rendered.stuff_masks[k], scene.stuff[k]
    if not mask.any():
        return rendered.image, caption(scene, rng)
    image = prompts.apply(rendered.image, mask, (kind,), blur_kernel=TOY_BLUR_KERNEL)
    return image, wrap(words, rng)


def make_twins(rng: np.random.Generator, focus_prob: float, split_prob: float = 0.0) -> list[tuple[np.ndarray, str]]:
    """Two pairs that differ in one thing's shape (or colour) only: a hard negative for each other.

    Whole-scene captions can be told apart by colours and textures alone; twins make the contrastive loss
    depend on shape, the concept a tiny ViT learns last. With probability ``split_prob`` both are drawn with
    :func:`split_attributes` and, in scenes of two things or more, the twin swaps two things' colours instead:
    the same colours and patterns, bound differently.
    """
    split = split_prob > 0 and bool(rng.random() < split_prob)  # no draw at 0: the shipped training is unchanged
    scene = sample_scene(rng, num_things=(1, 4), num_stuff=(1, 2))
    if not scene.things:  # placement can fail in crowded scenes
        return [make_pair(rng, focus_prob, split=split), make_pair(rng, focus_prob, split=split)]
    k = int(rng.integers(len(scene.things)))
    old = scene.things[k]
    taken = {t.concept for t in scene.things}
    twin = _swap_colours(scene, k, rng) if split else None
    if twin is None:
        options = [replace(old, shape=s) for s in SHAPES if s != old.shape] if rng.random() < 0.7 else \
            [replace(old, colour=c) for c in COLOURS if c != old.colour]
        options = [t for t in options if t.concept not in taken]
        if not options:
            return [make_pair(rng, focus_prob, scene, split=split), make_pair(rng, focus_prob, split=split)]
        twin = replace(scene, things=scene.things[:k] + (options[int(rng.integers(len(options)))],)
                       + scene.things[k + 1:])
    focus = bool(rng.random() < focus_prob)
    state = rng.bit_generator.state
    pairs = []
    for s in (scene, twin):
        rng.bit_generator.state = state  # identical caption choices: the captions differ in the changed words only
        pairs.append(make_pair(rng, focus_prob, s, focus, k, split=split))
    return pairs


def _swap_colours(scene: Scene, k: int, rng: np.random.Generator) -> Scene | None:
    """``scene`` with the colours of thing ``k`` and another thing of a different colour and shape swapped (None
    when no such thing exists or the swap would repeat a concept)."""
    things = list(scene.things)
    others = [j for j, t in enumerate(things) if j != k and t.colour != things[k].colour and t.shape != things[k].shape]
    if not others:
        return None
    j = others[int(rng.integers(len(others)))]
    things[k], things[j] = replace(things[k], colour=things[j].colour), replace(things[j], colour=things[k].colour)
    concepts = [t.concept for t in things]
    return replace(scene, things=tuple(things)) if len(set(concepts)) == len(concepts) else None


def zero_shot_set(n_per_concept: int = 6, seed: int = 12345) -> tuple[torch.Tensor, torch.Tensor]:
    """Fixed single-thing validation images (one concept each) and their concept indices."""
    rng = np.random.default_rng(seed)
    images, labels = [], []
    for label, concept in enumerate(THINGS):
        for _ in range(n_per_concept):
            images.append(render(sample_scene(rng, num_things=(1, 1), things=(concept,))).image)
            labels.append(label)
    return to_tensor(np.stack(images)), torch.tensor(labels)


@torch.no_grad()
def zero_shot_accuracy(model: open_clip.CLIP, tokenizer: WordTokenizer, images: torch.Tensor,
                       labels: torch.Tensor) -> float:
    """Top-1 accuracy of "a photo of a {concept}." over the 24 thing concepts."""
    was_training = model.training
    model.eval()
    text = model.encode_text(tokenizer([f"a photo of a {c}." for c in THINGS]), normalize=True)
    image = model.encode_image(images, normalize=True)
    acc = float(((image @ text.T).argmax(1) == labels).float().mean())
    model.train(was_training)
    return acc


def _lr_at(step: int, cfg: TrainConfig) -> float:
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
    return cfg.lr * 0.5 * (1 + math.cos(math.pi * progress))


def train(cfg: TrainConfig, out: str | Path | None = None, progress: bool = True) -> tuple[Path, list[dict]]:
    """Train a toy CLIP and save it to ``out`` (default: the shipped checkpoint path).

    Returns:
        (checkpoint path, training log: one dict per ``eval_every`` steps with step, loss, zero-shot accuracy).
    """
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    model, tokenizer = build_toy_clip(cfg.size)
    model.train()
    decay = [p for p in model.parameters() if p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.ndim < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.98), eps=1e-6)
    loss_fn = open_clip.ClipLoss()
    zs_images, zs_labels = zero_shot_set()
    log: list[dict] = []
    losses: list[float] = []
    start = time.time()
    out = Path(out or checkpoint_path(cfg.size))
    last = min(cfg.steps, cfg.stop_at or cfg.steps)
    bar = tqdm(range(last), desc=f"toy-{cfg.size}", disable=not progress)
    for step in bar:
        pairs = [p for _ in range(cfg.batch_size // 2) for p in make_twins(rng, cfg.focus_prob, cfg.split_prob)]
        images = to_tensor(np.stack([p[0] for p in pairs]))
        texts = tokenizer([p[1] for p in pairs])
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg)
        image_features, text_features, logit_scale = model(images, texts)
        loss = loss_fn(image_features, text_features, logit_scale)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        with torch.no_grad():
            model.logit_scale.clamp_(0, math.log(100))
        losses.append(loss.item())
        if (step + 1) % cfg.eval_every == 0 or step + 1 == last:
            acc = zero_shot_accuracy(model, tokenizer, zs_images, zs_labels)
            log.append({"step": step + 1, "epoch": len(log) + 1, "loss": float(np.mean(losses)),
                        "zero_shot_acc": acc, "seconds": round(time.time() - start, 1),
                        "schedule_steps": cfg.steps})
            losses = []
            bar.set_postfix(loss=f"{log[-1]['loss']:.3f}", zs_acc=f"{acc:.2f}")
            save_checkpoint(model, tokenizer, cfg.size, out, log)  # a stopped run keeps its last epoch
    return out, log
