"""COCO segmentation -> binary mask, without pycocotools.

A line-by-line port of ``rleFrPoly``, ``rleFrString`` and ``rleDecode`` from the COCO API
(``cocoapi/common/maskApi.c``), so polygons rasterise to exactly the pixels pycocotools gives (the
RefCOCO-family and GRES ground truth is built from them). RLE counts run down columns
(column-major, "Fortran" order).
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


def polygon_to_rle(xy: Sequence[float], height: int, width: int) -> list[int]:
    """RLE counts of one polygon (``rleFrPoly``: 5x upsampled boundary, y-crossings, downsample).

    Args:
        xy: flat polygon ``[x0, y0, x1, y1, ...]`` in pixel coordinates (COCO convention).
        height, width: mask size.

    Returns:
        Run lengths alternating background / foreground, starting with background.
    """
    scale = 5.0
    k = len(xy) // 2
    x = [int(scale * xy[2 * j] + 0.5) for j in range(k)] + [int(scale * xy[0] + 0.5)]
    y = [int(scale * xy[2 * j + 1] + 0.5) for j in range(k)] + [int(scale * xy[1] + 0.5)]
    u: list[int] = []
    v: list[int] = []
    for j in range(k):  # dense integer points along each edge
        xs, xe, ys, ye = x[j], x[j + 1], y[j], y[j + 1]
        dx, dy = abs(xe - xs), abs(ys - ye)
        flip = (dx >= dy and xs > xe) or (dx < dy and ys > ye)
        if flip:
            xs, xe, ys, ye = xe, xs, ye, ys
        if dx >= dy:
            s = (ye - ys) / dx if dx else 0.0
            for d in range(dx + 1):
                t = dx - d if flip else d
                u.append(t + xs)
                v.append(int(ys + s * t + 0.5))
        else:
            s = (xe - xs) / dy
            for d in range(dy + 1):
                t = dy - d if flip else d
                v.append(t + ys)
                u.append(int(xs + s * t + 0.5))
    starts = []
    for j in range(1, len(u)):  # points where the boundary crosses a pixel column, downsampled
        if u[j] == u[j - 1]:
            continue
        xd = (u[j] if u[j] < u[j - 1] else u[j] - 1)
        xd = (xd + 0.5) / scale - 0.5
        if math.floor(xd) != xd or xd < 0 or xd > width - 1:
            continue
        yd = (v[j] if v[j] < v[j - 1] else v[j - 1])
        yd = (yd + 0.5) / scale - 0.5
        yd = math.ceil(min(max(yd, 0.0), float(height)))
        starts.append(int(xd) * height + int(yd))
    starts.append(height * width)
    starts.sort()
    diffs, prev = [], 0
    for t in starts:
        diffs.append(t - prev)
        prev = t
    counts = [diffs[0]]
    j = 1
    while j < len(diffs):  # merge zero-length runs
        if diffs[j] > 0:
            counts.append(diffs[j])
            j += 1
        else:
            j += 1
            if j < len(diffs):
                counts[-1] += diffs[j]
                j += 1
    return counts


def rle_from_string(s: str | bytes) -> list[int]:
    """Decode COCO's compressed RLE string (``rleFrString``: LEB128-like, 6 bits per char)."""
    if isinstance(s, bytes):
        s = s.decode("ascii")
    counts: list[int] = []
    p = 0
    while p < len(s):
        x, k, more = 0, 0, True
        while more:
            c = ord(s[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(counts) > 2:
            x += counts[-2]
        counts.append(x)
    return counts


def rle_decode(counts: Sequence[int], height: int, width: int) -> np.ndarray:
    """bool (H, W) mask from column-major run lengths (``rleDecode``)."""
    counts = np.asarray(counts, dtype=np.int64)
    flat = np.repeat(np.arange(len(counts)) % 2 == 1, counts)
    if flat.size != height * width:
        raise ValueError(f"RLE covers {flat.size} pixels, expected {height} x {width} = {height * width}")
    return flat.reshape(width, height).T.copy()


def segmentation_to_mask(segmentation: Any, height: int, width: int) -> np.ndarray:
    """bool (H, W) mask of a COCO ``segmentation`` (polygon list, or RLE dict).

    Several polygons of one annotation are united. (The official REFER ``getMask`` sums the
    per-polygon masks and keeps pixels equal to 1, which drops pixels where two polygons of the
    same object overlap; we take the union.)
    """
    if isinstance(segmentation, dict):
        counts = segmentation["counts"]
        h, w = segmentation.get("size", (height, width))
        rle = rle_from_string(counts) if isinstance(counts, (str, bytes)) else list(counts)
        return rle_decode(rle, int(h), int(w))
    mask = np.zeros((height, width), dtype=bool)
    for poly in segmentation:
        if len(poly) >= 6:  # pycocotools reads a 4-number list as a box; such "polygons" are degenerate
            mask |= rle_decode(polygon_to_rle(poly, height, width), height, width)
    return mask
