"""The interactive demo: ``python -m car demo`` serves a Gradio app (``pip install "car-book[demo]"``).

Upload a photo (any size, any mode; EXIF orientation applied, :mod:`car.image`) or pick a sample, type
comma-separated queries, pick a preset and θ, and see the overlay, every step of the recurrence (kept and
removed queries with their classifier scores) and a download of the label PNG (0 = background, i = query i).

Three worlds, always labelled on the page (:mod:`car.world`):

* **real CLIP** (online: Colab, a Hugging Face Space, a laptop): OpenAI ViT-B/16 proposals + ViT-L/14 classifier;
* **random weights** (``--world random`` or ``CAR_RANDOM_WEIGHTS=1``): the same architectures, randomly
  initialised — mechanics only, the masks mean nothing;
* **the toy world** (offline, no weights): the tiny CLIPs shipped with ``car``, trained on synthetic scenes of
  coloured shapes; toy scenes are among the samples.

Samples: three toy scenes and photos shipped with scikit-image (``skimage.data``; each one's source and licence as
the package states it is in :data:`PHOTOS`). Launch from Python, e.g. in Colab::

    from car.demo import launch
    launch(share=True)
"""
from __future__ import annotations

import os
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from car.image import ImageReadError, load_image, resize_to_working, save_labels, to_rgb_uint8, working_shape
from car.photos import PHOTOS, credit_line, load_photo
from car.world import KINDS, World, detect

_INSTALL = 'the demo needs Gradio: pip install "car-book[demo]" (or pip install gradio)'

NUM_TOY_SAMPLES = 3
TOY_WORKING_SIZE = 64  # the toy CLIPs' training size: in the toy world a photo is seen as their 64-px scenes were


@dataclass(frozen=True)
class DemoSetup:
    """What the page offers in one world: the world (:class:`car.world.World`), the sentence the page shows about
    it, the presets on offer and the default one."""

    world: World
    sentence: str
    presets: tuple[str, ...]
    default_preset: str


def demo_setup(world: str = "auto", device: str = "auto") -> DemoSetup:
    """The demo in ``world`` (``auto``, or one of :data:`car.world.KINDS`): ``auto`` = real CLIP when its weights
    are at hand (or ``CAR_RANDOM_WEIGHTS=1`` asks for random weights), else the toy world.

    Raises:
        ValueError: an unknown ``world`` (the valid ones are listed).
    """
    from car.config import list_configs

    if world not in ("auto", *KINDS):
        raise ValueError(f"unknown demo world {world!r}; valid: auto, {', '.join(KINDS)}")
    found = detect(device=device, kind=world)
    if found.kind == "toy":
        presets = tuple(p for p in list_configs(toy=True) if p != "toy_video")
        return DemoSetup(found, "**Toy world** — the tiny CLIPs shipped with `car`, trained on synthetic scenes of "
                                "coloured shapes (no real CLIP weights here). On photos their masks show the "
                                "mechanics, not what CLIP would find.", presets, "toy_voc")
    presets = tuple(list_configs())
    if found.kind == "random":
        return DemoSetup(found, "**Real CLIP architectures with random weights: mechanics only** — ViT-B/16 "
                                "proposals and ViT-L/14 classifier, randomly initialised; the masks and scores "
                                "mean nothing.", presets, "voc")
    return DemoSetup(found, "**Real CLIP** — OpenAI ViT-B/16 proposals, ViT-L/14 classifier (the paper's "
                            "models).", presets, "voc")


# --------------------------------------------------------------------------- samples
def sample_names() -> list[str]:
    """The samples on offer: toy scenes, then the scikit-image photos (when scikit-image is installed)."""
    names = [f"toy scene {i + 1}" for i in range(NUM_TOY_SAMPLES)]
    try:
        import skimage.data  # noqa: F401
    except ImportError:
        return names
    return names + [photo.title for photo in PHOTOS.values()]


def load_sample(name: str) -> tuple[np.ndarray, str, str]:
    """A sample by its title: (uint8 (H, W, 3) image, default queries, credit line)."""
    match = re.fullmatch(r"toy scene (\d+)", name)
    if match:
        from car.data import get_dataset

        dataset = get_dataset("toy_voc", None)
        sample = dataset[int(match.group(1)) - 1]
        present = [dataset.label_names[v] for v in np.unique(sample.gt) if 0 < v < len(dataset.label_names)]
        absent = [q for q in ("green cross", "blue circle", "yellow triangle") if q not in present][:2]
        return to_rgb_uint8(sample.image), ", ".join(present + absent), "synthetic toy scene (car.toy), 64 x 64 px"
    for key, photo in PHOTOS.items():
        if photo.title == name:
            return load_photo(key), ", ".join(photo.queries), credit_line(key)
    raise ValueError(f"unknown sample {name!r}; available: {', '.join(sample_names())}")


# --------------------------------------------------------------------------- segmentation
#: The proposer choice that keeps the preset's own (``config.proposer``).
PRESET_PROPOSER = "the preset's"


class Segmenter:
    """Loads each model once and runs :class:`car.CaR` for the demo's callbacks."""

    def __init__(self, setup: DemoSetup, device: str = "auto", limits: "Limits | None" = None):
        from car.devices import resolve_device

        self.setup, self.device, self.limits = setup, resolve_device(device), limits or Limits()
        self._bundles: dict[tuple[str, str | None], Any] = {}

    def _bundle(self, name: str, pretrained: str | None):
        from car.backbones import load_clip
        from car.toy.models import TOY_MODELS

        key = (name, pretrained)
        if key not in self._bundles:
            if self.setup.world.kind == "random" and name not in TOY_MODELS:
                import torch

                torch.manual_seed(0)
                pretrained = None
            self._bundles[key] = load_clip(name, pretrained, device=self.device)
        return self._bundles[key]

    def model(self, preset: str, theta: float, working_size: int | None, method: str = "car",
              proposer: str | None = None):
        """A :class:`car.CaR` for ``preset`` with θ, the working size and (optionally) its proposer set, or with
        ``method`` a single-pass peer (:class:`car.peers.PeerSegmenter`), sharing the loaded models."""
        from car import CaR
        from car.config import load_config
        from car.peers import PeerSegmenter

        changes = {"proposer": proposer} if proposer and proposer != PRESET_PROPOSER else {}
        cfg = load_config(preset, theta=float(theta), working_size=working_size, **changes)
        proposal = self._bundle(cfg.proposal_model, cfg.proposal_pretrained)
        if method != "car":
            return PeerSegmenter(method, proposal, cfg)
        classifier = self._bundle(cfg.classifier_model, cfg.classifier_pretrained)
        return CaR(proposal, classifier, cfg)

    def run(self, image: np.ndarray, queries_text: str, preset: str, theta: float,
            working_size: int | None, method: str = "car", proposer: str | None = None) -> dict[str, Any]:
        """Segment ``image`` with ``method`` ("car", with the preset's or ``proposer``'s proposals, or a
        single-pass peer); returns the overlay, the step table, the label map and a status line."""
        from car.viz import label_figure

        queries = parse_queries(queries_text, self.limits)
        model = self.model(preset, theta, working_size, method, proposer)
        start = time.perf_counter()
        result = model(image, queries)
        seconds = time.perf_counter() - start
        view, view_labels = _display_copy(image, result.labels)
        steps = getattr(result, "steps", [])  # a single-pass peer has none
        rows = [[t, q, round(float(s), 3), "kept" if k else "removed"]
                for t, step in enumerate(steps, 1) for q, s, k in zip(step.queries, step.scores, step.kept)]
        kept = result.kept if hasattr(result, "kept") else [q for q, m in zip(queries, result.masks) if m.any()]
        h, w = working_shape(image.shape, model.config.working_size)
        size = f"{image.shape[1]} x {image.shape[0]} px"
        if (h, w) != image.shape[:2]:
            size += f", segmented at {w} x {h}"
        how = (f"CaR, proposals `{model.config.proposer}`, θ = {theta:.2f}; {len(steps)} steps" if method == "car"
               else f"{method} alone (one pass, no recurrence)")
        status = (f"**{self.setup.world.label}** · preset `{preset}`, {how}; {size}; in {seconds:.1f} s. "
                  f"Kept: {', '.join(kept) or 'none'}.")
        return {"overlay": label_figure(view, view_labels, list(queries)), "rows": rows, "labels": result.labels,
                "status": status}


def _display_copy(image: np.ndarray, labels: np.ndarray, longest: int = 1024,
                  shortest: int = 384) -> tuple[np.ndarray, np.ndarray]:
    """Image and labels at a size a browser shows well: big photos down to ``longest``, toy scenes up to
    ``shortest`` (nearest neighbour, so pixels stay visible)."""
    h, w = image.shape[:2]
    if max(h, w) > longest:
        view = resize_to_working(image, longest)
    elif max(h, w) < shortest:
        k = int(np.ceil(shortest / max(h, w)))
        view = cv2.resize(image, (w * k, h * k), interpolation=cv2.INTER_NEAREST)
    else:
        return image, labels
    vh, vw = view.shape[:2]
    return view, cv2.resize(labels.astype(np.int32), (vw, vh), interpolation=cv2.INTER_NEAREST).astype(np.int64)


# --------------------------------------------------------------------------- the app
@dataclass(frozen=True)
class Limits:
    """What one request may ask of a public demo (a CPU Space must survive strangers): each is settable with
    :func:`launch` / ``python -m car demo`` flags.

    Attributes:
        max_upload_mb: largest upload, in megabytes (Gradio refuses larger files; the callback checks again).
        max_pixels: largest photo, read from its header before decoding (:func:`car.image.load_image`).
        max_queries: most queries in one request (each costs a CAM and a classifier pass per step).
        max_queue: requests waiting at once; more are turned away by Gradio's queue until one finishes.
        keep_labels: label PNGs kept for download; older ones are deleted.
    """

    max_upload_mb: float = 20.0
    max_pixels: int = 50_000_000
    max_queries: int = 24
    max_queue: int = 16
    keep_labels: int = 64


class LabelStore:
    """A bounded folder of label PNGs: :meth:`save` writes one and deletes the oldest beyond ``keep``."""

    def __init__(self, keep: int, folder: Path | None = None):
        self.keep = max(1, int(keep))
        self.folder = folder or Path(tempfile.mkdtemp(prefix="car-demo-"))

    def save(self, stem: str, labels: np.ndarray) -> Path:
        path = self.folder / f"{stem}_{time.time_ns()}_labels.png"
        save_labels(path, labels)
        for old in sorted(self.folder.glob("*_labels.png"), key=lambda p: p.stat().st_mtime)[:-self.keep]:
            old.unlink(missing_ok=True)
        return path


def check_upload(path: str, limits: Limits) -> np.ndarray:
    """Read an uploaded photo under the demo's limits: uint8 (H, W, 3), or one clear line.

    Raises:
        ValueError: too large a file or photo, or anything :func:`car.image.load_image` refuses (the same line the
            command line prints).
        FileNotFoundError: the upload is gone.
    """
    size_mb = os.path.getsize(path) / 2**20 if os.path.exists(path) else 0.0
    if size_mb > limits.max_upload_mb:
        raise ValueError(f"{Path(path).name} is {size_mb:.1f} MB; this demo takes photos up to "
                         f"{limits.max_upload_mb:g} MB")
    try:
        return load_image(path, max_pixels=limits.max_pixels)
    except ImageReadError as e:  # name the upload, not the server's temporary copy of it
        raise ImageReadError(str(e).replace(str(path), Path(path).name)) from e


def parse_queries(text: str, limits: Limits) -> list[str]:
    """Comma-separated queries → a checked list (:func:`car.model.check_queries`), at most ``max_queries``.

    Raises:
        ValueError: no query, a duplicate, or too many (one line saying what to do).
    """
    from car.queries import check_queries

    queries = check_queries([q.strip() for q in (text or "").split(",") if q.strip()])
    if len(queries) > limits.max_queries:
        raise ValueError(f"{len(queries)} queries; this demo takes at most {limits.max_queries} per request: "
                         "remove some")
    return queries


def build_app(world: str = "auto", device: str = "auto", limits: Limits = Limits()):
    """The Gradio app (``gradio.Blocks``); serve it with :func:`launch` (or ``.queue().launch()``).

    Args:
        world: auto, toy, random or real (see :func:`demo_setup`).
        device: where the models run ("auto": CUDA when available).
        limits: what one request may ask (:class:`Limits`).

    Raises:
        ImportError: Gradio is not installed (the message gives the install command).
    """
    try:
        import gradio as gr
    except ImportError as e:
        raise ImportError(_INSTALL) from e
    from car.config import load_config
    from car.evaluate import METHODS
    from car.proposers import list_proposers

    setup = demo_setup(world, device)
    segmenter = Segmenter(setup, device, limits)
    store = LabelStore(limits.keep_labels)
    samples = Path(tempfile.mkdtemp(prefix="car-demo-samples-"))
    default_theta = load_config(setup.default_preset).theta
    default_size = TOY_WORKING_SIZE if setup.world.kind == "toy" else load_config(setup.default_preset).working_size

    def failure(e: BaseException):
        return gr.Error(str(e).splitlines()[0] if str(e) else type(e).__name__, print_exception=False)

    def on_sample(name: str):
        if not name:
            return gr.update(), gr.update(), gr.update(), ""
        image, queries, credit = load_sample(name)
        path = samples / f"{re.sub(r'[^A-Za-z0-9_-]+', '_', name)}.png"
        if not path.exists():
            from PIL import Image

            Image.fromarray(image).save(path)
        return str(path), _display_copy(image, np.zeros(image.shape[:2], np.int64))[0], queries, f"Sample: {credit}"

    def on_upload(path: str | None):
        if not path:
            return None
        try:
            image = check_upload(path, limits)
        except (ValueError, FileNotFoundError) as e:
            raise failure(e) from e
        return _display_copy(image, np.zeros(image.shape[:2], np.int64))[0]

    def on_preset(preset: str):
        return load_config(preset).theta

    def on_run(path: str | None, queries: str, preset: str, theta: float, size: int, native: bool,
               method: str = "car", proposer: str = PRESET_PROPOSER):
        if not path:
            raise gr.Error("Upload a photo or pick a sample first.", print_exception=False)
        try:
            image = check_upload(path, limits)
            out = segmenter.run(image, queries or "", preset, theta, None if native else int(size), method, proposer)
        except (ValueError, FileNotFoundError, RuntimeError) as e:
            raise failure(e) from e
        stem = re.sub(r"[^A-Za-z0-9_-]+", "_", Path(path).stem)[:40] or "image"
        return out["overlay"], out["rows"], str(store.save(stem, out["labels"])), out["status"]

    with gr.Blocks(title="CaR: CLIP as RNN", delete_cache=(600, 3600)) as app:
        gr.Markdown("# CaR — CLIP as RNN\nSegment any text query with frozen CLIP models, no training "
                    "(Sun et al., CVPR 2024). Queries the classifier rejects are removed step by step.")
        gr.Markdown(setup.sentence, elem_id="world")
        with gr.Row():
            with gr.Column():
                photo = gr.File(label=f"Photo (up to {limits.max_upload_mb:g} MB, {limits.max_pixels / 1e6:g} MP)",
                                file_types=["image"], type="filepath", elem_id="photo")
                preview = gr.Image(type="numpy", format="png", label="Your photo", interactive=False, buttons=[],
                                   elem_id="preview")
                sample = gr.Dropdown(choices=sample_names(), value=None, label="…or pick a sample", elem_id="sample")
                credit = gr.Markdown("", elem_id="credit")
                queries = gr.Textbox(label=f"Queries, comma-separated (at most {limits.max_queries})",
                                     placeholder="cat, dog, Space Needle", elem_id="queries")
                with gr.Row():
                    preset = gr.Dropdown(choices=list(setup.presets), value=setup.default_preset,
                                         label="Preset", elem_id="preset")
                    theta = gr.Slider(0.0, 1.0, value=default_theta, step=0.01, label="θ (remove a query when "
                                      "its score P ≤ θ)", elem_id="theta")
                with gr.Row():
                    method = gr.Dropdown(choices=list(METHODS), value="car", elem_id="method",
                                         label="Method (car, or a single-pass peer alone)")
                    proposer = gr.Dropdown(choices=[PRESET_PROPOSER] + list_proposers(), value=PRESET_PROPOSER,
                                           label="CaR's proposals f", elem_id="proposer")
                with gr.Accordion("Working size", open=False):
                    size = gr.Slider(64, 1280, value=default_size or 640, step=32,
                                     label="longer side (px) of the CLIP passes and the CRF", elem_id="size")
                    native = gr.Checkbox(value=default_size is None, label="the photo's own size (official code; "
                                         "slow and memory-hungry on big photos)")
                run = gr.Button("Segment", variant="primary", elem_id="run")
            with gr.Column():
                overlay = gr.Image(type="numpy", format="png", label="Result", interactive=False, buttons=[],
                                   elem_id="overlay")
                status = gr.Markdown("", elem_id="status")
                steps = gr.Dataframe(headers=["step", "query", "score P", "verdict"],
                                     datatype=["number", "str", "number", "str"], label="The recurrence, step by step",
                                     interactive=False, elem_id="steps")
                labels = gr.File(label="Label PNG (0 = background, i = query i)", interactive=False,
                                 elem_id="labels_png")
        gr.Markdown("Samples: toy scenes from `car.toy`; photos from scikit-image's `skimage.data` (sources and "
                    "licences as the package states them). Masks and labels are returned at the photo's full size.")
        sample.change(on_sample, inputs=sample, outputs=[photo, preview, queries, credit], api_name="sample")
        photo.upload(on_upload, inputs=photo, outputs=preview, api_name="check")
        preset.change(on_preset, inputs=preset, outputs=theta, api_name=False)
        run.click(on_run, inputs=[photo, queries, preset, theta, size, native, method, proposer],
                  outputs=[overlay, steps, labels, status], api_name="segment")
    app.car_limits = limits
    return app


def launch(world: str = "auto", host: str | None = None, port: int | None = None, share: bool = False,
           device: str = "auto", limits: Limits = Limits(), **kwargs: Any):
    """Build the app and :func:`serve` it (blocks until stopped unless ``prevent_thread_lock=True`` is passed).

    Args:
        world: auto, toy, random or real (see :func:`demo_setup`).
        host, port, share: see :func:`serve`.
        device: where the models run; limits: what one request may ask (:class:`Limits`).
        **kwargs: forwarded to ``gradio.Blocks.launch``.
    """
    return serve(build_app(world, device, limits), host, port, share, **kwargs)


def serve(app, host: str | None = None, port: int | None = None, share: bool = False, **kwargs: Any):
    """Serve a :func:`build_app` app with its limits: a bounded queue (one segmentation at a time) and Gradio's
    upload-size check.

    Args:
        host, port: where to serve (default: Gradio's, 127.0.0.1:7860).
        share: also open a temporary public gradio.live link (Colab) — anyone who has it can use the demo, so a
            warning says so.
        **kwargs: forwarded to ``gradio.Blocks.launch``.
    """
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    limits: Limits = getattr(app, "car_limits", Limits())
    if share:
        warnings.warn("sharing: the gradio.live link is public — anyone who has it can run segmentations on this "
                      "machine until it expires (72 h) or you stop the demo", stacklevel=2)
    app.queue(max_size=limits.max_queue, default_concurrency_limit=1)
    kwargs.setdefault("max_file_size", f"{limits.max_upload_mb:g}mb")
    return app.launch(server_name=host, server_port=port, share=share, **kwargs)
