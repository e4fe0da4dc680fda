"""Part IV's data: the published table is consistent with its own averages and with car.paper, the chapter types no
number the table does not hold, and the shipped toy and cost tables cover every method."""
from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from car import paper
from car.experiments import successors
from car.peers import list_peers, published
from car.proposers import list_proposers

ROOT = Path(__file__).resolve().parents[1]
CHAPTER = ROOT / "book" / "successors.ipynb"


@pytest.mark.parametrize("row", [r for r in published.ROWS if r.average is not None and len(r.values) == 8],
                         ids=lambda r: f"{r.method}-{r.variant}-{r.backbone}")
def test_a_rows_average_is_the_mean_of_its_eight_values(row) -> None:
    """A typo in one value shows as an average that no longer matches the source's (printed to 1 or 2 decimals)."""
    assert abs(sum(row.values.values()) / 8 - row.average) <= 0.051


def test_every_row_names_its_source_and_kind() -> None:
    for row in published.published_rows():
        assert row.source and row.kind in ("readme", "cited", "paper", "unverified"), row
        assert set(row.values) <= set(published.BENCHMARKS)


def test_cars_row_is_the_papers_table_1() -> None:
    car_row = published.published_rows()[0]
    table = paper.get_table("1")
    assert car_row.method == "CaR"
    assert car_row.values == {b: table.value("CaR (Ours, w/o SAM)", c) for b, c in published.CAR_COLUMNS.items()}


def test_the_chapter_types_no_number_the_tables_do_not_hold() -> None:
    """Decimal numbers in the chapter's prose must be a published value, or one of the protocol's settings."""
    nb = nbformat.read(CHAPTER, as_version=4)
    prose = "\n".join(c.source for c in nb.cells if c.cell_type == "markdown")
    held = {v for r in published.published_rows() for v in r.values.values()}
    held |= {r.average for r in published.published_rows() if r.average is not None} | {0.1}
    typed = {float(m) for m in re.findall(r"(?<![\w.])\d+\.\d+(?![\w.])", prose)}
    assert typed <= held, sorted(typed - held)


def test_the_chapter_is_part_iv_of_the_toc() -> None:
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text(encoding="utf-8"))
    part = next(p for p in toc["parts"] if p["caption"].startswith("Part IV"))
    assert [c["file"] for c in part["chapters"]] == ["book/successors"]


def test_the_shipped_toy_table_covers_every_method_on_every_split() -> None:
    toy = successors.shipped_toy()
    assert toy["splits"] == list(successors.TOY_SPLITS) and toy["meta"]["world"].startswith("toy")
    runs = {(r["method"], r["proposer"]) for r in toy["rows"]}
    assert runs == set(successors.toy_runs())
    assert {(p, None) for p in list_peers()} | {("car", p) for p in list_proposers()} <= runs
    for r in toy["rows"]:
        assert set(r["values"]) == set(toy["splits"]) and all(0 <= v <= 100 for v in r["values"].values())
        assert all(c.startswith("python -m car evaluate --config ") for c in r["commands"].values())


def test_the_shipped_cost_table_covers_every_method() -> None:
    cost = successors.shipped_cost()
    assert {(r["method"], r["proposer"]) for r in cost["rows"]} == set(successors.cost_runs())
    for r in cost["rows"]:
        assert r["seconds_per_image"] > 0 and r["peak_mb"] is not None and r["passes"]
        if r["method"] != "car":
            assert "ViT-B/16 backwards" not in r["passes"]  # single pass: no backward


def test_the_eight_benchmark_table_names_a_loadable_preset_and_a_runnable_command_per_cell() -> None:
    from car.cli import build_parser
    from car.config import load_config

    field = successors.field_table()
    assert field["benchmarks"] == list(published.BENCHMARKS) == list(successors.FIELD_BENCHMARKS)
    datasets = {"VOC-21": "voc", "PC-60": "context", "COCO-Object": "coco", "VOC-20": "voc20", "PC-59": "context59",
                "COCO-Stuff": "cocostuff171", "Cityscapes": "cityscapes", "ADE-150": "ade150"}
    for bench, (preset, _, toy) in successors.FIELD_BENCHMARKS.items():
        assert load_config(preset).dataset == datasets[bench]
        assert toy is None or load_config(toy).dataset.startswith("toy_")
    parser = build_parser()
    for row in field["rows"]:
        for bench, cmd in row["commands"].items():
            args = parser.parse_args(cmd.split()[3:])  # after "python -m car"
            assert args.config == successors.FIELD_BENCHMARKS[bench][0] and args.data_root
        assert row["published"] == {b: next(r for r in published.published_rows() if r.method == row["method"]
                                            and r.variant == successors.FIELD_METHODS[row["method"]][0]
                                            ).values.get(b) for b in field["benchmarks"]}
        assert set(row["toy"]) == {"VOC-21", "PC-60", "ADE-150"}
