"""The text rules: query checks, CAM and background texts, templates, and the class-name files with synonyms."""
from __future__ import annotations

import numpy as np
import pytest

from car import queries as q
from car.config import CaRConfig
from car.vocab import IMAGENET_TEMPLATES, SCLIP_BACKGROUND


def test_check_queries() -> None:
    assert q.check_queries(["cat", "dog"]) == ["cat", "dog"]
    with pytest.raises(ValueError, match="duplicate queries"):
        q.check_queries(["cat", "Cat "])
    with pytest.raises(ValueError, match="split it"):
        q.check_queries("cat,dog")
    assert q.check_queries(["a", "a"], allow_duplicates=True) == ["a", "a"]


def test_cam_texts_follow_the_official_rule() -> None:
    cfg = CaRConfig()
    assert q.cam_texts(cfg, ["cat"], 0) == ["cat"]  # raw at step 1
    assert q.cam_texts(cfg, ["cat"], 1) == ["a clean origami cat."]
    assert q.cam_texts(cfg.replace(cam_text="raw"), ["cat"], 3) == ["cat"]


def test_background_words_keep_or_drop_a_word_equal_to_a_query() -> None:
    cfg = CaRConfig()
    assert "sky" in q.background_words(cfg, ["sky", "cat"])  # official: none dropped
    assert "sky" not in q.background_words(cfg.replace(background_exclude="queries"), ["sky", "cat"])
    assert q.background_words(cfg, ["cat"], words=["grass"]) == ["grass"]
    assert q.background_texts(cfg, ["cat"], words=["grass"]) == ["a clean origami grass."]


def test_template_rows() -> None:
    rows = q.template_rows(("a {}.", "the {}"), ["cat", "dog"])
    assert rows == [["a cat.", "a dog."], ["the cat", "the dog"]]
    assert len(IMAGENET_TEMPLATES) == 80 and IMAGENET_TEMPLATES[0] == "a bad photo of a {}."
    assert len(SCLIP_BACKGROUND) == 26


def test_expand_names_and_back_to_classes() -> None:
    flat, owner = q.expand_names([["person", "person in shirt"], ["tv monitor", "screen"], ["cat"]])
    assert flat == ["person", "person in shirt", "tv monitor", "screen", "cat"]
    assert owner.tolist() == [0, 0, 1, 1, 2]
    labels = np.array([[1, 3, -1], [4, 0, 2]])
    assert q.names_to_classes(labels, owner).tolist() == [[0, 1, -1], [2, 0, 1]]
    with pytest.raises(ValueError, match="duplicate"):
        q.expand_names([["cat"], ["cat"]])


EXPECTED = {"sclip_voc": 20, "sclip_context": 59, "sclip_coco_object": 80, "sclip_ade150": 150,
            "sclip_cityscapes": 19, "sclip_coco_stuff": 171}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_shipped_name_files_have_one_line_per_class(name) -> None:
    table = q.load_names(name)
    assert len(table) == EXPECTED[name]
    q.expand_names(table)  # no name in two classes


def test_name_files_follow_the_datasets_class_order() -> None:
    from car.data.classes import ADE150_CLASSES, PASCAL_CONTEXT_CLASSES, VOC_CLASSES

    voc = q.load_names("sclip_voc")
    assert [n[0] for n in voc][:3] == ["aeroplane", "bicycle", "bird"] and len(voc) == len(VOC_CLASSES)
    assert voc[14][:2] == ["person", "person in shirt"] and voc[19][0] == "television monitor"
    assert len(q.load_names("sclip_context")) == len(PASCAL_CONTEXT_CLASSES)
    assert len(q.load_names("sclip_ade150")) == len(ADE150_CLASSES)


def test_unknown_name_file_lists_the_shipped_ones() -> None:
    with pytest.raises(ValueError, match="unknown class-name file 'nope'; shipped: .*sclip_voc"):
        q.load_names("nope")
