"""Part II: every table of the paper has a chapter section whose toy numbers come from runs of the current code."""
from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from car import paper
from car.experiments import tables

ROOT = Path(__file__).resolve().parents[1]
CHAPTER_OF = {"1": "table1", "2": "table2", "3": "table3", "4": "table4", "5": "table5", "6": "table6",
              "7": "table7", "I": "table7", "8": "table8", "J": "tableJ"}


def _source(name: str) -> str:
    nb = nbformat.read(ROOT / "book" / "tables" / f"{name}.ipynb", as_version=4)
    assert not any(c.get("outputs") for c in nb.cells if c.cell_type == "code"), f"{name} stores outputs"
    return "\n".join(c.source for c in nb.cells)


def test_every_paper_table_has_a_chapter_section() -> None:
    assert set(CHAPTER_OF) == set(paper.TABLES)
    for key, name in CHAPTER_OF.items():
        src = _source(name)
        assert f'ch.paper_table("{key}")' in src or f'TableChapter("{key}")' in src, f"Table {key} is not shown in {name}"


@pytest.mark.parametrize("key", sorted(tables.TABLES))
def test_each_chapter_takes_its_toy_numbers_from_toy_table(key) -> None:
    src = _source(CHAPTER_OF[key])
    if key == "I":  # shares the chapter of Table 7 (the same referring presets)
        assert 'ch.toy_table("I")' in src and 'ch.paper_table("I")' in src and 'TableChapter("7")' in src
    else:
        assert f'TableChapter("{key}")' in src and "ch.toy_table()" in src and "ch.real_rows()" in src


def test_toy_numbers_are_runs_not_typed_in(monkeypatch, tmp_path) -> None:
    """Every toy value of a table passes through the evaluation runner: replace the runner, the values follow."""
    calls = []

    def fake_run_config(cfg, **kw):
        calls.append(cfg)
        return {"metrics": {"mIoU": 0.123, "cIoU": 0.456, "JF": 0.1, "J": 0.2, "F": 0.3}}

    monkeypatch.setattr(tables, "run_config", fake_run_config)
    for key in ("2", "4", "5", "6", "7", "8"):
        result = tables.toy_table(key, recompute=True, cache_dir=tmp_path)
        numbers = [v for r in result["rows"] for v in r["values"] if isinstance(v, float) and v > 1]
        assert numbers and set(numbers) <= {12.3, 45.6, 10.0, 20.0, 30.0}, (key, result["rows"])
        assert json.loads((tmp_path / f"table{key}.json").read_text())["meta"]["fingerprint"] == tables.fingerprint(key)
    assert len(calls) >= 3 + 10 + 7 + 8 + 2 + 1


def test_a_stale_cache_is_recomputed(monkeypatch, tmp_path) -> None:
    (tmp_path / "table2.json").write_text(json.dumps({"rows": [], "meta": {"fingerprint": "old"}}))
    monkeypatch.setattr(tables, "run_config", lambda cfg, **kw: {"metrics": {"mIoU": 0.5}})
    assert tables.toy_table("2", cache_dir=tmp_path)["rows"]  # recomputed, not the stale empty rows


def test_shipped_results_are_current_and_labelled_as_toy() -> None:
    """Every table ships a result computed by the current code (else every reader recomputes it), labelled toy."""
    for key in tables.TABLES:
        node = tables.results.shipped("toy_tables", f"table{key}.json")
        assert node.is_file(), f"table {key}: run python -m car toy tables --out car/results/toy_tables"
        meta = tables.results.read_json(node)["meta"]
        assert meta["fingerprint"] == tables.fingerprint(key), \
            f"table {key} is stale: python -m car toy tables {key} --out car/results/toy_tables"
        assert meta["world"].startswith("toy")


def test_fingerprint_follows_what_the_numbers_depend_on(monkeypatch) -> None:
    before = tables.fingerprint("2")
    assert tables.fingerprint("3") != before  # per table
    monkeypatch.setattr(tables, "RESULTS_VERSION", tables.RESULTS_VERSION + 1)
    assert tables.fingerprint("2") != before  # a behaviour change bumps the version


def test_a_current_shipped_result_is_read_without_recomputing(monkeypatch, tmp_path) -> None:
    monkeypatch.setattr(tables, "run_config", lambda *a, **k: pytest.fail("recomputed a current result"))
    assert tables.toy_table("7", cache_dir=tmp_path)["rows"]
    assert not (tmp_path / "table7.json").exists()


def test_editing_a_presets_prose_keeps_the_results_current(monkeypatch, tmp_path) -> None:
    """A description edit changes no number; a setting edit does."""
    import shutil

    configs = tmp_path / "toy" / "configs"
    shutil.copytree(tables.PACKAGE / "toy" / "configs", configs)
    (tmp_path / "toy" / "checkpoints").mkdir()
    monkeypatch.setattr(tables, "PACKAGE", tmp_path)
    before = tables.fingerprint("2")
    path = configs / "toy_voc.yaml"
    path.write_text(path.read_text().replace("description: >-", "description: >-\n  Edited."))
    assert tables.fingerprint("2") == before
    path.write_text(path.read_text() + "eta: 0.5\n")
    assert tables.fingerprint("2") != before
