"""The toy-CLIP design runner: designs build the architecture they name, and runs resume from their JSON."""
from __future__ import annotations

import json

import pytest

from car.experiments import designs
from car.toy.models import build_toy_clip


def test_a_design_builds_the_architecture_it_names() -> None:
    model, _ = build_toy_clip(designs.register(designs.design("patch4")))
    assert model.visual.grid_size == (16, 16)  # 64 px / 4 px patches
    model, _ = build_toy_clip(designs.register(designs.design("cls")))
    assert model.visual.pool_type == "tok"
    with pytest.raises(ValueError, match="valid: b, cls"):
        designs.design("nope")


def test_designs_resume_from_their_json(tmp_path, monkeypatch) -> None:
    ran = []
    monkeypatch.setattr(designs, "run_design", lambda d, steps, progress=False: ran.append(d.name) or {"name": d.name})
    monkeypatch.setattr(designs, "probe_shipped", lambda name: {"name": name})
    out = tmp_path / "d.json"
    designs.run_designs(["b"], steps=5, out=out, progress=False)
    designs.run_designs(["cls", "b"], steps=5, out=out, progress=False)
    designs.run_designs(["focus"], steps=5, out=out, progress=False)
    assert ran == ["b", "cls", "focus"]  # b was not run twice
    data = json.loads(out.read_text())
    data["designs"] = data["designs"][1:]  # drop b's record: a rerun puts it back in DESIGNS order
    out.write_text(json.dumps(data))
    designs.run_designs(["b"], steps=5, out=out, progress=False)
    assert [r["name"] for r in json.loads(out.read_text())["designs"]] == ["b", "cls", "focus"]
    with pytest.raises(ValueError, match="--steps 5"):
        designs.run_designs(["sincos"], steps=300, out=out)


def test_the_shipped_design_results_cover_every_design() -> None:
    from car import results

    data = results.read_json(results.shipped("toy_designs.json"))
    assert [r["name"] for r in data["designs"]] == [d.name for d in designs.DESIGNS]
    for r in data["designs"]:
        assert r["what"] == designs.design(r["name"]).what and len(r["blocks"]) == 4
    assert [r["name"] for r in data["shipped"]] == ["toy-b", "toy-l", "toy-b4"]
    assert [len(r["blocks"]) for r in data["shipped"]] == [4, 6, 4]
    for r in data["designs"] + data["shipped"]:
        assert len(r["background_to_objects"]) == len(r["blocks"]) and len(r["table2"]) == 5


def test_the_shipped_records_have_the_shipped_toy_table_3() -> None:
    """Two routes to one number: the designs runner's full CaR (recurrent, grad-CAM) for each shipped toy CLIP
    proposing with toy-b classifying, and the cached toy Table 3's row for the same pair."""
    from car import results

    data = results.read_json(results.shipped("toy_designs.json"))
    table = {r["label"]: r["values"][-1] for r in results.read_json(results.shipped("toy_tables/table3.json"))["rows"]}
    assert designs.DESIGN_CLASSIFIER == "toy-b"
    for record in data["shipped"]:
        assert record["table2"]["recurrent, gradCAM"] == table[f"f = {record['name']}, g = toy-b"], record["name"]


def test_the_shipped_proposer_is_the_patch4_long_design() -> None:
    """toy-b4 is the patch4-long design trained by `python -m car toy train --size b4`: the same architecture,
    steps and seed give the same weights (the log's interval draws no random numbers), so the same probe."""
    from car import results
    from car.toy.models import TOY_MODEL_CFGS
    from car.toy.train import DEFAULT_STEPS

    d = designs.design("patch4-long")
    data = results.read_json(results.shipped("toy_designs.json"))
    assert TOY_MODEL_CFGS["b4"]["vision_cfg"] == {**TOY_MODEL_CFGS["b"]["vision_cfg"], **d.vision}
    assert DEFAULT_STEPS["b4"] == data["steps"] * d.step_scale
    design_rec = next(r for r in data["designs"] if r["name"] == d.name)
    shipped_rec = next(r for r in data["shipped"] if r["name"] == "toy-b4")
    probe = ("zero_shot_acc", "blocks", "rank_one", "background_to_objects", "caa_all_blocks", "caa_last_3", "table2")
    assert {k: shipped_rec[k] for k in probe} == {k: design_rec[k] for k in probe}


def test_results_json_is_written_atomically_with_plain_file_permissions(tmp_path) -> None:
    """write_json_atomic: the data round-trips, no temporary file is left, the mode is open()'s (not 0600)."""
    import os

    from car import results

    out = tmp_path / "r.json"
    results.write_json_atomic(out, {"a": [1, 2]})
    umask = os.umask(0)
    os.umask(umask)
    assert json.loads(out.read_text()) == {"a": [1, 2]} and [p.name for p in tmp_path.iterdir()] == ["r.json"]
    assert out.stat().st_mode & 0o777 == 0o666 & ~umask
