"""car.paper: the paper's tables as data, checked against the paper's own text.

The strongest check rebuilds every printed row of every table from the stored data (labels, meta
columns, values with their printed decimals, checkmarks, underlines) and finds that exact
tab-separated line in ``shared/paper/clip-as-rnn.txt``. Independent checks then compare the tables
with the numbers the paper's prose states (differences, ranges, the Δ rows of Table 1).
"""
from __future__ import annotations

import math
from pathlib import Path

import pytest

from car import paper
from car.paper import CHECK, CROSS, EFFICIENCY, PRESET_CELLS, TABLES, PaperRow, PaperTable, get_table

PAPER_TXT = Path(__file__).resolve().parents[1].parent / "shared" / "paper" / "clip-as-rnn.txt"


@pytest.fixture(scope="module")
def paper_lines() -> list[str]:
    if not PAPER_TXT.exists():
        pytest.skip(f"paper text not found at {PAPER_TXT} (it lives in the project's shared/ folder)")
    return PAPER_TXT.read_text(encoding="utf-8").splitlines()


# ---------------------------------------------------------------------------------------------
# Structure
# ---------------------------------------------------------------------------------------------
def test_every_table_of_the_paper_is_there() -> None:
    assert list(TABLES) == ["1", "2", "3", "4", "5", "6", "7", "8", "I", "J"]
    for key, table in TABLES.items():
        assert table.key == key
        assert table.title and table.rows


@pytest.mark.parametrize("key", list(TABLES))
def test_rows_have_one_value_per_column(key: str) -> None:
    table = TABLES[key]
    assert len(table.decimals) == len(table.columns)
    for row in table.rows:
        assert len(row.values) == len(table.columns), row.label
        assert all(v is None or isinstance(v, float) for v in row.values)
        assert set(row.meta) <= set(table.meta_columns)


def test_cells_named_in_the_brief() -> None:
    car = get_table("1").row("CaR (Ours, w/o SAM)")
    assert car.values == (91.4, 67.6, 36.6, 39.5, 30.5, 17.7, 8.1, 13.9)
    t2 = get_table("2")
    assert [r.values[0] for r in t2.rows] == [15.2, 67.6, 41.1]
    assert t2.row("w/o recurrence, CLIP-ES").meta["w/ recurrence?"] is False
    assert get_table("8").row("CaR (Ours)").values == (30.34, 28.15, 32.53)


def test_dashes_are_none() -> None:
    t1 = get_table("1")
    assert t1.value("ViL-Seg", "VOC-20") is None
    assert t1.format_cell("ViL-Seg", "VOC-20") == "-"
    assert get_table("7").value("TSEG", "RefCOCO testA") is None


# ---------------------------------------------------------------------------------------------
# Every printed row, rebuilt from the data, is a line of the paper
# ---------------------------------------------------------------------------------------------
def _cells(table: PaperTable, row: PaperRow, signed: bool = False) -> list[str]:
    out = []
    for col, value in zip(table.columns, row.values):
        text = table.format_value(value, col)
        if signed and value is not None:
            text = "+" + text
        out.append(f"<u>{text}</u>" if col in row.underlined else text)
    return out


def _first_in_group(table: PaperTable, i: int) -> bool:
    return i == 0 or table.rows[i - 1].group != table.rows[i].group


def _printed_lines(table: PaperTable) -> list[str]:
    """The tab-separated lines the paper prints for ``table``'s rows, rebuilt from the data."""
    key, rows = table.key, table.rows
    if key == "5":  # printed side by side: VOC's four columns then COCO's four
        voc = [r for r in rows if r.group == "Pascal VOC"]
        coco = [r for r in rows if r.group == "COCO Object"]
        assert len(voc) == len(coco) == 7
        return ["\t".join(_cells(table, a) + _cells(table, b)) for a, b in zip(voc, coco)]
    lines = []
    for i, r in enumerate(rows):
        group = r.group if _first_in_group(table, i) else ""
        if key in ("1", "J"):
            parts = [r.as_printed, *(r.meta[m] for m in table.meta_columns)]
            parts += _cells(table, r, signed=r.label.startswith("Δ"))
        elif key == "2":
            parts = [group, CHECK if r.meta["w/ recurrence?"] else "", r.meta["CAM"], *_cells(table, r)]
        elif key == "3":
            f = r.meta["Mask Proposal Generator f"]
            new_f = i == 0 or rows[i - 1].meta["Mask Proposal Generator f"] != f
            parts = [f if new_f else "", r.meta["Mask Classifier g"], *_cells(table, r)]
        elif key == "4":
            checked = r.meta["Visual Prompts"]
            parts = [group, *(CHECK if p in checked else "" for p in paper.TABLE_4_PROMPTS), *_cells(table, r)]
        elif key == "6":
            checked = r.meta["Background queries"]
            parts = [group, *(CHECK if g in checked else CROSS for g in paper.TABLE_6_GROUPS), *_cells(table, r)]
        elif key in ("7", "I"):
            parts = [r.label, *_cells(table, r)]
        else:  # Table 8: no row label
            parts = _cells(table, r)
        lines.append("\t".join(parts))
    return lines


@pytest.mark.parametrize("key", list(TABLES))
def test_printed_rows_are_lines_of_the_paper(paper_lines: list[str], key: str) -> None:
    table = TABLES[key]
    expected = _printed_lines(table)
    caption_idx = next(i for i, line in enumerate(paper_lines) if line.startswith(f"Table {key}. "))
    # Tables I and J sit side by side in the text, so search the 60 lines before each caption.
    window = paper_lines[max(0, caption_idx - 60):caption_idx]
    positions = []
    for line in expected:
        assert line in window, f"Table {key}: {line!r} is not a line of the paper"
        positions.append(len(window) - 1 - window[::-1].index(line))
    assert positions == sorted(positions), f"Table {key}: rows out of printed order"
    # No printed data row between the first and the last one is missing from the data.
    block = window[positions[0]:positions[-1] + 1]
    unmatched = [ln for ln in block if ln.strip() and not ln.startswith("<i>") and ln not in expected]
    assert unmatched == []


@pytest.mark.parametrize("key", ["1", "7"])
def test_printed_group_headers_are_the_groups(paper_lines: list[str], key: str) -> None:
    for group in TABLES[key].groups:
        if group.startswith("Δ"):  # the Δ rows have no printed header
            continue
        assert any(line.startswith(f"<i>{group}</i>") for line in paper_lines), group


@pytest.mark.parametrize("key", list(TABLES))
def test_title_and_caption_are_printed(paper_lines: list[str], key: str) -> None:
    table = TABLES[key]
    printed = next(line for line in paper_lines if line.startswith(f"Table {key}. "))
    assert printed.replace("**", "") == f"Table {key}. {table.title} {table.caption}".strip()


# ---------------------------------------------------------------------------------------------
# The tables agree with what the paper's prose says about them (independent of the line check)
# ---------------------------------------------------------------------------------------------
def test_table1_delta_rows_are_differences_to_the_best_prior_result() -> None:
    t1 = get_table("1")
    car = t1.row("CaR (Ours, w/o SAM)")
    for delta_label, prior_group in (
        ("Δ w/ the state-of-the-art w/o additional data", "zero-shot methods without fine-tuning on CLIP"),
        ("Δ w/ the state-of-the-art w/ additional data", "zero-shot methods fine-tuned with additional data"),
    ):
        delta = t1.row(delta_label)
        prior = [r for r in t1.rows if r.group == prior_group and r is not car]
        for j, col in enumerate(t1.columns):
            known = [r.values[j] for r in prior if r.values[j] is not None]
            if delta.values[j] is None:
                continue
            assert math.isclose(delta.values[j], car.values[j] - max(known), abs_tol=1e-6), (delta_label, col)


def test_prose_numbers_match_the_tables() -> None:
    t2, t5, t4 = get_table("2"), get_table("5"), get_table("4")
    # §4.2: "The recurrent framework can lead to a 52.4% improvement" and "26.5 mIoU higher than ... gradCAM"
    assert math.isclose(t2.value("w/ recurrence, CLIP-ES", "mIoU") - t2.value("w/o recurrence, CLIP-ES", "mIoU"), 52.4)
    assert math.isclose(t2.value("w/ recurrence, CLIP-ES", "mIoU") - t2.value("w/ recurrence, gradCAM", "mIoU"), 26.5)
    # §4.2: mIoU "range from 67.0 to 67.6 on Pascal VOC and from 35.4 to 36.6 on COCO Object"
    for group, lo, hi in (("Pascal VOC", 67.0, 67.6), ("COCO Object", 35.4, 36.6)):
        mious = [r.values[3] for r in t5.rows if r.group == group]
        assert (min(mious), max(mious)) == (lo, hi)
    assert t5.value("η=0.4, θ=0.6, λ=0.4", "mIoU") == 67.6
    assert t5.value("η=0.5, θ=0.3, λ=0.5", "mIoU", group="COCO Object") == 36.6
    # §4.2: circle + blur is the best prompt (67.6), mask alone the worst (61.8)
    best = max(t4.rows, key=lambda r: r.values[0])
    worst = min(t4.rows, key=lambda r: r.values[0])
    assert (best.meta["Visual Prompts"], best.values[0]) == (("circle", "blur"), 67.6)
    assert (worst.meta["Visual Prompts"], worst.values[0]) == (("mask",), 61.8)
    # §4.3: "on RefCOCO's testA split, where CaR outperforms 10.42 mIoU" over GL CLIP
    t7 = get_table("7")
    assert math.isclose(t7.value("CaR(Ours)", "RefCOCO testA") - t7.value("GL CLIP", "RefCOCO testA"), 10.42)
    # Supp. A.1 / Table I repeat the CaR numbers of Table 7
    assert get_table("I").row("CaR(Ours)").values == t7.row("CaR(Ours)").values[:9]


def test_backbone_and_background_ablations_reach_the_main_result() -> None:
    main = get_table("1").value("CaR (Ours, w/o SAM)", "VOC-21")
    assert get_table("3").value("f=ViT-B/16, g=ViT-L/14", "Pascal VOC") == main
    assert get_table("6").row("Terrestrial + Aquatic Atmospheric + Man-Made").values == (main,)
    assert get_table("6").row("None").meta["Background queries"] == ()


def test_efficiency_figures(paper_lines: list[str]) -> None:
    line = next(ln for ln in paper_lines if ln.startswith("Efficiency."))
    assert f"{EFFICIENCY['ms_per_image']} ms" in line
    assert f"({EFFICIENCY['crf_cpu_ms']}ms)" in line
    assert "500×500" in line and EFFICIENCY["image_size"] == (500, 500)
    assert f"{EFFICIENCY['gpu_memory_gb']}GB" in line
    assert f"\\sim {EFFICIENCY['gpu_crf_speedup']} \\times" in line
    with pytest.raises(TypeError):
        EFFICIENCY["ms_per_image"] = 1  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# Look-ups and errors
# ---------------------------------------------------------------------------------------------
def test_get_table_accepts_common_spellings() -> None:
    assert get_table(2) is TABLES["2"]
    assert get_table("Table I") is TABLES["I"]
    assert get_table("j") is TABLES["J"]
    with pytest.raises(ValueError, match="valid keys: 1, 2, 3, 4, 5, 6, 7, 8, I, J"):
        get_table("9")


def test_row_lookup_by_short_label_and_ambiguity() -> None:
    t1 = get_table("1")
    assert t1.value("ReCo", "A-150") == 11.2  # "ReCo [†] [55]"
    assert t1.value("SegCLIP [42] (VLM pre-trained)", "A-150") == 8.7
    with pytest.raises(ValueError, match="ambiguous"):
        _ambiguous_lookup()
    with pytest.raises(ValueError, match="not found.*rows: 'ViL-Seg"):
        t1.value("SAM-CLIP", "VOC-21")
    with pytest.raises(ValueError, match="unknown column 'VOC'; columns: VOC-20, VOC-21"):
        t1.value("ReCo", "VOC")


def _ambiguous_lookup() -> None:
    # Two rows whose labels normalise alike: the lookup must refuse rather than pick one.
    rows = (PaperRow("X [1]", (1.0,)), PaperRow("X [2]", (2.0,)))
    PaperTable("Z", "t", "c", ("v",), rows).row("X")


def test_group_disambiguates() -> None:
    t5 = get_table("5")
    row = t5.row("η=0.5, θ=0.3, λ=0.5", group="COCO Object")
    assert row.values == (0.5, 0.3, 0.5, 36.6)
    with pytest.raises(ValueError, match="in group 'Pascal VOC' not found"):
        t5.row("η=0.5, θ=0.3, λ=0.5", group="Pascal VOC")


def test_printed_precision_is_kept() -> None:
    t7 = get_table("7")
    assert t7.value("GL CLIP", "RefCOCO val") == 26.2
    assert t7.format_cell("GL CLIP", "RefCOCO val") == "26.20"
    assert t7.format_cell("CaR(Ours)", "GRES") == "16.8"
    assert get_table("8").format_cell("CaR (Ours)", "J&F") == "30.34"


def test_as_rows_records() -> None:
    rows = get_table("4").as_rows()
    assert len(rows) == 10
    assert rows[5] == {"group": "Pascal VOC", "label": "circle + blur", "Visual Prompts": ("circle", "blur"),
                       "mIoU": 67.6}
    t1 = get_table("1").as_rows()
    assert list(t1[0])[:4] == ["group", "label", "Is VLM pre-trained?", "w/ aux trainable module?"]
    assert t1[0]["Additional Training Data"] == "CC12M"


def test_bad_tables_are_rejected() -> None:
    with pytest.raises(ValueError, match="1 values for 2 columns"):
        PaperTable("Z", "t", "c", ("a", "b"), (PaperRow("r", (1.0,)),))
    with pytest.raises(ValueError, match="duplicate row"):
        PaperTable("Z", "t", "c", ("a",), (PaperRow("r", (1.0,)), PaperRow("r", (2.0,))))
    with pytest.raises(ValueError, match="unknown columns"):
        PaperTable("Z", "t", "c", ("a",), (PaperRow("r", (1.0,), meta={"x": 1}),))
    row = PaperRow("r", (1.0,), meta={"x": "y"})
    with pytest.raises(TypeError):
        row.meta["x"] = "z"  # type: ignore[index]


# ---------------------------------------------------------------------------------------------
# Preset -> paper cell links
# ---------------------------------------------------------------------------------------------
def test_every_preset_cell_is_a_printed_number() -> None:
    for name, cells in PRESET_CELLS.items():
        assert cells, name
        for cell in cells:
            assert cell.value is not None, (name, cell)


def test_presets_cover_every_table() -> None:
    for key in TABLES:
        assert paper.presets_for_table(key), key
    assert paper.presets_for_table("2") == ["voc", "voc_gradcam", "voc_no_recurrence"]
    assert [c.value for c in paper.paper_cells("davis")] == [30.34, 28.15, 32.53]
    assert {c.value for c in paper.paper_cells("voc_sam")} == {70.2}
    with pytest.raises(ValueError, match="presets: ade150"):
        paper.paper_cells("nope")


def test_parse_table_refs() -> None:
    assert paper.parse_table_refs("Table 7, Table I") == ("7", "I")
    assert paper.parse_table_refs("Table 1") == ("1",)
    with pytest.raises(ValueError, match="unknown paper table"):
        paper.parse_table_refs("Table 1, Table 12")
