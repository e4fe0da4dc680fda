"""The official loop order over car's primitives: the reference that :mod:`car.experiments.bench` times and the tests compare with.

:func:`official_order` follows the order of work of the official code (``modeling/model/car.py`` ``_forward_car`` /
``_forward_stage``, ``clipcam.py`` ``CLIPCAM``, ``cam.py`` ``CAM``, ``clip_wrapper.py`` ``forward_clip``): every
step re-runs blocks 1..L−1 of the CAM backbone, encodes each CAM text alone, re-runs block L and one full
backward (weight gradients included, as ``clip.load`` leaves CLIP trainable) per query with grad-CAM hooks on
``ln_1``, recomputes the Sinkhorn affinity per query, prompts one image at a time, and scores the prompted images
once *per template*.

Written here from the official files, not taken from car: the grad-CAM (``cam.py``), CAA (``clipcam.py``), the
classifier's score rule (``forward_clip``), ``_filter_texts``, the stop rule, ``assign_label``,
``merge_masks_simple``, the GRES target and the two passes of ``eval_semantic``, and every resampling step (the
reproduction ledger's R1–R3): the CAM input (``img_ms_and_flip``: torchvision ``Resize((h, w), BICUBIC)`` on a
PIL image), the classifier input (CLIP's ``_transform``: ``Resize(S)``, ``CenterCrop(S)``), the positional
embedding's bilinear resize and its fp16 rounding (``upsample_position_embedding``) and the patch + class +
position embedding (``CustomVisionTransformer.forward``). ``config.resample`` is not read: the reference always
resamples as the released code.

Taken from car (so the agreement tests cannot check them; the ledger cites the official lines they follow): the
dense CRF and its label rule (:func:`car.model.dense_masks`), the visual prompts (:mod:`car.prompts`), the box
mask (``caa.box_mask`` = ``scoremap2bbox``), the transformer blocks and pooling (:mod:`car.backbones`), text
encoding, the CAM-text rule (:func:`car.model.cam_texts`) and every hyper-parameter (one :class:`CaRConfig`).
Each ``official_*`` helper is named after the official function it mirrors, so the fidelity tests can check
car against them one rule at a time.
"""
from __future__ import annotations

import contextlib
import time
from typing import Iterator, Sequence

import numpy as np
import torch
import torch.nn.functional as F

from car import affinity as caa
from car import cam as cam_mod
from car import postprocess, prompts
from car.backbones import ClipBundle, blocks, encode_text, pool_and_project, run_blocks
from car.image import to_rgb_uint8
from car.config import CaRConfig
from car.model import dense_masks
from car.proposers import get_proposer
from car.queries import cam_texts
from car.timing import PathRun, StageClock, finish_path
from car.vocab import TEMPLATE_SETS, background_queries
from car.work import (CAM_BACKBONE_FORWARDS, CAM_BACKWARDS, CAM_BLOCK_L_FORWARDS, CLASSIFIER_IMAGES,
                      TEXT_ENCODINGS)


def _final_masks(cfg: CaRConfig, image: np.ndarray, steps: list[dict], n: int, clock: StageClock):
    """CRF (or argmax) on the last step's proposals → (masks bool (N, H, W), labels int64 (H, W))."""
    last = steps[-1]
    masks = np.zeros((n, *image.shape[:2]), bool)
    scores = np.zeros(n, np.float32)
    scores[last["indices"]] = last["scores"]
    with clock("crf"):
        masks[last["indices"]] = dense_masks(cfg, image, last["proposals"])
    return masks, postprocess.label_map(masks, scores)


# --------------------------------------------------------------------------- resampling, from the official files
#: The normalisation constants of ``_transform_resize`` (utils.py) and CLIP's ``_transform`` (clip/clip.py), literally.
_OFFICIAL_MEAN = (0.48145466, 0.4578275, 0.40821073)
_OFFICIAL_STD = (0.26862954, 0.26130258, 0.27577711)


def official_transform_resize(h: int, w: int):
    """``_transform_resize`` (``modeling/model/utils.py:46-55``): PIL image → normalised float (3, h, w)."""
    from torchvision.transforms import Compose, InterpolationMode, Normalize, Resize, ToTensor

    return Compose([Resize((h, w), interpolation=InterpolationMode.BICUBIC), lambda im: im.convert("RGB"),
                    ToTensor(), Normalize(_OFFICIAL_MEAN, _OFFICIAL_STD)])


def official_img_ms_and_flip(image: np.ndarray, patch_size: int = 16) -> torch.Tensor:
    """``img_ms_and_flip(ori_img, H, W, scales=[1.0])[0]`` (``utils.py:58-75``, called at ``clipcam.py:133``): the
    image as PIL, resized up to multiples of ``patch_size``. uint8 (H, W, 3) → float (1, 3, h, w)."""
    from PIL import Image

    ori_height, ori_width = image.shape[:2]
    preprocess = official_transform_resize(int(np.ceil(1.0 * int(ori_height) / patch_size) * patch_size),
                                            int(np.ceil(1.0 * int(ori_width) / patch_size) * patch_size))
    return preprocess(Image.fromarray(image))[None]


def official_clip_transform(n_px: int):
    """CLIP's ``_transform(n_px)`` (``openai/CLIP`` ``clip/clip.py:79-86``, the ``semantic_preprocess`` of
    ``car.py:138-140``, applied at ``car.py:183-184``): PIL image → normalised float (3, n_px, n_px)."""
    from torchvision.transforms import CenterCrop, Compose, InterpolationMode, Normalize, Resize, ToTensor

    return Compose([Resize(n_px, interpolation=InterpolationMode.BICUBIC), CenterCrop(n_px),
                    lambda im: im.convert("RGB"), ToTensor(), Normalize(_OFFICIAL_MEAN, _OFFICIAL_STD)])


def official_upsample_position_embedding(embed: torch.Tensor, new_size: tuple[int, int]) -> torch.Tensor:
    """``upsample_position_embedding`` (``clip_wrapper.py:72-102``): bilinear resize of the patch positions, the
    class position kept, the whole rounded to fp16 (``:101``). float (1 + n0², E) → float16 (1 + h*w, E)."""
    first = embed[:1, :]
    embed = embed[1:, :]
    n, d = embed.size(0), embed.size(1)
    size = int(np.sqrt(n))
    embed = embed.permute(1, 0)
    embed = embed.view(1, d, size, size).contiguous()
    embed = F.interpolate(embed, size=new_size, mode="bilinear")  # F.upsample in the official file
    embed = embed.view(d, -1).contiguous()
    embed = embed.permute(1, 0)
    return torch.cat([first, embed], 0).half()


def official_embed(bundle: ClipBundle, x: torch.Tensor) -> tuple[torch.Tensor, tuple[int, int]]:
    """``CustomVisionTransformer.forward`` up to ``ln_pre`` (``clip_wrapper.py:173-189``) on normalised float
    (B, 3, h, w): tokens float (B, 1 + n, E) and the grid.

    The official code calls ``upsample_position_embedding`` at every forward, at the model's own grid too, where
    the bilinear resize is the identity and ``.half()`` is exact on the fp16 values ``clip.load`` gives every
    OpenAI checkpoint (``build_model`` → ``convert_weights``, ``clip/model.py:434``); at that grid the model's own
    embedding is therefore used, which keeps fp32-trained weights (the toy CLIPs) as they are."""
    visual = bundle.visual
    kernel = visual.conv1.kernel_size[0]
    grid = (x.shape[-2] // kernel, x.shape[-1] // kernel)
    pos = visual.positional_embedding
    if grid[0] * grid[1] + 1 != pos.shape[0] or grid[0] != grid[1]:
        pos = official_upsample_position_embedding(pos, grid)
    x = visual.conv1(x)
    x = x.reshape(x.shape[0], x.shape[1], -1).permute(0, 2, 1)  # (B, n, E)
    zeros = torch.zeros(x.shape[0], 1, x.shape[-1], dtype=x.dtype, device=x.device)
    x = torch.cat([visual.class_embedding.to(x.dtype) + zeros, x], dim=1)
    x = x + pos.to(x.dtype)
    return visual.ln_pre(x), grid


# --------------------------------------------------------------------------- the official loop order
@contextlib.contextmanager
def _trainable_head(bundle: ClipBundle) -> Iterator[None]:
    """OpenAI ``clip.load`` leaves CLIP trainable, so the official backward also fills the ``.grad`` of block L,
    ``ln_post``, ``proj`` and ``logit_scale``; open_clip bundles are frozen — unfreeze those for the official path."""
    params = [*blocks(bundle)[-1].parameters(), *bundle.visual.ln_post.parameters(), bundle.model.logit_scale]
    if isinstance(getattr(bundle.visual, "proj", None), torch.Tensor):
        params.append(bundle.visual.proj)
    flags = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad_(True)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)
            p.grad = None


def official_minmax(cam: np.ndarray) -> np.ndarray:
    """Official ``scale_cam_image`` without resize: (x − min) / (max + 1e-15)."""
    cam = cam - cam.min()
    return cam / (1e-15 + cam.max())


def official_query_cam(bundle: ClipBundle, feats: torch.Tensor, text: torch.Tensor, q: int,
                        grid: tuple[int, int], clock: StageClock) -> tuple[np.ndarray, torch.Tensor]:
    """One official ``CAM`` call: re-run block L with gradients, softmax over all texts, backward of query q.

    Returns:
        the grad-CAM float32 (h, w) in [0, 1] and block L's head-averaged attention (1, 1 + n, 1 + n).
    """
    last = blocks(bundle)[-1]
    with clock("cam_forward"), torch.enable_grad():
        with cam_mod.capture_output(last.ln_1) as ln1, cam_mod.capture_attention([last.attn]) as attn:
            out = last(feats)
        image = F.normalize(pool_and_project(bundle, out, pool="mean"), dim=-1)  # (1, D), mean of patches
        probs = torch.softmax((bundle.model.logit_scale.exp() * image @ text.T).float(), -1)[0]  # (N + K,)
    clock.count(CAM_BLOCK_L_FORWARDS)
    with clock("gradients"):
        grads: list[torch.Tensor] = []
        ln1[0].register_hook(grads.append)  # pytorch-grad-cam's tensor hook on the target layer's output
        bundle.model.zero_grad()
        probs[q].backward(retain_graph=True)
        acts = ln1[0][0, 1:].detach().float().cpu().numpy()  # (n, E), CLS dropped (reshape_transform)
        grad = grads[0][0, 1:].float().cpu().numpy()  # (n, E)
        cam = np.maximum(acts @ grad.mean(0), 0).reshape(grid).astype(np.float32)  # ReLU(Σ_c α_c A_c)
        cam = official_minmax(official_minmax(cam))  # per layer, then aggregate_multi_layers
    clock.count(CAM_BACKWARDS)
    return cam, attn[0]


def official_caa(cam: np.ndarray, attn_maps: list[torch.Tensor], cfg: CaRConfig,
                  size: tuple[int, int]) -> np.ndarray:
    """The official per-query refinement (clipcam.py): Sinkhorn + symmetrise + square, box mask, propagate,
    min–max, bilinear resize to the image. Returns float32 (H, W) in [0, 1]."""
    import cv2

    h, w = cam.shape
    cv2.resize(cam, (size[1], size[0]))  # the official code also up-samples the raw CAM, then never uses it
    aw = torch.stack([a[:, 1:, 1:] for a in attn_maps])[-cfg.attn_layers:].mean(0)[0].cpu().float()  # (n, n)
    box = torch.from_numpy(caa.box_mask(cam, cfg.lam)).float().view(1, h * w)  # scoremap2bbox, (1, n)
    trans = aw
    for _ in range(cfg.sinkhorn_rounds):
        trans = trans / trans.sum(0, keepdim=True)
        trans = trans / trans.sum(1, keepdim=True)
    trans = (trans + trans.T) / 2
    trans = torch.linalg.matrix_power(trans, cfg.affinity_power)
    refined = ((trans * box) @ torch.from_numpy(cam).view(-1, 1)).reshape(h, w).numpy().astype(np.float32)
    return cv2.resize(official_minmax(refined), (size[1], size[0]))  # scale_cam_image(.., (W, H))


def official_resize(cam: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``scale_cam_image([cam], (W, H))``: min–max, then bilinear resize; float32 (H, W) in [0, 1]."""
    import cv2

    return cv2.resize(official_minmax(cam), (size[1], size[0]))


def official_background_words(cfg: CaRConfig, queries: Sequence[str]) -> list[str]:
    """The official thing-pass (or single-pass) background words: every word of the config's groups (the 23 CLIP-ES
    words of every official config, none dropped); ``background_exclude: queries`` drops those equal to a query."""
    return background_queries(cfg.background, queries if cfg.background_exclude == "queries" else ())


def official_forward_clip(classifier: ClipBundle, cfg: CaRConfig, prompted: list[np.ndarray],
                           prompt_text: list, clock: StageClock) -> tuple[np.ndarray, torch.Tensor]:
    """Official ``get_mask_confidence`` + ``forward_clip`` → the diagonal P_ii, float32 (N,), and the classifier
    inputs float (N, 3, S, S) (CLIP's ``_transform`` of each prompted image).

    ``prompt_text`` is the official ``semantic_prompt_text``: a flat list of N strings (no templates: one softmax)
    or a list of lists (templates, or the refer-mode bug's character lists: per list a softmax, summed, then a
    softmax). Per list the texts and the whole batch of prompted images are encoded again (``forward_clip_single``).
    """
    from PIL import Image

    if cfg.classifier_crop != "center":
        raise ValueError(f"classifier_crop={cfg.classifier_crop!r} has no official counterpart; the reference "
                         "reproduces CLIP's centre crop (classifier_crop='center')")
    stop = len(blocks(classifier)) - 1 if cfg.classifier_skip_last_block else None
    with clock("classifier"):
        preprocess = official_clip_transform(classifier.image_size)
        x = torch.stack([preprocess(Image.fromarray(p)) for p in prompted]).to(classifier.device)

    def single(texts: Sequence[str]) -> torch.Tensor:
        with clock("text"):
            text = encode_text(classifier, list(texts))  # (N, D)
        clock.count(TEXT_ENCODINGS, len(texts))
        with clock("classifier"), torch.no_grad():
            tokens, _ = official_embed(classifier, x)
            image = F.normalize(pool_and_project(classifier, run_blocks(classifier, tokens, 0, stop)).float(), dim=-1)
            p = torch.softmax(classifier.logit_scale * image @ text.T, -1)  # (N, N)
        clock.count(CLASSIFIER_IMAGES, len(prompted))
        return p

    if isinstance(prompt_text[0], list):
        p = torch.softmax(sum(single(t) for t in prompt_text), -1)
    else:
        p = single(prompt_text)
    return torch.diagonal(p).cpu().numpy().astype(np.float32), x


def official_prompt_text(cfg: CaRConfig, text: Sequence[str]) -> list:
    """``_forward_car``'s initial ``semantic_prompt_text``: the template lists, or (no templates) the flat list of
    canonical strings ``cam_text_template.format(t)``."""
    if cfg.templates == "canonical":
        return [cfg.cam_template.format(t) for t in text]
    return [[template.format(t) for t in text] for template in TEMPLATE_SETS[cfg.templates]]


def official_filter_texts(kept: list[int], clip_text: list[str], prompt_text: list,
                           char_bug: bool) -> tuple[list[str], list]:
    """Official ``_filter_texts``: ``[[spt[i] for i in kept] for spt in semantic_prompt_text]``.

    On a flat list of strings that comprehension indexes *characters* (the official refer-mode bug); with
    ``char_bug`` False a flat list is filtered as strings instead (car's default)."""
    filtered = [clip_text[i] for i in kept]
    if isinstance(prompt_text[0], list) or char_bug:
        return filtered, [[spt[i] for i in kept] for spt in prompt_text]
    return filtered, [prompt_text[i] for i in kept]


def official_proposals(proposal: ClipBundle, cfg: CaRConfig, image: np.ndarray, cam_text: Sequence[str],
                        background: torch.Tensor, clock: StageClock) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """``get_mask_proposals``: one ``CLIPCAM`` call with every text (semantic) or one call per text (refer), each
    call re-running blocks 1..L−1; per query block L + one backward, the fallback without background queries, CAA.

    Returns:
        the proposals, float32 (H, W) maps in [0, 1], and the raw grad-CAMs after the fallback (the maps
        ``scoremap2bbox`` receives), float32 (h, w) in [0, 1].
    """
    calls = [list(cam_text)] if cfg.mode == "semantic" else [[t] for t in cam_text]
    resblocks = blocks(proposal)
    out, raw = [], []
    for texts in calls:
        with clock("cam_forward"), torch.no_grad():  # encode_image: blocks 1..L-1, every call
            x = official_img_ms_and_flip(image, cfg.proposal_size_multiple or proposal.patch_size)
            with cam_mod.capture_attention([b.attn for b in resblocks[:-1]]) as maps:
                tokens, grid = official_embed(proposal, x.to(proposal.device))
                feats = run_blocks(proposal, tokens, 0, len(resblocks) - 1)
        clock.count(CAM_BACKBONE_FORWARDS)
        with clock("text"):  # zeroshot_classifier: one encode_text per query
            fg = torch.cat([encode_text(proposal, [s]) for s in texts])
        clock.count(TEXT_ENCODINGS, len(texts))
        text = torch.cat([fg, background]) if len(background) else fg
        for q in range(len(texts)):
            cam, last_attn = official_query_cam(proposal, feats, text, q, grid, clock)
            if cam.max() == 0 and len(background):  # fallback: foreground queries only
                cam, last_attn = official_query_cam(proposal, feats, fg, q, grid, clock)
            if q == 0:
                attn_maps = [*maps, last_attn]
            raw.append(cam)
            with clock("caa"):
                if cfg.proposer == "caa":
                    out.append(official_caa(cam, attn_maps, cfg, image.shape[:2]))
                else:  # plain grad-CAM (a config choice, e.g. the toy presets): min-max, resize to the image
                    out.append(official_resize(cam, image.shape[:2]))
    return out, raw


def official_car_call(proposal: ClipBundle, classifier: ClipBundle, cfg: CaRConfig, image: np.ndarray,
                       text: Sequence[str], background: torch.Tensor, prompt_kinds: Sequence[str],
                       schedule: Sequence[np.ndarray] | None, clock: StageClock):
    """One official ``CaR.forward`` (``_forward_car`` → ``_forward_stage``), then its dense CRF.

    ``schedule`` None: the official stop rule (keep P_ii > θ, the arg-max if none; stop when a stage keeps as many
    as the stage before, the count starting at 0). Otherwise the kept set of step t is ``schedule[t + 1]``.

    Returns:
        (steps [{"indices", "proposals", "scores", "raw_cams", "prompted", "classifier_inputs"}], masks bool
        (N, H, W), scores float32 (N,)).
    """
    clip_text = [cfg.cam_template.format(t) for t in text]
    init_clip_text = list(clip_text)
    prompt_text = official_prompt_text(cfg, text)
    idx = np.arange(len(text))
    num_positive_last, prev, steps = 0, None, []
    while True:
        t = len(steps)
        current = idx if schedule is None else np.asarray(schedule[t])
        cam_text = cam_texts(cfg, [text[i] for i in current], t)  # official: raw at stage 1, then cur_texts
        proposals, raw = map(np.stack, official_proposals(proposal, cfg, image, cam_text, background, clock))
        with clock("prompts"):  # one prompted image at a time
            prompted = [prompts.apply(image, prompts.binarize(p, cfg.eta), prompt_kinds,
                                      thickness=cfg.prompt_thickness, blur_kernel=cfg.blur_kernel)
                        for p in proposals]
        scores, cls_inputs = official_forward_clip(classifier, cfg, prompted, prompt_text, clock)
        if schedule is None:
            kept = [i for i, s in enumerate(scores) if s > cfg.theta] or [int(np.argmax(scores))]
        else:
            nxt = schedule[t + 1] if t + 1 < len(schedule) else current
            kept = [int(np.flatnonzero(current == i)[0]) for i in nxt]
        cur_clip = [init_clip_text[i] for i in current]
        _, prompt_text = official_filter_texts(kept, cur_clip, prompt_text, cfg.refer_text_bug)
        if prev is not None and proposals.max() == 0:  # official: after the classifier, the last proposals —
            proposals = prev[:len(current)]  # the full previous list, zipped with the survivors
        steps.append({"indices": np.asarray(current), "proposals": proposals, "scores": scores, "raw_cams": raw,
                      "prompted": np.stack(prompted), "classifier_inputs": cls_inputs})
        prev = proposals
        num_positive = len(kept)
        done = num_positive == num_positive_last if schedule is None else t + 1 == len(schedule)
        if done:
            break
        num_positive_last = num_positive
        idx = current[kept]
    last = steps[-1]
    masks, _ = _final_masks(cfg, image, steps, len(text), clock)
    final_scores = np.zeros(len(text), np.float32)
    final_scores[last["indices"]] = last["scores"]
    return steps, masks, final_scores


def official_assign_label(masks: np.ndarray, scores: np.ndarray, stuff_masks: np.ndarray | None = None,
                           stuff_scores: np.ndarray | None = None, id_mapping: Sequence[int] | None = None,
                           stuff_id_mapping: Sequence[int] | None = None) -> np.ndarray:
    """Official ``assign_label`` (evaluate.py): from 0, the stuff masks in ascending score order, then the thing
    masks in ascending score order over them; mask i paints ``id_mapping[i] + 1`` (default ``i + 1``) where
    mask > 0.5, if its score is > 0. int64 (H, W)."""
    labels = np.zeros(masks.shape[1:], np.int64)
    layers = [] if stuff_masks is None else [(stuff_masks, stuff_scores, stuff_id_mapping)]
    for layer_masks, layer_scores, ids in layers + [(masks, scores, id_mapping)]:
        ids = np.arange(len(layer_scores)) if ids is None else np.asarray(ids)
        for i in np.argsort(layer_scores):
            if layer_scores[i] > 0:
                labels[layer_masks[i] > 0.5] = ids[i] + 1
    return labels


def official_merge(masks: np.ndarray, scores: np.ndarray, size: tuple[int, int], threshold: float = 0.5
                    ) -> np.ndarray:
    """Official ``merge_masks_simple`` (utils/merge_mask.py): the score-weighted mean of a sample's masks resized
    to ``size`` = (H, W) and kept at ≥ 0.5; at ≤ 5 % of the image the union of every mask instead. bool (H, W)."""
    import cv2

    with np.errstate(invalid="ignore", divide="ignore"):  # a zero score sum: NaN, as the official 0 / 0
        merged = (masks.astype(np.float32) * scores[:, None, None]).sum(0) / scores.sum()
    merged = cv2.resize(merged.astype(np.float32), (size[1], size[0])) >= threshold
    if merged.sum() <= 0.05 * size[0] * size[1]:
        union = (masks > 0).any(0).astype(np.uint8)
        merged = cv2.resize(union, (size[1], size[0])) > threshold
    return merged


def official_gres_target(target_masks: Sequence[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    """Official ``GReferDataset.__getitem__``: ``getMaskByRef(ref)[0]``, the first target's mask (empty when the
    expression has no target). bool (H, W)."""
    return np.asarray(target_masks[0], bool) if len(target_masks) else np.zeros(shape, bool)


def official_refer_prediction(proposal: ClipBundle, classifier: ClipBundle, config: CaRConfig, image: np.ndarray,
                               sentences: Sequence[str], size: tuple[int, int] | None = None) -> np.ndarray:
    """One referring sample as the official ``evaluate`` scores it: ``inference_car`` (all sentences of the sample
    in one refer-mode call), then ``merge_masks_simple`` to the target size (default: the image's). bool (H, W)."""
    run = official_order(proposal, classifier, config.replace(mode="refer"), image, sentences)
    scores = np.zeros(len(sentences), np.float32)
    scores[run.steps[-1]["indices"]] = run.steps[-1]["scores"]
    return official_merge(run.masks, scores, size or image.shape[:2])


def official_video(proposal: ClipBundle, classifier: ClipBundle, config: CaRConfig, frames: Sequence[np.ndarray],
                    expression: str) -> list[np.ndarray]:
    """A referring video frame by frame (the official code has no video path; the paper's Ref-DAVIS numbers come
    from per-frame referring CaR): :func:`official_refer_prediction` on every frame with ``[expression]``."""
    return [official_refer_prediction(proposal, classifier, config, f, [expression]) for f in frames]


def official_order(proposal: ClipBundle, classifier: ClipBundle, config: CaRConfig, image: np.ndarray,
                   queries: Sequence[str], schedule: Sequence[np.ndarray] | None = None, *,
                   clock: StageClock | None = None, background: torch.Tensor | None = None,
                   stuff: Sequence[bool] | None = None) -> PathRun:
    """The official code's order of work (``_forward_car`` → ``_forward_stage`` → ``CLIPCAM``), every mode.

    Per step: blocks 1..L−1 re-run (no grad); each CAM text encoded alone (``zeroshot_classifier``); per query
    block L re-run with gradients and one backward with ``retain_graph`` (hooks on ``ln_1``), the Sinkhorn
    affinity recomputed and the box/propagation applied; each proposal prompted alone; the classifier run once
    per template (or the flat list) on the batch of prompted images. Then a dense CRF on the last step's proposals.

    * semantic: one CAM call with every query (softmax over [queries; background]), one joint CRF;
    * refer (RefCOCO family, GRES, the frames of Ref-DAVIS): one CAM call and one 2-class CRF per sentence; the
      classifier texts follow ``_filter_texts`` literally, with the character-indexing bug when
      ``refer_text_bug`` is set;
    * two passes (``stuff`` given and ``stuff_prompts`` set: Pascal Context, ADE): the official ``eval_semantic``,
      one full call for the things (background: the config's words, all 23 kept) and one for the stuff
      (background: the thing names, the stuff prompts), each with its own CRF; labels by ``assign_label``,
      stuff painted first.

    Args:
        config: hyper-parameters (η, θ, λ, prompts, templates, CRF, ...); the loop order is the official one whatever
            the config says; ``proposer="gradcam"`` skips CAA as car does; any other proposer is refused (the
            official code has no other).
        schedule: the query indices of each step (:func:`fixed_schedule`, single pass only); None = the official
            stop rule.
        background: the normalised background-query embeddings float (K, D) of a single pass; the official code
            encodes them at construction, so they are computed (untimed) here when None.
        stuff: bool per query marking the stuff classes (two passes).

    Returns:
        a :class:`PathRun` with steps (indices into ``queries``), masks and labels (index into ``queries``, −1 =
        background, i.e. the official label map minus one).
    """
    cfg, clock = config, clock or StageClock()
    if cfg.mode not in ("semantic", "refer"):
        raise ValueError(f"unknown mode {cfg.mode!r}; valid: semantic, refer")
    if not get_proposer(cfg.proposer).official:
        raise ValueError(f"the official loop order exists for the grad-CAM proposers only (gradcam, caa); config "
                         f"{cfg.name!r} proposes with {cfg.proposer!r}: time it with car.experiments.bench.car_pipeline or "
                         f"python -m car bench --peers")
    image = to_rgb_uint8(image)
    n = len(queries)
    is_stuff = np.zeros(n, bool) if stuff is None else np.asarray(stuff, bool)
    two_pass = bool(cfg.stuff_prompts) and is_stuff.any() and (~is_stuff).any()
    if two_pass and schedule is not None:
        raise ValueError("a fixed schedule covers a single pass; pass schedule=None for two passes")
    things, stuff_idx = np.flatnonzero(~is_stuff), np.flatnonzero(is_stuff)
    if two_pass:  # eval_semantic: the thing call, then set_bg_cls(thing names) + stuff prompts for the stuff call
        thing_words, stuff_names = official_background_words(cfg, queries), [queries[i] for i in stuff_idx]
        if cfg.thing_background == "stuff":  # the stuff names alone (Supp. E's reading; not in the code)
            thing_words = stuff_names
        elif cfg.thing_background == "added":  # §4.1: the stuff names added to the words (not in the code)
            thing_words = thing_words + [w for w in stuff_names if w not in thing_words]
        passes = [(things, thing_words, cfg.prompts), (stuff_idx, [queries[i] for i in things], cfg.stuff_prompts)]
    else:
        passes = [(np.arange(n), official_background_words(cfg, queries), cfg.prompts)]
    embedded = [encode_text(proposal, [cfg.cam_template.format(w) for w in words])  # at construction: untimed
                if background is None or two_pass else background for _, words, _ in passes]
    start = time.perf_counter()
    steps: list[dict] = []
    masks = np.zeros((n, *image.shape[:2]), bool)
    scores = np.zeros(n, np.float32)
    with _trainable_head(proposal):
        for (idx, _, kinds), bg in zip(passes, embedded):
            sub = [queries[i] for i in idx]
            sub_steps, sub_masks, sub_scores = official_car_call(proposal, classifier, cfg, image, sub, bg, kinds,
                                                                  schedule, clock)
            steps += [dict(s, indices=idx[s["indices"]]) for s in sub_steps]
            masks[idx], scores[idx] = sub_masks, sub_scores
    if two_pass:  # assign_label with the passes' id mappings (here: the query indices)
        labels = official_assign_label(masks[things], scores[things], masks[stuff_idx], scores[stuff_idx],
                                        things, stuff_idx) - 1
    else:
        labels = official_assign_label(masks, scores) - 1
    return finish_path("official", clock, start, steps, masks, labels)
