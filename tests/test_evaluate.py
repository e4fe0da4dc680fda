"""The resumable runner and the CaR-model adapters, with in-memory datasets and fake models."""
from __future__ import annotations

import json
from types import SimpleNamespace

import numpy as np
import pytest
from PIL import Image

from car.config import CaRConfig
from car.data import get_dataset
from car.data.base import BaseDataset, RefSample, SampleError, SegSample, VideoSample
from car.data.registry import register_dataset
from car.adapters import labels_to_gt_space, make_predictor
from car.evaluate import evaluate, merge_results, run_config
from car.metrics import ConfusionMatrix, RefAccumulator

H, W = 6, 8


class ToySemantic(BaseDataset):
    """n random images with 4 labels (0 = background); sample ``bad`` fails to load."""

    kind = "semantic"

    def __init__(self, n=6, bad=None, name="toy", ignore_background=False):
        super().__init__(name=name, split="val", root=".", num_samples=n, class_names=["a", "b", "c"],
                         stuff=[False, True, False], num_classes=4, has_background=True,
                         ignore_index=255, ignore_background=ignore_background,
                         label_names=["background", "a", "b", "c"])
        rng = np.random.default_rng(0)
        self.gts = [rng.integers(0, 4, (H, W)) for _ in range(n)]
        for gt in self.gts:
            gt[0, 0] = 255
        self.bad = bad

    def sample_name(self, index):
        return f"img{self._index(index)}"

    def __getitem__(self, index):
        i = self._index(index)
        if i == self.bad:
            raise SampleError(f"cannot read image img{i}.jpg: truncated")
        return SegSample(np.full((H, W, 3), i, np.uint8), self.gts[i].astype(np.int64), f"img{i}")


def noisy_predictor(calls=None, fail_at=None):
    """Deterministic per-sample prediction: the GT with a sample-dependent corruption."""

    def predict(sample):
        if calls is not None:
            calls.append(sample.name)
            if fail_at is not None and len(calls) == fail_at:
                raise RuntimeError("simulated crash")
        k = int(sample.image[0, 0, 0])
        pred = np.where(sample.gt == 255, 0, sample.gt).copy()
        pred[k % H, :] = (k + 1) % 4
        return pred

    return predict


def test_semantic_run_writes_results(tmp_path):
    ds = ToySemantic()
    out = tmp_path / "runs" / "toy.json"
    res = evaluate(ds, noisy_predictor(), out=out, config=CaRConfig(), progress=False)
    expected = ConfusionMatrix(4)
    for i in range(len(ds)):
        expected.update(noisy_predictor()(ds[i]), ds[i].gt)
    assert res["metrics"]["mIoU"] == pytest.approx(expected.miou())
    assert json.loads(out.read_text()) == res
    assert not (tmp_path / "runs" / "toy.json.partial.json").exists()
    assert res["num_evaluated"] == 6 and res["timing"]["count"] == 6 and res["skipped"] == []
    assert [c["name"] for c in res["per_class"]] == ["background", "a", "b", "c"]
    assert res["config"]["eta"] == CaRConfig().eta and res["config"]["prompts"] == ["circle", "blur"]
    assert set(res["versions"]) >= {"torch", "open_clip", "numpy", "car"}
    assert "git_commit" in res and res["date"].endswith("+00:00")


def test_kill_and_resume_gives_identical_numbers_without_recomputing(tmp_path):
    ds = ToySemantic(n=7)
    full = evaluate(ds, noisy_predictor(), out=tmp_path / "full.json", progress=False)
    out = tmp_path / "resumed.json"
    first_calls = []
    with pytest.raises(RuntimeError, match="simulated crash"):
        evaluate(ds, noisy_predictor(first_calls, fail_at=4), out=out, progress=False, save_every_s=1e9)
    partial = json.loads((tmp_path / "resumed.json.partial.json").read_text())
    assert partial["finished"] == ["img0", "img1", "img2"] and not out.exists()
    second_calls = []
    resumed = evaluate(ds, noisy_predictor(second_calls), out=out, progress=False, save_every_s=0)
    assert second_calls == ["img3", "img4", "img5", "img6"]  # finished samples are not recomputed
    assert resumed["metrics"] == full["metrics"] and resumed["per_class"] == full["per_class"]
    assert resumed["state"] == full["state"] and resumed["num_evaluated"] == 7


def test_limit_then_full_run_resumes(tmp_path):
    ds = ToySemantic(n=5)
    out = tmp_path / "r.json"
    calls = []
    with pytest.raises(RuntimeError):
        evaluate(ds, noisy_predictor(calls, fail_at=3), out=out, limit=4, progress=False)
    calls2 = []
    res = evaluate(ds, noisy_predictor(calls2), out=out, progress=False)
    assert calls2 == ["img2", "img3", "img4"] and res["num_evaluated"] == 5


class Unnamed:
    """A minimal dataset without ``sample_name``: names are only known after loading."""

    kind, name, split, num_classes, ignore_index, ignore_background = "semantic", "plain", "val", 4, 255, False

    def __init__(self):
        self.inner = ToySemantic(n=4)

    def __len__(self):
        return len(self.inner)

    def __getitem__(self, index):
        return self.inner[index]


def test_resume_without_sample_name(tmp_path):
    out = tmp_path / "r.json"
    with pytest.raises(RuntimeError):
        evaluate(Unnamed(), noisy_predictor([], fail_at=3), out=out, progress=False)
    calls = []
    res = evaluate(Unnamed(), noisy_predictor(calls), out=out, progress=False)
    assert calls == ["img2", "img3"] and res["num_evaluated"] == 4
    assert res["metrics"] == evaluate(Unnamed(), noisy_predictor(), out=tmp_path / "f.json", progress=False)["metrics"]


def test_partial_state_of_another_run_is_refused(tmp_path):
    out = tmp_path / "r.json"
    with pytest.raises(RuntimeError):
        evaluate(ToySemantic(), noisy_predictor([], fail_at=2), out=out, progress=False)
    with pytest.raises(ValueError, match="another run"):
        evaluate(ToySemantic(name="other"), noisy_predictor(), out=out, progress=False)
    with pytest.raises(ValueError, match="another run"):
        evaluate(ToySemantic(), noisy_predictor(), out=out, progress=False, background_mode="gt_only")


def test_unreadable_sample_is_skipped_and_recorded(tmp_path):
    res = evaluate(ToySemantic(n=4, bad=2), noisy_predictor(), out=tmp_path / "r.json", progress=False)
    assert res["num_evaluated"] == 3 and res["num_planned"] == 4
    assert res["skipped"] == [{"name": "img2", "error": "SampleError: cannot read image img2.jpg: truncated"}]


def test_skipped_corrupt_file_on_disk(tmp_path):
    base = tmp_path / "VOCdevkit" / "VOC2012"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (base / folder).mkdir(parents=True)
    for k in range(3):
        Image.fromarray(np.full((H, W, 3), k, np.uint8)).save(base / "JPEGImages" / f"im{k}.jpg")
        Image.fromarray(np.full((H, W), k, np.uint8)).save(base / "SegmentationClass" / f"im{k}.png")
    (base / "JPEGImages" / "im1.jpg").write_bytes(b"garbage")
    (base / "ImageSets" / "Segmentation" / "val.txt").write_text("im0\nim1\nim2\n")
    ds = get_dataset("voc", tmp_path)
    res = evaluate(ds, lambda s: s.gt.copy(), out=tmp_path / "voc.json", progress=False)
    assert res["num_evaluated"] == 2 and res["skipped"][0]["name"] == "im1"
    assert "im1.jpg" in res["skipped"][0]["error"]
    assert res["metrics"]["mIoU"] == 1.0


def test_ignore_background_resolution_and_both_modes(tmp_path):
    ds = ToySemantic(ignore_background=True)
    res = evaluate(ds, noisy_predictor(), out=tmp_path / "a.json", progress=False)
    m = res["metrics"]
    assert m["ignore_background"] and m["mIoU"] == m["mIoU_official"]
    assert {"mIoU_gt_only", "mIoU_with_background"} <= set(m)
    assert [c["name"] for c in res["per_class"]] == ["a", "b", "c"]
    res2 = evaluate(ds, noisy_predictor(), out=tmp_path / "b.json", progress=False,
                    config=CaRConfig(ignore_background=False))
    assert not res2["metrics"]["ignore_background"] and "mIoU_gt_only" not in res2["metrics"]
    res3 = evaluate(ds, noisy_predictor(), out=tmp_path / "c.json", progress=False, background_mode="gt_only")
    assert res3["metrics"]["mIoU"] == pytest.approx(m["mIoU_gt_only"])


def test_shards_merge_to_the_full_run(tmp_path):
    ds = ToySemantic(n=5)
    full = evaluate(ds, noisy_predictor(), out=tmp_path / "full.json", progress=False)
    paths = [tmp_path / f"shard{k}.json" for k in range(2)]
    for k, path in enumerate(paths):
        evaluate(ds, noisy_predictor(), out=path, shard=(k, 2), progress=False)
    merged = merge_results(paths, out=tmp_path / "merged.json")
    assert merged["metrics"] == full["metrics"] and merged["num_evaluated"] == 5
    assert json.loads((tmp_path / "merged.json").read_text())["metrics"] == full["metrics"]


# ------------------------------------------------------------------------------ model adapters
class FakeModel:
    """Records its calls; returns fixed labels / masks / scores."""

    def __init__(self, labels=None, masks=None, scores=None):
        self.calls = []
        self.labels, self.masks, self.scores = labels, masks, scores

    def __call__(self, image, queries, stuff=None):
        self.calls.append((image.shape, list(queries), stuff))
        return SimpleNamespace(labels=self.labels, masks=self.masks, scores=self.scores)


def test_make_predictor_semantic_maps_query_indices_to_gt_labels():
    ds = ToySemantic(n=1)
    labels = np.tile(np.array([-1, 0, 1, 2]), (H, 2))  # (H, W) query indices, -1 = no query
    model = FakeModel(labels=labels)
    pred = make_predictor(model, ds)(ds[0])
    np.testing.assert_array_equal(pred, labels + 1)
    assert pred.dtype == np.int64
    assert model.calls == [((H, W, 3), ["a", "b", "c"], [False, True, False])]
    np.testing.assert_array_equal(labels_to_gt_space(labels, 3, False, 255), np.where(labels < 0, 255, labels))
    with pytest.raises(ValueError, match=r"\[-1, 3\)"):
        labels_to_gt_space(labels + 1, 3, True, 255)


class ToyRefer(BaseDataset):
    kind = "refer"

    def __init__(self, name):
        super().__init__(name=name, split="val", root=".", num_samples=2)

    def sample_name(self, index):
        return f"ref_{self._index(index)}"

    def __getitem__(self, index):
        i = self._index(index)
        gt = np.zeros((H, W), bool)
        gt[:, : 4 + i] = True
        return RefSample(np.zeros((H, W, 3), np.uint8), gt, ['The "Big"/Dog', "left one"], f"ref_{i}")


def test_make_predictor_refer_cleans_refcoco_sentences_and_merges(tmp_path):
    mask = np.zeros((2, H, W), bool)
    mask[0, :, :4] = True
    model = FakeModel(masks=mask, scores=np.array([0.9, 0.1]))
    ds = ToyRefer("refcoco")
    pred = make_predictor(model, ds)(ds[0])
    assert pred.dtype == bool and pred.shape == (H, W) and model.calls[0][1] == ["the bigdog", "left one"]
    np.testing.assert_array_equal(pred, mask[0])
    gres_model = FakeModel(masks=mask, scores=np.array([0.9, 0.1]))
    make_predictor(gres_model, ToyRefer("gres"))(ds[0])
    assert gres_model.calls[0][1] == ['The "Big"/Dog', "left one"]
    res = evaluate(ds, make_predictor(model, ds), out=tmp_path / "ref.json", progress=False)
    acc = RefAccumulator()
    acc.update(mask[0], ds[0].gt)
    acc.update(mask[0], ds[1].gt)
    assert res["metrics"]["mIoU"] == pytest.approx(acc.miou()) and res["metrics"]["cIoU"] == pytest.approx(acc.ciou())
    assert res["metrics"]["mIoU"] == pytest.approx((1 + 4 / 5) / 2)


class ToyVideo(BaseDataset):
    kind = "video"

    def __init__(self):
        super().__init__(name="davis", split="val", root=".", num_samples=1)

    def sample_name(self, index):
        return "v/1/annot1"

    def __getitem__(self, index):
        self._index(index)
        masks = [np.zeros((H, W), bool) for _ in range(3)]
        for m in masks:
            m[:3, :4] = True
        return VideoSample([np.zeros((H, W, 3), np.uint8)] * 3, masks, "a dog", "v/1/annot1")


def test_make_predictor_video_runs_every_frame(tmp_path):
    mask = np.zeros((1, H, W), bool)
    mask[0, :3, :4] = True
    model = FakeModel(masks=mask, scores=np.array([1.0]))
    ds = ToyVideo()
    res = evaluate(ds, make_predictor(model, ds), out=tmp_path / "v.json", progress=False)
    assert len(model.calls) == 3 and all(c[1] == ["a dog"] for c in model.calls)
    assert res["metrics"]["J"] == 1.0 and res["metrics"]["F"] == 1.0 and res["metrics"]["JF"] == 1.0


def test_wrong_prediction_shape_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="label map"):
        evaluate(ToySemantic(n=2), lambda s: np.zeros((2, 2), np.int64), out=tmp_path / "x.json", progress=False)


def test_run_config_with_a_registered_dataset_and_injected_model(tmp_path):
    register_dataset("test_eval_toy", lambda root=None, split=None, **kw: ToySemantic(n=3, name="test_eval_toy"),
                     overwrite=True)
    labels = np.tile(np.array([-1, 0, 1, 2]), (H, 2))
    model = FakeModel(labels=labels)
    cfg = CaRConfig(name="unit", dataset="test_eval_toy", eta=0.5)
    res = run_config(cfg, out=tmp_path / "unit.json", progress=False, model=model)
    assert res["dataset"] == "test_eval_toy" and res["num_evaluated"] == 3 and len(model.calls) == 3
    assert res["config"]["name"] == "unit" and res["config"]["eta"] == 0.5
    with pytest.raises(ValueError, match="--data-root"):
        run_config(CaRConfig(dataset="voc"), out=tmp_path / "voc.json", progress=False, model=model)


class FlakyRefer(ToyRefer):
    """ToyRefer with 4 samples; sample 1 fails to load until ``heal()`` (a file restored before a resume)."""

    def __init__(self):
        BaseDataset.__init__(self, name="gres", split="val", root=".", num_samples=4)
        self.broken = True

    def __getitem__(self, index):
        if index == 1 and self.broken:
            raise SampleError("cannot read ref_1.jpg")
        return super().__getitem__(index)


def test_retried_samples_land_in_dataset_order(tmp_path):
    """A sample skipped then retried on resume is accumulated last, yet the per-sample referring state (and so
    every order-sensitive float) comes out in dataset order, equal to a clean run."""
    def predict(sample):
        return np.roll(sample.gt, int(sample.name[-1]), axis=1)

    clean = FlakyRefer()
    clean.broken = False
    full = evaluate(clean, predict, out=tmp_path / "full.json", progress=False)
    ds = FlakyRefer()
    out = tmp_path / "r.json"
    first = evaluate(ds, predict, out=out, progress=False)
    assert [s["name"] for s in first["skipped"]] == ["ref_1"] and first["num_evaluated"] == 3
    ds.broken = False  # the results file exists: a second run starts afresh, so resume from a partial state
    out.unlink()
    partial = tmp_path / "r.json.partial.json"
    with pytest.raises(RuntimeError):
        evaluate(FlakyRefer(), lambda s: (_ for _ in ()).throw(RuntimeError("stop")) if s.name == "ref_3"
                 else predict(s), out=out, progress=False)
    assert json.loads(partial.read_text())["finished"] == ["ref_0", "ref_2"]
    resumed = evaluate(ds, predict, out=out, progress=False)
    assert resumed["state"] == full["state"] and resumed["metrics"] == full["metrics"]
    assert list(resumed["per_sample_s"]) == ["ref_0", "ref_1", "ref_2", "ref_3"] and resumed["skipped"] == []


def test_limit_applies_before_sharding(tmp_path):
    ds = ToySemantic(n=7)
    calls = {k: [] for k in range(2)}
    for k in range(2):
        evaluate(ds, noisy_predictor(calls[k]), out=tmp_path / f"s{k}.json", limit=5, shard=(k, 2), progress=False)
    assert calls == {0: ["img0", "img2", "img4"], 1: ["img1", "img3"]}
    merged = merge_results([tmp_path / "s0.json", tmp_path / "s1.json"])
    assert merged["metrics"] == evaluate(ds, noisy_predictor(), out=tmp_path / "f.json", limit=5,
                                         progress=False)["metrics"]


def test_ref_davis_unsupervised_protocol_end_to_end(tmp_path):
    """The default Ref-DAVIS reader (expression sets, Annotations_unsupervised) through the runner: a predictor that
    returns the ground truth scores J&F = 1 on every set; CaR's predictor merges one mask per expression."""
    from test_data import make_davis

    make_davis(tmp_path)
    ds = get_dataset("davis", tmp_path)
    perfect = lambda s: [np.where(g == 255, 0, g) for g in s.gt_labels]  # noqa: E731
    res = evaluate(ds, perfect, out=tmp_path / "davis.json", progress=False)
    assert res["metrics"]["JF"] == pytest.approx(1.0) and set(res["metrics"]["sets"]) == {
        "annot1", "annot1_full_video", "annot2"}

    def model(frame, queries):  # "the bike" finds the left half, anything else nothing
        mask = np.zeros(frame.shape[:2], bool)
        mask[:, : frame.shape[1] // 2] = queries == ["the bike"]
        return SimpleNamespace(masks=mask[None], scores=np.ones(1), labels=np.where(mask, 0, -1))

    labels = make_predictor(model, ds)(ds[0])  # expressions: "a man riding a bike", "the bike"
    assert len(labels) == len(ds[0].frames) and set(np.unique(labels[0])) == {0, 2}


def test_ignoring_background_on_a_split_without_one_is_refused(tmp_path) -> None:
    """A split whose label 0 is a class (the toy things + stuff splits) must not drop label 0 from the score."""
    from car.data import get_dataset
    from car.evaluate import evaluate

    ds = get_dataset("toy_ade", None)
    assert not ds.has_background
    with pytest.raises(ValueError, match=r"has no background label: its label 0 is the class"):
        evaluate(ds, lambda s: s.gt, out=tmp_path / "r.json", limit=1, ignore_background=True, progress=False)
    ok = evaluate(ds, lambda s: s.gt, out=tmp_path / "r.json", limit=2, progress=False)
    assert ok["metrics"]["mIoU"] == 1.0
