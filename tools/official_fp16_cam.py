"""The official fp16 grad-CAM arithmetic, emulated, against car's fp32 and autocast-fp16 CAMs (a check for a GPU).

On CUDA, OpenAI ``clip.load`` keeps fp16 weights, so the official CAM runs block L and its backward in fp16
(``clip_wrapper.py`` ``forward_last_layer``: fp16 logits, the softmax after ``.float()``), converts the ``ln_1``
activations and gradients to numpy float16 (``cam.py:169-174``) and computes ``get_cam`` (``cam.py:123-127``:
α = the gradients' spatial mean, Σ_c α_c A_c) in numpy float16; only the sum is cast to float32
(``cam.py:187``). A query of low probability has gradients that underflow there: its CAM comes out all zero and
the official code takes the foreground-only fallback (``clipcam.py:176-189``). car's ``precision: fp16`` runs
under ``torch.autocast`` (fp32 weights, the CAM sum in fp32) and does not reproduce that arithmetic.

For every image this script computes each query's raw grad-CAM three ways, with the config's background words:

* ``fp32``: car (``precision: fp32``);
* ``autocast``: car with ``precision: fp16`` (autocast on the device);
* ``official``: an fp16 copy of the model (``model.half()``), block L and the backward in fp16, ``get_cam`` in
  numpy float16, then ReLU, float32 and the official min–max twice;

and writes a JSON: per way the queries whose CAM is all zero before the fallback (the fallback is then applied,
as both codes do), per pair of ways the max |Δ| and the correlation of the final raw CAMs.

    python tools/official_fp16_cam.py --device cuda --out fp16_cam.json            # ViT-B/16 openai, the photos
    CAR_RANDOM_WEIGHTS=1 python tools/official_fp16_cam.py --emulate --out x.json  # CPU: fp16 run on the CPU

``--emulate`` runs the fp16 arithmetic on the CPU (torch's CPU fp16 kernels, not CUDA's): it tests the code
path; numbers that speak for the official code come from a CUDA run with real weights.
"""
from __future__ import annotations

import argparse
import copy
import json
import sys
from dataclasses import replace
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from car import cam as cam_mod  # noqa: E402
from car.backbones import (ClipBundle, blocks, embed_patches, image_tensor, pool_and_project,  # noqa: E402
                           run_blocks)
from car.config import CaRConfig, load_config  # noqa: E402
from car.model import CaR  # noqa: E402
from car.queries import background_texts  # noqa: E402

WAYS = ("fp32", "autocast", "official")


def official_get_cam(activations: np.ndarray, grads: np.ndarray) -> np.ndarray:
    """``CAM.get_cam`` (``cam.py:123-127``) then ``np.maximum(cam, 0).astype(np.float32)`` (``:187``), literally.

    Args:
        activations, grads: (1, E, h, w) arrays in the dtype the model produced (float16 for an fp16 model).

    Returns:
        float32 (1, h, w), before the min–max.
    """
    weights = np.mean(grads, axis=(2, 3))
    weighted_activations = weights[:, :, None, None] * activations
    cam = weighted_activations.sum(axis=1)
    return np.maximum(cam, 0).astype(np.float32)


def _minmax(cam: np.ndarray) -> np.ndarray:
    """``scale_cam_image`` without resize (``cam.py:26-37``): (x − min) / (1e-15 + max)."""
    cam = cam - np.min(cam)
    return cam / (1e-15 + np.max(cam))


def official_fp16_cams(half: ClipBundle, image: np.ndarray, fg: torch.Tensor, bg: torch.Tensor,
                       size_multiple: int | None) -> tuple[np.ndarray, np.ndarray]:
    """The official per-query CAM with an fp16 model: float32 (N, h, w) in [0, 1] after the fallback, and bool (N,)
    — the CAM was all zero before the fallback.

    Args:
        half: the fp16 model; fg, bg: normalised fp16 text embeddings (N, D), (K, D) (``zeroshot_classifier``).
    """
    x = image_tensor(half, image, multiple=size_multiple).to(half.visual.conv1.weight.dtype)  # image.type(dtype)
    resblocks = blocks(half)
    with torch.no_grad():
        tokens, grid = embed_patches(half, x)
        feats = run_blocks(half, tokens, 0, len(resblocks) - 1)
    scale = half.model.logit_scale.exp()

    def one(text: torch.Tensor, q: int) -> np.ndarray:
        with torch.enable_grad(), cam_mod.capture_output(resblocks[-1].ln_1) as ln1:
            inp = feats.detach().requires_grad_(True)
            out = resblocks[-1](inp)
            grads: list[torch.Tensor] = []
            ln1[0].register_hook(grads.append)
            img = pool_and_project(half, out, pool="mean")
            img = img / img.norm(dim=1, keepdim=True)
            probs = F.softmax((scale * img @ text.t()).float(), dim=-1)  # fp16 logits, the softmax in fp32
            probs[0, q].backward()
        acts = ln1[0][0, 1:].detach().cpu().numpy().T.reshape(1, -1, *grid)  # (1, E, h, w), float16
        grad = grads[0][0, 1:].detach().cpu().numpy().T.reshape(1, -1, *grid)
        return official_get_cam(acts, grad)[0]

    text = torch.cat([fg, bg]) if len(bg) else fg
    cams, zero = [], []
    for q in range(len(fg)):
        cam = one(text, q)
        zero.append(bool(cam.max() == 0))
        if zero[-1] and len(bg):  # clipcam.py: recompute with the foreground queries only
            cam = one(fg, q)
        cams.append(_minmax(_minmax(cam)))  # per layer, then aggregate_multi_layers
    return np.stack(cams).astype(np.float32), np.asarray(zero)


@torch.no_grad()
def official_fp16_text(half: ClipBundle, texts: list[str]) -> torch.Tensor:
    """``zeroshot_classifier`` (``clipcam.py``) with one text per class: fp16 embeddings, normalised in fp16 (per
    text, then the one-text mean again). float16 (len(texts), D)."""
    if not texts:
        return torch.zeros(0, half.model.text_projection.shape[-1], dtype=torch.float16, device=half.device)
    emb = half.model.encode_text(half.tokenizer(texts).to(half.device))
    emb = emb / emb.norm(dim=-1, keepdim=True)
    return emb / emb.norm(dim=-1, keepdim=True)


def car_cams(bundle: ClipBundle, cfg: CaRConfig, image: np.ndarray, queries: Sequence[str]
             ) -> tuple[np.ndarray, np.ndarray]:
    """car's raw CAMs of the first step, float32 (N, h, w), and bool (N,): all zero before the fallback."""
    model = CaR(bundle, bundle, cfg)
    state, _ = model.encode_image(image)
    text = model.text_embeddings(bundle, list(queries))  # step 1: the raw queries (cam_text official)
    background = model._background(queries)
    first = cam_mod.gradcam_from_scores(state, cam_mod.target_probabilities(state, text, background,
                                                                             bundle.logit_scale, cfg.mode))
    zero = (first.flatten(1).amax(1) <= 0).cpu().numpy()
    raw = cam_mod.gradcam(state, text, background, bundle.logit_scale, cfg.mode)
    return raw.detach().float().cpu().numpy(), zero


def compare_image(bundle: ClipBundle, half: ClipBundle, cfg: CaRConfig, image: np.ndarray,
                  queries: Sequence[str]) -> dict:
    """The three ways on one image (at the config's working size): the zero-before-fallback queries and, per pair
    of ways, max |Δ| and the correlation per query."""
    from car.image import resize_to_working

    image = resize_to_working(image, cfg.working_size)
    cams, zero = {}, {}
    cams["fp32"], zero["fp32"] = car_cams(bundle, cfg.replace(precision="fp32"), image, queries)
    cams["autocast"], zero["autocast"] = car_cams(bundle, cfg.replace(precision="fp16"), image, queries)
    fg, bg = official_fp16_text(half, list(queries)), official_fp16_text(half, background_texts(cfg, queries))
    cams["official"], zero["official"] = official_fp16_cams(half, image, fg, bg, cfg.proposal_size_multiple)
    pairs = {}
    for a, b in (("official", "fp32"), ("autocast", "fp32"), ("official", "autocast")):
        x, y = cams[a].reshape(len(queries), -1), cams[b].reshape(len(queries), -1)
        corr = [float(np.corrcoef(u, v)[0, 1]) if u.std() > 0 and v.std() > 0 else None for u, v in zip(x, y)]
        pairs[f"{a}_vs_{b}"] = {"max_abs_diff": float(np.abs(x - y).max()), "correlation": corr}
    return {"queries": list(queries), "grid": list(cams["fp32"].shape[1:]),
            "zero_before_fallback": {w: [q for q, z in zip(queries, zero[w]) if z] for w in WAYS}, "pairs": pairs}


def run(model: str, pretrained: str | None, device: str, config: str, photos: Sequence[str]) -> dict:
    """Every photo with its own queries (:data:`car.photos.PHOTOS`); returns the JSON record."""
    from car.backbones import load_clip
    from car.photos import PHOTOS, load_photo

    bundle = load_clip(model, pretrained, device=device)
    half = replace(bundle, model=copy.deepcopy(bundle.model).half(), _pos_cache={})
    cfg = load_config(config)
    images = [dict(photo=key, **compare_image(bundle, half, cfg, load_photo(key), PHOTOS[key].queries))
              for key in photos]
    total = sum(len(r["queries"]) for r in images)
    return {"model": bundle.name, "pretrained": bundle.pretrained, "device": str(bundle.device),
            "arithmetic": "CUDA fp16" if torch.device(device).type == "cuda" else "CPU fp16 (emulation)",
            "config": config, "torch": torch.__version__, "num_cams": total,
            "zero_before_fallback": {w: sum(len(r["zero_before_fallback"][w]) for r in images) for w in WAYS},
            "images": images}


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", default="ViT-B-16")
    p.add_argument("--pretrained", default="openai")
    p.add_argument("--config", default="voc", help="preset whose background words and CAM settings are used")
    p.add_argument("--photos", nargs="+", default=["astronaut", "coffee", "chelsea", "rocket"])
    p.add_argument("--device", default="auto")
    p.add_argument("--emulate", action="store_true", help="run the fp16 arithmetic on the CPU")
    p.add_argument("--out", type=Path, default=Path("official_fp16_cam.json"))
    args = p.parse_args(argv)
    device = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    if device == "auto":
        device = "cpu"
    if torch.device(device).type != "cuda" and not args.emulate:
        p.error("the official fp16 CAM arithmetic is CUDA's; pass --device cuda, or --emulate to run it on the CPU")
    record = run(args.model, None if args.pretrained in ("", "none") else args.pretrained, device, args.config,
                 args.photos)
    args.out.write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {args.out}: all-zero CAMs before the fallback of {record['num_cams']}: "
          f"{record['zero_before_fallback']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
