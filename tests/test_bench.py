"""The benchmark's three paths on a tiny random-weight CLIP: the official loop order and car agree, the floor runs,
each path does the work its order implies, and the stage clock / patches leave nothing behind."""
from __future__ import annotations

import importlib
import json

import numpy as np
import pytest
import torch

import car.cam
import car.model
from car import CaR, load_config, official
from car.experiments import bench, bench_rows
from car.vocab import TEMPLATE_SETS
from car.work import COUNTERS

QUERIES = ["cat", "dog", "sky", "red square", "tree"]
ORIGINALS = {(m.__name__, a): getattr(m, a) for m, a in
             [(car.cam, "encode_image"), (car.cam, "gradcam"), (car.model, "encode_text")]}


@pytest.fixture(scope="module", autouse=True)
def one_thread(one_torch_thread):
    """One torch thread for this module (conftest.one_torch_thread)."""


@pytest.fixture(scope="module")
def cfg():
    return load_config("voc")


@pytest.fixture(scope="module")
def runs(clip_tiny, cfg):
    """The official order and car on the same image, queries and fixed 3-step schedule."""
    img = np.zeros((40, 56, 3), np.uint8)
    img[:20], img[20:], img[8:24, 10:26] = (40, 80, 200), (40, 160, 60), (220, 30, 30)
    schedule = bench.fixed_schedule(len(QUERIES), 3)
    reference = official.official_order(clip_tiny, clip_tiny, cfg, img, QUERIES, schedule)
    ours = bench.car_pipeline(CaR(clip_tiny, clip_tiny, cfg), img, QUERIES, schedule)
    return reference, ours, schedule, img


def test_fixed_schedule_halves_the_queries_each_step() -> None:
    assert [s.tolist() for s in bench.fixed_schedule(5, 3)] == [[0, 1, 2, 3, 4], [0, 1, 2], [0, 1]]
    assert [s.tolist() for s in bench.fixed_schedule(1, 2)] == [[0], [0]]
    with pytest.raises(ValueError, match="at least one query"):
        bench.fixed_schedule(0, 2)


def test_official_order_and_car_give_the_same_proposals_scores_and_masks(runs) -> None:
    official, ours, schedule, img = runs
    assert len(official.steps) == len(ours.steps) == 3
    for so, sc, idx in zip(official.steps, ours.steps, schedule):
        assert so["proposals"].shape == sc["proposals"].shape == (len(idx), *img.shape[:2])
        np.testing.assert_allclose(so["proposals"], sc["proposals"], atol=1e-3)
        np.testing.assert_allclose(so["scores"], sc["scores"], atol=1e-5)
    assert np.array_equal(official.masks, ours.masks)
    assert np.array_equal(official.labels, ours.labels)
    agreement = bench.compare_runs(official, ours)
    assert agreement["kept_equal"] and agreement["masks_equal"] and agreement["mask_pixel_agreement"] == 1.0
    # queries absent from the last step have no mask
    assert not official.masks[2:].any() and not ours.masks[2:].any()


def test_official_order_follows_a_plain_grad_cam_config_like_car(clip_tiny, cfg, rgb) -> None:
    """With ``proposer="gradcam"`` neither path applies CAA; they still agree (the toy presets use this).
    The tiny model's raw CAMs peak near 1e-7..1e-6: both paths use the official min–max guard (1e-15)."""
    gc = cfg.replace(proposer="gradcam")
    schedule = bench.fixed_schedule(3, 2)
    reference = official.official_order(clip_tiny, clip_tiny, gc, rgb, QUERIES[:3], schedule)
    ours = bench.car_pipeline(CaR(clip_tiny, clip_tiny, gc), rgb, QUERIES[:3], schedule)
    for so, sc in zip(reference.steps, ours.steps):
        np.testing.assert_allclose(so["proposals"], sc["proposals"], atol=1e-3)
    assert np.array_equal(reference.masks, ours.masks)
    with_caa = official.official_order(clip_tiny, clip_tiny, cfg, rgb, QUERIES[:3], schedule)
    assert np.abs(with_caa.steps[0]["proposals"] - reference.steps[0]["proposals"]).max() > 0.05  # CAA changes maps


def test_each_path_does_the_work_its_order_implies(runs, clip_tiny, cfg) -> None:
    official, ours, schedule, img = runs
    m = sum(len(s) for s in schedule)  # query-steps: 5 + 3 + 2
    t = len(TEMPLATE_SETS[cfg.templates])
    assert official.counts["cam_backbone_forwards"] == len(schedule)  # blocks 1..L-1 every step
    assert official.counts["cam_block_L_forwards"] == official.counts["cam_backwards"] == m  # one per query
    assert official.counts["classifier_images"] == t * m  # the batch once per template
    assert ours.counts["cam_backbone_forwards"] == ours.counts["cam_block_L_forwards"] == 1
    assert ours.counts["classifier_images"] == m
    low = bench.floor(clip_tiny, clip_tiny, cfg, img, QUERIES, schedule)
    assert low.counts["cam_backwards"] == low.counts["classifier_images"] == m
    assert low.steps == [] and low.masks is None
    for run in (official, ours, low):
        assert set(run.stages) == set(bench.STAGES)
        assert set(run.counts) <= set(COUNTERS), set(run.counts) - set(COUNTERS)  # every key is a named counter
        assert sum(run.stages.values()) == pytest.approx(run.total_s, rel=1e-6, abs=1e-9)
    warm = bench.floor(clip_tiny, clip_tiny, cfg, img, QUERIES, schedule, text=False)
    assert "text_encodings" not in warm.counts and low.counts["text_encodings"] > 0  # a warm vocabulary: no text


def test_paths_leave_the_models_and_modules_as_they_were(runs, clip_tiny) -> None:
    assert all(not p.requires_grad and p.grad is None for p in clip_tiny.model.parameters())
    for (module, attr), original in ORIGINALS.items():  # the timing patches are gone
        assert getattr(importlib.import_module(module), attr) is original


def test_batched_and_looped_gradients_agree(clip_tiny, cfg, rgb) -> None:
    g = bench.compare_gradients(clip_tiny, cfg, rgb, QUERIES)
    assert g["num_queries"] == 5 and g["max_abs_diff"] < 1e-4
    assert set(g) == {"num_queries", "default_chunk", "loop_s", "batched_s", "max_abs_diff"}
    assert isinstance(g["default_chunk"], int) and g["default_chunk"] >= 1


def test_stage_clock_times_nested_stages_exclusively(monkeypatch) -> None:
    now = iter([0.0, 1.0, 3.0, 6.0])  # enter A, enter B (A ran 1 s), leave B (2 s), leave A (3 s more)
    monkeypatch.setattr(bench.time, "perf_counter", lambda: next(now))
    clock = bench.StageClock()
    with clock("text"):
        with clock("classifier"):
            pass
    assert clock.times["text"] == 4.0 and clock.times["classifier"] == 2.0
    assert clock.finish(10.0)["other"] == 4.0
    with pytest.raises(ValueError, match="unknown stage"):
        with clock("nope"):
            pass


def test_queries_are_numbered_beyond_the_class_list() -> None:
    q = bench.bench_queries("real", 22)
    assert q[:2] == ["aeroplane", "bicycle"] and q[20:] == ["aeroplane 2", "bicycle 2"]
    assert len(set(bench.bench_queries("real", 150))) == 150
    with pytest.raises(ValueError, match="valid: real, toy"):
        bench.bench_queries("mars", 3)


def test_main_writes_the_json_on_the_toy_world(tmp_path, capsys) -> None:
    out = tmp_path / "bench.json"
    from car.cli import main as cli_main

    assert cli_main(["bench", "--queries", "3", "--repeats", "1", "--images", "1", "--steps", "2", "--out", str(out),
                     "--no-sweep", "--no-isolate"]) == 0
    data = json.loads(out.read_text())
    toy = data["worlds"]["toy"]
    assert set(toy["paths"]) == {"official", "car", "floor"}
    assert toy["setup"]["schedule"] == [3, 2] and toy["setup"]["precision"] == "fp32"
    assert toy["setup"]["num_images"] == 1 and toy["setup"]["interleaved"] and toy["setup"]["torch_threads"] >= 1
    assert "text_encodings" not in toy["paths"]["car"]["warm"]["counts"]  # warm: every text came from the cache
    assert toy["agreement"]["kept_equal"] and toy["agreement"]["masks_equal"]
    assert max(toy["agreement"]["proposal_max_abs_diff"]) < 1e-4
    assert toy["setup"]["proposer"] == load_config("toy_voc").proposer
    assert toy["paths"]["car"]["peak_mb"] is None  # in-process: no per-path memory
    assert {"car_over_floor", "official_over_car"} <= set(toy["ratios"])
    assert data["paper"]["ms_per_image"] == 950
    captured = capsys.readouterr()
    assert "official" in captured.out and "wrote" in captured.out
    progress = [line for line in captured.err.splitlines() if line.startswith("[bench")]
    assert any("round 1/1" in line for line in progress) and "done in" in progress[-1]  # one line per stage


# ------------------------------------------------------------------ the JSON as table rows
def _run(total: dict[str, float], peak: dict[str, float] | None = None, queries: int = 5) -> dict:
    """A hand-made world entry of a benchmark JSON: ``total`` seconds per path, stages all in "crf"."""
    paths = {k: {"total_s": v, "stages": {"crf": v}, "counts": {"cam_backwards": queries},
                 "peak_mb": (peak or {}).get(k), "warm": {"total_s": v / 2, "stages": {"crf": v / 2}}}
             for k, v in total.items()}
    return {"setup": {"num_queries": queries}, "paths": paths, "ratios": {"official_over_car": total["official"]
                                                                          / total["car"]}}


def test_table_rows_read_the_json_they_are_given() -> None:
    run = _run({"official": 8.0, "car": 2.0, "floor": 1.0}, {"official": 300, "car": 100, "floor": 50})
    counts = bench_rows.count_rows(run)
    assert counts.headers == ("work per image", "official", "car", "floor")
    assert [r.label for r in counts.rows] == list(COUNTERS.values())
    by_label = {r.label: r.cells for r in counts.rows}
    assert by_label[COUNTERS["cam_backwards"]] == (5, 5, 5) and by_label[COUNTERS["text_encodings"]] == (0, 0, 0)
    assert list(counts.rows[0]) == [counts.rows[0].label, *counts.rows[0].cells]  # a row iterates as a table row
    ratios = {r.label: r.cells[0] for r in bench_rows.ratio_rows(run).rows}
    assert ratios["seconds: official / car / floor"] == "8.00 / 2.00 / 1.00"
    assert ratios["peak memory MiB: official / car / floor"] == "300 / 100 / 50"
    stages = bench_rows.stage_rows(run).rows
    assert stages[2].label == "car (warm)" and stages[2].cells == ("1.00", ["crf 100 %"])
    growth = bench_rows.growth_rows({5: run, 20: _run({"official": 32.0, "car": 4.0, "floor": 3.0},
                                                      {"official": 900, "car": 150, "floor": 60}, 20)})
    cells = {r.label: r.cells[0] for r in growth.rows}
    assert growth.headers[1] == "5 → 20 queries"
    assert cells["official order: seconds, 5 → 20 queries"] == "8.0 → 32.0  (4.0x)"
    assert cells["car: peak MB, 5 → 20 queries"] == "100 → 150" and cells["official / car at 20 queries"] == "8.0x"


def test_paper_rows_put_the_shipped_real_run_beside_the_paper() -> None:
    from car import results
    from car.paper import EFFICIENCY

    assert [r.label for r in bench_rows.paper_rows(EFFICIENCY).rows][0] == "paper: CaR per image (no SAM)"
    shipped = results.read_json(results.shipped("bench_real.json"))
    real = shipped["worlds"]["real"]
    rows = {r.label: r.cells for r in bench_rows.paper_rows(EFFICIENCY, real, shipped["meta"]).rows}
    q = real["setup"]["num_queries"]
    assert rows[f"this book: official order, {q} queries"][0] == f"{1000 * real['paths']['official']['total_s']:.0f} ms"
    assert rows["paper: CaR per image (no SAM)"][0] == f"{EFFICIENCY['ms_per_image']} ms"
    assert set(real["paths"]["official"]["counts"]) <= set(COUNTERS)  # the committed JSON counts named work


# ------------------------------------------------------------------ interleaved rounds, medians, CLI defaults
class FakeRunner:
    """Stands in for WorldRunner: run ``i`` of a variant takes ``base * load(i)`` seconds, where the load changes
    from one back-to-back group to the next (a busy machine) — the paired ratios must not see it."""

    world = "fake"

    def __init__(self, num_images=2):
        self.images = [np.zeros((2, 2, 3), np.uint8)] * num_images
        self.calls = []

    def run(self, path, image, warm=False):
        base = {("official", False): 4.0, ("car", False): 1.0, ("floor", False): 0.8, ("car", True): 0.5,
                ("floor", True): 0.4}[(path, warm)]
        group = len(self.calls) // 5  # the 5 variants of one image run back to back
        self.calls.append((path, warm))
        load = 1.0 + 3.0 * (group % 3)  # x1, x4, x7: wall times swing wildly between groups
        stages = {s: 0.0 for s in bench.STAGES}
        stages["other"] = base * load
        return bench.PathRun(path, base * load, stages, {"n": 1}, cpu_s=base)


def test_time_paths_pairs_back_to_back_runs_and_reports_medians() -> None:
    runner = FakeRunner(num_images=2)
    timings, firsts = bench.time_paths(runner, ["official", "car", "floor"], repeats=3)
    assert len(runner.calls) == 3 * 2 * 5
    starts = [runner.calls[5 * g] for g in range(6)]
    assert len(set(starts)) == 5  # the order rotates from one image to the next
    assert runner.calls[:5] == [("official", False), ("car", False), ("floor", False), ("car", True),
                                ("floor", True)]  # cold variants first: the warm car reuses the cold one's cache
    car = timings["car"]
    assert len(car["runs_s"]) == 6 and len(car["repeats_s"]) == 3 and car["images"] == 2
    assert car["total_s"] == sorted(car["repeats_s"])[1]  # the median round
    assert sum(car["stages"].values()) == pytest.approx(car["total_s"])
    assert set(timings) == {"official", "car", "floor"} and "warm" in timings["floor"]
    ratios, targets, pairs = bench._ratios(timings, paired=True)
    assert ratios["car_over_floor"] == 1.25 and ratios["official_over_car"] == 4.0  # load cancelled exactly
    assert ratios["car_warm_over_floor_warm"] == 1.25 and ratios["official_over_car_cpu"] == 4.0
    assert len(pairs["car_over_floor"]) == 6 and targets["car_1.5x_faster_than_official"]
    unpaired, _, none = bench._ratios(timings, paired=False)  # isolated runs: the ratio of the median rounds
    assert none == {} and unpaired["car_over_floor"] == round(car["total_s"] / timings["floor"]["total_s"], 3)
    assert firsts["car"].name == "car"


def test_bench_with_no_flags_is_the_toy_world_with_enough_work() -> None:
    from car.cli import build_parser

    args = build_parser().parse_args(["bench"])
    assert args.world == "toy" and args.isolate is None and args.progress
    given = {k: getattr(args, k) for k in ("queries", "repeats", "images", "isolate", "threads")}
    toy = bench._world_options("toy", **given)
    assert toy["images"] >= 3 and toy["repeats"] >= 5 and not toy["isolate"]  # interleaved, medians
    assert toy["threads"] == 1  # tiny models: one thread, no oversubscription of a shared CPU
    assert bench._world_options("real", **given)["isolate"]  # the real run keeps per-path peak memory
    explicit = bench._world_options("toy", images=1, isolate=True)
    assert explicit["images"] == 1 and explicit["isolate"]
    assert bench._precisions(args.precision, "cpu") == [False] and bench._precisions(args.precision, "cuda") == [False, True]
    with pytest.raises(ValueError, match="needs --device cuda"):
        bench._precisions(build_parser().parse_args(["bench", "--precision", "fp16"]).precision, "cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message given on a machine without CUDA")
def test_cuda_without_a_gpu_is_a_clear_error(tmp_path) -> None:
    with pytest.raises(RuntimeError, match="CUDA is not available"):
        bench.benchmark("toy", steps=2, out=tmp_path / "b.json", device="cuda", precision="fp16")
    assert not (tmp_path / "b.json").exists()


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device (torch.cuda.is_available() is False)")
def test_cuda_fp16_timings_are_recorded(tmp_path) -> None:
    bench.benchmark("toy", queries=3, repeats=1, images=1, steps=2, out=tmp_path / "b.json", sweep=False,
                    isolate=True, device="cuda", precision="both", progress=False)
    worlds = json.loads((tmp_path / "b.json").read_text())["worlds"]
    assert worlds["toy"]["setup"]["precision"] == "fp32"
    assert worlds["toy_fp16"]["setup"]["precision"] == "fp16 (autocast)"
    assert worlds["toy_fp16"]["setup"]["device"] == "cuda" and worlds["toy_fp16"]["paths"]["car"]["peak_mb"] > 0


def test_isolated_path_reports_its_peak_memory() -> None:
    """One subprocess per path (spawn): timings come back with the path's peak memory."""
    res = bench.run_world("toy", 2, 2, 1, isolate=True, paths=("car",), num_images=1)
    car = res["paths"]["car"]
    assert car["peak_mb"] is not None and car["maxrss_mb"] > 0 and "warm" in car and "gradients" in car
    assert res["setup"]["isolated"] and not res["setup"]["interleaved"] and "agreement" not in res


def test_progress_heartbeat_names_the_long_run(capsys) -> None:
    import time

    progress = bench.Progress(every=0.01)
    with progress.running("real/official"):
        deadline = time.monotonic() + 30
        seen = ""
        while "real/official" not in seen and time.monotonic() < deadline:
            time.sleep(0.02)
            seen += capsys.readouterr().err
    assert "... real/official:" in seen
    capsys.readouterr()  # a beat can land between the last read and the block's end; the thread is joined by now
    bench.Progress(enabled=False)("nothing")
    assert capsys.readouterr().err == ""


def test_run_isolated_returns_the_result_and_names_a_failure_or_a_death() -> None:
    """One subprocess helper for every isolated run (the benchmark's paths, the successors' cost rows)."""
    import os

    from car.timing import run_isolated

    assert run_isolated(dict, ({"seconds": 1.5},), "a dict") == {"seconds": 1.5}
    with pytest.raises(RuntimeError, match=r"the parse failed: ValueError"):
        run_isolated(int, ("not a number",), "the parse")
    with pytest.raises(RuntimeError, match=r"the exit died in its subprocess \(exit code 3\)"):
        run_isolated(os._exit, (3,), "the exit")
