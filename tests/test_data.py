"""Dataset readers on tiny fixtures written in each real on-disk layout (tmp_path)."""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
from PIL import Image

from car.data import (
    AnnotationError,
    DatasetNotFoundError,
    SampleError,
    get_dataset,
    list_datasets,
    load_class_names,
    load_restricted_pickle,
    process_sentence,
    register_dataset,
)
from car.data import classes as C
from car.data.coco_mask import polygon_to_rle, rle_decode, rle_from_string, segmentation_to_mask

H, W = 6, 8


# ------------------------------------------------------------------------------------ file helpers
def write_jpg(path, h=H, w=W, seed=0):
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(path, quality=95)


def write_png_label(path, label, palette=True):
    path.parent.mkdir(parents=True, exist_ok=True)
    img = Image.fromarray(np.asarray(label, dtype=np.uint8))
    if palette:
        img.putpalette([v for i in range(256) for v in (i, 255 - i, (7 * i) % 256)])  # L -> P, ids kept
    img.save(path)


def write_tif_label(path, label):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(label, dtype=np.uint16)).save(path)


def label_map(values):
    """(H, W) map: column blocks of the given values."""
    out = np.zeros((H, W), dtype=np.int64)
    for k, v in enumerate(values):
        out[:, k * W // len(values):(k + 1) * W // len(values)] = v
    return out


def make_voc(root, labels, year="2012", split="val"):
    base = root / "VOCdevkit" / f"VOC{year}"
    names = [f"2007_{k:06d}" for k in range(len(labels))]
    target = "SegmentationClass" if year == "2012" else "SegmentationClassContext"
    for folder in ("JPEGImages", target):
        (base / folder).mkdir(parents=True, exist_ok=True)
    for k, (name, lab) in enumerate(zip(names, labels)):
        write_jpg(base / "JPEGImages" / f"{name}.jpg", seed=k)
        write_png_label(base / target / f"{name}.png", lab)
    sets = "Segmentation" if year == "2012" else "SegmentationContext"
    (base / "ImageSets" / sets).mkdir(parents=True)
    (base / "ImageSets" / sets / f"{split}.txt").write_text("\n".join(names) + "\n")
    return base, names


# --------------------------------------------------------------------------------- semantic sets
def test_voc_reads_images_labels_and_attributes(tmp_path):
    labels = [label_map([0, 5, 255, 20]), label_map([15, 0])]
    base, names = make_voc(tmp_path, labels)
    ds = get_dataset("voc", tmp_path)
    assert len(ds) == 2 and ds.kind == "semantic" and ds.name == "voc" and ds.split == "val"
    assert ds.num_classes == 21 and ds.has_background and ds.ignore_index == 255 and ds.stuff is None
    assert ds.class_names == C.VOC_CLASSES and ds.class_names[2] == "bird avian"
    assert ds.label_names[0] == "background" and ds.label_names[3] == "bird"
    assert not ds.ignore_background and get_dataset("voc20", tmp_path).ignore_background
    sample = ds[0]
    assert sample.name == names[0] == ds.sample_name(0)
    assert sample.image.dtype == np.uint8 and sample.image.shape == (H, W, 3)
    assert sample.gt.dtype == np.int64 and sample.gt.shape == (H, W)
    np.testing.assert_array_equal(sample.gt, labels[0])
    np.testing.assert_array_equal(ds[-1].gt, labels[1])
    assert [s.name for s in ds] == names
    with pytest.raises(IndexError):
        ds[2]
    # the dataset folder itself is accepted as root too
    assert len(get_dataset("voc", base)) == 2


def test_label_outside_class_list_becomes_ignore_and_is_counted(tmp_path):
    make_voc(tmp_path, [label_map([0, 30, 7, 40])])
    ds = get_dataset("voc", tmp_path)
    with pytest.warns(UserWarning, match="outside"):
        gt = ds[0].gt
    np.testing.assert_array_equal(gt, label_map([0, 255, 7, 255]))
    assert ds.unknown_label_pixels == {30: H * 2, 40: H * 2}


def test_mask_size_mismatch_names_the_file(tmp_path):
    base, names = make_voc(tmp_path, [label_map([1])])
    write_png_label(base / "SegmentationClass" / f"{names[0]}.png", np.zeros((H + 1, W)))
    with pytest.raises(SampleError, match=f"{names[0]}.png"):
        get_dataset("voc", tmp_path)[0]


def test_corrupt_image_names_the_file(tmp_path):
    base, names = make_voc(tmp_path, [label_map([1])])
    (base / "JPEGImages" / f"{names[0]}.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(SampleError, match=f"{names[0]}.jpg"):
        get_dataset("voc", tmp_path)[0]


def test_missing_label_file_is_a_sample_error(tmp_path):
    base, names = make_voc(tmp_path, [label_map([1])])
    os.remove(base / "SegmentationClass" / f"{names[0]}.png")
    with pytest.raises(SampleError, match="missing"):
        get_dataset("voc", tmp_path)[0]


def test_missing_folder_gives_layout_and_source(tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"expected layout: VOCdevkit/VOC2012.*obtain it from") as e:
        get_dataset("voc", tmp_path)
    assert isinstance(e.value, FileNotFoundError)
    for name in ("coco", "context", "ade150", "context459", "ade847", "refcoco", "gres", "davis"):
        with pytest.raises(DatasetNotFoundError, match="expected layout"):
            get_dataset(name, tmp_path)


def test_empty_split_and_unknown_name(tmp_path):
    make_voc(tmp_path, [])
    with pytest.raises(ValueError, match="empty"):
        get_dataset("voc", tmp_path)
    with pytest.raises(ValueError, match="available: .*voc20"):
        get_dataset("pascal", tmp_path)


def test_coco_object_layout(tmp_path):
    write_jpg(tmp_path / "images" / "val2017" / "000000000139.jpg")
    write_png_label(tmp_path / "annotations" / "val2017" / "000000000139_instanceTrainIds.png",
                    label_map([0, 1, 80, 255]), palette=False)
    ds = get_dataset("coco", tmp_path)
    assert len(ds) == 1 and ds.num_classes == 81 and ds.class_names == C.COCO_OBJECT_CLASSES
    assert ds[0].name == "000000000139"
    np.testing.assert_array_equal(ds[0].gt, label_map([0, 1, 80, 255]))


def test_pascal_context_60_and_59(tmp_path):
    make_voc(tmp_path, [label_map([0, 4, 59, 255])], year="2010")
    ds = get_dataset("context", tmp_path)
    assert ds.num_classes == 60 and len(ds.class_names) == 59 and not ds.ignore_background
    assert ds.stuff[3] and ds.stuff[23] and not ds.stuff[0]  # bedclothes, door stuff; airplane thing
    assert sum(ds.stuff) == 21
    np.testing.assert_array_equal(ds[0].gt, label_map([0, 4, 59, 255]))
    assert get_dataset("context59", tmp_path).ignore_background


def test_ade150_layout(tmp_path):
    root = tmp_path / "ADEChallengeData2016"
    write_jpg(root / "images" / "validation" / "ADE_val_00000001.jpg")
    write_png_label(root / "annotations" / "validation" / "ADE_val_00000001.png", label_map([0, 1, 150]),
                    palette=False)
    ds = get_dataset("ade150", tmp_path)
    assert ds.num_classes == 151 and ds.ignore_background and ds.stuff[0] and not ds.stuff[1]
    np.testing.assert_array_equal(ds[0].gt, label_map([0, 1, 150]))


def test_pascal459_tif_plus_one_and_ignore(tmp_path):
    write_jpg(tmp_path / "images" / "validation" / "2008_000002.jpg")
    write_tif_label(tmp_path / "annotations_ctx459" / "validation" / "2008_000002.tif",
                    label_map([0, 458, 65535, 6]))
    ds = get_dataset("context459", tmp_path)
    assert ds.num_classes == 460 and ds.ignore_index == 65535 and len(ds.class_names) == 459
    assert ds.stuff[6] and ds.class_names[6] == "atrium"
    np.testing.assert_array_equal(ds[0].gt, label_map([1, 459, 65535, 7]))


def test_ade847_tif_plus_one_unlabeled_to_zero(tmp_path):
    root = tmp_path / "ADE20K_2021_17_01"
    write_jpg(root / "images_detectron2" / "validation" / "ADE_val_00000001.jpg")
    write_tif_label(root / "annotations_detectron2" / "validation" / "ADE_val_00000001.tif",
                    label_map([0, 846, 65535, 300]))
    ds = get_dataset("ade847", tmp_path)
    assert ds.num_classes == 848 and len(ds.class_names) == 847
    np.testing.assert_array_equal(ds[0].gt, label_map([1, 847, 0, 301]))


def test_class_lists_match_official_splits():
    assert len(C.VOC_CLASSES) == 20 and len(C.COCO_OBJECT_CLASSES) == 80
    assert C.COCO_OBJECT_CLASSES[31] == "sknowboard" and C.COCO_OBJECT_CLASSES_PLAIN[31] == "snowboard"
    stuff = [C.PASCAL_CONTEXT_CLASSES[i] for i in C.PASCAL_CONTEXT_STUFF_CLASS_ID]
    assert stuff[:3] == ["bedclothes", "ceiling", "cloth"] and stuff[-3:] == ["door", "fence", "rock"]
    assert [C.ADE150_CLASSES[i] for i in C.ADE150_STUFF_CLASS_ID][-2:] == ["lake", "waterfall, falls"]
    pc459, ade847 = load_class_names("pascal459"), load_class_names("ade847")
    assert len(set(pc459)) == 459 and pc459 == sorted(pc459) and "unknown" in pc459
    assert [pc459[i] for i in C.PASCAL459_STUFF_CLASS_ID][-3:] == ["wall", "water", "wood"]
    assert [ade847[i] for i in C.ADE847_STUFF_CLASS_ID][-3:] == ["shore", "pond", "iceberg"]
    assert ade847[0] == "wall" and ade847[-1].startswith("adding machine")
    with pytest.raises(ValueError, match="valid"):
        load_class_names("coco")


# ------------------------------------------------------------------------------- pickles, masks
class Custom:
    pass


def test_restricted_unpickler_loads_plain_data_and_refuses_objects(tmp_path):
    plain = tmp_path / "plain.p"
    data = [{"ref_id": 1, "sentences": [{"raw": "the man"}], "bbox": (1.5, 2.0), "ids": {3, 4}}]
    plain.write_bytes(pickle.dumps(data, protocol=2))
    assert load_restricted_pickle(plain) == data
    py2 = tmp_path / "py2.p"  # protocol 0 as written by Python 2 (byte str, long, __builtin__.set)
    py2.write_bytes(b"(lp0\n(dp1\nS'raw'\np2\nS'the man'\np3\nsS'ref_id'\np4\nL12L\nsS'ids'\np5\n"
                    b"c__builtin__\nset\np6\n((lp7\nI1\naI2\natp8\nRp9\nsa.")
    assert load_restricted_pickle(py2) == [{"raw": "the man", "ref_id": 12, "ids": {1, 2}}]
    evil = tmp_path / "evil.p"
    evil.write_bytes(pickle.dumps([Custom()]))
    with pytest.raises(AnnotationError, match="refusing to load global .*Custom"):
        load_restricted_pickle(evil)
    reduce_call = tmp_path / "reduce.p"
    reduce_call.write_bytes(b"cos\nsystem\n(S'echo hacked'\ntR.")
    with pytest.raises(AnnotationError, match="os.system"):
        load_restricted_pickle(reduce_call)


def _rle_to_string(counts):
    """Encoder of COCO compressed RLE (maskApi.c rleToString), used to test the decoder."""
    out = []
    for i, c in enumerate(counts):
        x = c - counts[i - 2] if i > 2 else c
        more = True
        while more:
            ch = x & 0x1F
            x >>= 5
            more = x != -1 if ch & 0x10 else x != 0
            out.append(chr((ch | 0x20 if more else ch) + 48))
    return "".join(out)


def test_coco_masks_polygon_box_and_rle():
    box = rle_decode(polygon_to_rle([1, 1, 6, 1, 6, 5, 1, 5], H, W), H, W)
    expected = np.zeros((H, W), dtype=bool)
    expected[1:5, 1:6] = True  # COCO boxes cover [x0, x1) x [y0, y1)
    np.testing.assert_array_equal(box, expected)
    rng = np.random.default_rng(0)
    mask = rng.random((H, W)) > 0.5
    flat = mask.T.ravel()  # column-major runs, starting with background
    changes = np.flatnonzero(np.diff(flat.astype(int))) + 1
    counts = np.diff(np.concatenate([[0], changes, [flat.size]])).tolist()
    if flat[0]:
        counts = [0, *counts]
    np.testing.assert_array_equal(rle_decode(counts, H, W), mask)
    string = _rle_to_string(counts)
    assert rle_from_string(string) == counts
    np.testing.assert_array_equal(segmentation_to_mask({"size": [H, W], "counts": string}, H, W), mask)


# --------------------------------------------------------------------------------- referring sets
def make_refer_root(tmp_path):
    """Two COCO images, three annotations; refcoco refs + grefcoco refs."""
    img_dir = tmp_path / "images" / "mscoco" / "images" / "train2014"
    images = [{"id": 1, "file_name": "COCO_train2014_000000000001.jpg", "height": H, "width": W},
              {"id": 2, "file_name": "COCO_train2014_000000000002.jpg", "height": H, "width": W}]
    for k, img in enumerate(images):
        write_jpg(img_dir / img["file_name"], seed=k)
    anns = [{"id": 10, "image_id": 1, "iscrowd": 0, "segmentation": [[1, 1, 6, 1, 6, 5, 1, 5]]},
            {"id": 11, "image_id": 2, "iscrowd": 0, "segmentation": [[0, 0, 2, 0, 2, 2, 0, 2]]},
            {"id": 12, "image_id": 2, "iscrowd": 0, "segmentation": [[6, 4, 8, 4, 8, 6, 6, 6]]}]
    instances = {"images": images, "annotations": anns, "categories": [{"id": 1, "name": "person"}]}

    def sent(i, raw):
        return {"sent_id": i, "raw": raw, "sent": raw.lower(), "tokens": raw.split()}

    refs = [{"ref_id": 0, "ann_id": 10, "image_id": 1, "split": "val", "category_id": 1,
             "sentences": [sent(0, 'The "Man"/left'), sent(1, "person")]},
            {"ref_id": 1, "ann_id": 11, "image_id": 2, "split": "testA", "category_id": 1,
             "sentences": [sent(2, "top left")]}]
    for folder, splitby in (("refcoco", "unc"), ("refcoco+", "unc"), ("refcocog", "umd")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / f"refs({splitby}).p").write_bytes(pickle.dumps(refs, protocol=2))
        (tmp_path / folder / "instances.json").write_text(json.dumps(instances))
    grefs = [{"ref_id": 5, "ann_id": [11, 12], "image_id": 2, "split": "val", "category_id": [1],
              "no_target": False, "sentences": [sent(7, "both corners"), sent(8, "")]},
             {"ref_id": 6, "ann_id": [-1], "image_id": 1, "split": "val", "category_id": [],
              "no_target": True, "sentences": [sent(9, "the giraffe")]},
             {"ref_id": 7, "ann_id": [10], "image_id": 1, "split": "testB", "category_id": [1],
              "no_target": False, "sentences": [sent(10, "x")]}]
    (tmp_path / "grefcoco").mkdir()
    (tmp_path / "grefcoco" / "grefs(unc).json").write_text(json.dumps(grefs))
    (tmp_path / "grefcoco" / "instances.json").write_text(json.dumps(instances))


def test_refcoco_family(tmp_path):
    make_refer_root(tmp_path)
    ds = get_dataset("refcoco", tmp_path)
    assert ds.kind == "refer" and len(ds) == 1 and ds.sample_name(0) == "ref_0"
    sample = ds[0]
    assert sample.sentences == ['The "Man"/left', "person"]
    assert sample.gt.dtype == bool and sample.gt.shape == (H, W) and sample.image.shape == (H, W, 3)
    expected = np.zeros((H, W), dtype=bool)
    expected[1:5, 1:6] = True
    np.testing.assert_array_equal(sample.gt, expected)
    test_a = get_dataset("refcoco", tmp_path, split="testA")
    assert [s.name for s in test_a] == ["ref_1"] and test_a[0].gt.sum() == 4
    assert len(get_dataset("refcocoplus", tmp_path)) == 1 and len(get_dataset("refcocog", tmp_path)) == 1
    with pytest.raises(DatasetNotFoundError, match=r"refs\(google\)"):
        get_dataset("refcoco", tmp_path, splitby="google")
    with pytest.raises(DatasetNotFoundError, match=r"refcocog/refs\(google\)"):
        get_dataset("refcocog", tmp_path, split="val_google")  # <split>_<partition>
    assert get_dataset("refcocog", tmp_path, split="testA_umd").sample_name(0) == "ref_1"
    with pytest.raises(ValueError, match="valid"):
        get_dataset("refcoco", tmp_path, split="dev")
    assert process_sentence(sample.sentences[0]) == "the manleft"


def test_gres_no_target_and_multi_target(tmp_path):
    make_refer_root(tmp_path)
    ds = get_dataset("gres", tmp_path)
    assert [ds.sample_name(i) for i in range(len(ds))] == ["ref_5_sent_7", "ref_6_sent_9"]  # empty raw skipped
    first, none = ds[0], ds[1]
    # official default (GReferDataset keeps getMaskByRef(ref)[0]): the first target only
    assert first.sentences == ["both corners"] and first.gt.sum() == 4 and first.gt[0, 0]
    assert none.sentences == ["the giraffe"] and not none.gt.any() and none.gt.shape == (H, W)
    both = get_dataset("gres", tmp_path, targets="union")[0]  # GRES's own definition, a named option
    assert both.gt.sum() == 4 + 4 and both.gt[0, 0]
    assert get_dataset("gres", tmp_path, first_target_only=False)[0].gt.sum() == 8  # the older spelling
    from car.config import load_config
    assert load_config("gres").reader_options() == {"targets": "first"}
    assert load_config("gres", gres_targets="union").reader_options() == {"targets": "union"}
    with pytest.raises(ValueError, match="valid: first, union"):
        get_dataset("gres", tmp_path, targets="all")
    with pytest.raises(ValueError, match="available in the refs file: testB, val"):
        get_dataset("gres", tmp_path, split="testA")


# ---------------------------------------------------------------------------------------- video
def make_davis(tmp_path, annot1_bytes=None):
    davis = tmp_path / "DAVIS"
    for video, n_frames in (("bike-packing", 3), ("motorbike", 2), ("bear", 2)):
        for t in range(n_frames):
            write_jpg(davis / "JPEGImages" / "480p" / video / f"{t:05d}.jpg", seed=t)
            write_png_label(davis / "Annotations" / "480p" / video / f"{t:05d}.png",
                            label_map([0, 1, 2, 255][: 2 + t % 3]))
            write_png_label(davis / "Annotations_unsupervised" / "480p" / video / f"{t:05d}.png",
                            label_map([0, 2, 1, 255][: 2 + t % 3]))  # other ids, as the real unsupervised set
    (davis / "ImageSets" / "2017").mkdir(parents=True)
    (davis / "ImageSets" / "2017" / "val.txt").write_text("bike-packing\nmotorbike\n")
    text = tmp_path / "davis_text_annotations"
    text.mkdir()
    lines = ('bike-packing 1 "a man riding a bike"\nbike-packing 2 "the bike"\n'
             'motor-bike 1 "a motorbike"\nbear 1 "a bear"\n')  # motor-bike: a misspelling of the real files
    (text / "Davis17_annot1.txt").write_bytes(annot1_bytes if annot1_bytes is not None else lines.encode())
    (text / "Davis17_annot1_full_video.txt").write_text(lines, encoding="utf-8")
    (text / "Davis17_annot2.txt").write_bytes('bike-packing 1 "un caf\xe9 man"\n'.encode("latin-1"))
    (text / "Davis17_annot2_full_video.txt").write_text("")


def test_ref_davis_unsupervised_protocol_is_the_default(tmp_path):
    """ReferFormer's practice: one sample per (video, expression set), every object of the set, in object-id order,
    with the Annotations_unsupervised label maps (255 = void kept for the metric)."""
    make_davis(tmp_path)
    ds = get_dataset("davis", tmp_path)
    assert ds.kind == "video_set"
    assert [ds.sample_name(i) for i in range(len(ds))] == [
        "bike-packing/annot1", "bike-packing/annot1_full_video", "bike-packing/annot2",
        "motorbike/annot1", "motorbike/annot1_full_video"]  # an empty file gives no set; bear is not in val
    sample = ds[0]
    assert sample.expressions == ["a man riding a bike", "the bike"] and sample.object_ids == [1, 2]
    assert sample.expression_set == "annot1" and len(sample.frames) == len(sample.gt_labels) == 3
    for t, labels in enumerate(sample.gt_labels):
        np.testing.assert_array_equal(labels, label_map([0, 2, 1, 255][: 2 + t % 3]))
    assert ds[2].expressions == ["un café man"]
    from car.config import load_config
    assert load_config("davis").reader_options() == {"protocol": "unsupervised"}
    with pytest.raises(ValueError, match="valid: unsupervised, per_expression"):
        get_dataset("davis", tmp_path, protocol="semi")


def test_ref_davis(tmp_path):
    make_davis(tmp_path)
    ds = get_dataset("davis", tmp_path, protocol="per_expression")
    assert ds.kind == "video"
    names = [ds.sample_name(i) for i in range(len(ds))]
    assert names == ["bike-packing/1/annot1", "bike-packing/1/annot1_full_video", "bike-packing/1/annot2",
                     "bike-packing/2/annot1", "bike-packing/2/annot1_full_video",
                     "motorbike/1/annot1", "motorbike/1/annot1_full_video"]  # bear is not in val
    sample = ds[2]
    assert sample.expression == "un café man" and len(sample.frames) == len(sample.masks) == 3
    assert sample.frames[0].shape == (H, W, 3) and sample.masks[0].dtype == bool
    for t, mask in enumerate(sample.masks):
        np.testing.assert_array_equal(mask, label_map([0, 1, 2, 255][: 2 + t % 3]) == 1)
    assert ds[0].expression == "a man riding a bike"
    only = get_dataset("davis", tmp_path, expressions=("annot2",), protocol="per_expression")
    assert [only.sample_name(i) for i in range(len(only))] == ["bike-packing/1/annot2"]


def test_ref_davis_bad_encoding_names_the_file(tmp_path):
    make_davis(tmp_path, annot1_bytes=b'bike-packing 1 "caf\xe9"\n')
    with pytest.raises(AnnotationError, match=r"Davis17_annot1\.txt.*UTF-8"):
        get_dataset("davis", tmp_path)


# ------------------------------------------------------------------------------------- registry
def test_register_dataset(tmp_path):
    make_voc(tmp_path, [label_map([1])])

    def factory(root, split=None, **options):
        return get_dataset("voc", root, split)

    register_dataset("toy-test-split", factory)
    try:
        assert "toy-test-split" in list_datasets()
        assert len(get_dataset("toy-test-split", tmp_path)) == 1
        with pytest.raises(ValueError, match="already registered"):
            register_dataset("toy-test-split", factory)
        register_dataset("toy-test-split", factory, overwrite=True)
    finally:
        from car.data import registry
        registry._REGISTRY.pop("toy-test-split", None)
