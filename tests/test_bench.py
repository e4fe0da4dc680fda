"""The benchmark's three paths on a tiny random-weight CLIP: the official loop order and car agree, the floor runs,
each path does the work its order implies, and the stage clock / patches leave nothing behind."""
from __future__ import annotations

import argparse
import importlib
import json

import numpy as np
import pytest
import torch

import car.cam
import car.model
from car import CaR, bench, load_config
from car.vocab import TEMPLATE_SETS

QUERIES = ["cat", "dog", "sky", "red square", "tree"]
ORIGINALS = {(m.__name__, a): getattr(m, a) for m, a in
             [(car.cam, "encode_image"), (car.cam, "gradcam"), (car.model, "encode_text")]}


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """One torch thread: tiny models gain nothing from more, and a shared CPU punishes oversubscription."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def cfg():
    return load_config("voc")


@pytest.fixture(scope="module")
def runs(clip_tiny, cfg):
    """The official order and car on the same image, queries and fixed 3-step schedule."""
    img = np.zeros((40, 56, 3), np.uint8)
    img[:20], img[20:], img[8:24, 10:26] = (40, 80, 200), (40, 160, 60), (220, 30, 30)
    schedule = bench.fixed_schedule(len(QUERIES), 3)
    official = bench.official_order(clip_tiny, clip_tiny, cfg, img, QUERIES, schedule)
    ours = bench.car_pipeline(CaR(clip_tiny, clip_tiny, cfg), img, QUERIES, schedule)
    return official, ours, schedule, img


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
    """With ``cam_method="gradcam"`` neither path applies CAA; they still agree (the toy presets use this).
    The tiny model's raw CAMs peak near 1e-7..1e-6: both paths use the official min–max guard (1e-15)."""
    gc = cfg.replace(cam_method="gradcam")
    schedule = bench.fixed_schedule(3, 2)
    official = bench.official_order(clip_tiny, clip_tiny, gc, rgb, QUERIES[:3], schedule)
    ours = bench.car_pipeline(CaR(clip_tiny, clip_tiny, gc), rgb, QUERIES[:3], schedule)
    for so, sc in zip(official.steps, ours.steps):
        np.testing.assert_allclose(so["proposals"], sc["proposals"], atol=1e-3)
    assert np.array_equal(official.masks, ours.masks)
    with_caa = bench.official_order(clip_tiny, clip_tiny, cfg, rgb, QUERIES[:3], schedule)
    assert np.abs(with_caa.steps[0]["proposals"] - official.steps[0]["proposals"]).max() > 0.05  # CAA changes maps


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
        assert sum(run.stages.values()) == pytest.approx(run.total_s, rel=1e-6, abs=1e-9)
    warm = bench.floor(clip_tiny, clip_tiny, cfg, img, QUERIES, schedule, text=False)
    assert warm.stages["text"] < 0.05 and "text_encodings" not in warm.counts


def test_paths_leave_the_models_and_modules_as_they_were(runs, clip_tiny) -> None:
    assert all(not p.requires_grad and p.grad is None for p in clip_tiny.model.parameters())
    for (module, attr), original in ORIGINALS.items():  # the timing patches are gone
        assert getattr(importlib.import_module(module), attr) is original


def test_batched_and_looped_gradients_agree(clip_tiny, cfg, rgb) -> None:
    g = bench.compare_gradients(clip_tiny, cfg, rgb, QUERIES)
    assert g["num_queries"] == 5 and g["max_abs_diff"] < 1e-4
    assert g["loop_s"] > 0 and g["batched_s"] > 0


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
    args = argparse.Namespace(world="toy", queries=3, repeats=1, steps=2, out=str(out), sweep=False, isolate=False)
    assert bench.main(args) == 0
    data = json.loads(out.read_text())
    toy = data["worlds"]["toy"]
    assert set(toy["paths"]) == {"official", "car", "floor"}
    assert toy["setup"]["schedule"] == [3, 2]
    assert toy["agreement"]["kept_equal"] and toy["agreement"]["masks_equal"]
    assert max(toy["agreement"]["proposal_max_abs_diff"]) < 1e-4
    assert toy["setup"]["cam_method"] == load_config("toy_voc").cam_method
    assert toy["paths"]["car"]["peak_mb"] is None  # in-process: no per-path memory
    assert {"car_over_floor", "official_over_car"} <= set(toy["ratios"])
    assert data["paper"]["ms_per_image"] == 950
    assert "official" in capsys.readouterr().out
