"""Time the official resampling against the float path on a 12-megapixel photo at the default working size.

A bundled photograph is enlarged to a phone photo (4032 x 3024, 12.2 MP, and a 3:2 one, 4032 x 2688), shrunk to
the working size (640 px on the longer side, as ``CaR.set_image`` does), then resampled as CaR does per image: the
CAM input (up to multiples of 16) and, per step, the prompted images' classifier inputs (``--prompted`` of them,
224 px). For scale the same machine times two CaR stages on that image: the CAM backbone pass of a random-weight
ViT-B/16 (``cam_forward``) and the dense CRF of five proposals (``crf``). Medians of ``--repeats`` runs, seconds.

    python tools/resample_timing.py --repeats 7 --out resample_timing.json
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from car.backbones import image_tensor, load_clip  # noqa: E402
from car.cam import encode_image  # noqa: E402
from car.classifier import preprocess  # noqa: E402
from car.config import CaRConfig  # noqa: E402
from car.image import resize_to_working  # noqa: E402
from car.model import dense_masks  # noqa: E402
from car.photos import load_photo  # noqa: E402


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    """The median wall time of ``repeats`` calls of ``fn`` (one untimed warm-up call first)."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def time_photo(size: tuple[int, int], repeats: int, prompted: int) -> dict:
    """Timings for one photo of ``size`` = (W, H) pixels."""
    import torch

    cfg = CaRConfig()
    photo = np.asarray(Image.fromarray(load_photo("astronaut")).resize(size, Image.Resampling.BICUBIC))
    work = resize_to_working(photo, cfg.working_size)
    bundle = load_clip("ViT-B-16", None, device="cpu")  # random weights: only the sizes matter here
    batch = np.repeat(work[None], prompted, 0)
    out = {"photo": list(size), "working": list(work.shape[:2]),
           "cam_input_size": list(image_tensor(bundle, work, multiple=16).shape[-2:]),
           "working_size_resize": median_seconds(lambda: resize_to_working(photo, cfg.working_size), repeats)}
    for rule in ("official", "float"):
        out[f"cam_input_{rule}"] = median_seconds(lambda: image_tensor(bundle, work, multiple=16, resample=rule),
                                                  repeats)
        out[f"classifier_inputs_{rule}"] = median_seconds(lambda: preprocess(bundle, batch, resample=rule), repeats)
    proposals = np.random.default_rng(0).random((5, *work.shape[:2])).astype(np.float32)
    out["crf_5_proposals"] = median_seconds(lambda: dense_masks(cfg, work, proposals), repeats)
    with torch.no_grad():
        out["cam_forward_vit_b16"] = median_seconds(lambda: encode_image(bundle, work), max(1, repeats // 2))
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--prompted", type=int, default=20, help="prompted images per step (one per query)")
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args(argv)
    import torch

    record = {"torch_threads": torch.get_num_threads(), "repeats": args.repeats, "prompted": args.prompted,
              "photos": [time_photo(size, args.repeats, args.prompted) for size in ((4032, 3024), (4032, 2688))]}
    text = json.dumps(record, indent=1)
    if args.out:
        args.out.write_text(text + "\n")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
