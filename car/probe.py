"""Probes of the properties CaR relies on, measured directly and independently of CaR's results.

:func:`same_object_mass` asks whether a CLIP's attention knows objects: for a patch token inside an object, the
fraction of its affinity that lands on tokens of the same object — per block, and after each stage of CLIP-ES's
class-aware affinity (CAA, Eq. 7–8): the mean of the last blocks, Sinkhorn normalisation, symmetrising and the
matrix power. Chance is the object's own share of the tokens. CAA assumes that the attention keeps object
structure through the normalisation; attention that is the same for every token (close to rank one) does not, and
CAA then spreads every map over the whole image (what the toy CLIPs measure).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from car import affinity as caa
from car import cam as cam_mod
from car.backbones import ClipBundle


@dataclass(frozen=True)
class ObjectMass:
    """Mean same-object affinity mass over the object tokens of the probed images.

    Attributes:
        chance: the mean share of the grid that a token's own object covers (uniform affinity scores this).
        blocks: one value per block (head-mean attention, CLS dropped), first to last.
        stages: CAA's stages in order: ``mean of last k``, ``sinkhorn``, ``symmetric`` (Eq. 7), ``power`` (A^t).
        num_tokens: object tokens measured.
        rank_one: per block, the share of the attention matrix's energy in its first singular value (σ₁² / Σσ²),
            mean over images. Near 1, every token attends the same way whatever its content (the matrix is
            close to one column profile repeated), and Sinkhorn normalisation leaves an almost uniform matrix.
        background_to_objects: per block, the share of a background token's attention that lands on object
            tokens, divided by the objects' share of the grid (1 = blind to objects). Well above 1, the shared
            profile is a saliency map: every token, whatever its own content, looks at the objects, any object;
            Sinkhorn then divides the object columns by their large totals.
    """

    chance: float
    blocks: tuple[float, ...]
    stages: dict[str, float]
    num_tokens: int
    rank_one: tuple[float, ...] = ()
    background_to_objects: tuple[float, ...] = ()

    def rows(self) -> list[tuple[str, float, float]]:
        """(affinity, same-object mass, ratio to chance) rows for a table."""
        out = [("chance (mean object share of the grid)", self.chance, 1.0)]
        out += [(f"attention of block {i + 1}", v, v / self.chance) for i, v in enumerate(self.blocks)]
        out += [(name, v, v / self.chance) for name, v in self.stages.items()]
        return out


def token_labels(gt: np.ndarray, grid: tuple[int, int]) -> np.ndarray:
    """The ground truth on the token grid: int64 (h*w,), the label at each patch's centre (nearest)."""
    t = torch.from_numpy(np.ascontiguousarray(gt)).float()[None, None]
    return F.interpolate(t, size=grid, mode="nearest")[0, 0].long().flatten().numpy()


def _rows_normalised(affinity: torch.Tensor) -> torch.Tensor:
    """float64 (n, n): each row of a non-negative affinity as the share of that token's mass (negatives clipped)."""
    a = affinity.double().clamp_min(0)
    return a / a.sum(1, keepdim=True).clamp_min(1e-30)


def mass_on_same_object(affinity: torch.Tensor, labels: np.ndarray, objects: np.ndarray) -> tuple[float, int]:
    """Sum over object tokens of the share of their (row-normalised) affinity on tokens of their own label.

    Args:
        affinity: float (n, n), non-negative; row i is where token i sends its mass.
        labels: int64 (n,) token labels; ``objects``: bool (n,) the tokens that lie inside an object.
    Returns:
        (sum of shares, number of object tokens).
    """
    a = _rows_normalised(affinity)
    lab = torch.from_numpy(labels)
    same = (lab[:, None] == lab[None, :]).double()
    share = (a * same).sum(1).numpy()
    return float(share[objects].sum()), int(objects.sum())


def same_object_mass(bundle: ClipBundle, dataset, *, limit: int = 40, layers: int = 8, rounds: int = 3,
                     power: int = 2, background: int = 0) -> ObjectMass:
    """Measure :class:`ObjectMass` for ``bundle`` on the first ``limit`` samples of a split with masks.

    Args:
        dataset: any semantic dataset of :mod:`car.data` (``sample.image``, ``sample.gt``), e.g. a toy split.
        layers, rounds, power: CAA's settings (official: the last 8 blocks, 3 Sinkhorn rounds, t = 2).
        background: the ground-truth label that is not an object (0 in the VOC convention).
    """
    num_blocks, sums, stage_sums, rank_one, images = None, None, {}, None, 0
    saliency, saliency_images = None, 0
    chance_sum, tokens = 0.0, 0
    for i in range(min(limit, len(dataset))):
        sample = dataset[i]
        state = cam_mod.encode_image(bundle, sample.image)
        labels = token_labels(sample.gt, state.grid)
        objects = (labels != background) & (labels != 255)
        if not objects.any():
            continue
        area = np.array([np.mean(labels == labels[j]) for j in np.flatnonzero(objects)])
        chance_sum += float(area.sum())
        attention = state.attention.detach().float()  # (L, n, n)
        if num_blocks is None:
            num_blocks = attention.shape[0]
            sums, rank_one, saliency = np.zeros(num_blocks), np.zeros(num_blocks), np.zeros(num_blocks)
        ground = labels == background
        for b in range(num_blocks):
            sums[b] += mass_on_same_object(attention[b], labels, objects)[0]
            sv = torch.linalg.svdvals(attention[b].double())
            rank_one[b] += float(sv[0] ** 2 / (sv ** 2).sum())
            if ground.any():
                saliency[b] += background_on_objects(attention[b], ground, objects)
        images += 1
        saliency_images += int(ground.any())
        mean = caa.attention_affinity(attention, min(layers, num_blocks))
        stages = {f"mean of the last {min(layers, num_blocks)} blocks (CAA's input)": mean,
                  f"after Sinkhorn ({rounds} rounds)": caa.sinkhorn(mean, rounds)}
        d = stages[f"after Sinkhorn ({rounds} rounds)"]
        stages["after symmetrising, (D + Dᵀ)/2 (Eq. 7)"] = (d + d.T) / 2
        stages[f"after the power A^{power} (CAA's affinity)"] = caa.symmetric_affinity(mean, rounds, power)
        for name, a in stages.items():
            stage_sums[name] = stage_sums.get(name, 0.0) + mass_on_same_object(a, labels, objects)[0]
        tokens += int(objects.sum())
    if not tokens:
        raise ValueError(f"no object tokens in the first {limit} samples of {getattr(dataset, 'name', dataset)}")
    return ObjectMass(chance_sum / tokens, tuple(float(s / tokens) for s in sums),
                      {k: v / tokens for k, v in stage_sums.items()}, tokens,
                      tuple(float(r / images) for r in rank_one),
                      tuple(float(v / max(1, saliency_images)) for v in saliency))


def background_on_objects(attention: torch.Tensor, ground: np.ndarray, objects: np.ndarray) -> float:
    """The mean share of background tokens' (row-normalised) attention on object tokens, over the objects' share
    of the grid: 1 when the background ignores where the objects are.

    Args:
        attention: float (n, n), non-negative; ``ground``, ``objects``: bool (n,) background and object tokens.
    """
    a = _rows_normalised(attention)
    on_objects = a[torch.from_numpy(ground)][:, torch.from_numpy(objects)].sum(1).mean()
    return float(on_objects / objects.mean())
