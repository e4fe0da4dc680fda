"""What a reader's ``pip install`` gets: the wheel holds every file the package needs, and the installed package
(not editable, working directory outside the checkout) loads every preset and checkpoint and segments a photo."""
from __future__ import annotations

import subprocess
import zipfile

import numpy as np
import pytest
from PIL import Image

from conftest import ROOT

pytestmark = pytest.mark.slow


def test_wheel_holds_every_tracked_file_of_the_package(wheel_env) -> None:
    tracked = subprocess.run(["git", "ls-files", "car"], cwd=ROOT, capture_output=True, text=True,
                             check=True).stdout.split()
    names = set(zipfile.ZipFile(wheel_env.wheel).namelist())
    missing = [f for f in tracked if f not in names]
    assert not missing, f"the wheel lacks {missing[:10]}: add them to [tool.setuptools.package-data]"
    assert not [n for n in names if n.startswith(("book/", "tests/", "tools/"))], "the wheel ships the checkout"


SMOKE = r"""
import sys
from pathlib import Path
import car
from car import list_configs, load_clip, load_config
from car.toy.models import TOY_MODELS
from car.experiments import tables
from car.toy.segmenter import ToySegmenter

assert Path(car.__file__).resolve().is_relative_to(Path(sys.prefix).resolve()), car.__file__
paper, toy, beyond = list_configs(), list_configs(toy=True), list_configs(beyond=True)
assert beyond, "the presets beyond the paper (car/configs/beyond) are missing from the wheel"
from car.queries import list_name_files
assert list_name_files(), "the class-name files (car/data/names) are missing from the wheel"
for name in paper + toy + beyond:
    load_config(name)
for name in TOY_MODELS:
    load_clip(name)
ToySegmenter.load()
stale = [k for k in tables.TABLES if not tables.results.shipped("toy_tables", f"table{k}.json").is_file()
         or tables.results.read_json(tables.results.shipped("toy_tables", f"table{k}.json"))["meta"]["fingerprint"]
         != tables.fingerprint(k)]
assert not stale, f"shipped toy tables out of date: {stale} (python -m car toy tables --out car/results/toy_tables)"
assert car.results.shipped("bench_real.json").is_file() and car.results.shipped("toy_report.json").is_file()
print(len(paper), "paper presets,", len(toy), "toy presets,", len(TOY_MODELS) + 1, "checkpoints, current toy tables")
"""


def test_installed_package_loads_presets_checkpoints_and_results(wheel_env) -> None:
    proc = wheel_env.run(["-c", SMOKE])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "toy presets, 4 checkpoints" in proc.stdout  # toy-b, toy-l, toy-b4 and toy-seg


def test_installed_cli_segments_a_photo(wheel_env) -> None:
    from car.toy.scenes import Scene, Thing, render

    scene = Scene(64, ("grass",), 0.5, (Thing("red", "circle", "large", 20, 22, 15),), seed=7)
    Image.fromarray(render(scene).image).save(wheel_env.cwd / "photo.png")
    proc = wheel_env.run(["-m", "car", "segment", "photo.png", "--queries", "red circle,blue square",
                          "--config", "toy_voc", "--out", "seg"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    labels = np.asarray(Image.open(wheel_env.cwd / "seg" / "photo_labels.png"))
    assert labels.shape == (64, 64) and (labels == 1).sum() > 100  # the red circle is found
    assert not (ROOT / "seg").exists()
