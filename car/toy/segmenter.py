"""A mask-supervised toy segmenter: the toy world's stand-in for OVSeg in Table I.

OVSeg adapts CLIP with the mask annotations of a fixed vocabulary (COCO) and is then queried with any text.
The toy analogue keeps the frozen toy-b CLIP (image and text towers) and trains only a small dense head that
maps every patch token into the text-embedding space, with per-pixel cross-entropy on the masks of the
*seen* concepts (things of four of the six colours, plus the stuff textures). Like LSeg / OVSeg it is then
queried with any text: each pixel goes to the best of [queries; background words]. Table I compares it with
training-free CaR on toy referring expressions about seen and about unseen concepts.

    >>> seg = ToySegmenter.load()                                   # the shipped car/toy/checkpoints/toy-seg.pt
    >>> seg(image, ["the red circle"]).masks.shape                  # doctest: +SKIP
    (1, 64, 64)

``python -m car toy train-seg`` retrains it (seeded; its log is in the checkpoint).
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tqdm.auto import tqdm

from car.backbones import ClipBundle, embed_patches, encode_text, image_tensor, load_clip, run_blocks
from car.image import to_rgb_uint8
from car.peers import DenseResult, dense_labels, query_texts
from car.queries import check_queries
from car.toy.models import CHECKPOINT_DIR, load_payload, save_payload
from car.toy.scenes import COLOURS, STUFF, THINGS, render, sample_scene
from car.vocab import CAM_TEMPLATE

FORMAT = "car-toy-seg-1"
CHECKPOINT = CHECKPOINT_DIR / "toy-seg.pt"
#: Colours whose things carry mask labels in training; things of the other colours are never seen.
SEEN_COLOURS: tuple[str, ...] = ("red", "green", "blue", "yellow")
SEEN_THINGS: tuple[str, ...] = tuple(t for t in THINGS if t.split()[0] in SEEN_COLOURS)
UNSEEN_THINGS: tuple[str, ...] = tuple(t for t in THINGS if t not in SEEN_THINGS)
assert set(SEEN_COLOURS) < set(COLOURS)


@dataclass(frozen=True)
class SegTrainConfig:
    """Training settings of the toy segmenter (all fixed by ``seed``)."""

    clip: str = "toy-b"
    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    seed: int = 0


class DenseHead(torch.nn.Module):
    """Patch tokens (B, E, h, w) → embeddings (B, D, h, w): the frozen ``ln_post`` + ``proj`` of every token plus a
    trained 3 × 3 conv residual (zero-initialised, so training starts from the frozen dense features)."""

    def __init__(self, width: int, dim: int):
        super().__init__()
        self.conv = torch.nn.Conv2d(width, width, 3, padding=1)
        self.out = torch.nn.Conv2d(width, dim, 1)
        torch.nn.init.zeros_(self.out.weight)
        torch.nn.init.zeros_(self.out.bias)
        self.log_scale = torch.nn.Parameter(torch.tensor(float(np.log(10.0))))

    def forward(self, tokens: torch.Tensor, frozen: torch.Tensor) -> torch.Tensor:
        return F.normalize(frozen + self.out(F.gelu(self.conv(tokens))), dim=1)


class ToySegmenter:
    """The frozen toy CLIP + a trained :class:`DenseHead`; called like ``CaR`` / ``MaskCLIP``.

    Args:
        bundle: the frozen CLIP (toy-b); head: the trained head; seen: the concepts it was trained on.
        background: background-query groups (their words compete and count as background).
    """

    def __init__(self, bundle: ClipBundle, head: DenseHead, seen: Sequence[str] = SEEN_THINGS,
                 background: Sequence[str] = ("toy_stuff",), template: str = CAM_TEMPLATE):
        self.bundle, self.head, self.seen = bundle, head.eval(), tuple(seen)
        self.background, self.template = tuple(background), template

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: str | Path = CHECKPOINT, **kw) -> "ToySegmenter":
        """Load a checkpoint written by :func:`train_segmenter` (``weights_only=True``).

        Raises:
            FileNotFoundError / ValueError: missing, corrupt or foreign checkpoint, with what to do
            (:func:`car.toy.models.load_payload`).
        """
        ckpt = load_payload(path, FORMAT, "toy segmenter checkpoint", "python -m car toy train-seg")
        bundle = load_clip(ckpt["clip"])
        head = _new_head(bundle)
        head.load_state_dict({k: v.float() for k, v in ckpt["state_dict"].items()})
        return cls(bundle, head, ckpt["seen"], **kw)

    # ------------------------------------------------------------------ inference
    @torch.no_grad()
    def embed(self, images: np.ndarray) -> torch.Tensor:
        """Pixel embeddings of uint8 (B, H, W, 3) images: normalised float (B, D, h, w) on the patch grid."""
        return _pixel_embeddings(self.bundle, self.head, images)

    def __call__(self, image, queries: Sequence[str], *, stuff: Sequence[bool] | None = None) -> DenseResult:
        """Segment ``image`` with ``queries``: each pixel goes to the best of [queries; background words].

        Returns ``DenseResult``: ``labels`` int64 (H, W) in [-1, N), ``masks`` bool (N, H, W), ``scores`` float
        (N,) = the mean softmax probability of each query over its own mask (0 for an empty mask).
        """
        image = to_rgb_uint8(image)
        queries = check_queries(queries)
        with torch.no_grad():
            text = query_texts(self.bundle, queries, self.background, self.template)
            pix = self.embed(image[None])[0]  # (D, h, w)
            logits = self.head.log_scale.exp() * torch.einsum("dhw,kd->khw", pix, text)
            labels, masks, up = dense_labels(logits, len(queries), image.shape[:2])
        p = up.softmax(0)[: len(queries)].numpy()
        scores = np.array([p[i][m].mean() if m.any() else 0.0 for i, m in enumerate(masks)], np.float32)
        return DenseResult(tuple(queries), labels, masks, scores)


def _new_head(bundle: ClipBundle) -> DenseHead:
    return DenseHead(bundle.visual.conv1.out_channels, bundle.visual.proj.shape[1])


def _frozen_tokens(bundle: ClipBundle, images: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
    """Frozen patch tokens (B, E, h, w) after the last block and their ``ln_post`` + ``proj`` (B, D, h, w)."""
    with torch.no_grad():
        tokens, (h, w) = embed_patches(bundle, torch.cat([image_tensor(bundle, im) for im in images]))
        x = run_blocks(bundle, tokens)[:, 1:]  # (B, n, E)
        frozen = bundle.visual.ln_post(x) @ bundle.visual.proj  # (B, n, D)
    as_grid = lambda t: t.transpose(1, 2).reshape(len(images), -1, h, w)  # noqa: E731
    return as_grid(x), as_grid(frozen)


def _pixel_embeddings(bundle: ClipBundle, head: DenseHead, images: np.ndarray) -> torch.Tensor:
    tokens, frozen = _frozen_tokens(bundle, images)
    return head(tokens, frozen)


def _training_batch(rng: np.random.Generator, n: int, classes: dict[str, int]) -> tuple[np.ndarray, np.ndarray]:
    """``n`` scenes with seen things only: images uint8 (n, 64, 64, 3), labels int64 (n, 64, 64) into ``classes``."""
    images, labels = [], []
    for _ in range(n):
        scene = sample_scene(rng, num_things=(1, 3), num_stuff=(1, 2), things=SEEN_THINGS)
        r = render(scene)
        lab = np.zeros(r.image.shape[:2], np.int64)
        for name, m in zip(scene.stuff, r.stuff_masks):
            lab[m] = classes[name]
        for thing, m in zip(scene.things, r.thing_masks):
            lab[m] = classes[thing.concept]
        images.append(r.image)
        labels.append(lab)
    return np.stack(images), np.stack(labels)


def train_segmenter(cfg: SegTrainConfig = SegTrainConfig(), out: str | Path | None = CHECKPOINT,
                    progress: bool = True) -> tuple[ToySegmenter, list[dict]]:
    """Train the dense head on seen concepts (per-pixel cross-entropy over seen things + stuff) and save it.

    Returns the segmenter and the log (``step``, ``loss``, ``pixel_acc`` every 50 steps). ``out=None``: no file.
    """
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    bundle = load_clip(cfg.clip)
    names = list(SEEN_THINGS) + list(STUFF)
    classes = {n: i for i, n in enumerate(names)}
    with torch.no_grad():
        text = encode_text(bundle, [CAM_TEMPLATE.format(n) for n in names])  # (K, D), frozen
    head = _new_head(bundle)
    opt = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, cfg.steps)
    log: list[dict] = []
    bar = tqdm(range(cfg.steps), desc="toy segmenter", disable=not progress)
    for step in bar:
        images, labels = _training_batch(rng, cfg.batch_size, classes)
        pix = _pixel_embeddings(bundle, head, images)  # (B, D, h, w)
        logits = head.log_scale.exp() * torch.einsum("bdhw,kd->bkhw", pix, text)
        logits = F.interpolate(logits, size=labels.shape[1:], mode="bilinear", align_corners=False)
        target = torch.from_numpy(labels)
        loss = F.cross_entropy(logits, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        if (step + 1) % 50 == 0 or step + 1 == cfg.steps:
            value, acc = loss.detach().item(), (logits.argmax(1) == target).float().mean().item()
            log.append({"step": step + 1, "loss": round(value, 4), "pixel_acc": round(acc, 4)})
            bar.set_postfix(loss=f"{value:.3f}", acc=f"{acc:.3f}")
    seg = ToySegmenter(bundle, head, SEEN_THINGS)
    if out is not None:
        save_segmenter(seg, out, cfg, log)
    return seg, log


def save_segmenter(seg: ToySegmenter, path: str | Path, cfg: SegTrainConfig, log: list[dict]) -> Path:
    """Write the checkpoint atomically: tensors (fp16), names and numbers only (``weights_only`` loads it)."""
    data = {"format": FORMAT, "clip": cfg.clip, "seen": list(seg.seen),
            "state_dict": {k: v.detach().half() for k, v in seg.head.state_dict().items()},
            "config": {k: getattr(cfg, k) for k in cfg.__dataclass_fields__}, "log": log}
    return save_payload(data, path)
