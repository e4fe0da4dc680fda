"""The field's benchmarks (COCO-Stuff-164k, Cityscapes, COCO-Object from the raw maps) on fixtures written in
their real on-disk layouts, and the field's two scoring rules (COCO-Object's unlabelled pixels, VOC-20 / PC-59
without a predicted background)."""
from __future__ import annotations

import importlib.util
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from car.config import load_config
from car.data import DatasetNotFoundError, get_dataset, load_class_names
from car.data import classes as C
from car.data.cocostuff import UNUSED_IDS, train_ids
from car.data.folders import IdMap
from car.adapters import fill_background, make_predictor
from car.evaluate import run_config

_spec = importlib.util.spec_from_file_location("field_fixtures", Path(__file__).parent / "data" / "field_fixtures.py")
fx = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(fx)
blocks, H, W = fx.blocks, fx.H, fx.W
BEYOND = Path(__file__).resolve().parents[1] / "car" / "configs" / "beyond"


# ----------------------------------------------------------------------------------- label tables
def test_coco_stuff_182_to_171_table_matches_the_standard_one():
    table = train_ids()
    assert len(table) == 171 and sorted(table.values()) == list(range(171))
    assert not set(UNUSED_IDS) & set(table)
    # pairs of mmsegmentation's clsID_to_trID (tools/dataset_converters/coco_stuff164k.py), read off the source
    standard = {0: 0, 10: 10, 12: 11, 24: 23, 26: 24, 27: 25, 30: 26, 43: 39, 45: 40, 64: 59, 66: 60, 69: 61,
                71: 62, 81: 72, 83: 73, 89: 79, 91: 80, 92: 81, 180: 169, 181: 170}
    assert {k: table[k] for k in standard} == standard


def test_coco_stuff_names_are_coco_things_then_alphabetical_stuff():
    names = load_class_names("cocostuff171")
    things, stuff = names[:80], names[80:]
    assert len(names) == len(set(names)) == 171 and stuff == sorted(stuff)  # COCO's stuff ids are alphabetical
    assert (things[0], things[-1], stuff[0], stuff[-1]) == ("person", "toothbrush", "banner", "wood")
    # the thing order is COCO-Object's (independent list), up to the VOC-style spellings that list keeps
    voc_style = {"motorcycle": "motorbike", "airplane": "aeroplane", "couch": "sofa", "potted plant": "pottedplant",
                 "dining table": "diningtable", "tv": "tvmonitor"}
    assert [voc_style.get(n, n) for n in things] == C.COCO_OBJECT_CLASSES_PLAIN


def test_id_map_sends_unknown_ids_to_minus_one():
    m = IdMap.from_pairs({7: 1, 8: None}, default=255, size=10)
    np.testing.assert_array_equal(m(np.array([[7, 8, 3, 12]])), [[1, -1, 255, -1]])


# ------------------------------------------------------------------------------------- COCO-Stuff
def test_coco_stuff_reads_train_ids_and_raw_maps(tmp_path):
    # raw ids: person 0, unused 11, banner 91, wood 181, unlabeled 255; train ids: 0, 79, 80, 170, 255
    raw = blocks([0, 11, 91, 181, 255, 119])
    converted = blocks([0, 79, 80, 170, 255, 171])  # 171 is no train id
    fx.make_coco(tmp_path, [raw], train_ids=[converted])
    ds = get_dataset("cocostuff171", tmp_path)
    assert ds.name == "cocostuff171" and ds.split == "val" and len(ds) == 1 and ds.sample_name(0) == "000000000139"
    assert ds.num_classes == 172 and ds.ignore_index == 255 and ds.has_background and ds.ignore_background
    assert ds.class_names[80] == "banner" and ds.label_names[0] == "unlabeled" and ds.label_names[171] == "wood"
    assert ds.stuff[80] and not ds.stuff[79] and sum(ds.stuff) == 91
    with pytest.warns(UserWarning, match="outside"):  # auto: the converted files
        np.testing.assert_array_equal(ds[0].gt, blocks([1, 80, 81, 171, 255, 255]))
    raw_ds = get_dataset("cocostuff", tmp_path, labels="raw")  # the alias, the raw maps
    with pytest.warns(UserWarning, match="outside"):
        np.testing.assert_array_equal(raw_ds[0].gt, blocks([1, 255, 81, 171, 255, 109]))  # 119 = train id 108
    assert raw_ds.unknown_label_pixels == {-1: int((raw == 11).sum())}  # the unused id 11


def test_coco_stuff_without_converted_files_reads_the_raw_maps(tmp_path):
    fx.make_coco(tmp_path, [blocks([0, 181])])
    np.testing.assert_array_equal(get_dataset("cocostuff171", tmp_path / "coco_stuff164k")[0].gt, blocks([1, 171]))
    with pytest.raises(ValueError, match="valid: auto, train_ids, raw"):
        get_dataset("cocostuff171", tmp_path, labels="instance")


# ------------------------------------------------------------------------------------ COCO-Object
def test_coco_object_unlabeled_rule_on_converted_and_raw_maps(tmp_path):
    fx.make_coco(tmp_path, [blocks([0, 89, 91, 181, 255])], instance_ids=[blocks([0, 1, 80, 255])])
    paper = get_dataset("coco", tmp_path)
    assert paper.num_classes == 81 and paper.class_names == C.COCO_OBJECT_CLASSES
    np.testing.assert_array_equal(paper[0].gt, blocks([0, 1, 80, 255]))
    field = get_dataset("coco", tmp_path, unlabeled="background")
    np.testing.assert_array_equal(field[0].gt, blocks([0, 1, 80, 0]))
    # raw stuffthingmaps: person 0 -> 1, toothbrush 89 -> 80, every stuff id -> 0, unlabeled by the rule
    np.testing.assert_array_equal(get_dataset("coco", tmp_path, labels="raw")[0].gt, blocks([1, 80, 0, 0, 255]))
    np.testing.assert_array_equal(get_dataset("coco_object", tmp_path, labels="raw", unlabeled="background")[0].gt,
                                  blocks([1, 80, 0, 0, 0]))
    with pytest.raises(ValueError, match="valid: ignore, background"):
        get_dataset("coco", tmp_path, unlabeled="void")


def test_coco_unlabeled_is_a_config_switch_passed_to_the_reader():
    assert load_config("coco").coco_unlabeled == "ignore"
    assert load_config("coco").reader_options() == {"unlabeled": "ignore"}
    assert load_config(BEYOND / "field_coco_object.yaml").reader_options() == {"unlabeled": "background"}
    assert load_config("voc").reader_options() == {}
    with pytest.raises(ValueError, match="coco_unlabeled='void'; valid: ignore, background"):
        load_config("coco", coco_unlabeled="void")


# ------------------------------------------------------------------------------------- Cityscapes
def test_cityscapes_label_ids_to_19_train_ids(tmp_path):
    # road 7, bicycle 33, unlabeled 0, parking 9 (ignored in eval), person 24, caravan 29 (ignored), 34 unknown
    label_ids = [blocks([7, 33, 0, 9, 24, 29, 34], H, 2 * H), blocks([23, 26], H, 2 * H)]
    fx.make_cityscapes(tmp_path, label_ids)
    ds = get_dataset("cityscapes", tmp_path)
    assert len(ds) == 2 and ds.num_classes == 20 and ds.ignore_index == 255 and ds.class_names == C.CITYSCAPES_CLASSES
    assert [ds.sample_name(i) for i in range(2)] == ["frankfurt_000000_000019", "lindau_000001_000019"]
    assert ds.stuff[10] and not ds.stuff[11] and sum(ds.stuff) == 11  # sky stuff, person a thing
    with pytest.warns(UserWarning, match="outside"):
        first = ds[0]
    assert first.image.shape == (H, 2 * H, 3)
    np.testing.assert_array_equal(first.gt, blocks([1, 19, 255, 255, 12, 255, 255], H, 2 * H))
    np.testing.assert_array_equal(ds[1].gt, blocks([11, 14], H, 2 * H))


def test_cityscapes_prefers_train_id_files(tmp_path):
    fx.make_cityscapes(tmp_path, [blocks([7, 33], H, 2 * H)], train_ids=[blocks([0, 18, 255, 19], H, 2 * H)])
    with pytest.warns(UserWarning, match="outside"):  # 19: a lane-line train id of some labels.py copies
        np.testing.assert_array_equal(get_dataset("city", tmp_path)[0].gt, blocks([1, 19, 255, 255], H, 2 * H))
    np.testing.assert_array_equal(get_dataset("cityscapes", tmp_path, labels="label_ids")[0].gt,
                                  blocks([1, 19], H, 2 * H))


# ------------------------------------------------------------------------------ missing and half-downloaded
def test_missing_folders_name_what_is_missing_and_where_to_get_it(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"Cityscapes images not found.*leftImg8bit.*cityscapes-dataset"):
        get_dataset("cityscapes", tmp_path)
    fx.write_image(tmp_path / "cityscapes" / "leftImg8bit" / "val" / "ulm" / "ulm_000000_000019_leftImg8bit.png")
    with pytest.raises(DatasetNotFoundError, match=r"Cityscapes labels not found at .*gtFine.val"):
        get_dataset("cityscapes", tmp_path)
    with pytest.raises(DatasetNotFoundError, match=r"COCO-Stuff-164k images not found.*stuffthingmaps") as e:
        get_dataset("cocostuff171", tmp_path)
    assert "\n" not in str(e.value)


def test_half_downloaded_label_folders(tmp_path):
    base = fx.make_cityscapes(tmp_path, [blocks([7], H, 2 * H), blocks([8], H, 2 * H)])
    for png in base.glob("gtFine/val/*/*_labelIds.png"):
        png.unlink()  # only the colour images and polygons, as after extracting the wrong archive
    with pytest.raises(DatasetNotFoundError, match=r"label files \(\*_gtFine_labelIds.png, none of the 2 images"):
        get_dataset("cityscapes", tmp_path)
    fx.make_cityscapes(tmp_path, [blocks([7], H, 2 * H)])  # one of the two label files back
    with pytest.warns(UserWarning, match="1 of 2 label files are missing"):
        ds = get_dataset("cityscapes", tmp_path)
    assert len(ds) == 2
    coco = fx.make_coco(tmp_path, [blocks([0])])
    (coco / "annotations" / "val2017" / "000000000139.png").unlink()
    with pytest.raises(DatasetNotFoundError, match=r"COCO-Object label files \(\*.png.*GroupViT"):
        get_dataset("coco", tmp_path)


# ------------------------------------------------------------------- the field's VOC-20 / PC-59 rule
def test_fill_background_takes_the_best_candidate_where_the_label_is_background():
    labels = np.array([[-1, 0], [1, -1]])
    maps = np.array([[[0.2, 0.9], [0.1, 0.3]],   # query 0
                     [[0.5, 0.1], [0.8, 0.3]],   # query 1
                     [[0.9, 0.0], [0.0, 0.1]]])  # query 2
    np.testing.assert_array_equal(fill_background(labels, maps), [[2, 0], [1, 0]])  # (1, 1): a tie, lowest index
    np.testing.assert_array_equal(fill_background(labels, maps, [True, True, False]), [[1, 0], [1, 0]])
    np.testing.assert_array_equal(fill_background(labels, maps, [False] * 3), [[2, 0], [1, 0]])  # none: every query
    small = np.array([[[1.0]], [[2.0]]])  # (N, 1, 1) maps are resized to the label map
    np.testing.assert_array_equal(fill_background(-np.ones((3, 4), int), small), np.ones((3, 4)))
    with pytest.raises(ValueError, match="candidates must be"):
        fill_background(labels, maps, [True])


def _fake_model(labels, proposals, scores):
    return lambda image, queries, stuff=None: SimpleNamespace(labels=labels, proposals=proposals, scores=scores,
                                                              masks=None)


def test_never_predicting_background_is_the_field_score_on_voc20(tmp_path):
    """GT: background | class 5 | class 5 | class 7. CaR leaves the left three quarters to the background and labels
    class 7; query 4 (class 5) has the highest proposal everywhere else. CaR's VOC-20 drops the background-labelled
    pixels (official: mIoU 1) or counts them as misses (gt_only: class 5 IoU 0); the field's rule gives them class 5."""
    fx.make_voc(tmp_path, [blocks([0, 5, 5, 7])])
    labels = blocks([-1, -1, -1, 6])
    proposals = np.zeros((20, H, W), np.float32)
    proposals[4], proposals[6] = 0.5, blocks([0, 0, 0, 1])
    scores = np.zeros(20)
    scores[[4, 6]] = 0.7
    model = _fake_model(labels, proposals, scores)
    paper = run_config("voc20", data_root=tmp_path, out=tmp_path / "paper.json", model=model, progress=False)
    field = run_config(BEYOND / "field_voc20.yaml", data_root=tmp_path, out=tmp_path / "field.json", model=model,
                       progress=False)
    assert (paper["metrics"]["mIoU_official"], paper["metrics"]["mIoU_gt_only"]) == (1.0, 0.5)
    assert (field["metrics"]["mIoU_official"], field["metrics"]["mIoU_gt_only"]) == (1.0, 1.0)
    assert field["config"]["predict_background"] is False and paper["config"]["predict_background"] is True
    ds = get_dataset("voc20", tmp_path)
    pred = make_predictor(model, ds, predict_background=False)(ds[0])
    np.testing.assert_array_equal(pred, blocks([5, 5, 5, 7]))
    no_maps = lambda image, queries, stuff=None: SimpleNamespace(labels=labels, scores=scores)  # noqa: E731
    with pytest.raises(ValueError, match="needs the method's per-query maps"):
        make_predictor(no_maps, ds, predict_background=False)(ds[0])


# ------------------------------------------------------------------------------------------ presets
FIELD_PRESETS = {"field_voc21": "voc", "field_voc20": "voc20", "field_coco_object": "coco",
                 "field_context60": "context", "field_context59": "context59", "field_cocostuff171": "cocostuff171",
                 "field_cityscapes": "cityscapes", "field_ade150": "ade150"}


def test_the_eight_benchmark_presets_load_and_follow_the_field_rules():
    stored = {p.stem for p in BEYOND.glob("*.yaml")}
    assert set(FIELD_PRESETS) <= stored
    for name, dataset in FIELD_PRESETS.items():
        cfg = load_config(BEYOND / f"{name}.yaml")
        assert cfg.name == name and cfg.dataset == dataset and cfg.table == "beyond the paper"
        without_background = dataset in ("voc20", "context59", "cocostuff171", "cityscapes", "ade150")
        assert cfg.predict_background is not without_background and cfg.ignore_background is without_background
        assert cfg.coco_unlabeled == ("background" if dataset == "coco" else "ignore")
    assert load_config(BEYOND / "cityscapes.yaml").working_size == 1120  # CaR's own passes: short side 560
    toy = load_config(BEYOND / "toy_voc20_field.yaml")
    assert toy.replace(predict_background=True, name="toy_voc20", table="", row="", description="") == \
        load_config("toy_voc20").replace(table="", row="", description="")


def test_every_field_preset_opens_its_dataset_on_the_fixtures(tmp_path):
    roots = fx.write_all(tmp_path)
    for name, dataset in FIELD_PRESETS.items():
        cfg = load_config(BEYOND / f"{name}.yaml")
        ds = get_dataset(cfg.dataset, roots[dataset], cfg.split, **cfg.reader_options())
        assert len(ds) == 2 and ds[1].gt.shape == ds[1].image.shape[:2]
