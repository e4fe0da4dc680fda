"""The golden end-to-end case: one committed toy scene, the shipped toy CLIP, CaR's exact labels.

Any change of behaviour anywhere in the pipeline (CAM, prompts, classifier, stop rule, CRF) moves a pixel here.
A deliberate change regenerates the expectation with ``python tools/golden.py --write`` (and says so in its commit).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
GOLDEN = ROOT / "tests" / "data" / "golden"
sys.path.insert(0, str(ROOT / "tools"))

import golden  # noqa: E402


def test_car_reproduces_the_committed_labels_exactly() -> None:
    image = np.asarray(Image.open(GOLDEN / "scene.png").convert("RGB"))
    expected = json.loads((GOLDEN / "expected.json").read_text())
    labels, summary = golden.run(image)
    assert summary["kept"] == expected["kept"] and summary["steps"] == expected["steps"]
    np.testing.assert_allclose(summary["scores"], expected["scores"], atol=2e-3)
    assert np.array_equal(labels, np.asarray(Image.open(GOLDEN / "labels.png")))


def test_the_golden_labels_are_a_segmentation_of_the_scene() -> None:
    """The expectation is not arbitrary: most labelled pixels carry the ground truth's class there."""
    from car.data import get_dataset

    gt = get_dataset("toy_voc", None)[0].gt
    labels = np.asarray(Image.open(GOLDEN / "labels.png")).astype(int)
    assert np.array_equal(np.asarray(Image.open(GOLDEN / "scene.png").convert("RGB")), get_dataset("toy_voc", None)[0].image)
    found = labels > 0
    assert found.any() and (gt[found] == labels[found]).mean() > 0.5
