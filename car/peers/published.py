"""Published numbers of CaR's successors, each value with the file or page it was read from.

mIoU (%) on the eight benchmarks of the SCLIP harness (with background: VOC-21, PC-60, COCO-Object; without:
VOC-20, PC-59, COCO-Stuff-164k, Cityscapes, ADE-150). Every row says where its numbers were read (``source``) and
how far that source can be trusted (``kind``):

* ``"readme"`` — printed in a repository's README, read there (a re-run by the authors, usually the default
  config; for NACLIP with its default PAMR);
* ``"cited"`` — the paper's numbers as a later paper's README restates them (chongzhou96's MaskCLIP, SCLIP and
  ClearCLIP as published baselines in chenqi1126/FreeCP:README.md, ``## Results``);
* ``"paper"`` — read in the paper itself (CaR: :mod:`car.paper`; an average stated in an abstract);
* ``"unverified"`` — found only in secondary summaries; the paper's table was not read. Printed, marked so.

Traps the rows carry in ``note``: ClearCLIP's repository runs plain CLIP unless ``model_type='ClearCLIP'`` is set
(its ``configs/base_config.py`` default is ``'vanilla'``); CorrCLIP's default CLIP is MetaCLIP
(``CorrCLIPv1/configs/base_config.py``: ``clip_type='metaclip_fullcc'``), not OpenAI's; NACLIP's README row has
PAMR on, the other rows off; each repository ships its own class-name files (SCLIP's, NACLIP's and SC-CLIP's
are the same; ClearCLIP's, ProxyCLIP's and CorrCLIP's differ); CaR's paper reports VOC-20 / PC-59 with the
ground-truth background ignored but its own background still predicted, which the harness does not do.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

#: The benchmarks, in the order of the SCLIP harness's tables.
BENCHMARKS = ("VOC-21", "PC-60", "COCO-Object", "VOC-20", "PC-59", "COCO-Stuff", "Cityscapes", "ADE-150")
#: CaR's Table 1 columns (:mod:`car.paper`) for the benchmarks it reports.
CAR_COLUMNS = MappingProxyType({"VOC-21": "VOC-21", "PC-60": "PC-60", "COCO-Object": "COCO Object",
                                "VOC-20": "VOC-20", "PC-59": "PC-59", "ADE-150": "A-150"})


@dataclass(frozen=True)
class PublishedRow:
    """One method's published numbers.

    Attributes:
        method: its name; variant: the setting (e.g. "+ PAMR", "SAM2 masks"); backbone: the CLIP.
        extra: the models it needs besides CLIP ("" = CLIP only); run_here: implemented in :mod:`car.peers`.
        values: {benchmark: mIoU}; average: the source's average over its benchmarks (None when it gives none).
        kind: "readme", "cited", "paper" or "unverified" (module docstring); source: where the values were read.
        note: what the row needs to be read right.
    """

    method: str
    variant: str
    backbone: str
    extra: str
    run_here: bool
    values: Mapping[str, float]
    average: float | None
    kind: str
    source: str
    note: str = ""
    year: str = field(default="")


def _row(method, variant, backbone, extra, run_here, values, average, kind, source, note="", year=""):
    return PublishedRow(method, variant, backbone, extra, run_here, MappingProxyType(dict(zip(BENCHMARKS, values))
                                                                                   if isinstance(values, tuple)
                                                                                   else dict(values)),
                        average, kind, source, note, year)


_FREECP = "chenqi1126/FreeCP:README.md (Results: published baselines)"


def _car_row() -> PublishedRow:
    from car import paper

    table = paper.get_table("1")
    values = {b: table.value("CaR (Ours, w/o SAM)", col) for b, col in CAR_COLUMNS.items()}
    return _row("CaR", "recurrence, CRF", "ViT-B/16 proposals, ViT-L/14 classifier", "", True, values, None,
                "paper", "Sun et al., CVPR 2024, Table 1 (car.paper)",
                "VOC-20 / PC-59: ground-truth background ignored, CaR's own background still predicted", "2024")


#: The published rows (CaR's from car.paper), in the order of the chapter's table.
ROWS: tuple[PublishedRow, ...] = (
    _row("MaskCLIP", "harness re-run", "ViT-B/16", "", True,
         (43.4, 23.2, 20.6, 74.9, 26.4, 16.7, 24.9, 11.9), 30.3, "cited", _FREECP,
         "the harness form (no residual, no FFN); CaR's Table 1 prints MaskCLIP's own protocol (VOC-21 38.8)", "2022"),
    _row("SCLIP", "paper", "ViT-B/16", "", True,
         (59.1, 30.4, 30.5, 80.4, 34.2, 22.4, 32.2, 16.1), 38.2, "cited", _FREECP,
         "the average 38.2 is also in the paper's abstract (arXiv 2312.01597)", "2024"),
    _row("SCLIP", "repository re-run", "ViT-B/16", "", True,
         (59.63, 31.74, 33.52, 81.54, 34.46, 22.77, 32.34, 16.45), None, "readme", "wangf3014/SCLIP:README.md",
         "its default config; logit scale 65 and an area threshold on VOC-21", "2024"),
    _row("ClearCLIP", "paper", "ViT-B/16", "", True,
         (51.8, 32.6, 33.0, 80.9, 35.9, 23.9, 30.0, 16.7), 38.1, "cited", _FREECP,
         "its repository runs plain CLIP unless model_type='ClearCLIP' (configs/base_config.py defaults to "
         "'vanilla'); 448 px short side, 448 / 224 windows", "2024"),
    _row("NACLIP", "no PAMR", "ViT-B/16", "", True,
         (58.9, 32.2, 33.2, 79.7, 35.2, 23.3, 35.5, 17.4), 39.4, "unverified", "secondary summaries of the paper",
         "not compared with rows that use PAMR", "2025"),
    _row("NACLIP", "+ PAMR (its default)", "ViT-B/16", "", True,
         (64.07, 34.99, 36.19, 83.03, 38.35, 25.69, 38.27, 19.05), 42.46, "readme", "sinahmr/NACLIP:README.md",
         "PAMR on (10 iterations, dilations 8, 16); VOC-21 / VOC-20 in one whole-image pass", "2025"),
    _row("SC-CLIP", "paper", "ViT-B/16", "", True,
         (64.6, 36.8, 37.7, 84.3, 40.1, 26.6, 41.0, 20.1), 43.9, "unverified", "secondary summaries of the paper",
         "", "2024"),
    _row("ProxyCLIP", "paper", "ViT-B/16", "DINO ViT-B/8", False, (), 44.4, "paper",
         "mc-lan/ProxyCLIP:README.md (the paper's abstract: 'from 40.3 to 44.4' over eight benchmarks)",
         "its best backbone pairing; the attention comes from DINO's features", "2024"),
    _row("Trident", "paper", "ViT-B/16", "DINO ViT-B/16 + SAM ViT-B", False,
         {"VOC-21": 67.1, "PC-60": 38.6, "COCO-Object": 41.1, "Cityscapes": 42.9, "ADE-150": 21.9}, None,
         "unverified", "secondary summaries of the paper", "sub-image splicing, SAM attention for aggregation",
         "2025"),
    _row("CorrCLIP", "SAM2 masks (32 points)", "ViT-B/16 (MetaCLIP)", "DINO ViT-B/8 + SAM2-L", False,
         {"VOC-21": 74.8, "VOC-20": 88.8, "PC-59": 48.8, "PC-60": 44.2, "Cityscapes": 49.4, "ADE-150": 26.9,
          "COCO-Stuff": 31.6, "COCO-Object": 43.7}, 51.0, "readme", "zdk258/CorrCLIP:CorrCLIPv1/README.md",
         "default CLIP is MetaCLIP (CorrCLIPv1/configs/base_config.py: clip_type='metaclip_fullcc'), not OpenAI's",
         "2025"),
    _row("CorrCLIP", "SAM2 masks (32 points)", "ViT-L/14 (MetaCLIP)", "DINO ViT-B/8 + SAM2-L", False,
         {"VOC-21": 76.7, "VOC-20": 91.5, "PC-59": 50.8, "PC-60": 44.9, "Cityscapes": 51.1, "ADE-150": 30.7,
          "COCO-Stuff": 34.0, "COCO-Object": 49.4}, 53.6, "readme", "zdk258/CorrCLIP:CorrCLIPv1/README.md",
         "default CLIP is MetaCLIP", "2025"),
)


def published_rows(include_car: bool = True) -> list[PublishedRow]:
    """The published rows, CaR's (from :mod:`car.paper`) first when ``include_car``."""
    return ([_car_row()] if include_car else []) + list(ROWS)


#: What the methods that need another model add (the chapter's "not run here" list).
NOT_RUN = MappingProxyType({
    "ProxyCLIP": "the last block's attention taken from DINO ViT-B/8 features (cosine, normalised and masked), "
                 "CLIP's values up-sampled to DINO's grid (mc-lan/ProxyCLIP:open_clip/transformer.py)",
    "Trident": "CLIP + DINO on 336 px sub-images spliced into one map, then aggregation with the SAM ViT-B "
               "encoder's last attention (YuHengsss/Trident:trident.py)",
    "CorrCLIP": "attention restricted to SAM2 regions, values from DINO ViT-B/8, a spatial and a mask-token "
                "branch, a majority vote per region (zdk258/CorrCLIP:CorrCLIPv1/open_clip/transformer.py)",
})
