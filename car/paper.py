"""Every table of the paper as data, with the numbers exactly as printed.

Sun et al., *CLIP as RNN: Segment Countless Visual Concepts without Training Endeavor*, CVPR 2024
(the CVPR 2024 paper with its supplementary material): Tables 1-8 of the main paper and Tables I and J of the
supplementary material. A printed ``-`` is stored as ``None``; a printed ``+16.5`` (the Δ rows of
Table 1) as ``16.5``. Each table remembers how many decimals each column prints with
(:meth:`PaperTable.format_value`), so ``26.20`` (Table 7) renders as printed although it is stored
as the float ``26.2``.

Descriptive (non-numeric) columns live in :attr:`PaperRow.meta`, keyed by the names in
:attr:`PaperTable.meta_columns`: strings as printed for Tables 1 and J (``"✓"``, ``"×"``, ``"-"``,
``"CC12M"``), a bool for Table 2's "w/ recurrence?", and for the checkmark tables 4 and 6 the tuple of
checked column names (``("circle", "blur")``).

:data:`PRESET_CELLS` links the presets (``car.config.list_configs``) to the cells they reproduce, so a chapter
can put the paper's number beside the command that reproduces it. It is the one store of that link: a preset's
``table`` and ``row`` are rendered from it, and a preset named for a row of Tables 2-6 is built from that row::

    >>> from car.paper import get_table, presets_for_table, paper_cells
    >>> get_table("2").value("w/o recurrence, CLIP-ES", "mIoU")
    15.2
    >>> presets_for_table("2")
    ['voc', 'voc_gradcam', 'voc_no_recurrence']
    >>> cell = paper_cells("context")[0]
    >>> cell.table, cell.row, cell.column, cell.value
    ('1', 'CaR (Ours, w/o SAM)', 'PC-60', 30.5)
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping

__all__ = [
    "CHECK",
    "CROSS",
    "EFFICIENCY",
    "PRESET_CELLS",
    "TABLES",
    "TABLE_4_PROMPTS",
    "TABLE_6_GROUPS",
    "PaperCell",
    "PaperRow",
    "PaperTable",
    "get_table",
    "paper_cells",
    "parse_table_refs",
    "presets_for_table",
]

CHECK = "✓"
CROSS = "×"
NA = "-"

_RESERVED = ("group", "label")


@dataclass(frozen=True)
class PaperRow:
    """One printed row of a paper table.

    Attributes:
        label: the row's name, unique within its group. As printed where the paper prints one
            (``"CaR (Ours, w/o SAM)"``, citations kept); built from the setting where it does not
            (Table 4 ``"circle + blur"``, Table 5 ``"η=0.4, θ=0.6, λ=0.4"``).
        values: one entry per numeric column of the table; ``None`` where the paper prints ``-``.
        group: the section the row belongs to (Table 1 ``"zero-shot methods with SAM"``, Table 5
            ``"COCO Object"``); ``""`` where the table has no sections.
        meta: descriptive columns, keyed by :attr:`PaperTable.meta_columns` (read-only mapping).
        underlined: numeric columns the paper underlines in this row (Table 1 marks prior bests).
        printed_label: the label as printed, where ``label`` adds a suffix to tell apart two rows
            the paper prints with the same name (Table 1: GroupViT, SegCLIP); ``""`` otherwise.
    """

    label: str
    values: tuple[float | None, ...]
    group: str = ""
    meta: Mapping[str, Any] = field(default_factory=dict, hash=False)
    underlined: tuple[str, ...] = ()
    printed_label: str = ""

    def __post_init__(self) -> None:
        values = tuple(None if v is None else float(v) for v in self.values)
        object.__setattr__(self, "values", values)
        object.__setattr__(self, "meta", MappingProxyType(dict(self.meta)))
        object.__setattr__(self, "underlined", tuple(self.underlined))

    @property
    def as_printed(self) -> str:
        """The row label exactly as the paper prints it."""
        return self.printed_label or self.label


def _normalise(label: str) -> str:
    """Lower-case ``label`` without citations (``[37]``, ``[†]``) and whitespace, for lookups."""
    return re.sub(r"\[[^\]]*\]|\s+", "", label).casefold()


@dataclass(frozen=True)
class PaperTable:
    """One table of the paper.

    Attributes:
        key: ``"1"`` ... ``"8"``, ``"I"``, ``"J"``.
        title: the bold sentence that starts the caption.
        caption: the rest of the caption, as printed (markdown emphasis removed).
        columns: names of the numeric columns, in printed order.
        rows: the printed rows, in printed order.
        meta_columns: names of the descriptive columns (see :class:`PaperRow`), in printed order.
        decimals: decimals each numeric column prints with (default: 1 for every column).
        location: where the table is (``"§4.1"``, ``"Supp. A.2"``).
    """

    key: str
    title: str
    caption: str
    columns: tuple[str, ...]
    rows: tuple[PaperRow, ...]
    meta_columns: tuple[str, ...] = ()
    decimals: tuple[int, ...] = ()
    location: str = ""

    def __post_init__(self) -> None:
        if not self.decimals:
            object.__setattr__(self, "decimals", (1,) * len(self.columns))
        names = self.columns + self.meta_columns + _RESERVED
        if len(set(names)) != len(names):
            raise ValueError(f"Table {self.key}: column names must be unique and not {_RESERVED}: {names}")
        if len(self.decimals) != len(self.columns):
            raise ValueError(f"Table {self.key}: {len(self.decimals)} decimals for {len(self.columns)} columns")
        seen: set[tuple[str, str]] = set()
        for row in self.rows:
            if len(row.values) != len(self.columns):
                raise ValueError(
                    f"Table {self.key}, row {row.label!r}: {len(row.values)} values for {len(self.columns)} columns"
                )
            if (row.group, row.label) in seen:
                raise ValueError(f"Table {self.key}: duplicate row {row.label!r} in group {row.group!r}")
            seen.add((row.group, row.label))
            extra = set(row.meta) - set(self.meta_columns)
            bad_marks = set(row.underlined) - set(self.columns)
            if extra or bad_marks:
                raise ValueError(f"Table {self.key}, row {row.label!r}: unknown columns {sorted(extra | bad_marks)}")

    @property
    def groups(self) -> tuple[str, ...]:
        """The row groups in printed order (``("",)`` for a table without sections)."""
        return tuple(dict.fromkeys(r.group for r in self.rows))

    def row(self, label: str, group: str | None = None) -> PaperRow:
        """The row called ``label`` (optionally within ``group``).

        ``label`` matches exactly, or else ignoring case, whitespace and bracketed citations
        (``"ReCo"`` finds ``"ReCo [†] [55]"``), provided one row matches.

        Raises:
            ValueError: no row or several rows match; the message lists the labels.
        """
        rows = [r for r in self.rows if group is None or r.group == group]
        hits = [r for r in rows if r.label == label] or [r for r in rows if _normalise(r.label) == _normalise(label)]
        if len(hits) == 1:
            return hits[0]
        what = "is ambiguous (pass group=...)" if hits else "not found"
        where = f" in group {group!r}" if group is not None else ""
        valid = "; ".join(f"{r.label!r} ({r.group})" if r.group else repr(r.label) for r in rows)
        raise ValueError(f"Table {self.key}: row {label!r}{where} {what}; rows: {valid}")

    def column_index(self, column: str) -> int:
        """Position of the numeric ``column`` in :attr:`columns` and :attr:`PaperRow.values`."""
        try:
            return self.columns.index(column)
        except ValueError:
            raise ValueError(
                f"Table {self.key}: unknown column {column!r}; columns: {', '.join(self.columns)}"
            ) from None

    def value(self, row_label: str, column: str, group: str | None = None) -> float | None:
        """The number printed in row ``row_label``, column ``column`` (``None`` for ``-``)."""
        return self.row(row_label, group).values[self.column_index(column)]

    def format_value(self, value: float | None, column: str) -> str:
        """``value`` with the decimals ``column`` prints with; ``"-"`` for ``None``."""
        if value is None:
            return NA
        return f"{value:.{self.decimals[self.column_index(column)]}f}"

    def format_cell(self, row_label: str, column: str, group: str | None = None) -> str:
        """The cell as the paper prints it (``"26.20"``, ``"-"``), without the Δ rows' ``+``."""
        return self.format_value(self.value(row_label, column, group), column)

    def as_rows(self) -> list[dict[str, Any]]:
        """The table as plain records: ``group``, ``label``, the meta columns, then the numbers."""
        return [
            {"group": r.group, "label": r.label, **{m: r.meta.get(m) for m in self.meta_columns},
             **dict(zip(self.columns, r.values))}
            for r in self.rows
        ]


# --------------------------------------------------------------------------------------------
# Table 1 (§4.1)
# --------------------------------------------------------------------------------------------
_T1_META = ("Is VLM pre-trained?", "w/ aux trainable module?", "Additional Training Data", "#Images",
            "Additional Supervision")
_T1_COLS = ("VOC-20", "VOC-21", "COCO Object", "PC-59", "PC-60", "A-150", "A-847", "PC-459")
_FT = "zero-shot methods fine-tuned with additional data"
_SAM = "zero-shot methods with SAM"
_NOFT = "zero-shot methods without fine-tuning on CLIP"
_DELTA = "Δ of CaR (Ours, w/o SAM) over the state of the art"


def _t1(label: str, group: str, meta: tuple[str, ...], values: tuple[float | None, ...],
        underlined: tuple[str, ...] = (), printed: str = "") -> PaperRow:
    return PaperRow(label, values, group, dict(zip(_T1_META, meta)), underlined, printed)


_C, _X = CHECK, CROSS
_TABLE_1 = PaperTable(
    key="1",
    title="Comparison to state-of-the-art zero-shot semantic segmentation approaches.",
    caption=(
        "Results annotated with a [†] are reported by Cha et al. [10]. A ✓ is placed if either the visual or "
        "text encoder of the VLM is pre-trained. The table shows that our method outperforms not only "
        "counterparts without fine-tuning by a large margin, but also those fine-tuned on millions of data "
        "samples. For fair comparison, we compare with methods using CLIP [49] as the backbone. [‡]VOC-20 and "
        "PC-59 represent Pascal VOC and Pascal Context without background. VOC-21 and PC-60 represent Pascal "
        "VOC and Pascal Context with an additional background class. A-150, A-847 and PC-459 represent "
        "ADE-150, ADE-847, and Pascal Context 459 datasets, respectively."
    ),
    columns=_T1_COLS,
    meta_columns=_T1_META,
    location="§4.1",
    rows=(
        _t1("ViL-Seg [39]", _FT, (_C, _C, "CC12M", "12M", "text+self"),
            (None, 34.4, 16.4, None, 16.3, None, None, None)),
        _t1("GroupViT [68] (CC12M+YFCC)", _FT, (_X, _C, "CC12M+YFCC", "26M", "text"),
            (74.1, 52.3, 24.3, 23.4, 22.4, 10.6, 4.3, 4.9), printed="GroupViT [68]"),
        _t1("GroupViT [68] (CC12M+RedCaps)", _FT, (_X, _C, "CC12M+RedCaps", "24M", "text"),
            (79.7, 50.8, 27.5, None, 23.7, None, None, None), printed="GroupViT [68]"),
        _t1("SegCLIP [42] (VLM not pre-trained)", _FT, (_X, _C, "CC3M+COCO", "3.4M", "text+self"),
            (None, 33.3, 15.2, None, 19.1, None, None, None), printed="SegCLIP [42]"),
        _t1("SegCLIP [42] (VLM pre-trained)", _FT, (_C, _C, "CC3M+COCO", "3.4M", "text+self"),
            (None, 52.6, 26.5, None, 24.7, 8.7, None, None), printed="SegCLIP [42]"),
        _t1("ZeroSeg [11]", _FT, (_C, _C, "IN-1K", "1.3M", "self"),
            (None, 40.8, 20.2, None, 20.4, None, None, None)),
        _t1("ViewCo [51]", _FT, (_C, _C, "CC12M+YFCC", "26M", "text+self"),
            (None, 52.4, 23.5, None, 23.0, None, None, None)),
        _t1("MixReorg [6]", _FT, (_C, _C, "CC12M", "12M", "text"),
            (None, 47.9, None, None, 23.9, None, None, None)),
        _t1("CLIPpy [50]", _FT, (_C, _X, "HQITP-134M", "134M", "text+self"),
            (None, 52.2, 32.0, None, None, 13.5, None, None), underlined=("COCO Object",)),
        _t1("OVSegmenter [69]", _FT, (_C, _C, "CC4M", "4M", "text"),
            (None, 53.8, 25.1, None, 20.4, None, None, None)),
        _t1("TCL [10]", _FT, (_C, _C, "CC15M", "15M", "text+self"),
            (77.5, 51.2, 30.4, 24.3, 30.3, 14.9, None, None)),
        _t1("TCL+PAMR [10]", _FT, (_C, _C, "CC15M", "15M", "text+self"),
            (83.2, 55.0, 31.6, 33.9, 30.4, 17.1, None, None),
            underlined=("VOC-20", "VOC-21", "PC-59", "PC-60", "A-150")),
        _t1("SAMCLIP [63] (w/ [30])", _SAM, (_C, _C, "CC15M+YFCC+IN21k", "41M", "text+self"),
            (None, 60.6, None, None, 29.2, 17.1, None, None)),
        _t1("CaR+SAM (Ours, w/ [28])", _SAM, (_C, NA, NA, NA, NA),
            (None, 70.2, 37.6, None, 31.1, None, None, None)),
        _t1("ReCo [†] [55]", _NOFT, (_C, _X, NA, NA, NA),
            (57.7, 25.1, 15.7, 22.3, 19.9, 11.2, None, None), underlined=("A-150",)),
        _t1("MaskCLIP [†] [84]", _NOFT, (_C, _X, NA, NA, NA),
            (74.9, 38.8, 20.6, 26.4, 23.6, 9.8, None, None)),
        _t1("CaR (Ours, w/o SAM)", _NOFT, (_C, _X, NA, NA, NA),
            (91.4, 67.6, 36.6, 39.5, 30.5, 17.7, 8.1, 13.9)),
        _t1("Δ w/ the state-of-the-art w/o additional data", _DELTA, ("", "", "", "", ""),
            (16.5, 28.8, 16.0, 13.1, 6.9, 6.5, None, None)),
        _t1("Δ w/ the state-of-the-art w/ additional data", _DELTA, ("", "", "", "", ""),
            (8.2, 12.6, 4.6, 5.6, 0.1, 0.6, 3.8, 9.0)),
    ),
)

# --------------------------------------------------------------------------------------------
# Tables 2-6 (§4.2, ablations on Pascal VOC / COCO Object)
# --------------------------------------------------------------------------------------------
_VOC, _COCO = "Pascal VOC", "COCO Object"

_TABLE_2 = PaperTable(
    key="2",
    title="Effect of applying our recurrent architecture and different CAM methods.",
    caption="The recurrence plays a vital role in improving the performance.",
    columns=("mIoU",),
    meta_columns=("w/ recurrence?", "CAM"),
    location="§4.2",
    rows=(
        PaperRow("w/o recurrence, CLIP-ES", (15.2,), _VOC, {"w/ recurrence?": False, "CAM": "CLIP-ES [37]"}),
        PaperRow("w/ recurrence, CLIP-ES", (67.6,), _VOC, {"w/ recurrence?": True, "CAM": "CLIP-ES [37]"}),
        PaperRow("w/ recurrence, gradCAM", (41.1,), _VOC, {"w/ recurrence?": True, "CAM": "gradCAM [54]"}),
    ),
)

_F, _G = "Mask Proposal Generator f", "Mask Classifier g"
_TABLE_3 = PaperTable(
    key="3",
    title="Effect of CLIP backbones.",
    caption=(
        "We compare various CLIP backbones on Pascal VOC and COCO Object. Results show that we can improve "
        "the performance by scaling up the mask classifier."
    ),
    columns=(_VOC, _COCO),
    meta_columns=(_F, _G),
    location="§4.2",
    rows=tuple(
        PaperRow(f"f={f}, g={g}", vals, "", {_F: f, _G: g})
        for f, g, vals in (
            ("ViT-B/16", "ViT-B/16", (54.1, 15.9)),
            ("ViT-B/16", "ViT-L/14", (67.6, 36.6)),
            ("ViT-L/14", "ViT-B/16", (50.6, 14.1)),
            ("ViT-L/14", "ViT-L/14", (57.6, 32.5)),
        )
    ),
)

TABLE_4_PROMPTS = ("circle", "contour", "blur", "gray", "mask")  # Table 4's checkmark columns
_P = "Visual Prompts"
_TABLE_4 = PaperTable(
    key="4",
    title="Effect of different visual prompts.",
    caption=(
        "When multiple visual prompts are checked, we will apply all checked visual prompts simultaneously on "
        "one image. The experiments are conducted on Pascal VOC. Results for COCO and Pascal Context are shown "
        "in supplementary materials."
    ),
    columns=("mIoU",),
    meta_columns=(_P,),
    location="§4.2",
    rows=tuple(
        PaperRow(" + ".join(checked), (miou,), _VOC, {_P: checked})
        for checked, miou in (
            (("circle",), 66.9),
            (("contour",), 66.0),
            (("blur",), 66.4),
            (("gray",), 66.1),
            (("mask",), 61.8),
            (("circle", "blur"), 67.6),
            (("circle", "gray"), 67.1),
            (("contour", "blur"), 66.5),
            (("blur", "gray"), 66.3),
            (("circle", "blur", "gray"), 66.8),
        )
    ),
)


def _t5(group: str, eta: float, theta: float, lam: float, miou: float) -> PaperRow:
    return PaperRow(f"η={eta}, θ={theta}, λ={lam}", (eta, theta, lam, miou), group)


# Printed side by side (VOC's four columns, then COCO's four); stored as two groups of 7 rows.
_TABLE_5 = PaperTable(
    key="5",
    title="Effect of different hyper-parameters:",
    caption=(
        "the threshold to binarize mask proposals (η), the threshold to remove text queries (θ), and parameter "
        "of CLIP-ES’s [37] (λ). Experiments are conducted on Pascal VOC and COCO Object."
    ),
    columns=("η", "θ", "λ", "mIoU"),
    location="§4.2",
    rows=(
        _t5(_VOC, 0.3, 0.6, 0.4, 67.0),
        _t5(_VOC, 0.4, 0.6, 0.4, 67.6),
        _t5(_VOC, 0.5, 0.6, 0.4, 67.0),
        _t5(_VOC, 0.4, 0.5, 0.4, 67.4),
        _t5(_VOC, 0.4, 0.7, 0.4, 67.5),
        _t5(_VOC, 0.4, 0.6, 0.3, 67.3),
        _t5(_VOC, 0.4, 0.6, 0.5, 67.0),
        _t5(_COCO, 0.5, 0.3, 0.6, 35.4),
        _t5(_COCO, 0.5, 0.3, 0.4, 36.1),
        _t5(_COCO, 0.4, 0.3, 0.5, 35.8),
        _t5(_COCO, 0.5, 0.3, 0.5, 36.6),
        _t5(_COCO, 0.6, 0.3, 0.5, 35.9),
        _t5(_COCO, 0.5, 0.4, 0.5, 36.3),
        _t5(_COCO, 0.5, 0.5, 0.5, 36.0),
    ),
)

TABLE_6_GROUPS = ("Terrestrial", "Aquatic Atmospheric", "Man-Made")  # Table 6's checkmark columns
_B = "Background queries"
_TABLE_6 = PaperTable(
    key="6",
    title="Effect of background queries on Pascal VOC.",
    caption=(
        "We divide background queries into: Terrestrial, Aquatic, Atmospheric, and Man-Made. We use “None” as "
        "the background query for the result in the first row. Specific background queries of each category "
        "are shown in the supplementary material."
    ),
    columns=("mIoU",),
    meta_columns=(_B,),
    location="§4.2",
    rows=tuple(
        PaperRow(" + ".join(checked) or "None", (miou,), _VOC, {_B: checked})
        for checked, miou in (
            ((), 64.3),
            (("Terrestrial",), 65.6),
            (("Aquatic Atmospheric",), 64.9),
            (("Man-Made",), 66.4),
            (("Terrestrial", "Aquatic Atmospheric"), 65.8),
            (("Aquatic Atmospheric", "Man-Made"), 66.4),
            (("Terrestrial", "Man-Made"), 65.8),
            (("Terrestrial", "Aquatic Atmospheric", "Man-Made"), 67.6),
        )
    ),
)

# --------------------------------------------------------------------------------------------
# Tables 7, 8 (§4.3, referring segmentation), I and J (supplementary)
# --------------------------------------------------------------------------------------------
_REF_COLS = tuple(
    f"{ds} {split}"
    for ds, splits in (("RefCOCO", ("val", "testA", "testB")), ("RefCOCO+", ("val", "testA", "testB")),
                       ("RefCOCOg", ("val", "test(U)", "val(G)")))
    for split in splits
)
_CAR_REF = (33.57, 35.36, 30.51, 34.22, 36.03, 31.02, 36.67, 36.57, 36.63)

_TABLE_7 = PaperTable(
    key="7",
    title="Comparison to state-of-the-art methods on referring image segmentation in mIoU.",
    caption="CaR is better than all comparison methods in all benchmarks.",
    columns=(*_REF_COLS, "GRES"),
    decimals=(2,) * len(_REF_COLS) + (1,),
    location="§4.3",
    rows=(
        PaperRow("TSEG [58]", (25.95, None, None, 22.62, None, None, 23.41, None, None, None), "weakly-supervised"),
        PaperRow("GL CLIP [77]", (26.20, 24.94, 26.56, 27.80, 25.64, 27.84, 33.52, 33.67, 33.61, None), "zero-shot"),
        PaperRow("CaR(Ours)", (*_CAR_REF, 16.8), "zero-shot"),
    ),
)

_TABLE_8 = PaperTable(
    key="8",
    title="Results on Ref-DAVIS 2017.",
    caption="",
    columns=("J&F", "J", "F"),
    decimals=(2, 2, 2),
    location="§4.3",
    rows=(PaperRow("CaR (Ours)", (30.34, 28.15, 32.53)),),
)

_TABLE_I = PaperTable(
    key="I",
    title="Comparison to mask-supervised open-vocabulary methods on referring image segmentation in mIoU.",
    caption="CaR is better than the comparison method, OVSeg, in all splits of the three benchmarks.",
    columns=_REF_COLS,
    decimals=(2,) * len(_REF_COLS),
    location="Supp. A.1",
    rows=(
        PaperRow("OVSeg [35]", (22.58, 19.38, 25.63, 19.13, 15.74, 25.30, 27.87, 29.09, 28.31)),
        PaperRow("CaR(Ours)", _CAR_REF),
    ),
)

_J_META = ("Is VLM pre-trained?", "#Additional Images")
_TABLE_J = PaperTable(
    key="J",
    title="Comparison with methods under the setting where background is ignored.",
    caption=(
        "We compare CaR with prior work on VOC-20, Context-59 in a setting that considers only the foreground "
        "pixels (decided by ground truth). Our method shows comparable performance to prior works despite only "
        "relying on pre-trained feature extractors. [†]: numbers are from [10]."
    ),
    columns=("VOC-20", "Context-59"),
    meta_columns=_J_META,
    location="Supp. A.2",
    rows=tuple(
        PaperRow(label, vals, "", dict(zip(_J_META, meta)))
        for label, meta, vals in (
            ("GroupViT [†] [68]", (_X, "26M"), (79.7, 23.4)),
            ("PACL [46]", (_C, "40M"), (72.3, 50.1)),
            ("TCL [10]", (_C, "15M"), (77.5, 30.3)),
            ("MaskCLIP [†] [84]", (_C, NA), (74.9, 26.4)),
            ("ReCo [†] [55]", (_C, NA), (57.5, 22.3)),
            ("CaR (Ours)", (_C, NA), (91.4, 39.5)),
        )
    ),
)

TABLES: dict[str, PaperTable] = {
    t.key: t
    for t in (_TABLE_1, _TABLE_2, _TABLE_3, _TABLE_4, _TABLE_5, _TABLE_6, _TABLE_7, _TABLE_8, _TABLE_I, _TABLE_J)
}
"""Every table of the paper, keyed ``"1"`` ... ``"8"``, ``"I"``, ``"J"``."""

EFFICIENCY: Mapping[str, Any] = MappingProxyType({
    "ms_per_image": 950,  # CaR without SAM, CPU-based CRF included
    "image_size": (500, 500),  # (H, W) of the timed images
    "gpu": "NVIDIA V100",  # one GPU for every experiment of the paper
    "crf_cpu_ms": 200,  # the CPU dense CRF's share of the 950 ms
    "gpu_crf_speedup": 5,  # "GPU CRF is ~5x faster"
    "gpu_memory_gb": 3.6,  # on Pascal VOC
    "half_precision": True,  # "We enable half-precision floating point for CLIP"
    "sam": False,
})
"""The paper's efficiency figures (§4.1, "Efficiency"), as printed."""


def get_table(key: str | int) -> PaperTable:
    """The paper table ``key``: ``"1"`` ... ``"8"``, ``"I"``, ``"J"`` (also ``2``, ``"Table 2"``, ``"j"``).

    Raises:
        ValueError: unknown table; the message lists the valid keys.
    """
    text = re.sub(r"^table\s*", "", str(key).strip(), flags=re.IGNORECASE).upper()
    if text not in TABLES:
        raise ValueError(f"unknown paper table {key!r}; valid keys: {', '.join(TABLES)}")
    return TABLES[text]


def parse_table_refs(text: str) -> tuple[str, ...]:
    """Table keys named in a preset's ``table`` field: ``"Table 7, Table I"`` -> ``("7", "I")``.

    Raises:
        ValueError: a part is not a table of the paper.
    """
    return tuple(get_table(part).key for part in text.split(",") if part.strip())


# --------------------------------------------------------------------------------------------
# Presets -> the cells they reproduce
# --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PaperCell:
    """One number of the paper: ``TABLES[table].value(row, column, group or None)``."""

    table: str
    row: str
    column: str
    group: str = ""

    @property
    def value(self) -> float | None:
        """The printed number of this cell."""
        return TABLES[self.table].value(self.row, self.column, self.group or None)


def _car1(column: str, sam: bool = False) -> PaperCell:
    return PaperCell("1", "CaR+SAM (Ours, w/ [28])" if sam else "CaR (Ours, w/o SAM)", column,
                     _SAM if sam else _NOFT)


def _ref(prefix: str, sets: tuple[str, ...] = ("7", "I")) -> tuple[PaperCell, ...]:
    return tuple(PaperCell(t, "CaR(Ours)", col) for t in sets for col in _REF_COLS if col.startswith(prefix + " "))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", name.lower()).strip("_")


def _tenths(x: float) -> str:
    return f"{round(x * 10):02d}"


_BACKBONE_SLUG = {"ViT-B/16": "b16", "ViT-L/14": "l14"}

PRESET_CELLS: dict[str, tuple[PaperCell, ...]] = {
    # Table 1 (and Table J for the settings without background)
    "voc20": (_car1("VOC-20"), PaperCell("J", "CaR (Ours)", "VOC-20")),
    "voc": (_car1("VOC-21"), PaperCell("2", "w/ recurrence, CLIP-ES", "mIoU", _VOC)),
    "coco": (_car1("COCO Object"),),
    "context59": (_car1("PC-59"), PaperCell("J", "CaR (Ours)", "Context-59")),
    "context59_official": (_car1("PC-59"), PaperCell("J", "CaR (Ours)", "Context-59")),
    "context": (_car1("PC-60"),),
    "context_official": (_car1("PC-60"),),
    "ade150": (_car1("A-150"),),
    "ade847": (_car1("A-847"),),
    "context459": (_car1("PC-459"),),
    "voc_sam": (_car1("VOC-21", sam=True),),
    "voc_sam_official": (_car1("VOC-21", sam=True),),
    "coco_sam": (_car1("COCO Object", sam=True),),
    "coco_sam_official": (_car1("COCO Object", sam=True),),
    "context_sam": (_car1("PC-60", sam=True),),
    "context_sam_official": (_car1("PC-60", sam=True),),
    # Table 2
    "voc_no_recurrence": (PaperCell("2", "w/o recurrence, CLIP-ES", "mIoU", _VOC),),
    "voc_gradcam": (PaperCell("2", "w/ recurrence, gradCAM", "mIoU", _VOC),),
    # Table 3: {voc,coco}_prop_{b16,l14}_cls_{b16,l14}
    **{
        f"{ds}_prop_{_BACKBONE_SLUG[r.meta[_F]]}_cls_{_BACKBONE_SLUG[r.meta[_G]]}": (PaperCell("3", r.label, col),)
        for r in _TABLE_3.rows
        for ds, col in (("voc", _VOC), ("coco", _COCO))
    },
    # Table 4: voc_prompt_<checked prompts>
    **{f"voc_prompt_{'_'.join(r.meta[_P])}": (PaperCell("4", r.label, "mIoU", _VOC),) for r in _TABLE_4.rows},
    # Table 5: {voc,coco}_eta<η·10>_theta<θ·10>_lam<λ·10>
    **{
        f"{'voc' if r.group == _VOC else 'coco'}_eta{_tenths(r.values[0])}_theta{_tenths(r.values[1])}"
        f"_lam{_tenths(r.values[2])}": (PaperCell("5", r.label, "mIoU", r.group),)
        for r in _TABLE_5.rows
    },
    # Table 6: voc_bg_<checked groups> ("none" for the first row)
    **{
        f"voc_bg_{'_'.join(_slug(g) for g in r.meta[_B]) or 'none'}": (PaperCell("6", r.label, "mIoU", _VOC),)
        for r in _TABLE_6.rows
    },
    # Tables 7 and I (one preset per dataset; the split is chosen with load_config(name, split=...))
    "refcoco": _ref("RefCOCO"),
    "refcoco_official": _ref("RefCOCO"),
    "refcocoplus": _ref("RefCOCO+"),
    "refcocoplus_official": _ref("RefCOCO+"),
    "refcocog": tuple(c for c in _ref("RefCOCOg") if c.column != "RefCOCOg val(G)"),
    "refcocog_official": tuple(c for c in _ref("RefCOCOg") if c.column != "RefCOCOg val(G)"),
    "refcocog_google": tuple(c for c in _ref("RefCOCOg") if c.column == "RefCOCOg val(G)"),
    "gres": (PaperCell("7", "CaR(Ours)", "GRES"),),
    # Table 8
    "davis": tuple(PaperCell("8", "CaR (Ours)", col) for col in ("J&F", "J", "F")),
}
"""For each preset, the paper cells its run should reproduce: the base presets of ``car/configs/*.yaml`` and one
preset per ablation cell of Tables 2-6, named from its row (``car.config.ablation_setting`` builds its setting)."""


def paper_cells(preset: str) -> tuple[PaperCell, ...]:
    """The paper cells that preset ``preset`` reproduces (see :data:`PRESET_CELLS`).

    Raises:
        ValueError: ``preset`` is not in :data:`PRESET_CELLS`; the message lists the valid names.
    """
    if preset not in PRESET_CELLS:
        raise ValueError(f"no paper cells for preset {preset!r}; presets: {', '.join(sorted(PRESET_CELLS))}")
    return PRESET_CELLS[preset]


def presets_for_table(key: str | int) -> list[str]:
    """Names of the presets that reproduce a cell of table ``key``, sorted."""
    table = get_table(key).key
    return sorted(name for name, cells in PRESET_CELLS.items() if any(c.table == table for c in cells))
