"""The recurrence end to end on a random-weight open_clip model: shapes, determinism, the stop rule, bad input."""
from __future__ import annotations

import contextlib

import numpy as np
import pytest
import torch

from car import CaR, load_config
from car.cam import minmax
from car.queries import check_queries


@pytest.fixture
def model(clip_tiny):
    return CaR(clip_tiny, clip_tiny, "voc")


def test_end_to_end_shapes_and_determinism(model, rgb) -> None:
    queries = ["cat", "dog", "sky", "red square"]
    r1 = model(rgb, queries)
    r2 = model(rgb, queries)
    assert r1.labels.shape == (40, 56) and r1.labels.dtype == np.int64
    assert r1.masks.shape == (4, 40, 56) and r1.masks.dtype == bool
    assert r1.scores.shape == (4,)
    assert set(np.unique(r1.labels)) <= set(range(-1, 4))
    assert np.array_equal(r1.labels, r2.labels) and np.allclose(r1.scores, r2.scores)
    removed = r1.scores == 0
    assert not r1.masks[removed].any()  # removed queries have no mask
    assert (r1.labels[r1.labels >= 0] >= 0).all()


def test_official_stop_rule_runs_at_least_two_steps_and_stops_when_nothing_is_removed(model, rgb) -> None:
    r = model(rgb, ["cat", "dog", "sky"])
    assert len(r.steps) >= 2
    assert r.steps[-1].kept.all()  # the last step removed nothing
    for prev, nxt in zip(r.steps, r.steps[1:]):
        assert list(nxt.indices) == list(prev.indices[prev.kept])  # h_t = σ(P_t) feeds step t+1
    assert all(s.kept.any() for s in r.steps)  # official: never empty


def test_stop_rule_with_scripted_scores(clip_tiny, rgb, monkeypatch) -> None:
    """Scores 0.9/0.1/0.7, then 0.8/0.2, then 0.9: removes one query per step and stops at step 3."""
    script = iter([np.array([0.9, 0.1, 0.7]), np.array([0.8, 0.2]), np.array([0.9])])
    m = CaR(clip_tiny, clip_tiny, "voc")
    monkeypatch.setattr(m, "classify", lambda image, proposals, queries, kinds=None: next(script).astype(np.float32))
    r = m(rgb, ["a", "b", "c"])
    assert [s.queries for s in r.steps] == [("a", "b", "c"), ("a", "c"), ("a",)]
    assert r.kept == ["a"] and r.scores[0] == pytest.approx(0.9) and r.scores[1:].tolist() == [0, 0]


def test_paper_rule_may_empty_the_set_and_official_rule_keeps_the_argmax(clip_tiny, rgb, monkeypatch) -> None:
    low = lambda image, proposals, queries, kinds=None: np.full(len(queries), 0.1, np.float32)  # noqa: E731
    paper = CaR(clip_tiny, clip_tiny, "voc", theta_rule="paper")
    monkeypatch.setattr(paper, "classify", low)
    r = paper(rgb, ["a", "b"])
    assert len(r.steps) == 1 and r.kept == [] and not r.masks.any() and (r.labels == -1).all()
    official = CaR(clip_tiny, clip_tiny, "voc")
    monkeypatch.setattr(official, "classify", low)
    assert len(official(rgb, ["a", "b"]).kept) == 1


def test_no_recurrence_is_a_single_step(clip_tiny, rgb) -> None:
    r = CaR(clip_tiny, clip_tiny, "voc_no_recurrence")(rgb, ["cat", "dog", "sky"])
    assert len(r.steps) == 1


def test_text_is_encoded_once_per_vocabulary(clip_tiny, rgb, monkeypatch) -> None:
    import car.model as model_mod

    calls = []
    real = model_mod.encode_text
    monkeypatch.setattr(model_mod, "encode_text", lambda b, texts: calls.append(len(texts)) or real(b, texts))
    m = CaR(clip_tiny, clip_tiny, "voc")
    m(rgb, ["cat", "dog"])
    first = sum(calls)
    m(rgb, ["cat", "dog"])
    assert sum(calls) == first  # the second image re-encodes nothing


def test_stuff_pass_uses_the_thing_names_as_background(clip_tiny, rgb) -> None:
    m = CaR(clip_tiny, clip_tiny, "context")
    r = m(rgb, ["cat", "dog", "sky", "grass"], stuff=[False, False, True, True])
    groups = {tuple(sorted(s.indices.tolist())) for s in r.steps}
    assert all(set(g) <= {0, 1} or set(g) <= {2, 3} for g in groups)
    with pytest.raises(ValueError, match="one bool per query"):
        m(rgb, ["cat", "dog"], stuff=[True])


@pytest.mark.parametrize("image", [
    np.full((30, 30), 128, np.uint8),                 # grayscale
    np.full((30, 30, 4), 200, np.uint8),              # RGBA
    np.full((30, 30, 3), 40000, np.uint16),           # 16-bit
    np.full((30, 30, 1), 0.5, np.float32),            # float single channel
])
def test_image_kinds_are_converted(model, image) -> None:
    assert model(image, ["cat", "dog"]).labels.shape == (30, 30)


def test_bad_inputs_raise_clear_errors(model, rgb) -> None:
    with pytest.raises(ValueError, match="at least 2 pixels"):
        model(np.zeros((1, 1, 3), np.uint8), ["cat"])
    with pytest.raises(ValueError, match="no queries"):
        model(rgb, [])
    with pytest.raises(ValueError, match="duplicate"):
        model(rgb, ["cat", "Cat "])
    with pytest.raises(ValueError, match="list of strings"):
        model(rgb, "cat,dog")
    with pytest.raises(ValueError, match="NaN"):
        model(np.full((8, 8, 3), np.nan, np.float32), ["cat"])
    with pytest.raises(ValueError, match="shape"):
        model(np.zeros((8, 8, 5), np.uint8), ["cat"])


def test_long_and_non_ascii_queries(model, rgb) -> None:
    with pytest.warns(UserWarning, match="truncated"):
        model(rgb, ["cat " * 100, "dog"])
    r = model(rgb, ["Space Needle", "café 猫"])
    assert r.masks.shape[0] == 2


def test_refer_mode_allows_repeated_sentences(clip_tiny, rgb) -> None:
    assert check_queries(["the cat", "the cat"], allow_duplicates=True) == ["the cat", "the cat"]
    r = CaR(clip_tiny, clip_tiny, "refcoco")(rgb, ["the red square", "the red square"])
    assert r.masks.shape == (2, 40, 56)


def test_nan_in_a_map_counts_as_zero() -> None:
    maps = torch.tensor([[[float("nan"), 1.0], [0.5, 0.0]]])
    out = minmax(maps)
    assert not torch.isnan(out).any() and out.max() == pytest.approx(1.0, abs=1e-6)


def test_config_overrides_are_validated(clip_tiny) -> None:
    assert CaR(clip_tiny, config="voc", theta=0.3).config.theta == 0.3
    with pytest.raises(ValueError, match="must lie in"):
        CaR(clip_tiny, config="voc", eta=1.5)
    with pytest.raises(ValueError, match="unknown visual prompt"):
        load_config("voc", prompts=("sparkles",))


def test_mutual_background_option(clip_tiny, rgb, monkeypatch) -> None:
    """thing_background='stuff': the thing pass uses the stuff names as background (paper Supp. E)."""
    seen = []
    m = CaR(clip_tiny, clip_tiny, "context", thing_background="stuff")
    real = m._background
    monkeypatch.setattr(m, "_background", lambda queries, words=None: seen.append(words) or real(queries, words))
    m(rgb, ["cat", "dog", "sky", "grass"], stuff=[False, False, True, True])
    assert seen == [["sky", "grass"], ["cat", "dog"]]
    official = CaR(clip_tiny, clip_tiny, "context")
    seen.clear()
    monkeypatch.setattr(official, "_background", lambda queries, words=None: seen.append(words) or real(queries, words))
    official(rgb, ["cat", "dog", "sky", "grass"], stuff=[False, False, True, True])
    assert seen == [None, ["cat", "dog"]]  # official: the thing pass keeps the generic background words


# ------------------------------------------------------------------ set_image / predict, schedule, clock
class RecordingClock:
    """Records the stages CaR enters (in order) and its work counters."""

    def __init__(self):
        self.stages: list[str] = []
        self.counts: dict[str, int] = {}

    def __call__(self, stage):
        self.stages.append(stage)
        return contextlib.nullcontext()

    def count(self, key, n=1):
        self.counts[key] = self.counts.get(key, 0) + n


def test_one_set_image_serves_many_query_sets(model, rgb) -> None:
    """predict after one set_image equals a fresh model(image, queries) call, and the backbone runs once."""
    clock = RecordingClock()
    model.clock = clock
    model.set_image(rgb)
    a, b = model.predict(["cat", "dog"]), model.predict(["sky", "red square", "cat"])
    assert clock.counts["cam_backbone_forwards"] == 1
    for r, qs in ((a, ["cat", "dog"]), (b, ["sky", "red square", "cat"])):
        fresh = CaR(model.proposal, model.classifier, model.config)(rgb, qs)
        assert np.array_equal(r.labels, fresh.labels) and np.allclose(r.scores, fresh.scores, atol=1e-6)


def test_predict_before_set_image_says_what_to_do(model) -> None:
    with pytest.raises(RuntimeError, match="set_image"):
        model.predict(["cat"])


def test_a_fixed_schedule_replaces_the_stop_rule(model, rgb) -> None:
    """schedule = [all 4, first 2, first 1]: three steps whatever the scores; the last step's queries are kept."""
    queries = ["cat", "dog", "sky", "red square"]
    schedule = [np.arange(4), np.arange(2), np.arange(1)]
    r = model(rgb, queries, schedule=schedule)
    assert [list(s.indices) for s in r.steps] == [[0, 1, 2, 3], [0, 1], [0]]
    assert [list(s.kept) for s in r.steps] == [[True, True, False, False], [True, False], [True]]
    assert np.flatnonzero(r.scores).tolist() == [0]  # only the last step's query has a score (and a mask)
    assert not r.masks[1:].any()
    free = model(rgb, queries)  # the same first step: the schedule changes when the loop stops, nothing else
    assert np.allclose(r.steps[0].scores, free.steps[0].scores, atol=1e-6)


def test_the_clock_sees_every_stage_and_counts_the_work(model, rgb) -> None:
    from car.work import STAGES

    clock = RecordingClock()
    model.clock = clock
    r = model(rgb, ["cat", "dog", "sky"], schedule=[np.arange(3), np.arange(2)])
    assert set(clock.stages) == set(STAGES) and clock.stages[0] in ("text", "cam_forward")
    assert clock.counts["cam_backwards"] == 3 + 2 == clock.counts["classifier_images"]
    assert clock.counts["cam_backbone_forwards"] == 1 and len(r.steps) == 2
